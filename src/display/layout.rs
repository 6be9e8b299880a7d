//! Where each part of the readout goes, computed from the target's size alone.
//!
//! The layout scales in four tiers (compact 320x240, 480x320, 800x480, large) chosen from the
//! smaller of the width and height ratios to 480x320. Every rectangle lies inside the target for
//! all sizes allowed by [`super::DisplaySettings`]; the tests check that for the edge sizes.
//!
//! ```text
//! +-------------------------------------------------+  header: title, time, camera status
//! | RATE           | Pattern label                  |
//! |  15.2          | Confidence [=======   ] 93%    |  rate tile | status tile
//! | breaths/min    | Quality    [======    ] 87%    |
//! |                | Person: yes        APNEA 12 s  |
//! +-------------------------------------------------+
//! |  breathing waveform, last 30 s, auto-scaled     |  waveform box
//! +-------------------------------------------------+
//! | X-ray: none                                     |  X-ray line
//! |      Screening aid only - not a diagnosis       |  footer band (always drawn)
//! +-------------------------------------------------+
//! ```

use embedded_graphics::mono_font::ascii::{FONT_10X20, FONT_6X10, FONT_8X13};
use embedded_graphics::mono_font::MonoFont;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// A mono font drawn at an integer pixel scale (each font pixel becomes `scale` x `scale`).
#[derive(Debug, Clone, Copy)]
pub struct TextSpec {
    /// The embedded-graphics ASCII font.
    pub font: &'static MonoFont<'static>,
    /// Integer magnification, at least 1.
    pub scale: u32,
}

impl TextSpec {
    /// Advance per character in target pixels.
    pub fn char_w(&self) -> u32 {
        (self.font.character_size.width + self.font.character_spacing) * self.scale
    }
    /// Line height in target pixels.
    pub fn h(&self) -> u32 {
        self.font.character_size.height * self.scale
    }
    /// Width in target pixels of `chars` characters.
    pub fn width_of(&self, chars: usize) -> u32 {
        (chars.min(10_000) as u32) * self.char_w()
    }
    /// How many characters fit in `px` target pixels.
    pub fn chars_in(&self, px: u32) -> usize {
        (px / self.char_w().max(1)) as usize
    }
}

/// Rectangles and text sizes of one readout size.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Spacing between and inside boxes, pixels.
    pub pad: u32,
    /// Small text: labels, header, footer, X-ray line.
    pub label: TextSpec,
    /// Medium text: the pattern name.
    pub mid: TextSpec,
    /// Large text: the rate digits.
    pub big: TextSpec,
    /// Stroke width of the waveform trace, pixels.
    pub trace_w: u32,
    /// Top band with title, time and camera state.
    pub header: Rectangle,
    /// Tile with the rate digits.
    pub rate: Rectangle,
    /// Tile with pattern, confidence, quality, person and apnea.
    pub status: Rectangle,
    /// Box with the waveform.
    pub wave: Rectangle,
    /// One line for the X-ray result.
    pub xray: Rectangle,
    /// Bottom band with the disclaimer.
    pub footer: Rectangle,
}

fn spec(font: &'static MonoFont<'static>, scale: u32) -> TextSpec {
    TextSpec { font, scale }
}

fn rect(x: u32, y: u32, w: u32, h: u32) -> Rectangle {
    Rectangle::new(
        Point::new(x.min(i32::MAX as u32) as i32, y.min(i32::MAX as u32) as i32),
        Size::new(w, h),
    )
}

impl Layout {
    /// The layout for a target of `size` pixels. Sizes below 320x240 get the compact tier and may
    /// have empty boxes, but nothing in this layout panics.
    pub fn for_size(size: Size) -> Self {
        let (w, h) = (size.width, size.height);
        let k = (w.saturating_mul(100) / 480).min(h.saturating_mul(100) / 320);
        let (pad, label, mid, big, trace_w) = if k < 85 {
            (
                3,
                spec(&FONT_6X10, 1),
                spec(&FONT_8X13, 1),
                spec(&FONT_10X20, 2),
                1,
            )
        } else if k < 130 {
            (
                4,
                spec(&FONT_8X13, 1),
                spec(&FONT_10X20, 1),
                spec(&FONT_10X20, 3),
                2,
            )
        } else if k < 260 {
            (
                6,
                spec(&FONT_10X20, 1),
                spec(&FONT_10X20, 2),
                spec(&FONT_10X20, 4),
                2,
            )
        } else {
            (
                10,
                spec(&FONT_10X20, 2),
                spec(&FONT_10X20, 3),
                spec(&FONT_10X20, 7),
                3,
            )
        };
        let band_h = label.h() + 2 * pad;
        let header = rect(0, 0, w, band_h);
        let footer = rect(0, h.saturating_sub(band_h), w, band_h);
        let xray_y = h.saturating_sub(band_h + pad + label.h());
        let xray = rect(pad, xray_y, w.saturating_sub(2 * pad), label.h());

        let rate_w = big.width_of(5).max(label.width_of("breaths/min".len())) + 2 * pad;
        let rate_h = 2 * label.h() + big.h() + 4 * pad;
        let status_h = mid.h() + 3 * label.h() + 5 * pad;
        let upper_h = rate_h.max(status_h);
        let top = band_h + pad;
        let rate = rect(pad, top, rate_w, upper_h);
        let status_x = 2 * pad + rate_w;
        let status = rect(status_x, top, w.saturating_sub(status_x + pad), upper_h);
        let wave_y = top + upper_h + pad;
        let wave_h = xray_y.saturating_sub(wave_y + pad);
        let wave = rect(pad, wave_y, w.saturating_sub(2 * pad), wave_h);
        Self {
            pad,
            label,
            mid,
            big,
            trace_w,
            header,
            rate,
            status,
            wave,
            xray,
            footer,
        }
    }

    /// All boxes, in drawing order, for checks.
    pub fn boxes(&self) -> [Rectangle; 6] {
        [
            self.header,
            self.rate,
            self.status,
            self.wave,
            self.xray,
            self.footer,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(outer: &Rectangle, inner: &Rectangle) -> bool {
        inner.size.width > 0
            && inner.size.height > 0
            && outer.contains(inner.top_left)
            && inner.bottom_right().is_some_and(|br| outer.contains(br))
    }

    fn overlap(a: &Rectangle, b: &Rectangle) -> bool {
        !a.intersection(b).is_zero_sized()
    }

    #[test]
    fn boxes_inside_and_disjoint_for_supported_sizes() {
        for (w, h) in [
            (320, 240),
            (480, 320),
            (800, 480),
            (1024, 600),
            (1920, 1080),
        ] {
            let screen = Rectangle::new(Point::zero(), Size::new(w, h));
            let l = Layout::for_size(Size::new(w, h));
            let boxes = l.boxes();
            for (i, b) in boxes.iter().enumerate() {
                assert!(inside(&screen, b), "{w}x{h}: box {i} {b:?} not inside");
                for (j, c) in boxes.iter().enumerate().skip(i + 1) {
                    assert!(!overlap(b, c), "{w}x{h}: boxes {i} and {j} overlap");
                }
            }
            // The waveform keeps a usable share of the height.
            assert!(l.wave.size.height >= h / 3, "{w}x{h}: wave {:?}", l.wave);
            // The disclaimer fits on one line.
            assert!(l.label.width_of(super::super::texts::DISCLAIMER.len()) <= w);
        }
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (64, 64), (u32::MAX / 2, 10)] {
            let _ = Layout::for_size(Size::new(w, h));
        }
    }
}
