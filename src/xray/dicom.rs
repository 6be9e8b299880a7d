//! DICOM Part 10 files with uncompressed (native) pixel data → [`GrayImage`].
//!
//! The data set is walked with dicom-parser's lazy reader: every value length is checked against
//! the bytes that are left before anything is read, the pixel data is used in place (never
//! copied), and only the few attributes needed here are kept. (dicom-object's reader allocates
//! whatever length an element claims, up to 4 GiB, before it finds the file too short.)
//!
//! Stored value → modality LUT (RescaleSlope, RescaleIntercept) → the first VOI window (linear
//! function, DICOM PS3.3 C.11.2.1.2.1), or the range of the modality values without a window →
//! MONOCHROME1 inverted. RGB is reduced to luma. See `models/xray/PREPROCESSING.md`, step 1.

use super::decode::{check_side, DecodeError};
use super::GrayImage;
use dicom_core::value::PrimitiveValue;
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_parser::dataset::lazy_read::LazyDataSetReader;
use dicom_parser::dataset::read::ValueReadStrategy;
use dicom_parser::dataset::LazyDataToken;
use dicom_parser::StatefulDecode;
use dicom_transfer_syntax_registry::{entries, TransferSyntax, TransferSyntaxRegistry};
use std::io::Cursor;
use std::ops::Range;

/// Sequences nested deeper than this are refused (real files use a handful of levels).
const MAX_DEPTH: usize = 32;
/// Attribute values kept by this reader (not the pixel data) longer than this are refused.
const MAX_VALUE_BYTES: u32 = 4096;

/// What is wrong with a DICOM file (the data set itself, not the file's size or dimensions).
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// The file has no pixel data.
    #[error("no PixelData (7FE0,0010)")]
    NoPixelData,
    /// A required attribute is absent.
    #[error("missing {name} {tag}")]
    Missing {
        /// Attribute keyword, e.g. `Rows`.
        name: &'static str,
        /// Its tag.
        tag: Tag,
    },
    /// An attribute has a value this reader cannot use.
    #[error("{name} {tag} = {value} is not supported: allowed {allowed}")]
    Value {
        /// Attribute keyword.
        name: &'static str,
        /// Its tag.
        tag: Tag,
        /// The value as found.
        value: String,
        /// What is accepted.
        allowed: &'static str,
    },
    /// Compressed (encapsulated) or otherwise unsupported transfer syntax.
    #[error(
        "transfer syntax {uid} ({name}) is not supported: only uncompressed pixel data (implicit or \
         explicit VR little endian, explicit VR big endian) can be read"
    )]
    TransferSyntax {
        /// The transfer syntax UID.
        uid: String,
        /// Its name, or `unknown transfer syntax`.
        name: &'static str,
    },
    /// Encapsulated pixel data under a transfer syntax that says it is uncompressed.
    #[error("PixelData (7FE0,0010) is encapsulated but the transfer syntax {uid} is uncompressed")]
    Encapsulated {
        /// The transfer syntax UID.
        uid: String,
    },
    /// The pixel data does not hold exactly the pixels that the header describes.
    #[error(
        "PixelData (7FE0,0010) has {actual} bytes, expected {expected} (Rows {rows} x Columns \
         {columns} x SamplesPerPixel {samples} x {bytes} bytes x {frames} frame(s))"
    )]
    PixelDataLength {
        /// Bytes present.
        actual: usize,
        /// Bytes expected (one more, a padding byte, is also accepted).
        expected: usize,
        /// Rows.
        rows: usize,
        /// Columns.
        columns: usize,
        /// SamplesPerPixel.
        samples: usize,
        /// Bytes per sample (BitsAllocated / 8).
        bytes: usize,
        /// NumberOfFrames.
        frames: usize,
    },
    /// An element claims more bytes than the file has left.
    #[error(
        "element {tag} claims {length} bytes but only {left} are left (truncated or corrupt file)"
    )]
    Truncated {
        /// The element.
        tag: Tag,
        /// Its value length.
        length: u32,
        /// Bytes left in the file.
        left: u64,
    },
    /// An attribute read by this module is implausibly long.
    #[error("element {tag} claims {length} bytes, more than the {MAX_VALUE_BYTES} allowed for it")]
    ValueTooLong {
        /// The element.
        tag: Tag,
        /// Its value length.
        length: u32,
    },
    /// Sequences nested too deeply.
    #[error("sequences nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The bytes do not follow the DICOM encoding.
    #[error("malformed data: {0}")]
    Malformed(String),
}

