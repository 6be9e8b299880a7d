//! The record store's side of clinician review: queueing flagged X-rays inside a record's
//! transaction, listing the queue, storing reviews, and the reviewed films for site validation.
//! The data types are in [`crate::records::review`].

use super::{sqlite, RecordContext, Store, StoreError};
use crate::records::review::{
    check_reviewer, QueueItem, Review, ReviewedFilm, Verdict, MAX_HEATMAP_BYTES, MAX_NOTE_BYTES,
};
use crate::records::store::Record;
use crate::xray::screen::XrayReport;
use rusqlite::{params, OptionalExtension, Transaction};
use std::path::Path;

/// Queues `report`'s film for review when its finding is not `normal` (inside the transaction that
/// saves `record`, so the item is durable exactly when the record is). A revision that brings the
/// same film again does not queue it twice.
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    path: &Path,
    record: &Record,
    report: &XrayReport,
    film: Option<&[u8]>,
    cx: &RecordContext<'_>,
) -> Result<(), StoreError> {
    let value = serde_json::to_value(report).unwrap_or_default();
    let finding = value["finding"].as_str().unwrap_or("unknown").to_string();
    if finding == "normal" {
        return Ok(());
    }
    let xray = record.xray.as_ref().unwrap_or(&value);
    let file_name = xray["file"].as_str().unwrap_or("image").to_string();
    let heatmap = report.heatmap.as_deref().and_then(read_heatmap);
    let model_sha = cx
        .models
        .iter()
        .find(|m| m.role == "xray")
        .map(|m| m.sha256.clone());
    tx.execute(
        "INSERT INTO review_items (record_id, revision, queued_unix_ms, finding,
             covid_probability, threshold, model_name, model_version, model_sha256, file_name,
             image_sha256, image, heatmap, report)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (record_id, image_sha256) DO NOTHING",
        params![
            record.id,
            record.revision,
            cx.now_unix_ms,
            finding,
            value["covid_probability"].as_f64(),
            value["threshold"].as_f64(),
            report.model.name,
            report.model.version,
            model_sha,
            file_name,
            xray["image_sha256"].as_str(),
            film,
            heatmap,
            serde_json::to_string(xray).unwrap_or_default(),
        ],
    )
    .map_err(|e| sqlite(path, "queue an X-ray for review", e))?;
    Ok(())
}

/// The heatmap PNG's bytes, if it can be read and is not too large (logged when it cannot).
fn read_heatmap(p: &Path) -> Option<Vec<u8>> {
    let r = std::fs::metadata(p).and_then(|m| {
        if m.len() > MAX_HEATMAP_BYTES {
            Err(std::io::Error::other(format!(
                "{} bytes, over the {MAX_HEATMAP_BYTES} kept",
                m.len()
            )))
        } else {
            std::fs::read(p)
        }
    });
    match r {
        Ok(b) => Some(b),
        Err(e) => {
            log::warn!("{}: heatmap not kept for review: {e}", p.to_string_lossy());
            None
        }
    }
}

const ITEM_COLUMNS: &str = "id, record_id, revision, queued_unix_ms, finding, covid_probability,
    threshold, model_name, model_version, model_sha256, file_name, image_sha256,
    image IS NOT NULL, heatmap IS NOT NULL";

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueItem> {
    Ok(QueueItem {
        id: r.get(0)?,
        record_id: r.get(1)?,
        revision: r.get(2)?,
        queued_unix_ms: r.get(3)?,
        finding: r.get(4)?,
        covid_probability: r.get(5)?,
        threshold: r.get(6)?,
        model_name: r.get(7)?,
        model_version: r.get(8)?,
        model_sha256: r.get(9)?,
        file_name: r.get(10)?,
        image_sha256: r.get(11)?,
        has_image: r.get(12)?,
        has_heatmap: r.get(13)?,
        reviews: Vec::new(),
    })
}

