//! Class-activation overlay: the radiograph in gray, the model's 8 × 8 activation map over the
//! region it saw (red: towards covid, blue: towards normal), that region outlined, and a caption.
//!
//! The map shows where the evidence the model used lies, not where disease is: a red patch on a
//! text marker or the shoulder is a sign of a shortcut (see the model card's audit).

use super::model::{Prediction, CAM_SIDE};
use super::preprocess::{resize_area_to, CropBox};
use super::GrayImage;
use crate::rgb::RgbImage;
use embedded_graphics::mono_font::{ascii::FONT_6X10, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};

/// Longest side of an overlay image, px (larger radiographs are reduced).
pub const MAX_SIDE: usize = 512;
/// Strongest opacity of the map over the radiograph.
const MAX_ALPHA: f32 = 0.55;
const TOWARDS_COVID: [f32; 3] = [255.0, 40.0, 40.0];
const TOWARDS_NORMAL: [f32; 3] = [40.0, 110.0, 255.0];
const OUTLINE: Rgb888 = Rgb888::new(255, 210, 0);

/// Draws the overlay for `img`, whose `crop` region gave `pred`; `caption` is written at the top
/// left (ASCII).
pub fn overlay(img: &GrayImage, crop: CropBox, pred: &Prediction, caption: &str) -> RgbImage {
    let scale = (MAX_SIDE as f64 / img.width.max(img.height) as f64).min(1.0);
    let ow = ((img.width as f64 * scale).round() as usize).max(1);
    let oh = ((img.height as f64 * scale).round() as usize).max(1);
    let whole = CropBox {
        x0: 0,
        y0: 0,
        x1: img.width,
        y1: img.height,
    };
    let gray = resize_area_to(img, whole, ow, oh);
    let mut out = RgbImage::new(ow as u32, oh as u32);
    let peak = pred.cam.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // The crop box in overlay pixels.
    let (bx0, by0) = (crop.x0 as f64 * scale, crop.y0 as f64 * scale);
    let (bw, bh) = (crop.width() as f64 * scale, crop.height() as f64 * scale);
    for y in 0..oh {
        for x in 0..ow {
            let g = (gray[y * ow + x].clamp(0.0, 1.0) * 255.0) as f32;
            let mut rgb = [g; 3];
            // Cell coordinates of this pixel's centre (cell centres at integers).
            let u = ((x as f64 + 0.5 - bx0) / bw * CAM_SIDE as f64 - 0.5) as f32;
            let v = ((y as f64 + 0.5 - by0) / bh * CAM_SIDE as f64 - 0.5) as f32;
            let inside = (-0.5..CAM_SIDE as f32 - 0.5).contains(&u)
                && (-0.5..CAM_SIDE as f32 - 0.5).contains(&v);
            if inside && peak > 0.0 {
                let c = bilinear(&pred.cam, u, v) / peak;
                let colour = if c > 0.0 {
                    TOWARDS_COVID
                } else {
                    TOWARDS_NORMAL
                };
                let a = MAX_ALPHA * c.abs().min(1.0);
                for (o, k) in rgb.iter_mut().zip(colour) {
                    *o = *o * (1.0 - a) + k * a;
                }
            }
            out.set(
                x as i32,
                y as i32,
                Rgb888::new(rgb[0] as u8, rgb[1] as u8, rgb[2] as u8),
            );
        }
    }
    outline(&mut out, bx0, by0, bw, bh);
    let style = MonoTextStyle::new(&FONT_6X10, Rgb888::new(255, 255, 255));
    let max_chars = (ow / 6).max(1);
    let lines = wrap(caption, max_chars);
    // A dark band behind the caption keeps it readable on bright films (it covers the top border,
    // which the model does not see for any caption of up to three lines on a 512 px image).
    for y in 0..(lines.len() * 11 + 3).min(oh) {
        for x in 0..ow {
            if let Some(c) = out.get(x as i32, y as i32) {
                let dim = |v: u8| v / 4;
                out.set(
                    x as i32,
                    y as i32,
                    Rgb888::new(dim(c.r()), dim(c.g()), dim(c.b())),
                );
            }
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let at = Point::new(2, 2 + 11 * i as i32);
        // Drawing into memory cannot fail.
        if let Err(never) = Text::with_baseline(line, at, style, Baseline::Top).draw(&mut out) {
            match never {}
        }
    }
    out
}

/// Bilinear sample of the 8 × 8 map at cell coordinates `(u, v)`, clamped at the edges.
fn bilinear(cam: &[f32], u: f32, v: f32) -> f32 {
    let max = (CAM_SIDE - 1) as f32;
    let (u, v) = (u.clamp(0.0, max), v.clamp(0.0, max));
    let (c0, r0) = (u.floor() as usize, v.floor() as usize);
    let (c1, r1) = ((c0 + 1).min(CAM_SIDE - 1), (r0 + 1).min(CAM_SIDE - 1));
    let (fu, fv) = (u - c0 as f32, v - r0 as f32);
    let at = |r: usize, c: usize| cam[r * CAM_SIDE + c];
    let top = at(r0, c0) * (1.0 - fu) + at(r0, c1) * fu;
    let bottom = at(r1, c0) * (1.0 - fu) + at(r1, c1) * fu;
    top * (1.0 - fv) + bottom * fv
}

fn outline(img: &mut RgbImage, x0: f64, y0: f64, w: f64, h: f64) {
    let (l, t) = (x0.round() as i32, y0.round() as i32);
    let (r, b) = ((x0 + w).round() as i32 - 1, (y0 + h).round() as i32 - 1);
    for x in l..=r {
        img.set(x, t, OUTLINE);
        img.set(x, b, OUTLINE);
    }
    for y in t..=b {
        img.set(l, y, OUTLINE);
        img.set(r, y, OUTLINE);
    }
}

/// Splits `text` into lines of at most `width` characters at spaces (ASCII only).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word: String = word
            .chars()
            .map(|c| if c.is_ascii() { c } else { '?' })
            .collect();
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xray::model::CAM_LEN;

    fn ramp(width: usize, height: usize) -> GrayImage {
        GrayImage {
            width,
            height,
            pixels: (0..width * height)
                .map(|i| (i % width) as f64 / width as f64)
                .collect(),
            format: "test".into(),
            source: Default::default(),
        }
    }

    #[test]
    fn positive_cells_are_red_and_negative_blue_at_the_right_place() {
        let img = ramp(1000, 800);
        let crop = CropBox::for_size(1000, 800);
        let mut cam = [0.0f32; CAM_LEN];
        cam[0] = 2.0; // top-left cell towards covid
        cam[CAM_LEN - 1] = -2.0; // bottom-right towards normal
        let pred = Prediction {
            probability: 0.5,
            cam,
        };
        let out = overlay(&img, crop, &pred, "");
        assert_eq!((out.width, out.height), (512, 410));
        let s = 512.0 / 1000.0;
        // Centre of cell (0, 0) and of cell (7, 7) in overlay pixels.
        let cell =
            |k: f64, x0: usize, len: usize| ((x0 as f64 + (k + 0.5) * len as f64 / 8.0) * s) as i32;
        let tl = out.get(cell(0.0, 80, 840), cell(0.0, 64, 672)).unwrap();
        let br = out.get(cell(7.0, 80, 840), cell(7.0, 64, 672)).unwrap();
        assert!(tl.r() > tl.b() + 60, "top-left {tl:?}");
        assert!(br.b() > br.r() + 60, "bottom-right {br:?}");
        // Outside the crop box the radiograph is untouched gray.
        let edge = out.get(2, 300).unwrap();
        assert_eq!((edge.r(), edge.g()), (edge.g(), edge.b()));
        // The outline is drawn.
        assert_eq!(out.get((80.0 * s).round() as i32, 200), Some(OUTLINE));
    }

    #[test]
    fn a_flat_map_leaves_the_image_gray_and_small_images_keep_their_size() {
        let img = ramp(200, 150);
        let pred = Prediction {
            probability: 0.1,
            cam: [0.0; CAM_LEN],
        };
        let out = overlay(&img, CropBox::for_size(200, 150), &pred, "normal 10%");
        assert_eq!((out.width, out.height), (200, 150));
        let p = out.get(100, 100).unwrap();
        assert_eq!((p.r(), p.g()), (p.g(), p.b()));
    }

    #[test]
    fn captions_wrap_at_spaces() {
        assert_eq!(
            wrap("covid 93% screening aid", 10),
            vec!["covid 93%", "screening", "aid"]
        );
        assert_eq!(wrap("évidence", 20), vec!["?vidence"]);
    }
}
