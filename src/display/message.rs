//! A visitor's message: a headline of one or two lines with a line under it, centred in a panel;
//! and the waiting screen, which is one such panel (an invitation to sit down, or "Screening
//! paused" while the camera is lost).

use super::draw::{inset, row};
use super::layout::Layout;
use super::palette::*;
use super::session_texts::waiting_text;
use super::text::{draw_text, wrap_two, Align};
use crate::pipeline::view::{CameraStatus, Readout};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// Colours of a message: headline, then the line under it.
pub(crate) type MessageColors = (Rgb888, Rgb888);

/// Draw `headline` (wrapped onto at most two lines of `l.head`) and `line` under it (`l.label`),
/// the block centred horizontally and vertically in `area`.
pub(crate) fn draw_message<D>(
    t: &mut D,
    l: &Layout,
    area: Rectangle,
    headline: &str,
    line: &str,
    (head_color, line_color): MessageColors,
) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let (first, second) = wrap_two(headline, l.head.chars_in(area.size.width));
    let lines = if second.is_empty() { 1 } else { 2 };
    let (hh, lh) = (l.head.h(), l.label.h());
    let block = lines * hh + l.pad + lh;
    let y0 = area.size.height.saturating_sub(block) / 2;
    for (i, text) in [first, second].into_iter().take(lines as usize).enumerate() {
        let at = row(area, y0 + i as u32 * hh, hh);
        draw_text(t, text, l.head, at, Align::Center, head_color)?;
    }
    let under = row(area, y0 + lines * hh + l.pad, lh);
    draw_text(t, line, l.label, under, Align::Center, line_color)?;
    Ok(())
}

/// Draw the waiting screen's body: one panel with the invitation (or the paused notice).
pub(crate) fn draw_waiting<D>(t: &mut D, l: &Layout, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    t.fill_solid(&l.body, PANEL.into())?;
    let (headline, line) = waiting_text(&r.camera);
    let colors = match r.camera {
        CameraStatus::Lost => (WARN, TEXT),
        _ => (TEXT, MUTED),
    };
    draw_message(t, l, inset(l.body, l.pad), headline, line, colors)
}
