use super::*;
use crate::screening::fusion::{ModalityProbabilities, Outcome};
use crate::xray::screen::XrayReport;

fn result(id: &str, revision: u32, outcome: Outcome) -> SessionResult {
    SessionResult {
        t_s: 80.0 + f64::from(revision),
        session_id: id.to_string(),
        revision,
        outcome,
        refer_probability: 0.25,
        modalities: ModalityProbabilities::default(),
        breathing: None,
        xray: None,
    }
}

fn models() -> Vec<ModelInfo> {
    vec![ModelInfo {
        role: "breathing".into(),
        name: "bi_at_gru".into(),
        version: "1".into(),
        sha256: "ab".repeat(32),
    }]
}

fn cx<'a>(models: &'a [ModelInfo], now: i64, topic: Option<&'a str>) -> RecordContext<'a> {
    RecordContext {
        device_id: "kiosk-1",
        models,
        started_unix_ms: Some(now - 70_000),
        now_unix_ms: now,
        xray_image: None,
        keep_image: false,
        topic,
    }
}

fn open(dir: &Path) -> Store {
    let (s, problem) = Store::open(&dir.join("records.db")).unwrap();
    assert!(problem.is_none(), "{problem:?}");
    s
}

#[test]
fn a_saved_record_reads_back_with_everything_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let m = models();
    s.save(
        &result("01JABCDEFGH", 0, Outcome::NoConcernFound),
        &cx(&m, 1_000_000, None),
    )
    .unwrap();
    let r = s.get("01JABCDEFGH").unwrap();
    assert_eq!(r.device_id, "kiosk-1");
    assert_eq!(r.outcome, "no_concern_found");
    assert_eq!(r.result_unix_ms, 1_000_000);
    assert_eq!(r.started_unix_ms, Some(930_000));
    assert_eq!(r.models, m);
    assert_eq!(r.software_version, env!("CARGO_PKG_VERSION"));
    assert!((r.refer_probability - 0.25).abs() < 1e-6);
    // A prefix finds it; a too-short or unknown one does not.
    assert_eq!(s.get("01JABC").unwrap().id, "01JABCDEFGH");
    assert!(matches!(s.get("01JA"), Err(StoreError::NotFound { .. })));
    assert!(matches!(
        s.get("ZZZZZZZZ"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn reopening_keeps_records_and_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let m = models();
    {
        let mut s = open(dir.path());
        s.save(
            &result("01JAAAAAAA1", 0, Outcome::NoConcernFound),
            &cx(&m, 1, None),
        )
        .unwrap();
    }
    let s = open(dir.path());
    assert_eq!(s.list(None).unwrap().len(), 1);
    let v = s.verify().unwrap();
    assert_eq!(v.integrity, "ok");
    assert_eq!(v.schema_version, SCHEMA_VERSION);
    assert_eq!((v.records, v.local_only, v.pending), (1, 1, 0));
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn programs_opening_a_new_store_at_once_all_get_one_schema() {
    // Several edge-screen processes (tests, a `records` command beside the daemon) may open a
    // fresh file at the same moment; each must find the schema made exactly once.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.db");
        let barrier = std::sync::Barrier::new(6);
        let opened: Vec<Result<i64, String>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let (store, problem) = Store::open(&path).map_err(|e| e.to_string())?;
                        assert!(problem.is_none(), "{problem:?}");
                        store.schema_version().map_err(|e| e.to_string())
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in opened {
            assert_eq!(r, Ok(SCHEMA_VERSION), "round {round}");
        }
    }
}

#[test]
fn a_revision_updates_the_record_and_queues_a_second_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let m = models();
    let topic = Some("edge-screen/kiosk-1/sessions");
    s.save(
        &result("01JREVISION", 0, Outcome::NoConcernFound),
        &cx(&m, 10, topic),
    )
    .unwrap();
    s.save(
        &result("01JREVISION", 1, Outcome::ReferForClinicalAssessment),
        &cx(&m, 20, topic),
    )
    .unwrap();
    let all = s.list(None).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].revision, 1);
    assert_eq!(all[0].outcome, "refer_for_clinical_assessment");
    let pending = s.pending(10).unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!((pending[0].revision, pending[1].revision), (0, 1));
    assert!(pending[0].seq < pending[1].seq);
    let sent: Record = serde_json::from_str(&pending[1].payload).unwrap();
    assert_eq!(sent, all[0]);
}

#[test]
fn the_outbox_is_delivered_in_order_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let m = models();
    for (i, id) in ["01JORDER001", "01JORDER002", "01JORDER003"]
        .iter()
        .enumerate()
    {
        s.save(
            &result(id, 0, Outcome::NoConcernFound),
            &cx(&m, 100 + i as i64, Some("t")),
        )
        .unwrap();
    }
    let stats = s.outbox_stats().unwrap();
    assert_eq!(stats.pending, 3);
    assert_eq!(stats.oldest_created_unix_ms, Some(100));
    let first = s.pending(1).unwrap();
    assert_eq!(first[0].record_id, "01JORDER001");
    s.mark_delivered(first[0].seq, 500).unwrap();
    let next = s.pending(5).unwrap();
    let ids: Vec<&str> = next.iter().map(|i| i.record_id.as_str()).collect();
    assert_eq!(ids, ["01JORDER002", "01JORDER003"]);
    assert_eq!(s.outbox_stats().unwrap().oldest_created_unix_ms, Some(101));
    let v = s.verify().unwrap();
    assert_eq!((v.records, v.delivered, v.pending), (3, 1, 2));
}

