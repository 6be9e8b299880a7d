use super::*;
use crate::records::review::Verdict;
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

/// A version 1 file (as edge-screen 0.1 before the review queue wrote it) holding `record`.
fn v1_file(path: &Path, record_json: &str) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(MIGRATIONS[0]).unwrap();
    c.pragma_update(None, "user_version", 1).unwrap();
    c.execute(
        "INSERT INTO records (id, device_id, revision, result_unix_ms, outcome,
             refer_probability, software_version, json)
         VALUES ('01JOLDRECORD', 'kiosk-1', 0, 1000, 'no_concern_found', 0.25, '0.1.0', ?1)",
        [record_json],
    )
    .unwrap();
}

#[test]
fn a_version_1_store_with_records_opens_as_version_2_with_them_intact() {
    let dir = tempfile::tempdir().unwrap();
    let m = models();
    let json = {
        let mut s = open(&dir.path().join("source"));
        let rec = s
            .save(
                &result("01JOLDRECORD", 0, Outcome::NoConcernFound),
                &cx(&m, 1000, None),
            )
            .unwrap();
        serde_json::to_string(&rec).unwrap()
    };
    let path = dir.path().join("old.db");
    v1_file(&path, &json);
    // Read-only (a `records` command) on a v1 file: the records, an empty queue.
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.list(None).unwrap().len(), 1);
    assert!(ro.review_queue(true).unwrap().is_empty());
    drop(ro);
    let (mut s, problem) = Store::open(&path).unwrap();
    assert!(problem.is_none(), "{problem:?}");
    let v = s.verify().unwrap();
    assert_eq!((v.schema_version, v.integrity.as_str()), (2, "ok"));
    let old = s.get("01JOLDRECORD").unwrap();
    assert_eq!(serde_json::to_string(&old).unwrap(), json);
    // The new tables work on the migrated file.
    let mut r = result("01JNEWXRAY01", 0, Outcome::ReferForClinicalAssessment);
    r.xray = Some(XrayReport::example(0.4));
    s.save(&r, &cx(&m, 2000, None)).unwrap();
    assert_eq!(s.review_queue(false).unwrap().len(), 1);
    assert_eq!(s.list(None).unwrap().len(), 2);
}

fn xray_models() -> Vec<ModelInfo> {
    let mut m = models();
    m.push(ModelInfo {
        role: "xray".into(),
        name: "xray-cnn-int8".into(),
        version: "test".into(),
        sha256: "cd".repeat(32),
    });
    m
}

/// Saves a record of session `id` with an X-ray of covid probability `p`, the film `film` (bytes
/// written under `dir`) and a heatmap file; records keep no images.
fn save_xray(s: &mut Store, dir: &Path, id: &str, p: f32, film: &[u8], now: i64) {
    let image = dir.join(format!("{id}.png"));
    std::fs::write(&image, film).unwrap();
    let heatmap = dir.join(format!("{id}.heatmap.png"));
    std::fs::write(&heatmap, b"heatmap bytes").unwrap();
    let mut r = result(id, 0, Outcome::ReferForClinicalAssessment);
    let mut x = XrayReport::example(p);
    x.heatmap = Some(heatmap);
    x.file = image.clone();
    r.xray = Some(x);
    let m = xray_models();
    let mut c = cx(&m, now, None);
    c.xray_image = Some(&image);
    s.save(&r, &c).unwrap();
}

#[test]
fn a_flagged_xray_is_queued_with_film_and_heatmap_and_a_normal_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    save_xray(&mut s, dir.path(), "01JFLAGGED01", 0.40, b"film one", 10);
    save_xray(&mut s, dir.path(), "01JNORMAL001", 0.02, b"film two", 20);
    let q = s.review_queue(false).unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    let item = &q[0];
    assert_eq!(item.record_id, "01JFLAGGED01");
    assert_eq!(item.finding, "covid");
    assert!((item.covid_probability.unwrap() - 0.40).abs() < 1e-6);
    assert!((item.threshold.unwrap() - 0.08).abs() < 1e-6);
    assert_eq!(item.model_sha256.as_deref(), Some("cd".repeat(32).as_str()));
    assert_eq!(item.file_name, "01JFLAGGED01.png");
    assert_eq!(item.image_sha256, Some(sha256_hex(b"film one")));
    assert_eq!(item.queued_unix_ms, 10);
    // keep_images = false: the record has no image, the queued item has it.
    assert_eq!(s.image("01JFLAGGED01").unwrap(), None);
    let (film, heat) = s.review_images(item.id).unwrap();
    assert_eq!(film.as_deref(), Some(&b"film one"[..]));
    assert_eq!(heat.as_deref(), Some(&b"heatmap bytes"[..]));
    // Saving the same record again (a revision with the same film) does not queue it twice.
    save_xray(&mut s, dir.path(), "01JFLAGGED01", 0.40, b"film one", 30);
    assert_eq!(s.review_queue(true).unwrap().len(), 1);
}

