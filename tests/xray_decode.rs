//! Chest X-ray decoding with the real decoders: real radiographs from `../shared/data/xray`
//! re-encoded in every supported flavour (PNG, JPEG, DICOM), and bad inputs with their messages.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use edge_screen::xray::decode::{
    decode_bytes, decode_file, is_candidate, DecodeError, MAX_FILE_BYTES,
};
use edge_screen::xray::GrayImage;
use image::{ExtendedColorType, ImageEncoder};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/xray");
/// One image from each source of the development set (see its README and manifest.csv).
const SAMPLES: [&str; 3] = [
    "covid/ieee__01E392EE-69F9-4E33-BFCE-E5C968654078.png",
    "normal/kermany__IM-0003-0001.png",
    "normal/nih__00001280_004.png",
];

/// A real 8-bit gray radiograph: width, height, values.
struct Source {
    path: PathBuf,
    width: usize,
    height: usize,
    v: Vec<u8>,
}

impl Source {
    fn load(name: &str) -> Source {
        let path = Path::new(DATA).join(name);
        let img = image::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_luma8();
        let (w, h) = img.dimensions();
        Source {
            path,
            width: w as usize,
            height: h as usize,
            v: img.into_raw(),
        }
    }

    /// The first sample, or a named one.
    fn first() -> Source {
        Source::load(SAMPLES[0])
    }

    /// The reference intensities v / 255.
    fn expected(&self) -> Vec<f64> {
        self.v.iter().map(|&v| f64::from(v) / 255.0).collect()
    }

    /// A top-left crop (for the small inputs of the property test).
    fn crop(&self, side: usize) -> Source {
        let v = (0..side * side)
            .map(|i| self.v[(i / side) * self.width + i % side])
            .collect();
        Source {
            path: self.path.clone(),
            width: side,
            height: side,
            v,
        }
    }

    fn encode(&self, data: &[u8], color: ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(data, self.width as u32, self.height as u32, color)
            .expect("PNG encoding");
        out
    }

    fn jpeg(&self, data: &[u8], color: ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(data, self.width as u32, self.height as u32, color)
            .expect("JPEG encoding");
        out
    }
}

/// Largest absolute difference, after checking the dimensions.
fn max_error(img: &GrayImage, src: &Source, expected: &[f64]) -> f64 {
    assert_eq!(
        (img.width, img.height),
        (src.width, src.height),
        "{}",
        img.format
    );
    assert_eq!(img.pixels.len(), expected.len());
    img.pixels
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

fn mean_error(img: &GrayImage, expected: &[f64]) -> f64 {
    img.pixels
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / expected.len() as f64
}

fn err(bytes: &[u8]) -> String {
    match decode_bytes(bytes) {
        Ok(img) => panic!("decoded as {} {}x{}", img.format, img.width, img.height),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// PNG and JPEG

#[test]
fn real_png_files_decode_to_v_over_255() {
    for name in SAMPLES {
        let src = Source::load(name);
        let img = decode_file(&src.path).expect("decodes");
        assert_eq!(img.format, "PNG 8-bit gray");
        assert!(max_error(&img, &src, &src.expected()) < 1e-12, "{name}");
    }
}

#[test]
fn png_16_bit_gray_is_v_over_65535() {
    let src = Source::first();
    // v * 257 / 65535 = v / 255 exactly; the bytes are big-endian in the file.
    let data: Vec<u8> = src
        .v
        .iter()
        .flat_map(|&v| (u16::from(v) * 257).to_ne_bytes())
        .collect();
    let img = decode_bytes(&src.encode(&data, ExtendedColorType::L16)).expect("decodes");
    assert_eq!(img.format, "PNG 16-bit gray");
    assert!(max_error(&img, &src, &src.expected()) < 1e-12);
}

#[test]
fn png_colour_is_reduced_to_luma_and_alpha_is_ignored() {
    let src = Source::first();
    let mut expected = src.expected();
    // Gray pixels in RGB: luma = v / 255; the first pixel pure red, the second pure blue.
    let mut rgb: Vec<u8> = src.v.iter().flat_map(|&v| [v, v, v]).collect();
    rgb[..6].copy_from_slice(&[255, 0, 0, 0, 0, 255]);
    expected[0] = 0.299;
    expected[1] = 0.114;
    let img = decode_bytes(&src.encode(&rgb, ExtendedColorType::Rgb8)).expect("RGB");
    assert_eq!(img.format, "PNG 8-bit RGB");
    assert!(max_error(&img, &src, &expected) < 1e-9);

    // Alpha varies over the image and must not change the intensity.
    let rgba: Vec<u8> = rgb
        .chunks(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], (i * 7) as u8])
        .collect();
    let img = decode_bytes(&src.encode(&rgba, ExtendedColorType::Rgba8)).expect("RGBA");
    assert_eq!(img.format, "PNG 8-bit RGBA");
    assert!(max_error(&img, &src, &expected) < 1e-9);

    let la: Vec<u8> = src
        .v
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| [v, (i * 13) as u8])
        .collect();
    let img = decode_bytes(&src.encode(&la, ExtendedColorType::La8)).expect("gray+alpha");
    assert_eq!(img.format, "PNG 8-bit gray+alpha");
    assert!(max_error(&img, &src, &src.expected()) < 1e-12);
}