#[test]
fn pruning_never_deletes_what_the_fleet_has_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let m = models();
    let day = 86_400_000;
    // Four old records, two of them still pending; one recent.
    for (i, id) in ["01JPRUNE001", "01JPRUNE002", "01JPRUNE003", "01JPRUNE004"]
        .iter()
        .enumerate()
    {
        s.save(
            &result(id, 0, Outcome::NoConcernFound),
            &cx(&m, i as i64, Some("t")),
        )
        .unwrap();
    }
    for item in s.pending(2).unwrap() {
        s.mark_delivered(item.seq, 1).unwrap();
    }
    s.save(
        &result("01JPRUNE005", 0, Outcome::NoConcernFound),
        &cx(&m, 40 * day, None),
    )
    .unwrap();
    // 30 days: the two delivered old ones go; pending and recent stay.
    assert_eq!(s.prune(Some(30), None, 40 * day).unwrap(), 2);
    let ids: Vec<String> = s.list(None).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["01JPRUNE003", "01JPRUNE004", "01JPRUNE005"]);
    // Keep one: only the recent local-only record could go, and it is the newest, so nothing.
    assert_eq!(s.prune(None, Some(1), 40 * day).unwrap(), 0);
    assert_eq!(s.outbox_stats().unwrap().pending, 2);
}

#[test]
fn list_since_filters_by_result_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let m = models();
    for (t, id) in [(1000, "01JSINCE001"), (2000, "01JSINCE002")] {
        s.save(&result(id, 0, Outcome::RepeatMeasurement), &cx(&m, t, None))
            .unwrap();
    }
    assert_eq!(s.list(Some(1500)).unwrap().len(), 1);
    assert_eq!(s.list(Some(0)).unwrap().len(), 2);
}

#[test]
fn an_xray_record_has_the_file_name_and_hash_and_the_image_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("done").join("chest.png");
    std::fs::create_dir_all(image.parent().unwrap()).unwrap();
    std::fs::write(&image, b"not really a png").unwrap();
    let m = models();
    let mut r = result("01JXRAY0001", 0, Outcome::ReferForClinicalAssessment);
    r.xray = Some(XrayReport::example(0.4));
    for keep in [false, true] {
        let mut s = open(&dir.path().join(format!("keep-{keep}")));
        let mut c = cx(&m, 5, None);
        c.xray_image = Some(&image);
        c.keep_image = keep;
        let rec = s.save(&r, &c).unwrap();
        let x = rec.xray.unwrap();
        assert_eq!(x["file"], "chest.png");
        assert_eq!(x["image_sha256"], sha256_hex(b"not really a png"));
        let kept = s.image("01JXRAY0001").unwrap();
        assert_eq!(kept.is_some(), keep);
    }
}

#[test]
fn an_xray_record_keeps_whether_the_finding_was_validated_at_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let m = models();
    let mut s = open(&dir.path().join("records.db"));
    for (id, validated) in [("01JXRAYSITE1", true), ("01JXRAYSITE0", false)] {
        let mut r = result(id, 0, Outcome::NoConcernFound);
        r.xray = Some(XrayReport {
            site_validated: validated,
            ..XrayReport::example(0.02)
        });
        s.save(&r, &cx(&m, 5, None)).unwrap();
        let back = s.get(id).unwrap().xray.unwrap();
        assert_eq!(back["site_validated"], validated, "{back}");
    }
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.db");
    let junk = vec![0x5a_u8; 8192];
    std::fs::write(&path, &junk).unwrap();
    let (mut s, problem) = Store::open(&path).unwrap();
    let problem = problem.expect("corruption reported");
    let text = problem.to_string();
    assert!(text.contains("records.db"), "{text}");
    assert!(text.contains("moved aside to"), "{text}");
    let StoreError::Corrupt {
        moved_to: Some(moved),
        ..
    } = problem
    else {
        panic!("{problem:?}")
    };
    assert_eq!(
        std::fs::read(&moved).unwrap(),
        junk,
        "the old file is kept byte for byte"
    );
    // The new store works.
    s.save(
        &result("01JAFTERBAD", 0, Outcome::NoConcernFound),
        &cx(&models(), 1, None),
    )
    .unwrap();
    assert_eq!(s.verify().unwrap().integrity, "ok");
}

#[test]
fn another_programs_database_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE customers (name TEXT)")
            .unwrap();
    }
    let (_s, problem) = Store::open(&path).unwrap();
    let text = problem.unwrap().to_string();
    assert!(text.contains("not an edge-screen record store"), "{text}");
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt-"))
        .collect();
    assert!(!moved.is_empty());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.db");
    {
        let (s, _) = Store::open(&path).unwrap();
        s.conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn read_only_open_of_a_missing_file_names_it() {
    let err = Store::open_read_only(Path::new("/nonexistent/records.db")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/records.db"), "{err}");
}
