//! Image files (PNG, JPEG, DICOM) → [`GrayImage`], with bounded memory and clear errors.
//!
//! The format is taken from the content (magic bytes), never from the file name. Dimensions are
//! read from the header and checked against [`MIN_SIDE`] and [`MAX_SIDE`] before any pixel buffer
//! is allocated; the decoders run under [`image::Limits`] as a second line of defence. Step 1 of
//! `models/xray/PREPROCESSING.md` defines the intensities.

use super::{dicom, GrayImage};
use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::error::{ImageError, LimitErrorKind};
use image::{ColorType, ImageDecoder, Limits};
use std::fmt;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// Images with a side shorter than this (px) are refused: nothing to screen.
pub const MIN_SIDE: usize = 32;
/// Images with a side longer than this (px) are refused before pixels are allocated.
pub const MAX_SIDE: usize = 8_192;
/// Files larger than this are refused before they are read.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Most bytes a PNG or JPEG decoder may allocate for the decoded pixels (before conversion to
/// `f64`, which needs 8 bytes per pixel more).
pub const MAX_ALLOC_BYTES: u64 = 1 << 30;

/// The formats this module decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG (not animated).
    Png,
    /// JPEG (baseline or progressive, 8-bit, gray or YCbCr).
    Jpeg,
    /// DICOM Part 10 with uncompressed pixel data.
    Dicom,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
            Format::Dicom => "DICOM",
        })
    }
}

/// Why bytes could not be decoded (the file name is added by [`FileError`]).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty file")]
    Empty,
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("file is {size} bytes, more than the limit of {MAX_FILE_BYTES} bytes")]
    FileTooLarge {
        /// Size in bytes.
        size: u64,
    },
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// A recognised image format that is not supported.
    #[error("{0} images are not supported (only PNG, JPEG and DICOM)")]
    UnsupportedFormat(&'static str),
    /// No known magic bytes.
    #[error("not a PNG, JPEG or DICOM file")]
    UnknownFormat,
    /// A side shorter than [`MIN_SIDE`].
    #[error("image is {width} x {height} px: too small, each side must be at least {MIN_SIDE} px")]
    TooSmall {
        /// Width, px.
        width: usize,
        /// Height, px.
        height: usize,
    },
    /// A side longer than [`MAX_SIDE`].
    #[error("image is {width} x {height} px: too large, each side must be at most {MAX_SIDE} px")]
    TooLarge {
        /// Width, px.
        width: usize,
        /// Height, px.
        height: usize,
    },
    /// Decoding would need more memory than [`MAX_ALLOC_BYTES`].
    #[error("{format}: decoding needs more than the limit of {MAX_ALLOC_BYTES} bytes")]
    Memory {
        /// The format.
        format: Format,
    },
    /// A feature of the format that is not supported (animation, CMYK, 12-bit, ...).
    #[error("{format}: {feature} is not supported")]
    UnsupportedFeature {
        /// The format.
        format: Format,
        /// What the file uses.
        feature: String,
    },
    /// Invalid or truncated data.
    #[error("{format}: corrupt or truncated data: {message}")]
    Corrupt {
        /// The format.
        format: Format,
        /// The decoder's message.
        message: String,
    },
    /// A DICOM-specific problem.
    #[error("DICOM: {0}")]
    Dicom(dicom::DicomError),
}

/// A [`DecodeError`] with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", file.display())]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    #[source]
    pub source: DecodeError,
}

/// The format of `bytes` from their magic bytes, or the error to report for them.
pub fn detect_format(bytes: &[u8]) -> Result<Format, DecodeError> {
    const OTHERS: &[(&[u8], &str)] = &[
        (b"GIF87a", "GIF"),
        (b"GIF89a", "GIF"),
        (b"II*\0", "TIFF"),
        (b"MM\0*", "TIFF"),
        (b"\0\0\0\x0cjP  \r\n\x87\n", "JPEG 2000"),
        (b"\xff\x4f\xff\x51", "JPEG 2000"),
        (b"\0\0\x01\0", "ICO"),
    ];
    if bytes.is_empty() {
        Err(DecodeError::Empty)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(Format::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Format::Jpeg)
    } else if dicom::magic_offset(bytes).is_some() {
        Ok(Format::Dicom)
    } else if let Some((_, name)) = OTHERS.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        Err(DecodeError::UnsupportedFormat(name))
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Err(DecodeError::UnsupportedFormat("WebP"))
    } else if bytes.starts_with(b"BM")
        && matches!(
            bytes.get(14..18),
            Some([12 | 40 | 52 | 56 | 64 | 108 | 124, 0, 0, 0])
        )
    {
        Err(DecodeError::UnsupportedFormat("BMP"))
    } else {
        Err(DecodeError::UnknownFormat)
    }
}