impl From<DicomError> for DecodeError {
    fn from(e: DicomError) -> Self {
        DecodeError::Dicom(e)
    }
}

/// Offset of the `DICM` magic: 128 (after the preamble) or 0 (file without preamble).
pub fn magic_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.get(128..132) == Some(b"DICM") {
        Some(128)
    } else if bytes.starts_with(b"DICM") {
        Some(0)
    } else {
        None
    }
}

/// Decode a DICOM Part 10 file (with or without the 128-byte preamble).
pub fn decode(bytes: &[u8]) -> Result<GrayImage, DecodeError> {
    let offset = magic_offset(bytes).ok_or_else(|| malformed("no DICM magic"))?;
    let (ts, dataset) = read_meta(&bytes[offset..])?;
    let uid = ts.uid();
    let elements = read_elements(dataset, ts, WANTED)?;
    let attrs = Attributes::parse(&elements)?;
    let text = |tag| {
        elements
            .get(tag)
            .map(value_text)
            .filter(|t: &String| !t.is_empty())
    };
    let source = super::SourceInfo {
        modality: text(tags::MODALITY),
        body_part: text(tags::BODY_PART_EXAMINED),
        view_position: text(tags::VIEW_POSITION),
        colourfulness: 0.0,
    };
    let pixels = match elements.pixel_data {
        Some(Pixels::Native(range)) => &dataset[range],
        Some(Pixels::Encapsulated) => {
            return Err(DicomError::Encapsulated { uid: uid.into() }.into())
        }
        None => return Err(DicomError::NoPixelData.into()),
    };
    let mut img = attrs.render(pixels, uid == entries::EXPLICIT_VR_BIG_ENDIAN.uid())?;
    img.source = super::SourceInfo {
        colourfulness: img.source.colourfulness,
        ..source
    };
    Ok(img)
}

/// Reads the file meta group (explicit VR little endian, its length given by (0002,0000)) and
/// returns the data set's transfer syntax, refusing all but the native ones, and the data set.
fn read_meta(bytes: &[u8]) -> Result<(&'static TransferSyntax, &[u8]), DicomError> {
    // "DICM", then (0002,0000) UL, length 4, the group length.
    let group_length = match bytes.get(4..16) {
        Some([2, 0, 0, 0, b'U', b'L', 4, 0, l0, l1, l2, l3]) => {
            u32::from_le_bytes([*l0, *l1, *l2, *l3])
        }
        _ => {
            return Err(malformed(
                "the file meta group does not start with (0002,0000)",
            ))
        }
    };
    let end = usize::try_from(group_length)
        .ok()
        .and_then(|l| l.checked_add(16))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| malformed("the file meta group is longer than the file"))?;
    let explicit_le = transfer_syntax(entries::EXPLICIT_VR_LITTLE_ENDIAN.uid())
        .ok_or_else(|| malformed("explicit VR little endian is not registered"))?;
    let meta = read_elements(&bytes[16..end], explicit_le, &[tags::TRANSFER_SYNTAX_UID])?;
    let uid = meta
        .get(tags::TRANSFER_SYNTAX_UID)
        .map(value_text)
        .ok_or(DicomError::Missing {
            name: "TransferSyntaxUID",
            tag: tags::TRANSFER_SYNTAX_UID,
        })?;
    let native = [
        &entries::IMPLICIT_VR_LITTLE_ENDIAN,
        &entries::EXPLICIT_VR_LITTLE_ENDIAN,
        &entries::EXPLICIT_VR_BIG_ENDIAN,
    ];
    match transfer_syntax(&uid) {
        Some(ts) if native.iter().any(|n| n.uid() == uid) => Ok((ts, &bytes[end..])),
        found => Err(DicomError::TransferSyntax {
            name: found.map_or("unknown transfer syntax", |ts| ts.name()),
            uid,
        }),
    }
}

/// The registered transfer syntax with this UID.
fn transfer_syntax(uid: &str) -> Option<&'static TransferSyntax> {
    static REGISTRY: TransferSyntaxRegistry = TransferSyntaxRegistry;
    REGISTRY.iter().find(|ts| ts.uid() == uid)
}

