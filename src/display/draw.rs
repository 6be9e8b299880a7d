//! Draws a [`Readout`] on any embedded-graphics target, following [`Layout`].
//!
//! Colours ([`super::palette`]) are light on dark, with the rate in
//! large digits, traffic-light bars for quality, and the disclaimer on an amber band that is
//! always drawn. Drawing is deterministic: the same readout and size give the same pixels.

use super::layout::{Layout, TextSpec};
use super::text::{draw_text, Align};
use super::texts::{
    apnea_text, camera_text, percent_text, rate_text, time_text, xray_text, DISCLAIMER,
};
use crate::pipeline::view::{CameraStatus, Readout};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, PrimitiveStyleBuilder, Rectangle};

use super::palette::*;
use super::wave::draw_wave;

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

/// Draw without the safety clip; the layout keeps everything inside `area` for supported sizes.
pub(crate) fn draw_unclipped<D>(t: &mut D, area: Rectangle, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let l = Layout::for_size(area.size);
    t.fill_solid(&area, BACKGROUND.into())?;
    draw_header(t, &l, r)?;
    draw_rate(t, &l, r)?;
    draw_status(t, &l, r)?;
    draw_wave(t, &l, r)?;
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
        CameraStatus::Ok => GOOD,
        CameraStatus::Lost => ALARM,
        CameraStatus::Message(_) => WARN,
    };
    draw_text(
        t,
        &camera_text(&r.camera),
        l.label,
        cam_box,
        Align::Right,
        cam_color,
    )?;
    Ok(())
}

fn draw_rate<D>(t: &mut D, l: &Layout, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let apnea = apnea_text(r.apnea_s).is_some();
    let border = if apnea { ALARM } else { PANEL };
    let style = PrimitiveStyleBuilder::new()
        .fill_color(PANEL.into())
        .stroke_color(border.into())
        .stroke_width(2)
        .build();
    l.rate.into_styled(style).draw(t)?;
    let inner = inset(l.rate, l.pad);
    let (lh, bh) = (l.label.h(), l.big.h());
    draw_text(t, "RATE", l.label, row(inner, 0, lh), Align::Left, MUTED)?;
    let digits = row(inner, lh + l.pad, bh);
    draw_text(
        t,
        &rate_text(r.rate_bpm),
        l.big,
        digits,
        Align::Center,
        TEXT,
    )?;
    let unit = row(inner, lh + bh + 2 * l.pad, lh);
    draw_text(t, "breaths/min", l.label, unit, Align::Center, MUTED)?;
    Ok(())
}

/// Colour of a 0..1 quality value: green, amber, red.
fn level_color(v: f32) -> Rgb888 {
    if v >= 0.7 {
        GOOD
    } else if v >= 0.4 {
        WARN
    } else {
        ALARM
    }
}

/// One "Label [bar] 87%" row.
fn draw_bar_row<D>(
    t: &mut D,
    spec: TextSpec,
    area: Rectangle,
    name: &str,
    value: Option<f32>,
    color: Rgb888,
) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let name_w = spec.width_of(11);
    let num_w = spec.width_of(5);
    draw_text(t, name, spec, row(area, 0, spec.h()), Align::Left, MUTED)?;
    let num = Rectangle::new(
        area.top_left + Point::new(area.size.width.saturating_sub(num_w) as i32, 0),
        Size::new(num_w, spec.h()),
    );
    let text = value.map_or_else(|| "--".to_string(), percent_text);
    draw_text(t, &text, spec, num, Align::Right, TEXT)?;
    let bar_w = area
        .size
        .width
        .saturating_sub(name_w + num_w + spec.char_w());
    let bar = Rectangle::new(
        area.top_left + Point::new(name_w as i32, 0),
        Size::new(bar_w, spec.h()),
    );
    bar.into_styled(PrimitiveStyle::with_stroke(GRID.into(), 1))
        .draw(t)?;
    let v = value
        .filter(|v| v.is_finite())
        .map_or(0.0, |v| v.clamp(0.0, 1.0));
    let fill_w = (bar_w.saturating_sub(4) as f32 * v).round() as u32;
    let fill = Rectangle::new(
        bar.top_left + Point::new(2, 2),
        Size::new(fill_w, spec.h().saturating_sub(4)),
    );
    t.fill_solid(&fill, color.into())
}

fn draw_status<D>(t: &mut D, l: &Layout, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    t.fill_solid(&l.status, PANEL.into())?;
    let inner = inset(l.status, l.pad);
    let (lh, mh, pad) = (l.label.h(), l.mid.h(), l.pad);
    let (name, conf) = match r.pattern {
        Some((p, c)) => (p.label(), Some(c)),
        None => ("Pattern: --", None),
    };
    draw_text(t, name, l.mid, row(inner, 0, mh), Align::Left, TEXT)?;
    let y1 = mh + pad;
    draw_bar_row(t, l.label, row(inner, y1, lh), "Confidence", conf, TRACE)?;
    let q = r.quality;
    let y2 = y1 + lh + pad;
    draw_bar_row(
        t,
        l.label,
        row(inner, y2, lh),
        "Quality",
        Some(q),
        level_color(q),
    )?;
    // The last row sits on the tile's bottom edge, level with the rate's unit line.
    let last = row(inner, inner.size.height.saturating_sub(lh), lh);
    let (person, pc) = if r.person_present {
        ("Person: yes", GOOD)
    } else {
        ("Person: none", WARN)
    };
    draw_text(t, person, l.label, last, Align::Left, pc)?;
    match apnea_text(r.apnea_s) {
        Some(a) => {
            let w = l.label.width_of(a.len()) + 2 * pad;
            let x = last.top_left.x + last.size.width.saturating_sub(w) as i32;
            let tag = Rectangle::new(
                Point::new(x, last.top_left.y - pad as i32 / 2),
                Size::new(w, lh + pad),
            );
            t.fill_solid(&tag, ALARM.into())?;
            let text_row = Rectangle::new(Point::new(x, last.top_left.y), Size::new(w, lh));
            draw_text(t, &a, l.label, text_row, Align::Center, BAND_TEXT)?;
        }
        None => {
            draw_text(t, "no apnea", l.label, last, Align::Right, MUTED)?;
        }
    }
    Ok(())
}