#[test]
fn png_palette_is_expanded() {
    let src = Source::first();
    // Palette entry i is the gray (i, i, i); the indices are the values.
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, src.width as u32, src.height as u32);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette((0..=255u8).flat_map(|i| [i, i, i]).collect::<Vec<u8>>());
    let mut writer = enc.write_header().expect("header");
    writer.write_image_data(&src.v).expect("data");
    writer.finish().expect("finish");
    let img = decode_bytes(&out).expect("decodes");
    assert_eq!(img.format, "PNG 8-bit palette");
    assert!(max_error(&img, &src, &src.expected()) < 1e-9);
}

#[test]
fn jpeg_gray_and_colour_are_close_to_the_source() {
    for name in SAMPLES {
        let src = Source::load(name);
        let img = decode_bytes(&src.jpeg(&src.v, ExtendedColorType::L8)).expect("gray JPEG");
        assert_eq!(img.format, "JPEG 8-bit gray");
        assert_eq!((img.width, img.height), (src.width, src.height));
        let e = mean_error(&img, &src.expected());
        assert!(e < 0.02, "{name}: mean abs error {e}");

        let rgb: Vec<u8> = src.v.iter().flat_map(|&v| [v, v, v]).collect();
        let img = decode_bytes(&src.jpeg(&rgb, ExtendedColorType::Rgb8)).expect("colour JPEG");
        assert_eq!(img.format, "JPEG 8-bit YCbCr");
        let e = mean_error(&img, &src.expected());
        assert!(e < 0.02, "{name}: mean abs error {e}");
    }
}

#[test]
fn content_wins_over_a_wrong_extension() {
    let src = Source::first();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chest.dcm");
    std::fs::write(&path, src.jpeg(&src.v, ExtendedColorType::L8)).expect("write");
    let img = decode_file(&path).expect("decoded by content");
    assert_eq!(img.format, "JPEG 8-bit gray");
}

#[test]
fn candidates_for_folder_scans() {
    assert!(is_candidate(Path::new("scans/IM-0001.DCM")));
    assert!(is_candidate(Path::new("scans/0001")));
    assert!(!is_candidate(Path::new("scans/.0001.png")));
    assert!(!is_candidate(Path::new("scans/report.pdf")));
}

// ---------------------------------------------------------------------------------------------
// DICOM

/// A DICOM file written with dicom-object.
struct Dicom {
    ts: &'static str,
    obj: InMemDicomObject,
}