/// The attributes this module reads from the top level of the data set.
const WANTED: &[Tag] = &[
    tags::SAMPLES_PER_PIXEL,
    tags::PHOTOMETRIC_INTERPRETATION,
    tags::PLANAR_CONFIGURATION,
    tags::NUMBER_OF_FRAMES,
    tags::ROWS,
    tags::COLUMNS,
    tags::BITS_ALLOCATED,
    tags::BITS_STORED,
    tags::HIGH_BIT,
    tags::PIXEL_REPRESENTATION,
    tags::WINDOW_CENTER,
    tags::WINDOW_WIDTH,
    tags::RESCALE_INTERCEPT,
    tags::RESCALE_SLOPE,
    tags::MODALITY,
    tags::BODY_PART_EXAMINED,
    tags::VIEW_POSITION,
];

/// Where the pixel data is.
enum Pixels {
    /// Byte range of a native PixelData value within the data set.
    Native(Range<usize>),
    /// Encapsulated (fragments): compressed.
    Encapsulated,
}

/// Top-level values read by [`read_elements`].
struct Elements {
    values: Vec<(Tag, PrimitiveValue)>,
    pixel_data: Option<Pixels>,
}

impl Elements {
    fn get(&self, tag: Tag) -> Option<&PrimitiveValue> {
        self.values.iter().find(|(t, _)| *t == tag).map(|(_, v)| v)
    }
}

/// Walks a data set, keeping the top-level values of `wanted` and the position of the pixel
/// data. Every value length is checked against the bytes left before it is read or skipped.
fn read_elements(data: &[u8], ts: &TransferSyntax, wanted: &[Tag]) -> Result<Elements, DicomError> {
    let mut reader = LazyDataSetReader::new_with_ts(Cursor::new(data), ts).map_err(malformed)?;
    let (mut depth, mut values, mut pixel_data) = (0usize, Vec::new(), None);
    while let Some(token) = reader.advance() {
        let token = token.map_err(malformed)?;
        match &token {
            LazyDataToken::SequenceStart { .. } | LazyDataToken::ItemStart { .. } => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DicomError::TooDeep);
                }
            }
            LazyDataToken::PixelSequenceStart => {
                if depth == 0 {
                    pixel_data = Some(Pixels::Encapsulated);
                }
                depth += 1;
            }
            LazyDataToken::SequenceEnd | LazyDataToken::ItemEnd => depth = depth.saturating_sub(1),
            LazyDataToken::LazyValue { header, decoder } => {
                let (tag, length, start) = (header.tag, header.len.0, decoder.position());
                let left = (data.len() as u64).saturating_sub(start);
                if u64::from(length) > left {
                    return Err(DicomError::Truncated { tag, length, left });
                }
                if depth == 0 && tag == tags::PIXEL_DATA {
                    // `start + length <= data.len()`, checked above.
                    pixel_data = Some(Pixels::Native(
                        start as usize..(start + u64::from(length)) as usize,
                    ));
                } else if depth == 0 && wanted.contains(&tag) {
                    if length > MAX_VALUE_BYTES {
                        return Err(DicomError::ValueTooLong { tag, length });
                    }
                    let value = token
                        .into_value_with_strategy(ValueReadStrategy::Preserved)
                        .map_err(malformed)?;
                    values.push((tag, value));
                    continue;
                }
                token.skip().map_err(malformed)?;
            }
            LazyDataToken::LazyItemValue { len, decoder } => {
                let left = (data.len() as u64).saturating_sub(decoder.position());
                if u64::from(*len) > left {
                    return Err(DicomError::Truncated {
                        tag: Tag(0xFFFE, 0xE000),
                        length: *len,
                        left,
                    });
                }
                token.skip().map_err(malformed)?;
            }
            // Element headers (the value follows as `LazyValue`) and future token kinds.
            _ => {}
        }
    }
    Ok(Elements { values, pixel_data })
}

fn malformed(e: impl std::fmt::Display) -> DicomError {
    DicomError::Malformed(e.to_string())
}

/// PhotometricInterpretation values this module renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Photometric {
    Monochrome1,
    Monochrome2,
    Rgb,
}

