//! Layout facts checked on real renders: where things are drawn, not how they look (the goldens
//! in `tests/display_golden.rs` pin the look).

use super::draw::draw_unclipped;
use super::test_readouts::{every_screen, sine_readout};
use super::*;
use crate::pipeline::view::{CameraStatus, Readout, Waveform, XrayResult};
use embedded_graphics::pixelcolor::{Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A target of any size that only counts pixels, split into inside and outside its bounds.
struct Counter {
    size: Size,
    inside: usize,
    outside: usize,
}

impl OriginDimensions for Counter {
    fn size(&self) -> Size {
        self.size
    }
}

impl DrawTarget for Counter {
    type Color = Rgb565;
    type Error = core::convert::Infallible;
    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb565>>>(
        &mut self,
        px: I,
    ) -> Result<(), Self::Error> {
        let bb = self.bounding_box();
        for Pixel(p, _) in px {
            if bb.contains(p) {
                self.inside += 1;
            } else {
                self.outside += 1;
            }
        }
        Ok(())
    }
}

pub(crate) fn render(w: u32, h: u32, r: &Readout) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    match draw_readout(&mut img, r) {
        Ok(()) => img,
        Err(never) => match never {},
    }
}

/// Bounding box of the pixels that differ between two images of the same size.
pub(crate) fn diff_box(a: &RgbImage, b: &RgbImage) -> Option<Rectangle> {
    let pts: Vec<Point> = a
        .iter()
        .zip(b.iter())
        .filter(|(p, q)| p.2 != q.2)
        .map(|(p, _)| Point::new(p.0 as i32, p.1 as i32))
        .collect();
    let min_x = pts.iter().map(|p| p.x).min()?;
    let min_y = pts.iter().map(|p| p.y).min()?;
    let max_x = pts.iter().map(|p| p.x).max()?;
    let max_y = pts.iter().map(|p| p.y).max()?;
    Some(Rectangle::with_corners(
        Point::new(min_x, min_y),
        Point::new(max_x, max_y),
    ))
}

pub(crate) fn contains_rect(outer: &Rectangle, inner: &Rectangle) -> bool {
    outer.contains(inner.top_left) && inner.bottom_right().is_some_and(|p| outer.contains(p))
}

#[test]
fn nothing_drawn_outside_the_target_even_unclipped() {
    for (w, h) in super::test_readouts::EDGE_SIZES {
        for (screen, mut r) in every_screen() {
            r.apnea_s = Some(12.0);
            r.camera =
                CameraStatus::Message("camera: a very long status message that cannot fit".into());
            r.xray = Some(XrayResult {
                finding: "consolidation with a long description that overflows".into(),
                probability: Some(0.81),
                source: "/inbox/a_rather_long_file_name_for_an_xray_image.png".into(),
                site_validated: false,
            });
            let mut c = Counter {
                size: Size::new(w, h),
                inside: 0,
                outside: 0,
            };
            let area = c.bounding_box();
            let _ = draw_unclipped(&mut c, area, &r);
            assert_eq!(
                c.outside, 0,
                "{w}x{h} {screen}: {} pixels outside",
                c.outside
            );
            assert!(
                c.inside >= (w * h) as usize,
                "{w}x{h} {screen}: background not filled"
            );
        }
    }
}

#[test]
fn waveform_changes_stay_inside_the_wave_box() {
    for (w, h) in [(320, 240), (480, 320), (800, 480)] {
        let a = render(w, h, &sine_readout(4.0));
        let b = render(w, h, &sine_readout(-4.0));
        let l = Layout::for_size(Size::new(w, h));
        let d = diff_box(&a, &b);
        assert!(
            d.is_some_and(|d| contains_rect(&l.wave, &d)),
            "{w}x{h}: diff {d:?} vs wave {:?}",
            l.wave
        );
        // A huge spike changes the scale text and trace only, still inside the box.
        let mut spiky = sine_readout(4.0);
        spiky.waveform.push(1.0e6);
        spiky.waveform.push(f32::NAN);
        let c = render(w, h, &spiky);
        let d = diff_box(&a, &c);
        assert!(
            d.is_some_and(|d| contains_rect(&l.wave, &d)),
            "{w}x{h}: spike diff {d:?}"
        );
    }
}

#[test]
fn wave_points_stay_in_plot_on_random_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let plot = Rectangle::new(Point::new(10, 20), Size::new(200, 90));
    for _ in 0..200 {
        let cap = rng.gen_range(2..400);
        let mut w = Waveform::new(cap, 10.0);
        for _ in 0..rng.gen_range(0..500) {
            let v = match rng.gen_range(0..20) {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => rng.gen_range(-1.0e9..1.0e9),
                _ => rng.gen_range(-5.0..5.0),
            };
            w.push(v);
        }
        let pts = wave_points(&w, plot);
        assert_eq!(pts.len(), w.len());
        for p in pts.iter().flatten() {
            assert!(plot.contains(*p), "{p:?} outside {plot:?}");
        }
        // The newest finite sample is at the right edge.
        if let Some(Some(last)) = pts.last() {
            assert_eq!(last.x, plot.top_left.x + 199);
        }
    }
}

