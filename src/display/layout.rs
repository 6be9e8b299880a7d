//! Where each part of the readout goes, computed from the target's size alone.
//!
//! The layout scales in four tiers (compact 320x240, 480x320, 800x480, large) chosen from the
//! smaller of the width and height ratios to 480x320. Every screen shares the header, the X-ray
//! line and the disclaimer band; the body between them depends on the session. Every rectangle
//! lies inside the target for all sizes allowed by [`super::DisplaySettings`] and the texts fit
//! their boxes; `layout_tests.rs` checks that for the edge sizes of every tier.
//!
//! ```text
//! +-----------------------------------+  header: title, time, camera status
//! | waiting:   body                   |
//! |      Please take a seat           |  headline (1-2 lines), line under it
//! +-----------------------------------+
//! | measuring: banner                 |  instruction; "Measuring... 42 s of 60 s" [====   ]
//! | rate tile | status tile           |  rate | pattern, confidence, quality, person, apnea
//! | waveform box                      |  breathing waveform, last 30 s, auto-scaled
//! +-----------------------------------+
//! | result:    outcome panel          |  headline and line in the outcome's colour
//! |            details                |  pattern, rate, quality, apneas | refer p, X-ray, id
//! +-----------------------------------+
//! | X-ray: none                       |  X-ray line (latest X-ray)
//! |  Screening aid only - not a diag. |  footer band (always drawn)
//! +-----------------------------------+
//! ```

use embedded_graphics::mono_font::ascii::{FONT_10X20, FONT_6X10, FONT_8X13};
use embedded_graphics::mono_font::MonoFont;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

use super::session_texts::{HEADLINES, MEASURING_INSTRUCTION};

/// Characters the left column of the result details must hold: a label and "insufficient
/// signal".
pub const LEFT_DETAIL_CHARS: usize = super::session_texts::DETAIL_LABEL_CHARS + 19;

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
    /// Small text: labels, header, footer, X-ray line, details, lines under headlines.
    pub label: TextSpec,
    /// Medium text: the pattern name.
    pub mid: TextSpec,
    /// Large text: the rate digits.
    pub big: TextSpec,
    /// A visitor's headline ("Please take a seat", the outcome).
    pub head: TextSpec,
    /// Lines a headline may take: 1 when every headline fits the width, else 2.
    pub head_lines: u32,
    /// The instruction while measuring: `mid`, or `label` where `mid` would not fit.
    pub prompt: TextSpec,
    /// Stroke width of the waveform trace, pixels.
    pub trace_w: u32,
    /// Top band with title, time and camera state.
    pub header: Rectangle,
    /// Everything between the header and the X-ray line: the waiting screen's panel.
    pub body: Rectangle,
    /// Measuring: instruction and progress bar.
    pub banner: Rectangle,
    /// Measuring: tile with the rate digits.
    pub rate: Rectangle,
    /// Measuring: tile with pattern, confidence, quality, person and apnea.
    pub status: Rectangle,
    /// Measuring: box with the waveform.
    pub wave: Rectangle,
    /// Result: the outcome in words.
    pub outcome: Rectangle,
    /// Result: the staff details, two columns of four rows.
    pub details: Rectangle,
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

/// Padding and text sizes of the tier for scale `k` (percent of 480x320):
/// `(pad, label, mid, big, head, trace_w)`.
fn tier(k: u32) -> (u32, TextSpec, TextSpec, TextSpec, TextSpec, u32) {
    let f10 = |scale| spec(&FONT_10X20, scale);
    if k < 85 {
        let (label, mid) = (spec(&FONT_6X10, 1), spec(&FONT_8X13, 1));
        (3, label, mid, f10(2), spec(&FONT_8X13, 2), 1)
    } else if k < 130 {
        (4, spec(&FONT_8X13, 1), f10(1), f10(3), f10(2), 2)
    } else if k < 260 {
        (6, f10(1), f10(2), f10(4), f10(3), 2)
    } else {
        (10, f10(2), f10(3), f10(7), f10(5), 3)
    }
}

