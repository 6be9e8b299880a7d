//! PNG files of an [`RgbImage`]: encoding, atomic replacement (write `PATH.tmp`, then rename) and
//! reading back (for the golden tests).

use super::RgbImage;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why a PNG file could not be written or read; names the file.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Encoding or decoding failed.
    #[error("{}: PNG error: {message}", path.display())]
    Png {
        /// The file.
        path: PathBuf,
        /// The encoder's or decoder's message.
        message: String,
    },
}

/// Encode `img` as an 8-bit RGB PNG into `out`.
pub fn encode_png<W: Write>(img: &RgbImage, out: W) -> Result<(), ::png::EncodingError> {
    let mut enc = ::png::Encoder::new(out, img.width, img.height);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&img.pixels)?;
    w.finish()
}

/// Write `img` to `path` atomically: a reader sees the old file or the new one, never half.
///
/// On failure the temporary `PATH.tmp` is removed (best effort) and the old file is untouched.
pub fn write_png_atomic(img: &RgbImage, path: &Path) -> Result<(), PngError> {
    let tmp = tmp_path(path);
    let result = write_then_rename(img, &tmp, path);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(img: &RgbImage, tmp: &Path, path: &Path) -> Result<(), PngError> {
    let tmp = tmp.to_path_buf();
    let io_err = |source: std::io::Error| PngError::Io {
        path: tmp.clone(),
        source,
    };
    let file = File::create(&tmp).map_err(io_err)?;
    let mut out = BufWriter::new(file);
    encode_png(img, &mut out).map_err(|e| PngError::Png {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    let file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|source| PngError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `PATH.tmp`, beside `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Read an 8-bit RGB or RGBA PNG (alpha dropped) into an [`RgbImage`].
pub fn read_png(path: &Path) -> Result<RgbImage, PngError> {
    let file = File::open(path).map_err(|source| PngError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let png_err = |message: String| PngError::Png {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = ::png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .map_err(|e| png_err(e.to_string()))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| png_err(e.to_string()))?;
    let channels = match (info.color_type, info.bit_depth) {
        (::png::ColorType::Rgb, ::png::BitDepth::Eight) => 3,
        (::png::ColorType::Rgba, ::png::BitDepth::Eight) => 4,
        (c, d) => return Err(png_err(format!("unsupported PNG format {c:?} {d:?}"))),
    };
    let mut img = RgbImage::new(info.width, info.height);
    let data = buf.get(..info.buffer_size()).unwrap_or(&[]);
    for (dst, src) in img
        .pixels
        .chunks_exact_mut(3)
        .zip(data.chunks_exact(channels))
    {
        dst.copy_from_slice(&src[..3]);
    }
    Ok(img)
}