/// The validated image attributes.
#[derive(Debug, Clone, PartialEq)]
struct Attributes {
    rows: usize,
    columns: usize,
    samples: usize,
    planar: bool,
    bits_allocated: u32,
    bits_stored: u32,
    high_bit: u32,
    signed: bool,
    photometric: Photometric,
    frames: usize,
    slope: f64,
    intercept: f64,
    window: Option<Window>,
}

/// A VOI window (WindowCenter, WindowWidth).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// WindowCenter.
    pub center: f64,
    /// WindowWidth, at least 1.
    pub width: f64,
}

impl Window {
    /// The linear VOI function of DICOM PS3.3 C.11.2.1.2.1, scaled to `[0, 1]` (NaN → 0).
    pub fn apply(&self, x: f64) -> f64 {
        let (c, w) = (self.center - 0.5, self.width - 1.0);
        if x > c + w / 2.0 {
            1.0
        } else if x > c - w / 2.0 {
            ((x - c) / w + 0.5).clamp(0.0, 1.0)
        } else {
            0.0 // at or below the lower edge, or NaN
        }
    }
}

impl Attributes {
    fn parse(e: &Elements) -> Result<Self, DicomError> {
        let int = |name, tag| -> Result<Option<i64>, DicomError> {
            e.get(tag)
                .map(|v| {
                    v.to_int::<i64>().map_err(|_| DicomError::Value {
                        name,
                        tag,
                        value: value_text(v),
                        allowed: "an integer",
                    })
                })
                .transpose()
        };
        let required = |name, tag| int(name, tag)?.ok_or(DicomError::Missing { name, tag });
        let float = |tag| e.get(tag).and_then(|v| v.to_float64().ok());
        let bad = |name, tag, value: i64, allowed| DicomError::Value {
            name,
            tag,
            value: value.to_string(),
            allowed,
        };
        // A 0/1 attribute, 0 when absent.
        let flag = |name, tag, allowed| match int(name, tag)?.unwrap_or(0) {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(name, tag, v, allowed)),
        };

