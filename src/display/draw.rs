//! Draws a [`Readout`] on any embedded-graphics target, following [`Layout`].
//!
//! Colours are light on a dark background (contrast ratio above 7:1 for text), with the rate in
//! large digits, traffic-light bars for quality, and the disclaimer on an amber band that is
//! always drawn. Drawing is deterministic: the same readout and size give the same pixels.

use super::layout::{Layout, TextSpec};
use super::readout::{
    apnea_text, camera_text, percent_text, rate_text, time_text, xray_text, CameraStatus, Readout,
    Waveform, DISCLAIMER,
};
use super::text::{draw_text, Align};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, PrimitiveStyleBuilder, Rectangle};

/// The readout's colours.
pub mod palette {
    use embedded_graphics::pixelcolor::Rgb888;
    /// Screen background.
    pub const BACKGROUND: Rgb888 = Rgb888::new(14, 18, 26);
    /// Tile and band background.
    pub const PANEL: Rgb888 = Rgb888::new(30, 37, 50);
    /// Main text.
    pub const TEXT: Rgb888 = Rgb888::new(240, 242, 245);
    /// Labels and units.
    pub const MUTED: Rgb888 = Rgb888::new(160, 170, 185);
    /// Good state (quality bar, camera ok, person present).
    pub const GOOD: Rgb888 = Rgb888::new(90, 220, 130);
    /// Warning state.
    pub const WARN: Rgb888 = Rgb888::new(255, 190, 60);
    /// Alarm state (apnea, camera lost).
    pub const ALARM: Rgb888 = Rgb888::new(255, 85, 85);
    /// Waveform trace and confidence bar.
    pub const TRACE: Rgb888 = Rgb888::new(100, 200, 255);
    /// Waveform zero line and bar outlines.
    pub const GRID: Rgb888 = Rgb888::new(70, 80, 98);
    /// Disclaimer band.
    pub const BAND: Rgb888 = Rgb888::new(255, 196, 70);
    /// Disclaimer text.
    pub const BAND_TEXT: Rgb888 = Rgb888::new(0, 0, 0);
}
use palette::*;

/// Smallest vertical span of the waveform axis in mm, so that a still chest is not blown up to
/// full height by noise.
pub const MIN_WAVE_SPAN_MM: f32 = 1.0;

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
    let mut clipped = target.clipped(&area);
    draw_unclipped(&mut clipped, area, r)
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
fn inset(r: Rectangle, by: u32) -> Rectangle {
    Rectangle::new(
        r.top_left + Point::new(by as i32, by as i32),
        Size::new(
            r.size.width.saturating_sub(2 * by),
            r.size.height.saturating_sub(2 * by),
        ),
    )
}

/// The horizontal strip of `r` starting `dy` pixels down, `h` pixels tall.
fn row(r: Rectangle, dy: u32, h: u32) -> Rectangle {
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

/// Map waveform samples to points in `plot`: newest at the right edge, a full buffer spanning
/// the width, values auto-scaled to the height (at least [`MIN_WAVE_SPAN_MM`]). Non-finite
/// samples give `None` (a gap in the trace).
pub fn wave_points(w: &Waveform, plot: Rectangle) -> Vec<Option<Point>> {
    let n = w.len();
    let (pw, ph) = (plot.size.width as i64, plot.size.height as i64);
    let Some((lo, hi)) = w.range_mm() else {
        return vec![None; n];
    };
    let span = (hi - lo).max(MIN_WAVE_SPAN_MM) * 1.1;
    let top = (hi + lo) / 2.0 + span / 2.0;
    let steps = (w.capacity() as i64 - 1).max(1);
    w.iter()
        .enumerate()
        .map(|(i, v)| {
            if !v.is_finite() || pw < 1 || ph < 1 {
                return None;
            }
            let back = (n - 1 - i) as i64;
            let x = plot.top_left.x as i64 + (pw - 1) - back * (pw - 1) / steps;
            let frac = ((top - v) / span).clamp(0.0, 1.0);
            let y = plot.top_left.y as i64 + (frac * (ph - 1) as f32).round() as i64;
            Some(Point::new(x as i32, y as i32))
        })
        .collect()
}

fn draw_wave<D>(t: &mut D, l: &Layout, r: &Readout) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    t.fill_solid(&l.wave, PANEL.into())?;
    let inner = inset(l.wave, l.pad);
    let lh = l.label.h();
    let title = format!("Breathing, last {:.0} s", r.waveform.span_s());
    draw_text(t, &title, l.label, row(inner, 0, lh), Align::Left, MUTED)?;
    let range = r.waveform.range_mm();
    if let Some((lo, hi)) = range {
        let scale = format!("span {:.1} mm", (hi - lo).max(MIN_WAVE_SPAN_MM));
        draw_text(t, &scale, l.label, row(inner, 0, lh), Align::Right, MUTED)?;
    }
    let plot = Rectangle::new(
        inner.top_left + Point::new(0, (lh + l.pad) as i32),
        Size::new(
            inner.size.width,
            inner.size.height.saturating_sub(lh + l.pad),
        ),
    );
    let mid_y = plot.center().y;
    let axis = Line::new(
        Point::new(plot.top_left.x, mid_y),
        Point::new(plot.top_left.x + plot.size.width as i32 - 1, mid_y),
    );
    axis.into_styled(PrimitiveStyle::with_stroke(GRID.into(), 1))
        .draw(t)?;
    {
        let mut clip = t.clipped(&plot);
        let style = PrimitiveStyle::with_stroke(TRACE.into(), l.trace_w);
        let pts = wave_points(&r.waveform, plot);
        for pair in pts.windows(2) {
            if let [Some(a), Some(b)] = pair {
                Line::new(*a, *b).into_styled(style).draw(&mut clip)?;
            }
        }
    }
    let notice = match (&r.camera, r.person_present, range) {
        (CameraStatus::Lost, _, _) => Some(("CAMERA LOST", ALARM)),
        (_, false, _) => Some(("No person in view", WARN)),
        (_, true, None) => Some(("waiting for signal", MUTED)),
        _ => None,
    };
    if let Some((msg, color)) = notice {
        let h = l.mid.h() + 2 * l.pad;
        let w = (l.mid.width_of(msg.len()) + 4 * l.pad).min(plot.size.width);
        let c = plot.center();
        let tag = Rectangle::with_center(c, Size::new(w, h));
        tag.into_styled(
            PrimitiveStyleBuilder::new()
                .fill_color(BACKGROUND.into())
                .stroke_color(color.into())
                .stroke_width(2)
                .build(),
        )
        .draw(t)?;
        draw_text(t, msg, l.mid, inset(tag, l.pad), Align::Center, color)?;
    }
    Ok(())
}