#[test]
fn reviews_are_kept_per_reviewer_and_the_latest_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    save_xray(&mut s, dir.path(), "01JREVIEW001", 0.5, b"film", 10);
    let id = s.review_queue(false).unwrap()[0].id;
    s.add_review(id, "ana", Verdict::Normal, None, 100).unwrap();
    s.add_review(id, "ben", Verdict::Covid, Some("  GGO left  "), 200)
        .unwrap();
    s.add_review(id, "ana", Verdict::Covid, None, 300).unwrap();
    assert!(
        s.review_queue(false).unwrap().is_empty(),
        "reviewed items leave the queue"
    );
    let item = s.review_item(id).unwrap();
    assert_eq!(item.reviews.len(), 3, "nothing overwritten");
    let current: Vec<(&str, Verdict, i64)> = item
        .current_reviews()
        .iter()
        .map(|r| (r.reviewer.as_str(), r.verdict, r.reviewed_unix_ms))
        .collect();
    assert_eq!(
        current,
        vec![("ben", Verdict::Covid, 200), ("ana", Verdict::Covid, 300)]
    );
    assert_eq!(item.reviews[1].note.as_deref(), Some("GGO left"));
    // The record's reviews.
    assert_eq!(
        s.review_items_of("01JREVIEW001").unwrap()[0].reviews.len(),
        3
    );
    // Bad input is refused with the reason; an unknown item is not found.
    let e = s
        .add_review(id, "a:b", Verdict::Covid, None, 1)
        .unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
    let e = s
        .add_review(id, "ana", Verdict::Covid, Some(&"x".repeat(3000)), 1)
        .unwrap_err();
    assert!(e.to_string().contains("note of 3000 bytes"), "{e}");
    assert!(matches!(
        s.add_review(999, "ana", Verdict::Covid, None, 1),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.review_item(id).unwrap().reviews.len(), 3);
}

#[test]
fn reviewed_films_give_the_latest_review_of_each_item_with_its_film() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    save_xray(&mut s, dir.path(), "01JFILMA0001", 0.5, b"film A", 10);
    save_xray(&mut s, dir.path(), "01JFILMB0001", 0.6, b"film B", 20);
    save_xray(&mut s, dir.path(), "01JFILMC0001", 0.7, b"film C", 30);
    let ids: Vec<i64> = s
        .review_queue(false)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    s.add_review(ids[0], "ana", Verdict::Covid, None, 100)
        .unwrap();
    s.add_review(ids[0], "ben", Verdict::Normal, None, 150)
        .unwrap();
    s.add_review(ids[1], "ana", Verdict::NotAssessable, None, 200)
        .unwrap();
    let films = s.reviewed_films().unwrap();
    let got: Vec<(&str, &[u8], Verdict, &str, i64)> = films
        .iter()
        .map(|f| {
            (
                f.record_id.as_str(),
                f.image.as_slice(),
                f.verdict,
                f.reviewer.as_str(),
                f.reviewed_unix_ms,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("01JFILMA0001", &b"film A"[..], Verdict::Normal, "ben", 150),
            (
                "01JFILMB0001",
                &b"film B"[..],
                Verdict::NotAssessable,
                "ana",
                200
            ),
        ]
    );
    assert_eq!(films[0].file_name, "01JFILMA0001.png");
}

#[test]
fn pruning_keeps_a_record_whose_film_awaits_review() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    save_xray(&mut s, dir.path(), "01JPENDING01", 0.5, b"film P", 10);
    save_xray(&mut s, dir.path(), "01JDONE00001", 0.5, b"film D", 20);
    let done = s.review_items_of("01JDONE00001").unwrap()[0].id;
    s.add_review(done, "ana", Verdict::Covid, None, 30).unwrap();
    let pruned = s.prune(None, Some(0), 1_000_000).unwrap();
    assert_eq!(pruned, 1);
    assert!(s.get("01JPENDING01").is_ok());
    assert!(s.get("01JDONE00001").is_err());
}
