//! Any bytes: `decode_bytes` returns Ok or Err, never panics, and stays within its memory limits;
//! a decoded image then goes through the model's preprocessing, which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = edge_screen::xray::decode::decode_bytes(data) {
        assert_eq!(img.pixels.len(), img.width * img.height);
        assert!(img.pixels.iter().all(|v| (0.0..=1.0).contains(v)), "{}", img.format);
        if let Ok(p) = edge_screen::xray::preprocess::prepare(&img) {
            assert!(p.input.iter().all(|v| (-2.0..=2.0).contains(v)));
        }
    }
});