impl Dicom {
    fn new(ts: &'static str, rows: usize, columns: usize) -> Dicom {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.1.1"),
        ));
        obj.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4.5.6.7"),
        ));
        obj.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("Test^Edge"),
        ));
        let mut d = Dicom { ts, obj };
        d.us(tags::ROWS, rows as u16)
            .us(tags::COLUMNS, columns as u16)
            .us(tags::SAMPLES_PER_PIXEL, 1);
        d
    }

    fn us(&mut self, tag: Tag, v: u16) -> &mut Self {
        self.obj
            .put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        self
    }

    fn text(&mut self, tag: Tag, vr: VR, v: &str) -> &mut Self {
        self.obj
            .put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        self
    }

    /// BitsAllocated, BitsStored, HighBit, PixelRepresentation and PhotometricInterpretation.
    fn pixel_format(
        &mut self,
        allocated: u16,
        stored: u16,
        signed: bool,
        photometric: &str,
    ) -> &mut Self {
        self.us(tags::BITS_ALLOCATED, allocated)
            .us(tags::BITS_STORED, stored)
            .us(tags::HIGH_BIT, stored - 1)
            .us(tags::PIXEL_REPRESENTATION, u16::from(signed))
            .text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric)
    }

    fn pixels8(&mut self, data: Vec<u8>) -> &mut Self {
        self.obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::U8(data.into()),
        ));
        self
    }

    fn pixels16(&mut self, data: Vec<u16>) -> &mut Self {
        self.obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(data.into()),
        ));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let meta = FileMetaTableBuilder::new().transfer_syntax(self.ts);
        let file = self.obj.clone().with_meta(meta).expect("meta");
        let mut out = Vec::new();
        file.write_all(&mut out).expect("DICOM writing");
        out
    }
}

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

fn mono2_16_bit(src: &Source, ts: &'static str) -> Dicom {
    // Stored s = 16 v + 100; modality 0.5 s - 50 = 8 v; window c = 1020.5, w = 2041 maps
    // 8 v linearly: (8 v - 1020) / 2040 + 0.5 = v / 255.
    let mut d = Dicom::new(ts, src.height, src.width);
    d.pixel_format(16, 16, false, "MONOCHROME2")
        .text(tags::RESCALE_SLOPE, VR::DS, "0.5")
        .text(tags::RESCALE_INTERCEPT, VR::DS, "-50")
        .text(tags::WINDOW_CENTER, VR::DS, "1020.5\\40")
        .text(tags::WINDOW_WIDTH, VR::DS, "2041\\400")
        .pixels16(src.v.iter().map(|&v| u16::from(v) * 16 + 100).collect());
    d
}

#[test]
fn dicom_monochrome2_16_bit_with_rescale_and_first_window() {
    let src = Source::first();
    for ts in [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE] {
        let bytes = mono2_16_bit(&src, ts).bytes();
        let img = decode_bytes(&bytes).unwrap_or_else(|e| panic!("{ts}: {e}"));
        assert_eq!(img.format, "DICOM MONOCHROME2 16-bit");
        assert!(max_error(&img, &src, &src.expected()) < 1e-9, "{ts}");
        // The same file without the 128-byte preamble.
        let img = decode_bytes(&bytes[128..]).expect("no preamble");
        assert!(
            max_error(&img, &src, &src.expected()) < 1e-9,
            "{ts} without preamble"
        );
    }
}

#[test]
fn dicom_monochrome1_is_inverted() {
    let src = Source::load(SAMPLES[1]);
    // Stored 255 - v; window c = 128, w = 256 gives (255 - v) / 255; inverted: v / 255.
    let mut d = Dicom::new(EXPLICIT_LE, src.height, src.width);
    d.pixel_format(8, 8, false, "MONOCHROME1")
        .text(tags::WINDOW_CENTER, VR::DS, "128")
        .text(tags::WINDOW_WIDTH, VR::DS, "256")
        .pixels8(src.v.iter().map(|&v| 255 - v).collect());
    let img = decode_bytes(&d.bytes()).expect("decodes");
    assert_eq!(img.format, "DICOM MONOCHROME1 8-bit");
    assert!(max_error(&img, &src, &src.expected()) < 1e-9);
}

#[test]
fn dicom_12_bit_signed_in_16_without_window_uses_the_value_range() {
    let src = Source::load(SAMPLES[2]);
    // s = 16 v - 2048 in 12 bits two's complement; bits 12..15 hold junk that must be masked.
    let words = src
        .v
        .iter()
        .map(|&v| ((i32::from(v) * 16 - 2048) as u16 & 0x0FFF) | 0xA000)
        .collect();
    let mut d = Dicom::new(IMPLICIT_LE, src.height, src.width);
    d.pixel_format(16, 12, true, "MONOCHROME2").pixels16(words);
    let img = decode_bytes(&d.bytes()).expect("decodes");
    assert_eq!(img.format, "DICOM MONOCHROME2 12-bit");
    // Without a window the modality values' min..max maps to 0..1.
    let (lo, hi) = (
        f64::from(*src.v.iter().min().unwrap()),
        f64::from(*src.v.iter().max().unwrap()),
    );
    assert!(hi > lo);
    let expected: Vec<f64> = src
        .v
        .iter()
        .map(|&v| (f64::from(v) - lo) / (hi - lo))
        .collect();
    assert!(max_error(&img, &src, &expected) < 1e-9);
}