/// Decode a PNG, JPEG or DICOM image held in memory; the format comes from the content.
pub fn decode_bytes(bytes: &[u8]) -> Result<GrayImage, DecodeError> {
    match detect_format(bytes)? {
        Format::Png => decode_png(bytes),
        Format::Jpeg => decode_jpeg(bytes),
        Format::Dicom => dicom::decode(bytes),
    }
}

/// Read and decode a file: refused unread when larger than [`MAX_FILE_BYTES`]; logs a warning
/// when the extension names another format than the content (the content wins).
pub fn decode_file(path: &Path) -> Result<GrayImage, FileError> {
    let error = |source| FileError {
        file: path.to_path_buf(),
        source,
    };
    let read = || -> Result<Vec<u8>, DecodeError> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        if size > MAX_FILE_BYTES {
            return Err(DecodeError::FileTooLarge { size });
        }
        // `take` guards against a file that grows while it is read.
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        match bytes.len() as u64 {
            n if n > MAX_FILE_BYTES => Err(DecodeError::FileTooLarge { size: n }),
            _ => Ok(bytes),
        }
    };
    let bytes = read().map_err(error)?;
    if let (Some(ext), Ok(format)) = (extension(path), detect_format(&bytes)) {
        let named = match ext.as_str() {
            "png" => Some(Format::Png),
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "dcm" | "dicom" => Some(Format::Dicom),
            _ => None,
        };
        if named != Some(format) {
            log::warn!(
                "{}: the extension .{ext} does not match the content, decoding as {format}",
                path.display()
            );
        }
    }
    decode_bytes(&bytes).map_err(error)
}

/// Whether a folder scan should try this file: not hidden, and a `.png`, `.jpg`, `.jpeg`, `.dcm`
/// or `.dicom` extension (any case) or none (DICOM files often have none). Looks at the name only.
pub fn is_candidate(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .map_or(true, |n| n.starts_with('.'));
    !hidden
        && extension(path).map_or(true, |e| {
            ["png", "jpg", "jpeg", "dcm", "dicom"].contains(&e.as_str())
        })
}

/// The lower-case extension, `None` when there is none (or it is empty).
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .filter(|e| !e.is_empty())
}

/// Refuses images with a side outside [`MIN_SIDE`]`..=`[`MAX_SIDE`].
pub(crate) fn check_side(width: usize, height: usize) -> Result<(), DecodeError> {
    if width > MAX_SIDE || height > MAX_SIDE {
        Err(DecodeError::TooLarge { width, height })
    } else if width < MIN_SIDE || height < MIN_SIDE {
        Err(DecodeError::TooSmall { width, height })
    } else {
        Ok(())
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE as u32);
    limits.max_image_height = Some(MAX_SIDE as u32);
    limits.max_alloc = Some(MAX_ALLOC_BYTES);
    limits
}

fn image_error(format: Format, e: ImageError) -> DecodeError {
    match e {
        ImageError::Limits(l) if matches!(l.kind(), LimitErrorKind::InsufficientMemory) => {
            DecodeError::Memory { format }
        }
        ImageError::Unsupported(u) => DecodeError::UnsupportedFeature {
            format,
            feature: u.to_string(),
        },
        other => DecodeError::Corrupt {
            format,
            message: other.to_string(),
        },
    }
}