        let rows = required("Rows", tags::ROWS)?;
        let columns = required("Columns", tags::COLUMNS)?;
        let bits_allocated = required("BitsAllocated", tags::BITS_ALLOCATED)?;
        if bits_allocated != 8 && bits_allocated != 16 {
            return Err(bad(
                "BitsAllocated",
                tags::BITS_ALLOCATED,
                bits_allocated,
                "8 or 16",
            ));
        }
        let bits_stored = int("BitsStored", tags::BITS_STORED)?.unwrap_or(bits_allocated);
        if !(1..=bits_allocated).contains(&bits_stored) {
            return Err(bad(
                "BitsStored",
                tags::BITS_STORED,
                bits_stored,
                "1 to BitsAllocated",
            ));
        }
        let high_bit = int("HighBit", tags::HIGH_BIT)?.unwrap_or(bits_stored - 1);
        if !(bits_stored - 1..bits_allocated).contains(&high_bit) {
            return Err(bad(
                "HighBit",
                tags::HIGH_BIT,
                high_bit,
                "BitsStored - 1 to BitsAllocated - 1",
            ));
        }
        let signed = flag(
            "PixelRepresentation",
            tags::PIXEL_REPRESENTATION,
            "0 (unsigned) or 1 (signed)",
        )?;
        let samples = int("SamplesPerPixel", tags::SAMPLES_PER_PIXEL)?.unwrap_or(1);
        let (name, tag) = (
            "PhotometricInterpretation",
            tags::PHOTOMETRIC_INTERPRETATION,
        );
        let photometric = match e
            .get(tag)
            .map(value_text)
            .ok_or(DicomError::Missing { name, tag })?
            .as_str()
        {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "RGB" => Photometric::Rgb,
            other => {
                let (value, allowed) = (other.to_string(), "MONOCHROME1, MONOCHROME2 or RGB");
                return Err(DicomError::Value {
                    name,
                    tag,
                    value,
                    allowed,
                });
            }
        };
        let wanted_samples = if photometric == Photometric::Rgb {
            3
        } else {
            1
        };
        if samples != wanted_samples {
            let allowed = if wanted_samples == 3 {
                "3 for RGB"
            } else {
                "1 for MONOCHROME1/2"
            };
            return Err(bad(
                "SamplesPerPixel",
                tags::SAMPLES_PER_PIXEL,
                samples,
                allowed,
            ));
        }
        let planar = flag("PlanarConfiguration", tags::PLANAR_CONFIGURATION, "0 or 1")?;
        let frames = int("NumberOfFrames", tags::NUMBER_OF_FRAMES)?.unwrap_or(1);
        if !(1..=65_535).contains(&frames) {
            return Err(bad(
                "NumberOfFrames",
                tags::NUMBER_OF_FRAMES,
                frames,
                "1 to 65535",
            ));
        }
        let slope = float(tags::RESCALE_SLOPE)
            .filter(|s| s.is_finite() && *s != 0.0)
            .unwrap_or(1.0);
        let intercept = float(tags::RESCALE_INTERCEPT)
            .filter(|i| i.is_finite())
            .unwrap_or(0.0);
        let window = match (float(tags::WINDOW_CENTER), float(tags::WINDOW_WIDTH)) {
            (Some(center), Some(width))
                if center.is_finite() && width.is_finite() && width >= 1.0 =>
            {
                Some(Window { center, width })
            }
            (Some(_), Some(width)) => {
                log::warn!("DICOM: WindowWidth {width} is invalid (must be >= 1); using the range of the values");
                None
            }
            _ => None,
        };
        // Ranges were checked above; the casts cannot truncate.
        Ok(Attributes {
            rows: usize::try_from(rows).unwrap_or(0),
            columns: usize::try_from(columns).unwrap_or(0),
            samples: samples as usize,
            planar,
            bits_allocated: bits_allocated as u32,
            bits_stored: bits_stored as u32,
            high_bit: high_bit as u32,
            signed,
            photometric,
            frames: frames as usize,
            slope,
            intercept,
            window,
        })
    }

    /// Checks the dimensions and the pixel data length, then renders frame 1.
    fn render(&self, pixels: &[u8], big_endian: bool) -> Result<GrayImage, DecodeError> {
        check_side(self.columns, self.rows)?;
        let bytes = self.bits_allocated as usize / 8;
        let n = self.rows * self.columns; // at most MAX_SIDE², no overflow
        let frame_len = n * self.samples * bytes;
        let expected = frame_len * self.frames;
        if pixels.len() != expected && pixels.len() != expected + 1 {
            return Err(DicomError::PixelDataLength {
                actual: pixels.len(),
                expected,
                rows: self.rows,
                columns: self.columns,
                samples: self.samples,
                bytes,
                frames: self.frames,
            }
            .into());
        }
        if self.frames > 1 {
            log::info!("DICOM: {} frames, using frame 1", self.frames);
        }
        let raw = |i: usize| -> u32 {
            let b = &pixels[i * bytes..(i + 1) * bytes];
            match (bytes, big_endian) {
                (1, _) => u32::from(b[0]),
                (_, false) => u32::from(u16::from_le_bytes([b[0], b[1]])),
                (_, true) => u32::from(u16::from_be_bytes([b[0], b[1]])),
            }
        };
        let shift = self.high_bit + 1 - self.bits_stored;
        let mask = (1u32 << self.bits_stored) - 1;
        let stored = |i: usize| -> f64 {
            let v = (raw(i) >> shift) & mask;
            if self.signed && v >> (self.bits_stored - 1) == 1 {
                f64::from(v) - f64::from(mask) - 1.0
            } else {
                f64::from(v)
            }
        };
        let mut colourfulness = 0.0;
        let values: Vec<f64> = if self.photometric == Photometric::Rgb {
            // Colour: stored values scaled to [0, 1] (no modality or VOI LUT), then luma.
            let (max, planar) = (f64::from(mask), self.planar);
            let channel =
                |p: usize, c: usize| stored(if planar { c * n + p } else { p * 3 + c }) / max;
            colourfulness = super::decode::colourfulness(
                (0..n).map(|p| [channel(p, 0), channel(p, 1), channel(p, 2)]),
            );
            (0..n)
                .map(|p| {
                    (0.299 * channel(p, 0) + 0.587 * channel(p, 1) + 0.114 * channel(p, 2))
                        .clamp(0.0, 1.0)
                })
                .collect()
        } else {
            let modality: Vec<f64> = (0..n)
                .map(|i| stored(i) * self.slope + self.intercept)
                .collect();
            let mut v = match self.window {
                Some(w) => modality.iter().map(|&x| w.apply(x)).collect(),
                None => min_max_scale(&modality),
            };
            if self.photometric == Photometric::Monochrome1 {
                v.iter_mut().for_each(|x| *x = 1.0 - *x);
            }
            v
        };
        let name = match self.photometric {
            Photometric::Monochrome1 => "MONOCHROME1",
            Photometric::Monochrome2 => "MONOCHROME2",
            Photometric::Rgb => "RGB",
        };
        Ok(GrayImage {
            width: self.columns,
            height: self.rows,
            pixels: values,
            format: format!("DICOM {name} {}-bit", self.bits_stored),
            source: super::SourceInfo {
                colourfulness,
                ..Default::default()
            },
        })
    }
}

