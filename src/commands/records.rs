//! `edge-screen records list|show|export|verify`: the record store, read-only (safe while the
//! daemon runs: SQLite's WAL lets readers and the daemon's writer work at once).

use super::{failed, usage};
use crate::cli::RecordsAction;
use crate::config::Settings;
use crate::records::store::{unix_ms_now, Record, Store, StoreError};
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

pub(super) fn run(settings: &Settings, action: &RecordsAction) -> anyhow::Result<()> {
    let path = &settings.records.path;
    let open = || Store::open_read_only(path).map_err(|e| failed(format!("records: {e}")));
    match action {
        RecordsAction::List { since, json } => {
            let since = parse_since(since.as_deref())?;
            let store = open()?;
            let records = store.list(since).map_err(store_failed)?;
            for r in &records {
                if *json {
                    out!("{}", serde_json::to_string(&with_reviews(&store, r)?)?)?;
                } else {
                    out!("{}", line(r))?;
                }
            }
            if !json {
                log::info!("{} records in {}", records.len(), path.display());
            }
            Ok(())
        }
        RecordsAction::Show { id } => {
            let store = open()?;
            let r = store.get(id).map_err(store_failed)?;
            out!(
                "{}",
                serde_json::to_string_pretty(&with_reviews(&store, &r)?)?
            )?;
            Ok(())
        }
        RecordsAction::Export {
            format,
            since,
            out: file,
        } => {
            let since = parse_since(since.as_deref())?;
            if !matches!(format.as_str(), "csv" | "jsonl") {
                return Err(usage(format!(
                    "records export --format {format:?}: expected csv or jsonl"
                )));
            }
            let records = open()?.list(since).map_err(store_failed)?;
            let mut w: Box<dyn Write> = match file {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                    |e| failed(format!("records export --out {}: {e}", p.display())),
                )?)),
                None => Box::new(std::io::stdout().lock()),
            };
            if format == "csv" {
                write_csv(&mut w, &records)?;
            } else {
                for r in &records {
                    writeln!(w, "{}", serde_json::to_string(r)?)?;
                }
            }
            w.flush()?;
            Ok(())
        }
        RecordsAction::Verify { json } => {
            let v = open()?.verify().map_err(store_failed)?;
            if *json {
                out!("{}", serde_json::to_string(&v)?)?;
            } else {
                out!("database:    {}", v.path)?;
                out!("integrity:   {}", v.integrity)?;
                out!("schema:      version {}", v.schema_version)?;
                out!("records:     {}", v.records)?;
                out!("delivered:   {}", v.delivered)?;
                out!("pending:     {}", v.pending)?;
                out!(
                    "local only:  {} (saved while the uplink was off)",
                    v.local_only
                )?;
            }
            if v.integrity != "ok" {
                return Err(failed(format!(
                    "records verify: {}: integrity check failed: {}",
                    v.path, v.integrity
                )));
            }
            Ok(())
        }
    }
}

/// A record as JSON with `reviews` added: one object per clinician review of its flagged X-rays
/// (the review queue's item, the film, the verdict, who and when), oldest first.
fn with_reviews(store: &Store, r: &Record) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(r)?;
    let mut reviews = Vec::new();
    for item in store.review_items_of(&r.id).map_err(store_failed)? {
        for rev in &item.reviews {
            reviews.push(serde_json::json!({
                "item_id": item.id,
                "file": item.file_name,
                "finding": item.finding,
                "verdict": rev.verdict,
                "reviewer": rev.reviewer,
                "note": rev.note,
                "reviewed_unix_ms": rev.reviewed_unix_ms,
                "reviewed_utc": utc(rev.reviewed_unix_ms),
            }));
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert("reviews".into(), reviews.into());
    }
    Ok(v)
}

fn store_failed(e: StoreError) -> anyhow::Error {
    failed(format!("records: {e}"))
}

/// `--since`: a date, a date and time (UTC unless an offset is given), or an age (`2h`, `7d`).
fn parse_since(text: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(t) = text.map(str::trim) else {
        return Ok(None);
    };
    if let Ok(age) = humantime::parse_duration(t) {
        return Ok(Some(unix_ms_now() - age.as_millis() as i64));
    }
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    let time = humantime::parse_rfc3339_weak(full.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|e| {
            usage(format!(
                "--since {t:?}: {e}; expected e.g. 2026-11-30, 2026-11-30T14:00:00Z or 7d"
            ))
        })?;
    Ok(Some(
        time.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    ))
}