impl Store {
    /// Whether this file has the review tables (a version 1 file opened read-only has not).
    fn has_review_queue(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version()? >= 2)
    }

    /// The queue in queueing order: only items no one has reviewed yet, or with `all` every item.
    /// Each carries its reviews.
    pub fn review_queue(&self, all: bool) -> Result<Vec<QueueItem>, StoreError> {
        self.items_where(
            if all {
                "1"
            } else {
                "NOT EXISTS (SELECT 1 FROM reviews v WHERE v.item_id = review_items.id)"
            },
            [],
        )
    }

    /// The queued items of one record (its reviews included), in queueing order.
    pub fn review_items_of(&self, record_id: &str) -> Result<Vec<QueueItem>, StoreError> {
        self.items_where("record_id = ?1", [record_id])
    }

    /// One queued item with its reviews.
    pub fn review_item(&self, id: i64) -> Result<QueueItem, StoreError> {
        self.items_where("id = ?1", [id])?
            .pop()
            .ok_or_else(|| StoreError::NotFound {
                path: self.path.clone(),
                id: format!("review item {id}"),
            })
    }

    fn items_where<P: rusqlite::Params>(
        &self,
        filter: &str,
        p: P,
    ) -> Result<Vec<QueueItem>, StoreError> {
        if !self.has_review_queue()? {
            return Ok(Vec::new());
        }
        let what = "read the review queue";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ITEM_COLUMNS} FROM review_items WHERE {filter} ORDER BY id"
            ))
            .map_err(|e| sqlite(&self.path, what, e))?;
        let mut items = stmt
            .query_map(p, item_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sqlite(&self.path, what, e))?;
        for item in &mut items {
            item.reviews = self.reviews_of(item.id)?;
        }
        Ok(items)
    }

    fn reviews_of(&self, item_id: i64) -> Result<Vec<Review>, StoreError> {
        let what = "read reviews";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT item_id, reviewer, verdict, note, reviewed_unix_ms FROM reviews
                 WHERE item_id = ?1 ORDER BY seq",
            )
            .map_err(|e| sqlite(&self.path, what, e))?;
        let rows = stmt
            .query_map([item_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sqlite(&self.path, what, e))?;
        rows.into_iter()
            .map(|(item_id, reviewer, verdict, note, at)| {
                Ok(Review {
                    item_id,
                    reviewer,
                    verdict: Verdict::parse(&verdict).ok_or_else(|| StoreError::Corrupt {
                        path: self.path.clone(),
                        problem: format!("review of item {item_id}: unknown verdict {verdict:?}"),
                        moved_to: None,
                    })?,
                    note,
                    reviewed_unix_ms: at,
                })
            })
            .collect()
    }

    /// The film and the heatmap PNG of a queued item (either may be missing).
    #[allow(clippy::type_complexity)]
    pub fn review_images(&self, id: i64) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>), StoreError> {
        if !self.has_review_queue()? {
            return Ok((None, None));
        }
        self.conn
            .query_row(
                "SELECT image, heatmap FROM review_items WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| sqlite(&self.path, "read a queued film", e))?
            .ok_or_else(|| StoreError::NotFound {
                path: self.path.clone(),
                id: format!("review item {id}"),
            })
    }

    /// Stores a review of item `id` (never replacing an earlier one). The reviewer's name and the
    /// note are checked; an unknown item is [`StoreError::NotFound`]. Durable when this returns.
    pub fn add_review(
        &mut self,
        id: i64,
        reviewer: &str,
        verdict: Verdict,
        note: Option<&str>,
        now_unix_ms: i64,
    ) -> Result<Review, StoreError> {
        let bad = |problem: String| StoreError::BadReview {
            path: self.path.clone(),
            problem,
        };
        check_reviewer(reviewer).map_err(bad)?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = note.filter(|n| n.len() > MAX_NOTE_BYTES) {
            return Err(bad(format!(
                "note of {} bytes: at most {MAX_NOTE_BYTES}",
                n.len()
            )));
        }
        self.review_item(id)?;
        self.conn
            .execute(
                "INSERT INTO reviews (item_id, reviewer, verdict, note, reviewed_unix_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, reviewer, verdict.name(), note, now_unix_ms],
            )
            .map_err(|e| sqlite(&self.path, "save a review", e))?;
        Ok(Review {
            item_id: id,
            reviewer: reviewer.to_string(),
            verdict,
            note: note.map(str::to_string),
            reviewed_unix_ms: now_unix_ms,
        })
    }

    /// Every reviewed item whose film is kept, with its latest review (whoever gave it), in
    /// queueing order: the labelled films for `xray-validate --from-reviews`. `not_assessable`
    /// ones are included; the caller drops them.
    pub fn reviewed_films(&self) -> Result<Vec<ReviewedFilm>, StoreError> {
        if !self.has_review_queue()? {
            return Ok(Vec::new());
        }
        let what = "read reviewed films";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT q.id, q.record_id, q.file_name, q.image, v.verdict, v.reviewer,
                        v.reviewed_unix_ms
                 FROM review_items q JOIN reviews v ON v.item_id = q.id
                 WHERE q.image IS NOT NULL
                   AND v.seq = (SELECT max(seq) FROM reviews w WHERE w.item_id = q.id)
                 ORDER BY q.id",
            )
            .map_err(|e| sqlite(&self.path, what, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| sqlite(&self.path, what, e))?;
        rows.into_iter()
            .map(
                |(item_id, record_id, file_name, image, verdict, reviewer, at)| {
                    Ok(ReviewedFilm {
                        item_id,
                        record_id,
                        file_name,
                        image,
                        verdict: Verdict::parse(&verdict).ok_or_else(|| StoreError::Corrupt {
                            path: self.path.clone(),
                            problem: format!(
                                "review of item {item_id}: unknown verdict {verdict:?}"
                            ),
                            moved_to: None,
                        })?,
                        reviewer,
                        reviewed_unix_ms: at,
                    })
                },
            )
            .collect()
    }
}