#[test]
fn disclaimer_band_is_drawn_with_text() {
    for (w, h) in [(320, 240), (480, 320), (800, 480)] {
        let img = render(w, h, &Readout::default());
        let l = Layout::for_size(Size::new(w, h));
        let (mut band, mut ink, mut other) = (0, 0, 0);
        for (x, y, c) in img.iter() {
            if l.footer.contains(Point::new(x as i32, y as i32)) {
                match c {
                    c if c == palette::BAND => band += 1,
                    c if c == palette::BAND_TEXT => ink += 1,
                    _ => other += 1,
                }
            }
        }
        let area = l.footer.size.width * l.footer.size.height;
        assert_eq!(other, 0, "{w}x{h}");
        assert_eq!(band + ink, area as usize);
        // About 36 glyphs of roughly 15-25% ink each.
        let glyph = l.label.char_w() * l.label.h();
        assert!(
            ink as u32 > DISCLAIMER.len() as u32 * glyph / 10,
            "{w}x{h}: ink {ink}"
        );
    }
}

#[test]
fn unknown_rate_draws_dashes() {
    let (w, h) = (480, 320);
    let mut r = sine_readout(4.0);
    r.rate_bpm = None;
    let img = render(w, h, &r);
    let l = Layout::for_size(Size::new(w, h));
    let in_rate = |img: &RgbImage| {
        img.iter()
            .filter(|(x, y, c)| {
                *c == palette::TEXT && l.rate.contains(Point::new(*x as i32, *y as i32))
            })
            .count()
    };
    // The same dashes drawn alone at the same scale light the same number of pixels.
    let mut alone = RgbImage::new(200, 100);
    let area = Rectangle::new(Point::zero(), Size::new(200, 100));
    let _ = super::text::draw_text(
        &mut alone,
        "--",
        l.big,
        area,
        super::text::Align::Left,
        palette::TEXT,
    );
    let dashes = alone.iter().filter(|p| p.2 == palette::TEXT).count();
    assert!(dashes > 0);
    assert_eq!(in_rate(&img), dashes);
    r.rate_bpm = Some(15.2);
    assert!(in_rate(&render(w, h, &r)) > dashes);
}

#[test]
fn display_spec_parsing() {
    assert_eq!(
        "png:/tmp/r.png".parse::<DisplayTarget>().ok(),
        Some(DisplayTarget::Png("/tmp/r.png".into()))
    );
    assert_eq!(
        "fb:/dev/fb0".parse::<DisplayTarget>().ok(),
        Some(DisplayTarget::Framebuffer("/dev/fb0".into()))
    );
    for bad in ["", "png:", "tty:/dev/tty1", "/tmp/x.png"] {
        let e = bad
            .parse::<DisplayTarget>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("expected png:PATH or fb:/dev/fbN"), "{bad}: {e}");
    }
    assert!(open_display(
        "png:/tmp/x.png",
        DisplaySettings {
            height: 10,
            ..Default::default()
        }
    )
    .is_err());
}

#[cfg(not(feature = "framebuffer"))]
#[test]
fn framebuffer_without_feature_says_so() {
    let e = open_display("fb:/dev/fb0", DisplaySettings::default())
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(e.contains("built without the `framebuffer` feature"), "{e}");
}

#[cfg(feature = "framebuffer")]
#[test]
fn framebuffer_missing_device_via_open_display() {
    let e = open_display("fb:/dev/fb-missing-9", DisplaySettings::default())
        .err()
        .map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(
        e.contains("/dev/fb-missing-9") && e.contains("device not found"),
        "{e}"
    );
}

#[test]
fn draws_on_rgb565_targets() {
    let mut c = Counter {
        size: Size::new(480, 320),
        inside: 0,
        outside: 0,
    };
    let _ = draw_readout(&mut c, &sine_readout(3.0));
    assert!(c.inside > 480 * 320);
}

#[test]
fn draws_the_same_on_a_target_whose_box_is_offset() {
    let r = sine_readout(2.0);
    let direct = render(480, 320, &r);
    let mut big = RgbImage::new(500, 340);
    let area = Rectangle::new(Point::new(10, 12), Size::new(480, 320));
    match draw_readout(&mut big.clipped(&area), &r) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    for (x, y, c) in direct.iter() {
        assert_eq!(big.get(x as i32 + 10, y as i32 + 12), Some(c), "({x}, {y})");
    }
    assert_eq!(big.get(9, 12), Some(Rgb888::BLACK));
    assert_eq!(big.get(490, 331), Some(Rgb888::BLACK));
}
