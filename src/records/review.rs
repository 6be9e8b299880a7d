//! The clinician review queue's data: flagged chest X-rays waiting for a human, and the verdicts
//! reviewers give them (`edge-screen review`, the review web page).
//!
//! Every X-ray whose finding is not `normal` (a `covid` flag, an `out_of_scope` refusal) is queued
//! in the record store in the same transaction as its record, with what a reviewer needs even when
//! records keep no images: the film, its heatmap, the probability, the threshold and the model. A
//! review says who, when, and one of three verdicts; reviews are never overwritten, and the latest
//! per reviewer counts. The model's output stays a screening aid: the verdict is the clinician's.

use serde::Serialize;

/// Longest heatmap PNG kept with a queued item (an overlay is at most 512 px a side: ~1 MB).
pub const MAX_HEATMAP_BYTES: u64 = 16 << 20;

/// Longest note kept with a review, bytes.
pub const MAX_NOTE_BYTES: usize = 2000;

/// Longest reviewer name, bytes.
pub const MAX_REVIEWER_BYTES: usize = 64;

/// A reviewer's verdict on one film.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Confirmed COVID-19 on the film.
    Covid,
    /// Normal film.
    Normal,
    /// The film cannot be assessed (quality, view, not a chest film).
    NotAssessable,
}

impl Verdict {
    /// `covid`, `normal` or `not_assessable` (as stored and printed).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Covid => "covid",
            Verdict::Normal => "normal",
            Verdict::NotAssessable => "not_assessable",
        }
    }

    /// Parses a stored name, or the command-line spelling (`not-assessable`).
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "covid" => Some(Verdict::Covid),
            "normal" => Some(Verdict::Normal),
            "not_assessable" | "not-assessable" => Some(Verdict::NotAssessable),
            _ => None,
        }
    }

    /// What a reviewer reads on a button or in a list.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Covid => "confirmed COVID",
            Verdict::Normal => "normal",
            Verdict::NotAssessable => "not assessable",
        }
    }
}

/// One review as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    /// The queued item reviewed.
    pub item_id: i64,
    /// Who (the logged-in user, or `--reviewer`).
    pub reviewer: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Free text, if any.
    pub note: Option<String>,
    /// When (wall clock, ms since 1970).
    pub reviewed_unix_ms: i64,
}

/// A queued film without its bytes (lists, `review show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    /// The item's number in the queue (`review show ID`).
    pub id: i64,
    /// The record (session id) the film belongs to.
    pub record_id: String,
    /// The record's revision that brought the film.
    pub revision: u32,
    /// When it was queued (wall clock, ms).
    pub queued_unix_ms: i64,
    /// The model's finding (`covid`, `out_of_scope`, ...: anything but `normal`).
    pub finding: String,
    /// The model's covid probability, when it gave one.
    pub covid_probability: Option<f64>,
    /// The operating threshold in use.
    pub threshold: Option<f64>,
    /// The model's name.
    pub model_name: String,
    /// The model's version.
    pub model_version: String,
    /// SHA-256 of the model file, when known.
    pub model_sha256: Option<String>,
    /// The film's file name.
    pub file_name: String,
    /// SHA-256 of the film, when it could be read.
    pub image_sha256: Option<String>,
    /// Whether the film's bytes are kept (a film over the size bound is not).
    pub has_image: bool,
    /// Whether its heatmap is kept.
    pub has_heatmap: bool,
    /// Every review, oldest first (a later one by the same reviewer replaces theirs).
    pub reviews: Vec<Review>,
}

impl QueueItem {
    /// The reviews that count: the latest of each reviewer, oldest first.
    pub fn current_reviews(&self) -> Vec<&Review> {
        let mut out: Vec<&Review> = Vec::new();
        for r in &self.reviews {
            out.retain(|o| o.reviewer != r.reviewer);
            out.push(r);
        }
        out
    }

    /// Whether no one has reviewed it yet.
    pub fn is_pending(&self) -> bool {
        self.reviews.is_empty()
    }
}

/// A reviewed film for site validation (`xray-validate --from-reviews`): the latest review of
/// each reviewed item, with the film. Callers drop `not_assessable` ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedFilm {
    /// The queued item.
    pub item_id: i64,
    /// The record (session id).
    pub record_id: String,
    /// The film's file name.
    pub file_name: String,
    /// The film's bytes.
    pub image: Vec<u8>,
    /// The latest verdict.
    pub verdict: Verdict,
    /// Who gave it.
    pub reviewer: String,
    /// When (wall clock, ms).
    pub reviewed_unix_ms: i64,
}

/// Why a reviewer's name cannot be used, if it cannot: 1 to [`MAX_REVIEWER_BYTES`] bytes of
/// letters, digits, `.`, `_`, `-` or `@` (it is a field of the password file and of every review).
pub fn check_reviewer(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_REVIEWER_BYTES {
        return Err(format!(
            "reviewer name {name:?}: must be 1 to {MAX_REVIEWER_BYTES} bytes"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(format!(
            "reviewer name {name:?}: {c:?} is not allowed (letters, digits, . _ - @)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_round_trip_and_accept_the_cli_spelling() {
        for v in [Verdict::Covid, Verdict::Normal, Verdict::NotAssessable] {
            assert_eq!(Verdict::parse(v.name()), Some(v));
        }
        assert_eq!(
            Verdict::parse("not-assessable"),
            Some(Verdict::NotAssessable)
        );
        assert_eq!(Verdict::parse("positive"), None);
    }

    #[test]
    fn reviewer_names_are_checked() {
        assert!(check_reviewer("dr.ana-maria@clinic").is_ok());
        assert!(check_reviewer("").is_err());
        let e = check_reviewer("a:b").unwrap_err();
        assert!(e.contains("':'"), "{e}");
        assert!(check_reviewer(&"x".repeat(65)).is_err());
    }
}
