//! The measuring screen: the visitor's instruction and progress bar on top, then the live numbers
//! for staff as they exist today (rate tile; pattern, confidence, quality, person and apnea tile;
//! the waveform box, drawn by [`super::wave`]).

use super::draw::{draw_bar, inset, row};
use super::layout::{Layout, TextSpec};
use super::palette::*;
use super::session_texts::{
    progress_fraction, progress_text, MEASURING_INSTRUCTION, PROGRESS_CHARS,
};
use super::text::{draw_text, Align};
use super::texts::{apnea_text, percent_text, rate_text};
use super::wave::draw_wave;
use crate::pipeline::view::Readout;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyleBuilder, Rectangle, StrokeAlignment};

/// Draw the measuring screen's body; `signal_s` of good signal so far of the `needed_s` needed.
pub(crate) fn draw_measuring<D>(
    t: &mut D,
    l: &Layout,
    r: &Readout,
    signal_s: f64,
    needed_s: f64,
) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    draw_banner(t, l, signal_s, needed_s)?;
    draw_rate(t, l, r)?;
    draw_status(t, l, r)?;
    draw_wave(t, l, r)
}

/// Instruction centred on the first line; progress text and bar on the second.
fn draw_banner<D>(t: &mut D, l: &Layout, signal_s: f64, needed_s: f64) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    t.fill_solid(&l.banner, PANEL.into())?;
    let inner = inset(l.banner, l.pad);
    let (ph, lh) = (l.prompt.h(), l.label.h());
    let say = row(inner, 0, ph);
    draw_text(t, MEASURING_INSTRUCTION, l.prompt, say, Align::Center, TEXT)?;
    let line = row(inner, ph + l.pad, lh);
    draw_text(
        t,
        &progress_text(signal_s, needed_s),
        l.label,
        line,
        Align::Left,
        TEXT,
    )?;
    // The bar starts after room for the longest text, so it does not move as seconds add.
    let text_w = l.label.width_of(PROGRESS_CHARS + 1);
    let bar = Rectangle::new(
        line.top_left + Point::new(text_w as i32, 0),
        Size::new(line.size.width.saturating_sub(text_w), lh),
    );
    draw_bar(t, bar, progress_fraction(signal_s, needed_s), TRACE)
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
        .stroke_alignment(StrokeAlignment::Inside)
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

/// One `Label [bar] 87%` row.
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
    draw_bar(t, bar, value.unwrap_or(0.0), color)
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
