//! Draws a [`Readout`] on any embedded-graphics target, following [`Layout`]: the parts every
//! screen shares (header, X-ray line, disclaimer band), then the body of the session's screen
//! (waiting, measuring or result, in their own files).
//!
//! Colours ([`super::palette`]) are light on dark, with the rate in large digits, traffic-light
//! bars for quality, an outcome colour per result, and the disclaimer on an amber band that is
//! always drawn. Drawing is deterministic: the same readout and size give the same pixels.

use super::layout::Layout;
use super::measuring::draw_measuring;
use super::message::draw_waiting;
use super::palette::*;
use super::result::draw_result;
use super::text::{draw_text, Align};
use super::texts::{header_status_text, time_text, xray_text, DISCLAIMER};
use crate::pipeline::view::{CameraStatus, Readout};
use crate::screening::SessionView;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};

/// Draw the whole readout, laid out for the target's size; nothing is drawn outside the target.
///
/// Sizes below 320x240 still draw without panicking but parts may be cut off; the display
/// targets reject such sizes through [`super::DisplaySettings::validate`].
pub fn draw_readout<D>(target: &mut D, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let area = target.bounding_box();
    // Lay out from (0, 0) even when the target's box starts elsewhere (e.g. a clipped target).
    let mut clipped = target.clipped(&area);
    let mut shifted = clipped.translated(area.top_left);
    draw_unclipped(&mut shifted, Rectangle::new(Point::zero(), area.size), r)
}

/// Draws `r` over the whole of an in-memory image (drawing into memory cannot fail).
pub fn render(img: &mut crate::rgb::RgbImage, r: &Readout) {
    match draw_readout(img, r) {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

/// Draw without the safety clip; the layout keeps everything inside `area` for supported sizes.
pub(crate) fn draw_unclipped<D>(t: &mut D, area: Rectangle, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let l = Layout::for_size(area.size);
    t.fill_solid(&area, BACKGROUND.into())?;
    draw_header(t, &l, r)?;
    match &r.session {
        SessionView::Waiting => draw_waiting(t, &l, r)?,
        SessionView::Measuring {
            signal_s, needed_s, ..
        } => draw_measuring(t, &l, r, *signal_s, *needed_s)?,
        SessionView::Result(result) => draw_result(t, &l, result)?,
    }
    draw_text(
        t,
        &xray_text(r.xray.as_ref()),
        l.label,
        l.xray,
        Align::Left,
        TEXT,
    )?;
    t.fill_solid(&l.footer, BAND.into())?;
    let line = inset(l.footer, l.pad);
    draw_text(t, DISCLAIMER, l.label, line, Align::Center, BAND_TEXT)?;
    Ok(())
}

/// `r` shrunk by `by` pixels on every side (never negative).
pub(crate) fn inset(r: Rectangle, by: u32) -> Rectangle {
    Rectangle::new(
        r.top_left + Point::new(by as i32, by as i32),
        Size::new(
            r.size.width.saturating_sub(2 * by),
            r.size.height.saturating_sub(2 * by),
        ),
    )
}

/// The horizontal strip of `r` starting `dy` pixels down, `h` pixels tall.
pub(crate) fn row(r: Rectangle, dy: u32, h: u32) -> Rectangle {
    Rectangle::new(
        r.top_left + Point::new(0, dy as i32),
        Size::new(r.size.width, h),
    )
}

/// A bar in `area`: a grid-coloured outline, filled from the left by `fraction` (clamped to
/// 0..1; non-finite draws empty) in `color`.
pub(crate) fn draw_bar<D>(
    t: &mut D,
    area: Rectangle,
    fraction: f32,
    color: Rgb888,
) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    area.into_styled(PrimitiveStyle::with_stroke(GRID.into(), 1))
        .draw(t)?;
    let v = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let fill_w = (area.size.width.saturating_sub(4) as f32 * v).round() as u32;
    let fill = Rectangle::new(
        area.top_left + Point::new(2, 2),
        Size::new(fill_w, area.size.height.saturating_sub(4)),
    );
    t.fill_solid(&fill, color.into())
}

fn draw_header<D>(t: &mut D, l: &Layout, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    t.fill_solid(&l.header, PANEL.into())?;
    let line = inset(l.header, l.pad);
    let title = "edge-screen";
    let x = draw_text(t, title, l.label, line, Align::Left, TEXT)?;
    // Time follows the title after a gap; the camera state gets the rest, right-aligned.
    let time = time_text(r.elapsed_s);
    let time_x = x + l.label.width_of(title.len() + 3) as i32;
    let time_w = l.label.width_of(time.len());
    let time_box = Rectangle::new(
        Point::new(time_x, line.top_left.y),
        Size::new(time_w, line.size.height),
    );
    draw_text(t, &time, l.label, time_box, Align::Left, MUTED)?;
    let cam_x = time_x + (time_w + l.label.width_of(2)) as i32;
    let line_end = line.top_left.x + line.size.width as i32;
    let cam_box = Rectangle::new(
        Point::new(cam_x, line.top_left.y),
        Size::new(
            line_end.saturating_sub(cam_x).max(0) as u32,
            line.size.height,
        ),
    );
    let cam_color = match r.camera {
        _ if !r.records_saving => ALARM,
        CameraStatus::Ok => GOOD,
        CameraStatus::Lost => ALARM,
        CameraStatus::Message(_) => WARN,
    };
    draw_text(
        t,
        &header_status_text(&r.camera, r.records_saving),
        l.label,
        cam_box,
        Align::Right,
        cam_color,
    )?;
    Ok(())
}