fn decode_png(bytes: &[u8]) -> Result<GrayImage, DecodeError> {
    // IHDR is the first chunk: width, height, bit depth, colour type.
    let corrupt = |message: &str| DecodeError::Corrupt {
        format: Format::Png,
        message: message.into(),
    };
    let ihdr = bytes
        .get(8..26)
        .filter(|h| &h[4..8] == b"IHDR")
        .ok_or_else(|| corrupt("no IHDR chunk"))?;
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    check_side(be32(&ihdr[8..12]), be32(&ihdr[12..16]))?;
    let kind = match ihdr[17] {
        0 => "gray",
        2 => "RGB",
        3 => "palette",
        4 => "gray+alpha",
        6 => "RGBA",
        _ => "unknown colour type",
    };
    let format = format!("PNG {}-bit {kind}", ihdr[16]);
    let decoder = PngDecoder::with_limits(Cursor::new(bytes), limits())
        .map_err(|e| image_error(Format::Png, e))?;
    if decoder.is_apng().map_err(|e| image_error(Format::Png, e))? {
        return Err(DecodeError::UnsupportedFeature {
            format: Format::Png,
            feature: "animation (APNG)".into(),
        });
    }
    read_pixels(decoder, Format::Png, format)
}

fn decode_jpeg(bytes: &[u8]) -> Result<GrayImage, DecodeError> {
    let frame = jpeg_frame(bytes)?;
    let unsupported = |feature: String| {
        Err(DecodeError::UnsupportedFeature {
            format: Format::Jpeg,
            feature,
        })
    };
    match frame {
        JpegFrame { components: 4, .. } => return unsupported("CMYK (4-component) colour".into()),
        JpegFrame { components: c, .. } if c != 1 && c != 3 => {
            return unsupported(format!("{c}-component colour"))
        }
        JpegFrame { precision: p, .. } if p != 8 => {
            return unsupported(format!("{p}-bit precision (only 8-bit)"))
        }
        JpegFrame {
            marker: 0xC3 | 0xC7 | 0xCB | 0xCF,
            ..
        } => return unsupported("lossless JPEG".into()),
        JpegFrame {
            marker: 0xC9..=0xCF,
            ..
        } => return unsupported("arithmetic coding".into()),
        JpegFrame {
            marker: 0xC5..=0xC7,
            ..
        } => return unsupported("hierarchical JPEG".into()),
        _ => {}
    }
    check_side(frame.width, frame.height)?;
    // The entropy-coded data never contains FF D9 (an FF in it is followed by 00 or a restart
    // marker), so a missing end-of-image marker means a truncated file.
    if !bytes[frame.offset..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(DecodeError::Corrupt {
            format: Format::Jpeg,
            message: "no end-of-image marker (truncated file)".into(),
        });
    }
    let mut decoder =
        JpegDecoder::new(Cursor::new(bytes)).map_err(|e| image_error(Format::Jpeg, e))?;
    decoder
        .set_limits(limits())
        .map_err(|e| image_error(Format::Jpeg, e))?;
    let kind = if frame.components == 1 {
        "gray"
    } else {
        "YCbCr"
    };
    let progressive = if frame.marker == 0xC2 {
        " progressive"
    } else {
        ""
    };
    read_pixels(
        decoder,
        Format::Jpeg,
        format!("JPEG 8-bit {kind}{progressive}"),
    )
}

/// The frame header (SOFn) of a JPEG file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JpegFrame {
    /// The SOF marker's second byte (C0 baseline, C1 extended, C2 progressive, ...).
    marker: u8,
    precision: u8,
    width: usize,
    height: usize,
    components: u8,
    /// Where the frame header ends.
    offset: usize,
}