#[test]
fn dicom_rgb_interleaved_and_planar_is_luma() {
    let src = Source::first();
    let n = src.v.len();
    let interleaved: Vec<u8> = src.v.iter().flat_map(|&v| [v, v, v]).collect();
    let planar: Vec<u8> = (0..3 * n).map(|i| src.v[i % n]).collect();
    for (config, data) in [(0, interleaved), (1, planar)] {
        let mut d = Dicom::new(EXPLICIT_LE, src.height, src.width);
        d.pixel_format(8, 8, false, "RGB")
            .us(tags::SAMPLES_PER_PIXEL, 3)
            .us(tags::PLANAR_CONFIGURATION, config)
            .pixels8(data);
        let img = decode_bytes(&d.bytes()).expect("decodes");
        assert_eq!(img.format, "DICOM RGB 8-bit");
        assert!(
            max_error(&img, &src, &src.expected()) < 1e-9,
            "planar configuration {config}"
        );
    }
}

#[test]
fn dicom_multi_frame_uses_the_first_frame() {
    let src = Source::first();
    let mut d = Dicom::new(EXPLICIT_LE, src.height, src.width);
    let data: Vec<u8> = src
        .v
        .iter()
        .copied()
        .chain(src.v.iter().map(|&v| 255 - v))
        .collect();
    d.pixel_format(8, 8, false, "MONOCHROME2")
        .text(tags::NUMBER_OF_FRAMES, VR::IS, "2")
        .text(tags::WINDOW_CENTER, VR::DS, "128")
        .text(tags::WINDOW_WIDTH, VR::DS, "256")
        .pixels8(data);
    let img = decode_bytes(&d.bytes()).expect("decodes");
    assert!(max_error(&img, &src, &src.expected()) < 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Bad input: each a clear error

fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |mut c, &b| {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
        c
    })
}

fn png_with_ihdr(width: u32, height: u32) -> Vec<u8> {
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]);
    out
}

/// SOI, a frame header (marker, precision, size, components) and EOI.
fn jpeg_header(marker: u8, precision: u8, width: u16, height: u16, components: u8) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, marker];
    out.extend_from_slice(&(8 + 3 * u16::from(components)).to_be_bytes());
    out.push(precision);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.push(components);
    for c in 1..=components {
        out.extend_from_slice(&[c, 0x11, 0]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[test]
fn empty_text_and_too_large_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").expect("write");
    let e = decode_file(&empty).expect_err("empty");
    assert_eq!(e.to_string(), format!("{}: empty file", empty.display()));
    assert!(matches!(e.source, DecodeError::Empty));

    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "Patient was cooperative.\n").expect("write");
    let e = decode_file(&text).expect_err("text");
    assert_eq!(
        e.to_string(),
        format!("{}: not a PNG, JPEG or DICOM file", text.display())
    );

    // A sparse file one byte over the limit is refused before it is read.
    let big = dir.path().join("big.dcm");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(MAX_FILE_BYTES + 1))
        .expect("sparse file");
    let e = decode_file(&big).expect_err("too large");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: file is 268435457 bytes, more than the limit of 268435456 bytes",
            big.display()
        )
    );

    let missing = dir.path().join("missing.png");
    assert!(decode_file(&missing)
        .expect_err("missing")
        .to_string()
        .contains("cannot read"));
}

#[test]
fn truncated_png_and_jpeg() {
    let src = Source::first();
    let png = std::fs::read(&src.path).expect("read");
    for cut in [png.len() / 2, 40, 20] {
        let e = err(&png[..cut]);
        assert!(
            e.starts_with("PNG: corrupt or truncated data"),
            "cut at {cut}: {e}"
        );
    }
    let jpeg = src.jpeg(&src.v, ExtendedColorType::L8);
    assert_eq!(
        err(&jpeg[..jpeg.len() / 2]),
        "JPEG: corrupt or truncated data: no end-of-image marker (truncated file)"
    );
    assert_eq!(
        err(&jpeg[..10]),
        "JPEG: corrupt or truncated data: a marker segment runs past the end of the file"
    );
}

