//! The result screen: the outcome in a visitor's words in a panel bordered in the outcome's colour
//! (never worded as a diagnosis), and under it the details for staff, two columns drawn from the
//! [`SessionResult`] as the pipeline keeps it.

use super::draw::inset;
use super::layout::Layout;
use super::message::draw_message;
use super::palette::*;
use super::session_texts::{outcome_text, result_details, DETAIL_LABEL_CHARS};
use super::text::{draw_text, Align};
use crate::screening::SessionResult;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyleBuilder, Rectangle, StrokeAlignment};

/// Draw the result screen's body for `res`.
pub(crate) fn draw_result<D>(t: &mut D, l: &Layout, res: &SessionResult) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let color = outcome_color(res.outcome);
    // The border stays inside the panel and thinner than its padding, clear of the text.
    let border = (l.pad / 2).max(2);
    l.outcome
        .into_styled(
            PrimitiveStyleBuilder::new()
                .fill_color(PANEL.into())
                .stroke_color(color.into())
                .stroke_width(border)
                .stroke_alignment(StrokeAlignment::Inside)
                .build(),
        )
        .draw(t)?;
    let (headline, line) = outcome_text(res.outcome);
    let area = inset(l.outcome, l.pad);
    draw_message(t, l, area, headline, line, (color, TEXT))?;
    draw_details(t, l, res)
}

/// The staff details: label in muted text, value after the label column.
fn draw_details<D>(t: &mut D, l: &Layout, res: &SessionResult) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    t.fill_solid(&l.details, PANEL.into())?;
    let label_w = l.label.width_of(DETAIL_LABEL_CHARS);
    for (i, (label, value)) in result_details(res).iter().enumerate() {
        let cell = l.detail_cell(i);
        draw_text(t, label, l.label, cell, Align::Left, MUTED)?;
        let value_box = Rectangle::new(
            cell.top_left + Point::new(label_w as i32, 0),
            Size::new(cell.size.width.saturating_sub(label_w), cell.size.height),
        );
        draw_text(t, value, l.label, value_box, Align::Left, TEXT)?;
    }
    Ok(())
}