impl Layout {
    /// The layout for a target of `size` pixels. Sizes below 320x240 get the compact tier and may
    /// have empty or overlapping boxes, but nothing in this layout panics.
    pub fn for_size(size: Size) -> Self {
        let (w, h) = (size.width, size.height);
        let k = (w.saturating_mul(100) / 480).min(h.saturating_mul(100) / 320);
        let (pad, label, mid, big, head, trace_w) = tier(k);
        let band_h = label.h() + 2 * pad;
        let header = rect(0, 0, w, band_h);
        let footer = rect(0, h.saturating_sub(band_h), w, band_h);
        let xray_y = h.saturating_sub(band_h + pad + label.h());
        let xray = rect(pad, xray_y, w.saturating_sub(2 * pad), label.h());
        let top = band_h + pad;
        let bottom = xray_y.saturating_sub(pad);
        let full_w = w.saturating_sub(2 * pad);
        // Text inside a full-width panel (inset by `pad` on each side).
        let inner_w = full_w.saturating_sub(2 * pad);
        let body = rect(pad, top, full_w, bottom.saturating_sub(top));

        let prompt = if mid.width_of(MEASURING_INSTRUCTION.len()) <= inner_w {
            mid
        } else {
            label
        };
        let banner_h = prompt.h() + label.h() + 3 * pad;
        let banner = rect(pad, top, full_w, banner_h);
        let tiles_y = top + banner_h + pad;
        let rate_w = big.width_of(5).max(label.width_of("breaths/min".len())) + 2 * pad;
        let rate_h = 2 * label.h() + big.h() + 4 * pad;
        let status_h = mid.h() + 3 * label.h() + 5 * pad;
        let upper_h = rate_h.max(status_h);
        let rate = rect(pad, tiles_y, rate_w, upper_h);
        let status_x = 2 * pad + rate_w;
        let status = rect(status_x, tiles_y, w.saturating_sub(status_x + pad), upper_h);
        let wave_y = tiles_y + upper_h + pad;
        let wave = rect(pad, wave_y, full_w, bottom.saturating_sub(wave_y));

        let one_line = HEADLINES.iter().all(|s| head.width_of(s.len()) <= inner_w);
        let details_h = 4 * label.h() + 5 * pad;
        let details_y = bottom.saturating_sub(details_h);
        let outcome_h = details_y.saturating_sub(pad + top);
        Self {
            pad,
            label,
            mid,
            big,
            head,
            head_lines: if one_line { 1 } else { 2 },
            prompt,
            trace_w,
            header,
            body,
            banner,
            rate,
            status,
            wave,
            outcome: rect(pad, top, full_w, outcome_h),
            details: rect(pad, details_y, full_w, details_h),
            xray,
            footer,
        }
    }

    /// Cell `i` (0..8) of the result details: column `i / 4` (left: breathing, right: fusion),
    /// row `i % 4`, one label line high. The left column is at least half the width and holds
    /// [`LEFT_DETAIL_CHARS`] characters.
    pub fn detail_cell(&self, i: usize) -> Rectangle {
        let inner = Rectangle::new(
            self.details.top_left + Point::new(self.pad as i32, self.pad as i32),
            Size::new(
                self.details.size.width.saturating_sub(2 * self.pad),
                self.details.size.height.saturating_sub(2 * self.pad),
            ),
        );
        let split = (inner.size.width / 2).max(self.label.width_of(LEFT_DETAIL_CHARS + 1));
        let (col, row) = ((i / 4).min(1) as u32, (i % 4) as u32);
        let x = col * split;
        let width = if col == 0 {
            split.saturating_sub(self.label.char_w())
        } else {
            inner.size.width.saturating_sub(split)
        };
        let y = row * (self.label.h() + self.pad);
        Rectangle::new(
            inner.top_left + Point::new(x as i32, y as i32),
            Size::new(width, self.label.h()),
        )
    }

    /// The waiting screen's boxes, in drawing order, for checks.
    pub fn waiting_boxes(&self) -> [Rectangle; 4] {
        [self.header, self.body, self.xray, self.footer]
    }

    /// The measuring screen's boxes, in drawing order, for checks.
    pub fn measuring_boxes(&self) -> [Rectangle; 7] {
        [
            self.header,
            self.banner,
            self.rate,
            self.status,
            self.wave,
            self.xray,
            self.footer,
        ]
    }

    /// The result screen's boxes, in drawing order, for checks.
    pub fn result_boxes(&self) -> [Rectangle; 5] {
        [
            self.header,
            self.outcome,
            self.details,
            self.xray,
            self.footer,
        ]
    }
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