#[test]
fn huge_and_tiny_dimensions_are_refused() {
    assert_eq!(
        err(&png_with_ihdr(30_000, 30_000)),
        "image is 30000 x 30000 px: too large, each side must be at most 8192 px"
    );
    assert_eq!(
        err(&jpeg_header(0xC0, 8, 30_000, 30_000, 1)),
        "image is 30000 x 30000 px: too large, each side must be at most 8192 px"
    );
    assert_eq!(
        err(&png_with_ihdr(1, 1)),
        "image is 1 x 1 px: too small, each side must be at least 32 px"
    );
    // A real 1 x 1 PNG.
    let mut one = Vec::new();
    image::codecs::png::PngEncoder::new(&mut one)
        .write_image(&[128], 1, 1, ExtendedColorType::L8)
        .expect("png");
    assert_eq!(
        err(&one),
        "image is 1 x 1 px: too small, each side must be at least 32 px"
    );
    // DICOM: checked from Rows/Columns before the pixel data is looked at.
    let mut d = Dicom::new(EXPLICIT_LE, 20_000, 64);
    d.pixel_format(8, 8, false, "MONOCHROME2")
        .pixels8(vec![0; 64]);
    assert_eq!(
        err(&d.bytes()),
        "image is 64 x 20000 px: too large, each side must be at most 8192 px"
    );
}

#[test]
fn animated_png_is_refused() {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 40, 40);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_animated(2, 0).expect("animated");
    let mut writer = enc.write_header().expect("header");
    writer.write_image_data(&[10; 1600]).expect("frame 1");
    writer.write_image_data(&[200; 1600]).expect("frame 2");
    writer.finish().expect("finish");
    assert_eq!(err(&out), "PNG: animation (APNG) is not supported");
}

#[test]
fn other_formats_are_named() {
    let mut bmp = b"BM\x36\x10\0\0\0\0\0\0\x36\0\0\0".to_vec();
    bmp.extend_from_slice(&[40, 0, 0, 0, 64, 0, 0, 0, 64, 0, 0, 0]);
    for (bytes, name) in [
        (b"GIF89a\x40\0\x40\0".to_vec(), "GIF"),
        (bmp, "BMP"),
        (b"II*\0\x08\0\0\0".to_vec(), "TIFF"),
        (b"MM\0*\0\0\0\x08".to_vec(), "TIFF"),
        (b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(), "WebP"),
    ] {
        assert_eq!(
            err(&bytes),
            format!("{name} images are not supported (only PNG, JPEG and DICOM)")
        );
    }
}

#[test]
fn cmyk_and_12_bit_jpeg_are_refused() {
    assert_eq!(
        err(&jpeg_header(0xC0, 8, 64, 64, 4)),
        "JPEG: CMYK (4-component) colour is not supported"
    );
    assert_eq!(
        err(&jpeg_header(0xC1, 12, 64, 64, 1)),
        "JPEG: 12-bit precision (only 8-bit) is not supported"
    );
    assert_eq!(
        err(&jpeg_header(0xC3, 8, 64, 64, 1)),
        "JPEG: lossless JPEG is not supported"
    );
}

#[test]
fn dicom_without_pixel_data() {
    let mut d = Dicom::new(EXPLICIT_LE, 64, 64);
    d.pixel_format(8, 8, false, "MONOCHROME2");
    assert_eq!(err(&d.bytes()), "DICOM: no PixelData (7FE0,0010)");
}

#[test]
fn dicom_compressed_transfer_syntax_is_named() {
    let src = Source::first();
    let mut d = mono2_16_bit(&src, EXPLICIT_LE);
    d.ts = "1.2.840.10008.1.2.4.50";
    assert_eq!(
        err(&d.bytes()),
        "DICOM: transfer syntax 1.2.840.10008.1.2.4.50 (JPEG Baseline (Process 1)) is not supported: only \
         uncompressed pixel data (implicit or explicit VR little endian, explicit VR big endian) can be read"
    );
    d.ts = "1.2.840.10008.1.2.4.90";
    assert!(err(&d.bytes())
        .contains("1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only))"));
}