/// Walks the marker segments after SOI up to the first frame header.
fn jpeg_frame(bytes: &[u8]) -> Result<JpegFrame, DecodeError> {
    let corrupt = |message: &str| DecodeError::Corrupt {
        format: Format::Jpeg,
        message: message.into(),
    };
    let mut pos = 2;
    loop {
        // Fill bytes (FF FF ...) may precede a marker.
        while bytes.get(pos..pos + 2) == Some(&[0xFF, 0xFF]) {
            pos += 1;
        }
        let (marker, length) = match bytes.get(pos..pos + 4) {
            Some([0xFF, m, hi, lo]) => (*m, usize::from(u16::from_be_bytes([*hi, *lo]))),
            Some(_) => return Err(corrupt("expected a marker segment before the frame header")),
            None => return Err(corrupt("no frame header (truncated file)")),
        };
        let segment = bytes.get(pos + 4..pos + 2 + length).filter(|_| length >= 2);
        match (marker, segment) {
            (0xDA | 0xD9, _) => return Err(corrupt("no frame header before the image data")),
            (0xC0..=0xCF, Some(s)) if !matches!(marker, 0xC4 | 0xC8 | 0xCC) && s.len() >= 6 => {
                return Ok(JpegFrame {
                    marker,
                    precision: s[0],
                    height: usize::from(u16::from_be_bytes([s[1], s[2]])),
                    width: usize::from(u16::from_be_bytes([s[3], s[4]])),
                    components: s[5],
                    offset: pos + 2 + length,
                })
            }
            (_, Some(_)) => pos += 2 + length,
            (_, None) => return Err(corrupt("a marker segment runs past the end of the file")),
        }
    }
}

/// Reads the whole image from a decoder whose dimensions were checked, and converts it to
/// intensities (8-bit: v / 255, 16-bit: v / 65535; colour → luma; alpha ignored).
fn read_pixels(
    decoder: impl ImageDecoder,
    format: Format,
    description: String,
) -> Result<GrayImage, DecodeError> {
    let (w, h) = decoder.dimensions();
    let (width, height) = (w as usize, h as usize);
    check_side(width, height)?;
    let color = decoder.color_type();
    let total = decoder.total_bytes();
    if total > MAX_ALLOC_BYTES {
        return Err(DecodeError::Memory { format });
    }
    let mut buffer = vec![0u8; total as usize];
    decoder
        .read_image(&mut buffer)
        .map_err(|e| image_error(format, e))?;
    let channels = usize::from(color.channel_count());
    let samples: Vec<f64> = match color {
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => {
            buffer.iter().map(|&v| f64::from(v) / 255.0).collect()
        }
        ColorType::L16 | ColorType::La16 | ColorType::Rgb16 | ColorType::Rgba16 => buffer
            .chunks_exact(2)
            .map(|b| f64::from(u16::from_ne_bytes([b[0], b[1]])) / 65535.0)
            .collect(),
        other => {
            return Err(DecodeError::UnsupportedFeature {
                format,
                feature: format!("colour type {other:?}"),
            });
        }
    };
    let pixels = samples
        .chunks_exact(channels)
        .map(|p| {
            if channels >= 3 {
                luma(p[0], p[1], p[2])
            } else {
                p[0]
            }
        })
        .collect();
    let colourfulness = if channels >= 3 {
        colourfulness(samples.chunks_exact(channels).map(|p| [p[0], p[1], p[2]]))
    } else {
        0.0
    };
    Ok(GrayImage {
        width,
        height,
        pixels,
        format: description,
        source: super::SourceInfo {
            colourfulness,
            ..Default::default()
        },
    })
}

/// Luma (ITU-R BT.601 weights) of `[0, 1]` channels, clamped to `[0, 1]`.
pub fn luma(r: f64, g: f64, b: f64) -> f64 {
    (0.299 * r + 0.587 * g + 0.114 * b).clamp(0.0, 1.0)
}

