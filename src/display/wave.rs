//! The breathing waveform box: auto-scaled trace of the recent chest displacement, newest
//! sample at the right edge, with a state notice (camera lost, no person) drawn over it.

use super::draw::{inset, row};
use super::layout::Layout;
use super::palette::*;
use super::text::{draw_text, Align};
use crate::pipeline::view::{CameraStatus, Readout, Waveform};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, PrimitiveStyleBuilder, Rectangle};

/// Smallest vertical span of the waveform axis in mm, so that a still chest is not blown up to
/// full height by noise.
pub const MIN_WAVE_SPAN_MM: f32 = 1.0;

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

pub(crate) fn draw_wave<D>(t: &mut D, l: &Layout, r: &Readout) -> Result<(), D::Error>
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
