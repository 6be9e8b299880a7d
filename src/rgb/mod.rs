//! An in-memory RGB888 image that embedded-graphics can draw on, and PNG files of it ([`png`]):
//! the render target behind the PNG and framebuffer displays and the X-ray heatmaps, and the fake
//! used by the layout tests. A leaf: it knows nothing of what is drawn.

pub mod png;

pub use png::{encode_png, read_png, write_png_atomic, PngError};

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// A `width` x `height` RGB image, 3 bytes per pixel (R, G, B), rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, row-major, R then G then B.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// A black image of the given size.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width as usize * height as usize * 3],
        }
    }

    /// Byte offset of pixel (x, y); `None` outside the image.
    fn offset(&self, x: i32, y: i32) -> Option<usize> {
        let (x, y) = (u32::try_from(x).ok()?, u32::try_from(y).ok()?);
        if x >= self.width || y >= self.height {
            return None;
        }
        Some((y as usize * self.width as usize + x as usize) * 3)
    }

    /// Colour at (x, y); `None` outside the image.
    pub fn get(&self, x: i32, y: i32) -> Option<Rgb888> {
        let i = self.offset(x, y)?;
        let p = self.pixels.get(i..i + 3)?;
        Some(Rgb888::new(p[0], p[1], p[2]))
    }

    /// Set (x, y) to `c`; pixels outside the image are ignored, as `DrawTarget` requires.
    pub fn set(&mut self, x: i32, y: i32, c: Rgb888) {
        if let Some(i) = self.offset(x, y) {
            if let Some(p) = self.pixels.get_mut(i..i + 3) {
                p.copy_from_slice(&[c.r(), c.g(), c.b()]);
            }
        }
    }

    /// Iterate the pixels as `(x, y, colour)`, row by row.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, Rgb888)> + '_ {
        let w = self.width.max(1);
        self.pixels.chunks_exact(3).enumerate().map(move |(i, p)| {
            let i = i as u32;
            (i % w, i / w, Rgb888::new(p[0], p[1], p[2]))
        })
    }
}

impl OriginDimensions for RgbImage {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for RgbImage {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, c) in pixels {
            self.set(p.x, p.y, c);
        }
        Ok(())
    }

    /// Row-wise fill: the readout is mostly filled rectangles, so this is its hot path.
    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let a = area.intersection(&self.bounding_box());
        let Some(br) = a.bottom_right() else {
            return Ok(());
        };
        let rgb = [color.r(), color.g(), color.b()];
        let (x0, x1) = (a.top_left.x as usize, br.x as usize + 1);
        let row_len = self.width as usize * 3;
        for y in a.top_left.y as usize..=br.y as usize {
            let start = y * row_len;
            if let Some(row) = self.pixels.get_mut(start + x0 * 3..start + x1 * 3) {
                for px in row.chunks_exact_mut(3) {
                    px.copy_from_slice(&rgb);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::primitives::PrimitiveStyle;

    #[test]
    fn fill_solid_matches_per_pixel_reference() {
        let c = Rgb888::new(9, 8, 7);
        for (x, y, w, h) in [
            (-3, -2, 5, 4),
            (1, 1, 2, 1),
            (3, 2, 10, 10),
            (5, 0, 2, 2),
            (0, 0, 0, 3),
        ] {
            let r = Rectangle::new(Point::new(x, y), Size::new(w, h));
            let mut fast = RgbImage::new(4, 3);
            let mut slow = RgbImage::new(4, 3);
            fast.fill_solid(&r, c).unwrap_or(());
            slow.draw_iter(r.points().map(|p| Pixel(p, c)))
                .unwrap_or(());
            assert_eq!(fast, slow, "{r:?}");
        }
    }

    #[test]
    fn draws_and_ignores_outside() {
        let mut img = RgbImage::new(4, 3);
        let c = Rgb888::new(1, 2, 3);
        Rectangle::new(Point::new(-2, 1), Size::new(10, 1))
            .into_styled(PrimitiveStyle::with_fill(c))
            .draw(&mut img)
            .unwrap_or(());
        assert_eq!(img.get(0, 1), Some(c));
        assert_eq!(img.get(3, 1), Some(c));
        assert_eq!(img.get(0, 0), Some(Rgb888::BLACK));
        assert_eq!(img.get(4, 1), None);
        assert_eq!(img.iter().filter(|p| p.2 == c).count(), 4);
        assert_eq!(&img.pixels[12..15], &[1, 2, 3]);
    }
}