/// Maps the minimum to 0 and the maximum to 1 (all 0 when the values are constant or the range
/// is not finite).
pub fn min_max_scale(values: &[f64]) -> Vec<f64> {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let range = hi - lo;
    let ok = range > 0.0 && range.is_finite();
    values
        .iter()
        .map(|&x| {
            if ok {
                ((x - lo) / range).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// A value as text, trimmed, for messages and code strings.
fn value_text(v: &PrimitiveValue) -> String {
    v.to_str().trim_matches(['\0', ' ']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_the_standard_linear_function() {
        // c = 2048, w = 4096: 0 at and below 0, 1 above 4095, linear in between.
        let w = Window {
            center: 2048.0,
            width: 4096.0,
        };
        assert_eq!(w.apply(-100.0), 0.0);
        assert_eq!(w.apply(0.0), 0.0);
        assert!((w.apply(2047.5) - 0.5).abs() < 1e-12);
        assert!((w.apply(1000.0) - ((1000.0 - 2047.5) / 4095.0 + 0.5)).abs() < 1e-12);
        assert!((w.apply(4095.0) - 1.0).abs() < 1e-12);
        assert_eq!(w.apply(4095.01), 1.0);
        // The function is continuous at both ends and monotonic.
        let xs: Vec<f64> = (-10..5000).map(|x| f64::from(x) * 0.9).collect();
        assert!(xs.windows(2).all(|p| w.apply(p[0]) <= w.apply(p[1])));
    }

    #[test]
    fn window_of_width_one_is_a_threshold() {
        let w = Window {
            center: 100.0,
            width: 1.0,
        };
        assert_eq!(w.apply(99.5), 0.0);
        assert_eq!(w.apply(99.51), 1.0);
        assert_eq!(w.apply(100.0), 1.0);
    }

    #[test]
    fn window_example_from_a_ct_lung_setting() {
        // c = -600, w = 1500: lower edge -1349.5 + ... = c - 0.5 - 749.5 = -1350, upper -1350 + 1499 = 149.
        let w = Window {
            center: -600.0,
            width: 1500.0,
        };
        assert_eq!(w.apply(-1350.0), 0.0);
        assert!((w.apply(-1349.0) - 1.0 / 1499.0).abs() < 1e-12);
        assert!((w.apply(149.0) - 1.0).abs() < 1e-12);
        assert_eq!(w.apply(149.5), 1.0);
    }

    #[test]
    fn min_max_maps_the_range_to_unit_interval() {
        assert_eq!(min_max_scale(&[-5.0, 0.0, 15.0]), vec![0.0, 0.25, 1.0]);
        assert_eq!(min_max_scale(&[3.0, 3.0]), vec![0.0, 0.0]);
        assert_eq!(min_max_scale(&[0.0, f64::INFINITY]), vec![0.0, 0.0]);
        assert_eq!(
            Window {
                center: 0.0,
                width: 10.0
            }
            .apply(f64::NAN),
            0.0
        );
    }

    #[test]
    fn magic_with_and_without_preamble() {
        let mut with = vec![0u8; 128];
        with.extend_from_slice(b"DICM");
        assert_eq!(magic_offset(&with), Some(128));
        assert_eq!(magic_offset(b"DICM\x02\x00"), Some(0));
        assert_eq!(magic_offset(b"hello"), None);
    }
}