#[test]
fn dicom_inconsistent_pixel_data_and_bad_attributes() {
    let mut d = Dicom::new(EXPLICIT_LE, 64, 64);
    d.pixel_format(16, 16, false, "MONOCHROME2")
        .pixels16(vec![0; 64 * 60]);
    assert_eq!(
        err(&d.bytes()),
        "DICOM: PixelData (7FE0,0010) has 7680 bytes, expected 8192 (Rows 64 x Columns 64 x SamplesPerPixel 1 x 2 bytes x 1 frame(s))"
    );
    d.pixels16(vec![0; 64 * 64]).us(tags::BITS_ALLOCATED, 12);
    assert_eq!(
        err(&d.bytes()),
        "DICOM: BitsAllocated (0028,0100) = 12 is not supported: allowed 8 or 16"
    );
    d.us(tags::BITS_ALLOCATED, 16)
        .text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "YBR_FULL");
    assert_eq!(
        err(&d.bytes()),
        "DICOM: PhotometricInterpretation (0028,0004) = YBR_FULL is not supported: allowed MONOCHROME1, MONOCHROME2 or RGB"
    );
    d.text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    d.obj.remove_element(tags::ROWS);
    assert_eq!(err(&d.bytes()), "DICOM: missing Rows (0028,0010)");
}

#[test]
fn dicom_element_claiming_more_bytes_than_the_file_has() {
    // An OB element (long explicit-VR header) whose length is patched to 0xFFFFFFF0: refused
    // before anything of that size is allocated.
    let src = Source::first().crop(64);
    let mut d = Dicom::new(EXPLICIT_LE, 64, 64);
    d.pixel_format(8, 8, false, "MONOCHROME2")
        .pixels8(src.v.clone());
    d.obj.put(DataElement::new(
        Tag(0x0042, 0x0011),
        VR::OB,
        PrimitiveValue::U8(vec![1, 2, 3, 4].into()),
    ));
    let mut bytes = d.bytes();
    let header = [0x42, 0x00, 0x11, 0x00, b'O', b'B', 0, 0, 4, 0, 0, 0];
    let at = bytes
        .windows(12)
        .position(|w| w == header)
        .expect("element present");
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let e = err(&bytes);
    assert!(
        e.starts_with("DICOM: element (0042,0011) claims 4294967280 bytes but only "),
        "{e}"
    );
    assert!(e.ends_with(" are left (truncated or corrupt file)"), "{e}");
    // Truncated in the middle of the pixel data.
    let whole = d.bytes();
    let e = err(&whole[..whole.len() - 100]);
    assert!(
        e.starts_with("DICOM: element (7FE0,0010) claims 4096 bytes but only 3996 are left"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: random bytes and mutated valid files never panic.

fn seeds() -> Vec<Vec<u8>> {
    let src = Source::first().crop(40);
    let png = src.encode(&src.v, ExtendedColorType::L8);
    let jpeg = src.jpeg(&src.v, ExtendedColorType::L8);
    let mut d = Dicom::new(EXPLICIT_LE, 40, 40);
    d.pixel_format(16, 12, true, "MONOCHROME1")
        .text(tags::WINDOW_CENTER, VR::DS, "100")
        .text(tags::WINDOW_WIDTH, VR::DS, "500")
        .pixels16(src.v.iter().map(|&v| u16::from(v) * 8).collect());
    let dicom = d.bytes();
    for seed in [&png, &jpeg, &dicom] {
        decode_bytes(seed).expect("seeds decode");
    }
    vec![png, jpeg, dicom]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_bytes(&bytes);
    }

    #[test]
    fn mutated_files_do_not_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        head in prop::sample::select(vec![64usize, 512, usize::MAX]),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        // Edits land in the first `head` bytes (headers) or anywhere.
        thread_local!(static SEEDS: Vec<Vec<u8>> = seeds());
        let mut bytes = SEEDS.with(|s| s[which].clone());
        for (i, b) in edits {
            let at = i.index(bytes.len().min(head));
            bytes[at] = b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = decode_bytes(&bytes);
    }
}

/// Writes the fuzz seeds (`fuzz/corpus/decode/seed-*`): run with `--ignored` after changing
/// `seeds()`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    std::fs::create_dir_all(&dir).expect("corpus folder");
    for (seed, name) in seeds().iter().zip([
        "seed-40px.png",
        "seed-40px.jpg",
        "seed-40px-mono1-12bit.dcm",
    ]) {
        std::fs::write(dir.join(name), seed).expect("write seed");
    }
}
