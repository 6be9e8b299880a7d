//! The layout at the edge sizes of every tier: boxes inside the target and disjoint, and every
//! visitor text fitting its box without being cut.

use super::*;
use crate::display::session_texts::{
    outcome_text, waiting_text, DETAIL_LABEL_CHARS, HEADLINES, MEASURING_INSTRUCTION,
    PROGRESS_CHARS,
};
use crate::display::test_readouts::EDGE_SIZES;
use crate::display::text::wrap_two;
use crate::display::texts::DISCLAIMER;
use crate::pipeline::view::CameraStatus;
use crate::screening::Outcome;

fn inside(outer: &Rectangle, inner: &Rectangle) -> bool {
    inner.size.width > 0
        && inner.size.height > 0
        && outer.contains(inner.top_left)
        && inner.bottom_right().is_some_and(|br| outer.contains(br))
}

fn overlap(a: &Rectangle, b: &Rectangle) -> bool {
    !a.intersection(b).is_zero_sized()
}

fn check_boxes(w: u32, h: u32, screen: &str, boxes: &[Rectangle]) {
    let target = Rectangle::new(Point::zero(), Size::new(w, h));
    for (i, b) in boxes.iter().enumerate() {
        assert!(
            inside(&target, b),
            "{w}x{h} {screen}: box {i} {b:?} not inside"
        );
        for (j, c) in boxes.iter().enumerate().skip(i + 1) {
            assert!(
                !overlap(b, c),
                "{w}x{h} {screen}: boxes {i} and {j} overlap"
            );
        }
    }
}

#[test]
fn boxes_inside_and_disjoint_for_supported_sizes() {
    for (w, h) in EDGE_SIZES {
        let l = Layout::for_size(Size::new(w, h));
        check_boxes(w, h, "waiting", &l.waiting_boxes());
        check_boxes(w, h, "measuring", &l.measuring_boxes());
        check_boxes(w, h, "result", &l.result_boxes());
        let cells: Vec<Rectangle> = (0..8).map(|i| l.detail_cell(i)).collect();
        check_boxes(w, h, "details", &cells);
        for c in &cells {
            assert!(inside(&l.details, c), "{w}x{h}: detail cell {c:?}");
        }
        // The waveform keeps a usable share of the height under the measuring banner.
        assert!(
            l.wave.size.height >= (h / 6).max(45),
            "{w}x{h}: wave {:?}",
            l.wave
        );
        // The disclaimer fits on one line.
        assert!(l.label.width_of(DISCLAIMER.len()) <= w);
    }
}

/// Width of text inside a full-width panel.
fn inner_w(l: &Layout) -> u32 {
    l.body.size.width - 2 * l.pad
}

#[test]
fn headlines_wrap_onto_their_lines_and_fit_their_panels() {
    let outcomes = [
        Outcome::NoConcernFound,
        Outcome::ReferForClinicalAssessment,
        Outcome::RepeatMeasurement,
    ];
    let under: Vec<&str> = outcomes
        .iter()
        .map(|o| outcome_text(*o).1)
        .chain(
            [CameraStatus::Ok, CameraStatus::Lost]
                .iter()
                .map(|c| waiting_text(c).1),
        )
        .collect();
    for (w, h) in EDGE_SIZES {
        let l = Layout::for_size(Size::new(w, h));
        let chars = l.head.chars_in(inner_w(&l));
        for s in HEADLINES {
            let (a, b) = wrap_two(s, chars);
            let lines = 1 + u32::from(!b.is_empty());
            assert!(lines <= l.head_lines, "{w}x{h}: '{s}' needs {lines} lines");
            assert!(
                a.len() <= chars && b.len() <= chars,
                "{w}x{h}: '{s}' is cut"
            );
            assert!(
                !a.ends_with(' ') && !a.is_empty(),
                "{w}x{h}: '{s}' -> '{a}'"
            );
        }
        for s in &under {
            assert!(l.label.width_of(s.len()) <= inner_w(&l), "{w}x{h}: '{s}'");
        }
        // Headline block plus the line under it, inside the panels' padding.
        let block = l.head_lines * l.head.h() + l.pad + l.label.h() + 2 * l.pad;
        assert!(
            l.outcome.size.height >= block,
            "{w}x{h}: outcome {:?}",
            l.outcome
        );
        assert!(l.body.size.height >= block, "{w}x{h}: body {:?}", l.body);
    }
}

#[test]
fn measuring_and_detail_texts_fit() {
    for (w, h) in EDGE_SIZES {
        let l = Layout::for_size(Size::new(w, h));
        let banner_w = l.banner.size.width - 2 * l.pad;
        let instruction = MEASURING_INSTRUCTION.len();
        assert!(
            l.prompt.width_of(instruction) <= banner_w,
            "{w}x{h}: instruction"
        );
        // The progress text leaves at least a quarter of the row to the bar.
        assert!(
            l.label.width_of(PROGRESS_CHARS + 1) <= banner_w * 3 / 4,
            "{w}x{h}: progress"
        );
        // Left column: label and "insufficient signal"; right: label and "normal 100%".
        assert!(l.detail_cell(0).size.width >= l.label.width_of(LEFT_DETAIL_CHARS));
        let right = DETAIL_LABEL_CHARS + "normal 100%".len();
        assert!(
            l.detail_cell(4).size.width >= l.label.width_of(right),
            "{w}x{h}: right column {:?}",
            l.detail_cell(4)
        );
    }
}

#[test]
fn tiny_sizes_do_not_panic() {
    for (w, h) in [(0, 0), (1, 1), (64, 64), (u32::MAX / 2, 10)] {
        let l = Layout::for_size(Size::new(w, h));
        for i in 0..8 {
            let _ = l.detail_cell(i);
        }
    }
}
