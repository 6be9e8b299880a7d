//! Text helpers: mono ASCII fonts drawn at an integer scale, left/centre/right placement and
//! truncation to a width, on any embedded-graphics target whose colour converts from `Rgb888`.

use super::layout::TextSpec;
use super::texts::ascii_only;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_graphics::text::{Baseline, Text};

/// Horizontal placement of a text inside a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush with the box's left edge.
    Left,
    /// Centred in the box.
    Center,
    /// Flush with the box's right edge.
    Right,
}

/// A draw target that magnifies everything drawn on it by an integer factor, placed at `origin`.
struct Scaled<'a, D> {
    inner: &'a mut D,
    scale: u32,
    origin: Point,
}

impl<D: DrawTarget> Dimensions for Scaled<'_, D> {
    fn bounding_box(&self) -> Rectangle {
        let s = self.inner.bounding_box().size;
        Rectangle::new(
            Point::zero(),
            Size::new(s.width / self.scale, s.height / self.scale),
        )
    }
}

impl<D: DrawTarget> DrawTarget for Scaled<'_, D> {
    type Color = D::Color;
    type Error = D::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let k = self.scale as i32;
        for Pixel(p, c) in pixels {
            let tl = self.origin + Point::new(p.x * k, p.y * k);
            self.inner
                .fill_solid(&Rectangle::new(tl, Size::new_equal(self.scale)), c)?;
        }
        Ok(())
    }
}

/// Cut `s` (made ASCII) to at most `max_chars` characters, ending in "~" when cut.
pub fn fit(s: &str, max_chars: usize) -> String {
    let s = ascii_only(s);
    if s.len() <= max_chars {
        return s;
    }
    if max_chars == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push('~');
    out
}

/// Split `s` into at most two lines of `max_chars`: the first ends at the last space that keeps
/// it short enough (cut hard when a word is longer), the second is the rest (empty when `s` fits,
/// possibly longer than `max_chars`, in which case drawing truncates it).
pub fn wrap_two(s: &str, max_chars: usize) -> (&str, &str) {
    if s.chars().count() <= max_chars {
        return (s, "");
    }
    // Byte offset of the first character that no longer fits on the first line.
    let limit = s.char_indices().nth(max_chars).map_or(s.len(), |(i, _)| i);
    let cut = if s[limit..].starts_with(' ') {
        Some(limit)
    } else {
        s[..limit].rfind(' ').filter(|&i| i > 0)
    };
    match cut {
        Some(i) => (s[..i].trim_end(), s[i..].trim_start()),
        None => (&s[..limit], &s[limit..]),
    }
}

/// Draw `s` in `area` (truncated to its width), vertically at the top of `area`, in `color`.
/// Returns the x of the text's left edge.
pub fn draw_text<D>(
    target: &mut D,
    s: &str,
    spec: TextSpec,
    area: Rectangle,
    align: Align,
    color: Rgb888,
) -> Result<i32, D::Error>
where
    D: DrawTarget,
    D::Color: From<Rgb888>,
{
    let s = fit(s, spec.chars_in(area.size.width));
    let free = area.size.width.saturating_sub(spec.width_of(s.len())) as i32;
    let x = area.top_left.x
        + match align {
            Align::Left => 0,
            Align::Center => free / 2,
            Align::Right => free,
        };
    let style = MonoTextStyle::new(spec.font, D::Color::from(color));
    let origin = Point::new(x, area.top_left.y);
    if spec.scale <= 1 {
        Text::with_baseline(&s, origin, style, Baseline::Top).draw(target)?;
    } else {
        let mut scaled = Scaled {
            inner: target,
            scale: spec.scale,
            origin,
        };
        Text::with_baseline(&s, Point::zero(), style, Baseline::Top).draw(&mut scaled)?;
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::mock_display::MockDisplay;
    use embedded_graphics::mono_font::ascii::FONT_6X10;

    #[test]
    fn fit_truncates_with_marker() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde~");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn wrap_two_breaks_at_spaces() {
        assert_eq!(wrap_two("No concern found", 16), ("No concern found", ""));
        assert_eq!(
            wrap_two("Please repeat the measurement", 19),
            ("Please repeat the", "measurement")
        );
        assert_eq!(
            wrap_two("Please see a clinician", 12),
            ("Please see a", "clinician")
        );
        assert_eq!(
            wrap_two("Please see a clinician", 11),
            ("Please see", "a clinician")
        );
        assert_eq!(wrap_two("abcdefgh ij", 4), ("abcd", "efgh ij"));
        assert_eq!(wrap_two("ab  cd", 3), ("ab", "cd"));
        assert_eq!(wrap_two("abc", 0), ("", "abc"));
        assert_eq!(
            wrap_two("\u{e9}\u{e9}\u{e9} x", 2),
            ("\u{e9}\u{e9}", "\u{e9} x")
        );
    }

    #[test]
    fn scaled_text_is_the_plain_text_magnified() {
        let one = TextSpec {
            font: &FONT_6X10,
            scale: 1,
        };
        let two = TextSpec {
            font: &FONT_6X10,
            scale: 2,
        };
        let mut small: MockDisplay<Rgb888> = MockDisplay::new();
        let mut big: MockDisplay<Rgb888> = MockDisplay::new();
        let area = Rectangle::new(Point::zero(), Size::new(64, 64));
        draw_text(&mut small, "8", one, area, Align::Left, Rgb888::WHITE).unwrap_or(0);
        draw_text(&mut big, "8", two, area, Align::Left, Rgb888::WHITE).unwrap_or(0);
        let mut lit = 0;
        for y in 0..10 {
            for x in 0..6 {
                let s = small.get_pixel(Point::new(x, y));
                lit += usize::from(s.is_some());
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    assert_eq!(big.get_pixel(Point::new(2 * x + dx, 2 * y + dy)), s);
                }
            }
        }
        assert!(lit > 10, "the digit lit only {lit} pixels");
    }

    #[test]
    fn right_alignment_ends_at_the_box_edge() {
        let one = TextSpec {
            font: &FONT_6X10,
            scale: 1,
        };
        let mut d: MockDisplay<Rgb888> = MockDisplay::new();
        d.set_allow_overdraw(true);
        let area = Rectangle::new(Point::new(4, 0), Size::new(60, 10));
        let x = draw_text(&mut d, "abc", one, area, Align::Right, Rgb888::WHITE).unwrap_or(-1);
        assert_eq!(x, 4 + 60 - 18);
        let x = draw_text(&mut d, "abc", one, area, Align::Center, Rgb888::WHITE).unwrap_or(-1);
        assert_eq!(x, 4 + 21);
    }
}
