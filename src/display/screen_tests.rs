//! The session's screens checked on real renders: each draws only inside its own boxes, and each
//! change of the session shows where it should (the goldens in `tests/display_golden.rs` pin the
//! look).

use super::palette::{self, outcome_color};
use super::test_readouts::{every_screen, result_readout, sine_readout, EDGE_SIZES};
use super::tests::{contains_rect, diff_box, render};
use super::*;
use crate::pipeline::view::CameraStatus;
use crate::screening::{Outcome, SessionView};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

fn boxes_of(l: &Layout, r: &Readout) -> Vec<Rectangle> {
    match r.session {
        SessionView::Waiting => l.waiting_boxes().to_vec(),
        SessionView::Measuring { .. } => l.measuring_boxes().to_vec(),
        SessionView::Result(_) => l.result_boxes().to_vec(),
    }
}

#[test]
fn every_screen_draws_only_inside_its_boxes() {
    for (w, h) in EDGE_SIZES {
        let l = Layout::for_size(Size::new(w, h));
        for (screen, r) in every_screen() {
            let img = render(w, h, &r);
            let boxes = boxes_of(&l, &r);
            let stray = img.iter().find(|(x, y, c)| {
                let p = Point::new(*x as i32, *y as i32);
                *c != palette::BACKGROUND && !boxes.iter().any(|b| b.contains(p))
            });
            assert_eq!(stray, None, "{w}x{h} {screen}: drawn between boxes");
        }
    }
}

#[test]
fn progress_fills_the_bar_inside_the_banner() {
    for (w, h) in [(320, 240), (480, 320), (800, 480)] {
        let l = Layout::for_size(Size::new(w, h));
        let at = |signal_s: f64| {
            let mut r = sine_readout(4.0);
            r.session = SessionView::Measuring {
                session_id: "01J2Q8M5TZ3W7X9K4F2R4F2K9Q".into(),
                signal_s,
                needed_s: 60.0,
            };
            render(w, h, &r)
        };
        let blue_in_banner = |img: &RgbImage| {
            img.iter()
                .filter(|(x, y, c)| {
                    *c == palette::TRACE && l.banner.contains(Point::new(*x as i32, *y as i32))
                })
                .count()
        };
        let (early, late, done) = (at(12.0), at(48.0), at(90.0));
        let d = diff_box(&early, &late);
        assert!(
            d.is_some_and(|d| contains_rect(&l.banner, &d)),
            "{w}x{h}: diff {d:?} vs banner {:?}",
            l.banner
        );
        let (a, b, c) = (
            blue_in_banner(&early),
            blue_in_banner(&late),
            blue_in_banner(&done),
        );
        assert!(
            0 < a && a * 3 < b && b < c,
            "{w}x{h}: bar pixels {a} {b} {c}"
        );
    }
}

/// Pixels of colour `c` inside `area`.
fn count(img: &RgbImage, area: &Rectangle, c: Rgb888) -> usize {
    img.iter()
        .filter(|(x, y, p)| *p == c && area.contains(Point::new(*x as i32, *y as i32)))
        .count()
}

#[test]
fn each_outcome_is_drawn_in_its_colour() {
    let cases = [
        (Outcome::NoConcernFound, result_readout(Some(0.92), None)),
        (
            Outcome::ReferForClinicalAssessment,
            result_readout(Some(0.9), Some(0.62)),
        ),
        (Outcome::RepeatMeasurement, result_readout(None, None)),
    ];
    for (w, h) in [(320, 240), (480, 320), (800, 480)] {
        let l = Layout::for_size(Size::new(w, h));
        for (outcome, r) in &cases {
            match &r.session {
                SessionView::Result(res) => assert_eq!(res.outcome, *outcome),
                other => panic!("{other:?}"),
            }
            let img = render(w, h, r);
            let color = outcome_color(*outcome);
            let tl = l.outcome.top_left;
            assert_eq!(
                img.get(tl.x, tl.y),
                Some(color),
                "{w}x{h} {outcome:?}: border"
            );
            // Border and headline: more than the border alone.
            let border = 2 * (l.outcome.size.width + l.outcome.size.height) as usize;
            assert!(
                count(&img, &l.outcome, color) > 2 * border,
                "{w}x{h} {outcome:?}"
            );
            for other in [palette::CALM, palette::REFER, palette::REPEAT] {
                if other != color {
                    assert_eq!(count(&img, &l.outcome, other), 0, "{w}x{h} {outcome:?}");
                }
            }
        }
    }
}

#[test]
fn result_details_change_only_the_details() {
    let (w, h) = (480, 320);
    let l = Layout::for_size(Size::new(w, h));
    let a = result_readout(Some(0.92), None);
    let mut b = a.clone();
    if let SessionView::Result(res) = &mut b.session {
        res.session_id = "01J2Q8M5TZ3W7X9K4F2R4AAAAA".into();
        if let Some(br) = res.breathing.as_mut() {
            br.rate_bpm = Some(19.9);
        }
    }
    let d = diff_box(&render(w, h, &a), &render(w, h, &b));
    assert!(
        d.is_some_and(|d| contains_rect(&l.details, &d)),
        "diff {d:?} vs details {:?}",
        l.details
    );
}

#[test]
fn waiting_invites_or_says_paused_in_the_body() {
    for (w, h) in [(320, 240), (480, 320), (800, 480)] {
        let l = Layout::for_size(Size::new(w, h));
        let ok = render(w, h, &Readout::default());
        let lost = render(
            w,
            h,
            &Readout {
                camera: CameraStatus::Lost,
                ..Readout::default()
            },
        );
        assert!(count(&ok, &l.body, palette::TEXT) > 0, "{w}x{h}");
        assert_eq!(count(&ok, &l.body, palette::WARN), 0, "{w}x{h}");
        assert!(count(&lost, &l.body, palette::WARN) > 0, "{w}x{h}");
        // Only the header (camera text) and the body differ.
        let d = diff_box(&ok, &lost);
        let header_or_body = Rectangle::with_corners(
            l.header.top_left,
            l.body.bottom_right().unwrap_or(l.body.top_left),
        );
        assert!(
            d.is_some_and(|d| contains_rect(&header_or_body, &d)),
            "{w}x{h}: {d:?}"
        );
    }
}

#[test]
fn records_not_saved_is_an_alarm_in_the_header_only() {
    for (w, h) in [(320, 240), (480, 320), (800, 480)] {
        let l = Layout::for_size(Size::new(w, h));
        let ok = render(w, h, &Readout::default());
        let unsaved = render(
            w,
            h,
            &Readout {
                records_saving: false,
                ..Readout::default()
            },
        );
        assert_eq!(count(&ok, &l.header, palette::ALARM), 0, "{w}x{h}");
        assert!(count(&unsaved, &l.header, palette::ALARM) > 0, "{w}x{h}");
        let d = diff_box(&ok, &unsaved).expect("the header changes");
        assert!(contains_rect(&l.header, &d), "{w}x{h}: {d:?}");
    }
}