/// UTC time of a record, to the second.
fn utc(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn breathing_text(r: &Record) -> String {
    let Some(b) = &r.breathing else {
        return "not measured".into();
    };
    if b["insufficient_signal"].as_bool() == Some(true) {
        return "insufficient signal".into();
    }
    let pattern = b["pattern"].as_str().unwrap_or("--");
    match b["rate_bpm"].as_f64() {
        Some(rate) => format!("{pattern} {rate:.1}/min"),
        None => pattern.to_string(),
    }
}

fn xray_text(r: &Record) -> String {
    match &r.xray {
        None => "no x-ray".into(),
        Some(x) => match (x["covid_probability"].as_f64(), x["scope_reason"].as_str()) {
            (Some(p), _) => format!("x-ray {} ({p:.2})", x["finding"].as_str().unwrap_or("?")),
            (None, reason) => format!("x-ray out_of_scope ({})", reason.unwrap_or("?")),
        },
    }
}

fn line(r: &Record) -> String {
    format!(
        "{}  {}  {:<30} refer {:.2}  {}  {}{}",
        utc(r.result_unix_ms),
        r.id,
        r.outcome,
        r.refer_probability,
        breathing_text(r),
        xray_text(r),
        if r.revision > 0 {
            format!("  (revision {})", r.revision)
        } else {
            String::new()
        }
    )
}

fn write_csv(w: &mut dyn Write, records: &[Record]) -> anyhow::Result<()> {
    let mut c = csv::Writer::from_writer(w);
    c.write_record([
        "id",
        "device_id",
        "revision",
        "started_utc",
        "result_utc",
        "outcome",
        "refer_probability",
        "breathing_pattern",
        "breathing_rate_bpm",
        "insufficient_signal",
        "xray_file",
        "xray_image_sha256",
        "xray_covid_probability",
        "xray_finding",
        "xray_scope_reason",
        "models",
        "software_version",
    ])?;
    for r in records {
        let b = r.breathing.as_ref();
        let x = r.xray.as_ref();
        let field = |v: Option<&serde_json::Value>, k: &str| -> String {
            match v.map(|v| &v[k]) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(serde_json::Value::Number(n)) if !n.is_i64() => {
                    format!("{:.4}", n.as_f64().unwrap_or(f64::NAN))
                }
                Some(other) => other.to_string(),
            }
        };
        let models = r
            .models
            .iter()
            .map(|m| {
                format!(
                    "{}:{}@{}",
                    m.role,
                    m.name,
                    &m.sha256[..m.sha256.len().min(12)]
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        c.write_record([
            r.id.clone(),
            r.device_id.clone(),
            r.revision.to_string(),
            r.started_unix_ms.map(utc).unwrap_or_default(),
            utc(r.result_unix_ms),
            r.outcome.clone(),
            format!("{:.4}", r.refer_probability),
            field(b, "pattern"),
            field(b, "rate_bpm"),
            field(b, "insufficient_signal"),
            field(x, "file"),
            field(x, "image_sha256"),
            field(x, "covid_probability"),
            field(x, "finding"),
            field(x, "scope_reason"),
            models,
            r.software_version.clone(),
        ])?;
    }
    c.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_times_and_ages() {
        assert_eq!(
            parse_since(Some("2026-11-30")).unwrap(),
            Some(1_795_996_800_000)
        );
        assert_eq!(
            parse_since(Some("2026-11-30T14:00:00Z")).unwrap(),
            Some(1_795_996_800_000 + 14 * 3_600_000)
        );
        let age = parse_since(Some("2h")).unwrap().unwrap();
        let expect = unix_ms_now() - 7_200_000;
        assert!((age - expect).abs() < 5_000, "{age} vs {expect}");
        let err = parse_since(Some("yesterday")).unwrap_err().to_string();
        assert!(err.contains("--since \"yesterday\""), "{err}");
    }

    #[test]
    fn utc_is_rfc3339_to_the_second() {
        assert_eq!(utc(1_795_996_800_000), "2026-11-30T00:00:00Z");
    }
}
