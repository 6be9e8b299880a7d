use super::*;
use crate::screening::events::SessionResult;
use crate::screening::fusion::{ModalityProbabilities, Outcome};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn result(id: &str) -> Event {
    Event::SessionResult(Box::new(SessionResult {
        t_s: 70.0,
        session_id: id.to_string(),
        revision: 0,
        outcome: Outcome::NoConcernFound,
        refer_probability: 0.1,
        modalities: ModalityProbabilities::default(),
        breathing: None,
        xray: None,
    }))
}

fn started(id: &str) -> Event {
    Event::SessionStarted {
        t_s: 1.0,
        session_id: id.to_string(),
    }
}

/// A wall clock the test sets.
struct Manual(Arc<AtomicI64>);

impl WallSource for Manual {
    fn unix_ms(&mut self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn settings(dir: &std::path::Path) -> RecordSettings {
    RecordSettings {
        path: dir.join("records.db"),
        keep_images: false,
        retention_days: None,
        retention_count: None,
    }
}

fn recorder(dir: &std::path::Path, wall: Arc<AtomicI64>) -> Recorder {
    let s = settings(dir);
    let (store, _) = Store::open(&s.path).unwrap();
    Recorder::with_clock(
        store,
        s,
        "kiosk-1".into(),
        vec![],
        Some("edge-screen/kiosk-1/sessions".into()),
        Box::new(Manual(wall)),
    )
}

fn ids(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SessionResult(r) => Some(r.session_id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_result_is_let_through_once_saved_with_its_start_time() {
    let dir = tempfile::tempdir().unwrap();
    let wall = Arc::new(AtomicI64::new(1_000));
    let mut r = recorder(dir.path(), wall.clone());
    let mut out = Vec::new();
    assert_eq!(r.handle(started("01JSTART001"), &mut out), None);
    wall.store(61_000, Ordering::SeqCst);
    assert_eq!(r.handle(result("01JSTART001"), &mut out), None);
    assert_eq!(out.len(), 2);
    let rec = r.store().get("01JSTART001").unwrap();
    assert_eq!(rec.started_unix_ms, Some(1_000));
    assert_eq!(rec.result_unix_ms, 61_000);
    assert_eq!(r.stats().saved, 1);
    assert_eq!(r.store().outbox_stats().unwrap().pending, 1);
}

#[test]
fn a_full_store_holds_results_in_order_and_saves_them_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let wall = Arc::new(AtomicI64::new(1_000));
    let mut r = recorder(dir.path(), wall);
    let mut out = Vec::new();
    r.handle(result("01JFULL0000"), &mut out);
    assert_eq!(ids(&out), ["01JFULL0000"]);
    // Cap the file at its current size: the next insert fails with SQLITE_FULL.
    let pages: i64 = r
        .store()
        .conn()
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .unwrap();
    r.store()
        .conn()
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
        .unwrap();
    out.clear();
    // A long payload so that the record cannot fit in a free slot of an existing page.
    let big: Vec<String> = (0..5)
        .map(|i| format!("01JFULL{:04}{}", i + 1, "X".repeat(3000)))
        .collect();
    assert_eq!(r.handle(result(&big[0]), &mut out), Some(false));
    for id in &big[1..] {
        assert_eq!(r.handle(result(id), &mut out), None);
    }
    // Other events still pass; no result does.
    r.handle(started("01JOTHER000"), &mut out);
    assert_eq!(out.len(), 1);
    assert!(ids(&out).is_empty());
    assert!(!r.stats().saving);
    assert_eq!(r.stats().held, 5);
    assert!(r
        .stats()
        .last_error
        .as_deref()
        .unwrap()
        .contains("records.db"));
    // Space returns.
    r.store()
        .conn()
        .query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))
        .unwrap();
    out.clear();
    assert_eq!(r.retry(&mut out), Some(true));
    assert_eq!(ids(&out), big);
    assert_eq!(
        r.store().list(None).unwrap().len(),
        6,
        "the first record is still there"
    );
    assert_eq!(r.stats().held, 0);
}

#[test]
fn record_times_never_go_back_when_the_wall_clock_does() {
    let wall = Arc::new(AtomicI64::new(1_000_000));
    let mut c = OrderedClock::new(Manual(wall.clone()));
    let a = c.now_ms();
    wall.store(400_000, Ordering::SeqCst); // back 10 minutes
    let b = c.now_ms();
    assert!(b >= a, "{b} < {a}");
    assert!(b - a < 1_000, "continues from the last value: {a} -> {b}");
    wall.store(5_000_000, Ordering::SeqCst); // forward (NTP sync)
    let d = c.now_ms();
    assert_eq!(d, 5_000_000);
}
