//! `edge-screen review list|show|mark|passwd|serve`: the clinicians' review queue on the command
//! line, the password file of the review page, and the page itself without the camera pipeline
//! (for tests and a clinic laptop holding a copy of the store).

use super::{failed, usage};
use crate::cli::ReviewAction;
use crate::config::Settings;
use crate::records::review::{QueueItem, Verdict};
use crate::records::store::{unix_ms_now, Store, StoreError};
use crate::review::pages::time_text;
use crate::review::password::{self, Credential};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub(super) fn run(settings: &Settings, action: &ReviewAction) -> anyhow::Result<()> {
    let path = &settings.records.path;
    match action {
        ReviewAction::List { all, json } => list(&open(path)?, *all, *json),
        ReviewAction::Show { id, out, json } => show(&open(path)?, *id, out.as_deref(), *json),
        ReviewAction::Mark {
            id,
            verdict,
            reviewer,
            note,
        } => {
            let v = Verdict::parse(verdict).ok_or_else(|| {
                usage(format!(
                    "review mark --verdict {verdict:?}: expected covid, normal or not-assessable"
                ))
            })?;
            let r = open(path)?
                .add_review(*id, reviewer, v, note.as_deref(), unix_ms_now())
                .map_err(|e| match e {
                    StoreError::BadReview { problem, .. } => {
                        usage(format!("review mark: {problem}"))
                    }
                    e => store_failed(e),
                })?;
            out!(
                "film #{} marked {} by {} at {}",
                r.item_id,
                r.verdict.label(),
                r.reviewer,
                time_text(r.reviewed_unix_ms)
            )?;
            Ok(())
        }
        ReviewAction::Passwd { name, file } => passwd(name, file),
        ReviewAction::Serve { listen } => serve(settings, listen.as_deref()),
    }
}

/// The store, read-write (a review is written; an older file is migrated). A missing file is an
/// error, not a new empty store.
fn open(path: &Path) -> anyhow::Result<Store> {
    if !path.exists() {
        return Err(store_failed(StoreError::Missing {
            path: path.to_path_buf(),
        }));
    }
    let (store, problem) = Store::open(path).map_err(store_failed)?;
    if let Some(p) = problem {
        return Err(failed(format!("review: {p}")));
    }
    Ok(store)
}

fn store_failed(e: StoreError) -> anyhow::Error {
    failed(format!("review: {e}"))
}

fn probability_text(i: &QueueItem) -> String {
    match (i.covid_probability, i.threshold) {
        (Some(p), Some(t)) => format!("p={p:.3} (threshold {t:.3})"),
        (Some(p), None) => format!("p={p:.3}"),
        _ => "no probability".into(),
    }
}

