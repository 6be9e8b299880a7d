//! The Linux framebuffer target (`fb:/dev/fbN`, Cargo feature `framebuffer`).
//!
//! Geometry and pixel format come from sysfs (`/sys/class/graphics/fbN/{virtual_size,
//! bits_per_pixel,stride}`); the readout is rendered into an [`RgbImage`] of the configured size,
//! packed row by row into RGB565 (16 bpp) or XRGB8888 (32 bpp) and written at the top-left of
//! the framebuffer with positioned writes, so no `mmap` or `unsafe` is needed.

use super::settings::{DisplaySettings, RefreshLimiter};
use super::{Display, DisplayError};
use crate::pipeline::view::Readout;
use crate::rgb::RgbImage;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Where Linux exposes framebuffer attributes.
pub const SYSFS_GRAPHICS: &str = "/sys/class/graphics";

/// Supported framebuffer pixel layouts (the standard little-endian fbdev layouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 16 bits per pixel: red 5 bits (15..11), green 6 (10..5), blue 5 (4..0), little-endian.
    Rgb565,
    /// 32 bits per pixel: bytes B, G, R, X in memory (X written as 0xFF).
    Xrgb8888,
}

impl PixelFormat {
    /// The format for a `bits_per_pixel` value, if supported.
    pub fn from_bpp(bpp: u32) -> Option<Self> {
        match bpp {
            16 => Some(Self::Rgb565),
            32 => Some(Self::Xrgb8888),
            _ => None,
        }
    }

    /// Bytes per pixel in the framebuffer.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb565 => 2,
            Self::Xrgb8888 => 4,
        }
    }
}