/// Colourfulness of RGB pixels in `[0, 1]` (Hasler and Süsstrunk 2003), on the 0-255 scale:
/// `sqrt(var(rg) + var(yb)) + 0.3 sqrt(mean(rg)² + mean(yb)²)` with `rg = R - G` and
/// `yb = (R + G) / 2 - B`. 0 for gray pixels (R = G = B) and for no pixels.
pub fn colourfulness(pixels: impl Iterator<Item = [f64; 3]>) -> f64 {
    let (mut n, mut s_rg, mut s_yb, mut q_rg, mut q_yb) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for [r, g, b] in pixels {
        let rg = 255.0 * (r - g);
        let yb = 255.0 * (0.5 * (r + g) - b);
        n += 1.0;
        s_rg += rg;
        s_yb += yb;
        q_rg += rg * rg;
        q_yb += yb * yb;
    }
    if n == 0.0 {
        return 0.0;
    }
    let (m_rg, m_yb) = (s_rg / n, s_yb / n);
    let var = (q_rg / n - m_rg * m_rg).max(0.0) + (q_yb / n - m_yb * m_yb).max(0.0);
    var.sqrt() + 0.3 * (m_rg * m_rg + m_yb * m_yb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colourfulness_of_gray_is_zero_and_of_two_colours_is_known() {
        let gray = (0..100).map(|i| [f64::from(i) / 99.0; 3]);
        assert!(colourfulness(gray) < 1e-9);
        // Half pure red, half pure green: rg = ±255 (mean 0, sd 255); yb = 127.5 both (sd 0).
        let rg = (0..100).map(|i| {
            if i % 2 == 0 {
                [1.0, 0.0, 0.0]
            } else {
                [0.0, 1.0, 0.0]
            }
        });
        let expected = 255.0 + 0.3 * 127.5;
        assert!((colourfulness(rg) - expected).abs() < 1e-9);
        assert_eq!(colourfulness(std::iter::empty()), 0.0);
    }

    #[test]
    fn sides_are_checked_at_both_ends() {
        assert!(check_side(MIN_SIDE, MAX_SIDE).is_ok());
        assert!(matches!(
            check_side(MIN_SIDE - 1, 100),
            Err(DecodeError::TooSmall {
                width: 31,
                height: 100
            })
        ));
        assert!(matches!(
            check_side(100, MAX_SIDE + 1),
            Err(DecodeError::TooLarge { .. })
        ));
        // Too large wins over too small: 1 x 30000 is reported as too large.
        assert!(matches!(
            check_side(1, 30_000),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn luma_weights_sum_to_one() {
        assert!((luma(1.0, 1.0, 1.0) - 1.0).abs() < 1e-12);
        assert!((luma(1.0, 0.0, 0.0) - 0.299).abs() < 1e-12);
        assert!((luma(0.0, 1.0, 0.0) - 0.587).abs() < 1e-12);
        assert!((luma(0.0, 0.0, 1.0) - 0.114).abs() < 1e-12);
    }

    #[test]
    fn formats_are_recognised_by_their_magic() {
        assert!(matches!(detect_format(b""), Err(DecodeError::Empty)));
        assert_eq!(
            detect_format(b"\x89PNG\r\n\x1a\n....").ok(),
            Some(Format::Png)
        );
        assert_eq!(
            detect_format(&[0xFF, 0xD8, 0xFF, 0xE0]).ok(),
            Some(Format::Jpeg)
        );
        assert!(matches!(
            detect_format(b"GIF89a..."),
            Err(DecodeError::UnsupportedFormat("GIF"))
        ));
        assert!(matches!(
            detect_format(b"RIFF\0\0\0\0WEBPVP8 "),
            Err(DecodeError::UnsupportedFormat("WebP"))
        ));
        assert!(matches!(
            detect_format(b"BMW 320i, 2004, for sale"),
            Err(DecodeError::UnknownFormat)
        ));
    }

    #[test]
    fn candidates_by_name() {
        for yes in [
            "a.png",
            "b.JPG",
            "c.jpeg",
            "d.DCM",
            "e.dicom",
            "IM000001",
            "dir/x.PnG",
        ] {
            assert!(is_candidate(Path::new(yes)), "{yes}");
        }
        for no in [
            ".hidden.png",
            ".DS_Store",
            "notes.txt",
            "scan.gif",
            "dir/.x.dcm",
        ] {
            assert!(!is_candidate(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn jpeg_frame_header_is_found_after_other_segments() {
        // SOI, APP0 (length 4: 2 payload bytes), SOF0 8-bit 40 x 30, 3 components.
        let mut b = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xC0, 0, 17, 8, 0, 30, 0, 40, 3,
        ];
        b.extend_from_slice(&[0; 9]);
        let f = jpeg_frame(&b).expect("frame header");
        assert_eq!(
            (f.marker, f.precision, f.width, f.height, f.components),
            (0xC0, 8, 40, 30, 3)
        );
        assert!(jpeg_frame(&b[..10]).is_err());
    }
}