fn reviews_text(i: &QueueItem) -> String {
    let current = i.current_reviews();
    if current.is_empty() {
        return "waiting for review".into();
    }
    current
        .iter()
        .map(|r| {
            format!(
                "{} by {} at {}",
                r.verdict.name(),
                r.reviewer,
                time_text(r.reviewed_unix_ms)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn list(store: &Store, all: bool, json: bool) -> anyhow::Result<()> {
    let items = store.review_queue(all).map_err(store_failed)?;
    for i in &items {
        if json {
            out!("{}", serde_json::to_string(i)?)?;
        } else {
            out!(
                "#{:<5} {}  {}  {:<12} {}  {}  {}",
                i.id,
                time_text(i.queued_unix_ms),
                i.record_id,
                i.finding,
                probability_text(i),
                i.file_name,
                reviews_text(i)
            )?;
        }
    }
    if !json {
        log::info!("{} items", items.len());
    }
    Ok(())
}

fn show(store: &Store, id: i64, out: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let item = store.review_item(id).map_err(store_failed)?;
    let mut written = Vec::new();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("review show --out {}: {e}", dir.display())))?;
        let (film, heatmap) = store.review_images(id).map_err(store_failed)?;
        // Only the file name's last component, whatever the stored name holds.
        let name = Path::new(&item.file_name)
            .file_name()
            .map_or_else(|| "film".into(), |n| n.to_string_lossy().into_owned());
        for (bytes, file) in [
            (film, format!("{id}-{name}")),
            (heatmap, format!("{id}-{name}.heatmap.png")),
        ] {
            if let Some(b) = bytes {
                let p = dir.join(file);
                std::fs::write(&p, b)
                    .map_err(|e| failed(format!("review show --out: {}: {e}", p.display())))?;
                written.push(p);
            }
        }
    }
    if json {
        out!("{}", serde_json::to_string_pretty(&item)?)?;
    } else {
        out!("film #{} ({})", item.id, item.file_name)?;
        out!("record:      {} revision {}", item.record_id, item.revision)?;
        out!("queued:      {}", time_text(item.queued_unix_ms))?;
        out!(
            "finding:     {} (the model's; a screening aid, not a diagnosis)",
            item.finding
        )?;
        out!("probability: {}", probability_text(&item))?;
        out!(
            "model:       {} {} sha256 {}",
            item.model_name,
            item.model_version,
            item.model_sha256.as_deref().unwrap_or("unknown")
        )?;
        out!(
            "film sha256: {}",
            item.image_sha256.as_deref().unwrap_or("unknown")
        )?;
        out!("reviews:     {}", reviews_text(&item))?;
        for r in &item.reviews {
            out!(
                "  {}  {:<14} {}{}",
                time_text(r.reviewed_unix_ms),
                r.verdict.name(),
                r.reviewer,
                r.note
                    .as_deref()
                    .map(|n| format!("  \"{n}\""))
                    .unwrap_or_default()
            )?;
        }
    }
    for p in written {
        if json {
            log::info!("wrote {}", p.display());
        } else {
            out!("wrote {}", p.display())?;
        }
    }
    Ok(())
}

/// `review passwd NAME --file F`: reads the password (the first line of standard input; typed
/// without echo on a terminal) and writes NAME's salted hash line.
fn passwd(name: &str, file: &Path) -> anyhow::Result<()> {
    let password = read_password(name)?;
    let cred =
        Credential::new(name, &password).map_err(|e| usage(format!("review passwd: {e}")))?;
    password::store(file, &cred).map_err(|e| failed(format!("review passwd --file {e}")))?;
    eprintln!("{}: password of {name} set", file.display());
    Ok(())
}

fn read_password(name: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("password for {name}: ");
    }
    let echo = tty.then(|| set_echo(false));
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(Some(old)) = echo {
        restore_echo(&old);
        eprintln!();
    }
    r.map_err(|e| failed(format!("review passwd: reading the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Turns the terminal's echo off; returns the settings to restore.
fn set_echo(on: bool) -> Option<libc::termios> {
    // SAFETY: tcgetattr/tcsetattr on standard input with a zeroed termios they fill in.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let old = t;
        if on {
            t.c_lflag |= libc::ECHO;
        } else {
            t.c_lflag &= !libc::ECHO;
        }
        (libc::tcsetattr(0, libc::TCSANOW, &t) == 0).then_some(old)
    }
}

fn restore_echo(old: &libc::termios) {
    // SAFETY: restores settings tcgetattr gave.
    unsafe {
        libc::tcsetattr(0, libc::TCSANOW, old);
    }
}

/// `review serve`: the review page alone, until SIGINT or SIGTERM.
fn serve(settings: &Settings, listen: Option<&str>) -> anyhow::Result<()> {
    let mut rs = settings.review.clone();
    if let Some(text) = listen {
        rs.listen = text.parse().map_err(|_| {
            usage(format!(
                "review serve --listen {text:?}: expected ADDRESS:PORT, e.g. 127.0.0.1:9755"
            ))
        })?;
    }
    if rs.password_file.is_none() {
        return Err(usage(
            "review serve: no [review] password_file in the configuration; create one with \
             `edge-screen review passwd NAME --file FILE` and set it",
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let running = crate::review::start(&rs, &settings.records.path, Arc::clone(&stop))
        .map_err(usage)?
        .ok_or_else(|| usage("review serve: the review page is off"))?;
    // The address on standard output (tests and scripts read it; port 0 picks a free one).
    out!("review page: http://{}/", running.addr)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                },
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    });
    stop.store(true, Ordering::SeqCst);
    let _ = running.handle.join();
    log::info!("review page stopped");
    Ok(())
}