/// Pack RGB888 bytes (`rgb`, 3 per pixel) into `out` in `format`; stops at the shorter of the two.
pub fn pack_row(format: PixelFormat, rgb: &[u8], out: &mut [u8]) {
    let px = rgb.chunks_exact(3);
    match format {
        PixelFormat::Rgb565 => {
            for (p, o) in px.zip(out.chunks_exact_mut(2)) {
                let v = (u16::from(p[0] >> 3) << 11)
                    | (u16::from(p[1] >> 2) << 5)
                    | u16::from(p[2] >> 3);
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        PixelFormat::Xrgb8888 => {
            for (p, o) in px.zip(out.chunks_exact_mut(4)) {
                o.copy_from_slice(&[p[2], p[1], p[0], 0xFF]);
            }
        }
    }
}

/// The readout on a Linux framebuffer device.
#[derive(Debug)]
pub struct FramebufferDisplay {
    path: PathBuf,
    file: File,
    format: PixelFormat,
    stride: usize,
    image: RgbImage,
    row: Vec<u8>,
    limiter: RefreshLimiter,
}

fn read_attr(dir: &Path, name: &str) -> Result<String, DisplayError> {
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|source| DisplayError::Io { path, source })
}

impl FramebufferDisplay {
    /// Open `device` (e.g. `/dev/fb0`), reading its attributes from `/sys/class/graphics/fbN`.
    pub fn open(device: &Path, settings: DisplaySettings) -> Result<Self, DisplayError> {
        let name = device.file_name().map(PathBuf::from).unwrap_or_default();
        Self::open_with_sysfs(device, &Path::new(SYSFS_GRAPHICS).join(name), settings)
    }

    /// Open `device` with its attributes read from the directory `sysfs` (for tests and for
    /// unusual sysfs layouts).
    pub fn open_with_sysfs(
        device: &Path,
        sysfs: &Path,
        settings: DisplaySettings,
    ) -> Result<Self, DisplayError> {
        settings.validate()?;
        let fb_err = |reason: String| DisplayError::Framebuffer {
            path: device.to_path_buf(),
            reason,
        };
        if !device.exists() {
            return Err(fb_err(
                "device not found (no display attached, or fbdev not enabled?)".into(),
            ));
        }
        let size = read_attr(sysfs, "virtual_size")?;
        let (w, h) = size
            .split_once(',')
            .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
            .ok_or_else(|| fb_err(format!("cannot parse virtual_size '{size}'")))?;
        let bpp_s = read_attr(sysfs, "bits_per_pixel")?;
        let bpp: u32 = bpp_s
            .parse()
            .map_err(|_| fb_err(format!("cannot parse bits_per_pixel '{bpp_s}'")))?;
        let format = PixelFormat::from_bpp(bpp).ok_or_else(|| {
            fb_err(format!(
                "unsupported {bpp} bits per pixel (supported: 16 RGB565, 32 XRGB8888)"
            ))
        })?;
        let min_stride = w as usize * format.bytes_per_pixel();
        // Older kernels lack `stride`; rows are then packed without padding.
        let stride = match read_attr(sysfs, "stride") {
            Ok(s) => s
                .parse::<usize>()
                .map_err(|_| fb_err(format!("cannot parse stride '{s}'")))?,
            Err(_) => min_stride,
        };
        if stride < min_stride {
            return Err(fb_err(format!(
                "stride {stride} B is shorter than a {w}-pixel row"
            )));
        }
        if settings.width > w || settings.height > h {
            return Err(fb_err(format!(
                "readout {}x{} does not fit the framebuffer's {w}x{h}; set the display size to at most that",
                settings.width, settings.height
            )));
        }
        let file = OpenOptions::new()
            .write(true)
            .open(device)
            .map_err(|source| DisplayError::Io {
                path: device.to_path_buf(),
                source,
            })?;
        log::info!(
            "framebuffer {}: {w}x{h}, {bpp} bpp, stride {stride} B",
            device.display()
        );
        Ok(Self {
            path: device.to_path_buf(),
            file,
            format,
            stride,
            image: RgbImage::new(settings.width, settings.height),
            row: vec![0; settings.width as usize * format.bytes_per_pixel()],
            limiter: RefreshLimiter::new(&settings),
        })
    }

    /// The framebuffer's pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }
}

impl Display for FramebufferDisplay {
    /// Render and write the readout if at least `1 / max_refresh_hz` s passed since the last try.
    fn update(&mut self, now_s: f64, r: &Readout) -> Result<bool, DisplayError> {
        if !self.limiter.due(now_s) {
            return Ok(false);
        }
        super::draw::render(&mut self.image, r);
        let row_bytes = self.image.width as usize * 3;
        for (y, rgb) in self.image.pixels.chunks_exact(row_bytes.max(1)).enumerate() {
            pack_row(self.format, rgb, &mut self.row);
            let offset = (y * self.stride) as u64;
            self.file
                .write_all_at(&self.row, offset)
                .map_err(|source| DisplayError::Io {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(true)
    }

    fn describe(&self) -> String {
        format!(
            "fb:{} ({}x{}, {:?})",
            self.path.display(),
            self.image.width,
            self.image.height,
            self.format
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_rgb565_and_xrgb8888() {
        let rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 0x12, 0x34, 0x56];
        let mut out = [0u8; 8];
        pack_row(PixelFormat::Rgb565, &rgb, &mut out);
        let words: Vec<u16> = out
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect();
        // Reference: 0x12>>3=2, 0x34>>2=13, 0x56>>3=10 -> (2<<11)|(13<<5)|10.
        assert_eq!(
            words,
            vec![0xF800, 0x07E0, 0x001F, (2 << 11) | (13 << 5) | 10]
        );
        let mut out = [0u8; 16];
        pack_row(PixelFormat::Xrgb8888, &rgb, &mut out);
        assert_eq!(&out[..4], &[0, 0, 255, 0xFF]);
        assert_eq!(&out[12..], &[0x56, 0x34, 0x12, 0xFF]);
    }

    #[test]
    fn missing_device_is_a_clear_error() {
        let e =
            FramebufferDisplay::open(Path::new("/dev/fb-missing-77"), DisplaySettings::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(
            e.contains("/dev/fb-missing-77") && e.contains("device not found"),
            "{e}"
        );
    }

    fn fake_fb(bpp: u32, w: u32, h: u32, stride: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let put = |name: &str, v: String| {
            std::fs::write(dir.path().join(name), v).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        put("virtual_size", format!("{w},{h}\n"));
        put("bits_per_pixel", format!("{bpp}\n"));
        put("stride", format!("{stride}\n"));
        let dev = dir.path().join("fb0");
        put("fb0", String::new());
        (dir, dev)
    }

    #[test]
    fn writes_packed_rows_at_stride() -> Result<(), DisplayError> {
        for (bpp, fmt) in [(16, PixelFormat::Rgb565), (32, PixelFormat::Xrgb8888)] {
            let bytes = fmt.bytes_per_pixel();
            let stride = 500 * bytes + 64;
            let (dir, dev) = fake_fb(bpp, 500, 330, stride);
            let mut d =
                FramebufferDisplay::open_with_sysfs(&dev, dir.path(), DisplaySettings::default())?;
            assert_eq!(d.format(), fmt);
            assert!(d.update(0.0, &Readout::default())?);
            let data = std::fs::read(&dev).unwrap_or_default();
            assert_eq!(data.len(), 319 * stride + 480 * bytes);
            let mut expect = vec![0u8; 480 * bytes];
            for y in [0usize, 100, 319] {
                let rgb = &d.image.pixels[y * 480 * 3..(y + 1) * 480 * 3];
                pack_row(fmt, rgb, &mut expect);
                assert_eq!(
                    &data[y * stride..y * stride + 480 * bytes],
                    &expect[..],
                    "row {y}"
                );
            }
            // Stride padding is left untouched.
            assert!(data[480 * bytes..stride].iter().all(|&b| b == 0));
        }
        Ok(())
    }

    #[test]
    fn rejects_unsupported_format_and_small_screen() {
        let (dir, dev) = fake_fb(24, 800, 480, 2400);
        let e = FramebufferDisplay::open_with_sysfs(&dev, dir.path(), DisplaySettings::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unsupported 24 bits per pixel"), "{e}");
        let (dir, dev) = fake_fb(32, 400, 300, 1600);
        let e = FramebufferDisplay::open_with_sysfs(&dev, dir.path(), DisplaySettings::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("does not fit"), "{e}");
    }
}
