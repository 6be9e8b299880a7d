//! The review page's HTML: login, the queue, one film, the saved review. Plain server-rendered
//! forms (no script); every value from the store is escaped.

use crate::records::review::{QueueItem, Review, Verdict};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A wall-clock time (ms since 1970) as UTC RFC 3339 to the second.
pub fn time_text(unix_ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

const DISCLAIMER: &str = "The model's finding is a screening aid, not a diagnosis: your verdict \
                          is the clinical judgement recorded.";

fn page(title: &str, user: Option<&str>, csrf: Option<&str>, body: &str) -> String {
    let who = match (user, csrf) {
        (Some(u), Some(t)) => format!(
            "<form method=\"post\" action=\"/logout\" class=\"who\">Signed in as <b id=\"user\">{}</b> \
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Sign out</button></form>",
            esc(u),
            esc(t)
        ),
        _ => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} - edge-screen \
         review</title><style>body{{font-family:sans-serif;margin:1.5em;max-width:70em}}\
         img{{max-width:34em;max-height:34em;border:1px solid #888;margin:.3em}}\
         .who{{float:right}} td,th{{padding:.2em .8em;text-align:left}} button{{margin:.3em;padding:.4em 1em}}\
         </style></head><body>{who}<h1>{t}</h1>{body}<p><small>{d}</small></p></body></html>",
        t = esc(title),
        d = esc(DISCLAIMER)
    )
}

/// The sign-in form; `error` is shown above it.
pub fn login(csrf: &str, error: Option<&str>) -> String {
    let err = error.map_or(String::new(), |e| {
        format!("<p id=\"error\"><b>{}</b></p>", esc(e))
    });
    page(
        "Sign in",
        None,
        None,
        &format!(
            "{err}<form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <p><label>Name <input id=\"name\" name=\"name\" autocomplete=\"username\"></label></p>\
             <p><label>Password <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\"></label></p>\
             <p><button id=\"signin\">Sign in</button></p></form>",
            esc(csrf)
        ),
    )
}

fn probability(item: &QueueItem) -> String {
    match (item.covid_probability, item.threshold) {
        (Some(p), Some(t)) => format!("{p:.3} (threshold {t:.3})"),
        (Some(p), None) => format!("{p:.3}"),
        _ => "none given".into(),
    }
}

fn verdicts(reviews: &[&Review]) -> String {
    if reviews.is_empty() {
        return "not reviewed".into();
    }
    reviews
        .iter()
        .map(|r| {
            format!(
                "{} by {} at {}",
                esc(r.verdict.label()),
                esc(&r.reviewer),
                time_text(r.reviewed_unix_ms)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The queue: items waiting (or, with `all`, every item).
pub fn queue(items: &[QueueItem], all: bool, user: &str, csrf: &str) -> String {
    let rows: String = items
        .iter()
        .map(|i| {
            format!(
                "<tr><td><a class=\"item\" href=\"/item/{id}\">#{id}</a></td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                time_text(i.queued_unix_ms),
                esc(&i.finding),
                probability(i),
                esc(&i.file_name),
                verdicts(&i.current_reviews()),
                id = i.id
            )
        })
        .collect();
    let (title, other) = if all {
        (
            "All flagged films",
            "<a href=\"/\">Only films waiting for review</a>",
        )
    } else {
        (
            "Films waiting for review",
            "<a href=\"/?all=1\">All flagged films</a>",
        )
    };
    let table = if items.is_empty() {
        "<p id=\"empty\">Nothing here.</p>".to_string()
    } else {
        format!(
            "<table><tr><th>Item</th><th>Queued (UTC)</th><th>Model finding</th>\
             <th>COVID probability</th><th>File</th><th>Reviews</th></tr>{rows}</table>"
        )
    };
    page(
        title,
        Some(user),
        Some(csrf),
        &format!("<p>{other}</p>{table}"),
    )
}

/// One film: the film and its heatmap, what the model said, and the three verdicts.
pub fn item(item: &QueueItem, film_viewable: bool, user: &str, csrf: &str) -> String {
    let film = if !item.has_image {
        "<p>The film itself was not kept (too large).</p>".to_string()
    } else if film_viewable {
        format!(
            "<img id=\"film\" alt=\"the film\" src=\"/item/{}/film\">",
            item.id
        )
    } else {
        format!(
            "<p><a href=\"/item/{}/film\">Download the film</a> (not an image a browser shows, \
             e.g. DICOM)</p>",
            item.id
        )
    };
    let heatmap = if item.has_heatmap {
        format!(
            "<img id=\"heatmap\" alt=\"the model's heatmap\" src=\"/item/{}/heatmap\">",
            item.id
        )
    } else {
        "<p>No heatmap was kept for this film.</p>".to_string()
    };
    let buttons: String = [Verdict::Covid, Verdict::Normal, Verdict::NotAssessable]
        .iter()
        .map(|v| {
            format!(
                "<button id=\"verdict-{n}\" name=\"verdict\" value=\"{n}\">{}</button>",
                esc(v.label()),
                n = v.name()
            )
        })
        .collect();
    let body = format!(
        "<p><a href=\"/\">Back to the queue</a></p>\
         <table><tr><th>Model finding</th><td id=\"finding\">{}</td></tr>\
         <tr><th>COVID probability</th><td id=\"probability\">{}</td></tr>\
         <tr><th>Model</th><td>{} {} (SHA-256 {})</td></tr>\
         <tr><th>Record (session)</th><td id=\"record\">{} revision {}</td></tr>\
         <tr><th>File</th><td>{}</td></tr><tr><th>Queued (UTC)</th><td>{}</td></tr>\
         <tr><th>Reviews</th><td id=\"reviews\">{}</td></tr></table>\
         <div>{film}{heatmap}</div><p><small>Heatmap: red towards COVID, blue towards normal; it \
         shows where the model's evidence lies, not where disease is.</small></p>\
         <form method=\"post\" action=\"/item/{id}/review\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label>Note (optional) <input id=\"note\" name=\"note\" size=\"60\" maxlength=\"2000\"></label></p>\
         <p>Your verdict: {buttons}</p></form>",
        esc(&item.finding),
        probability(item),
        esc(&item.model_name),
        esc(&item.model_version),
        esc(item.model_sha256.as_deref().unwrap_or("unknown")),
        esc(&item.record_id),
        item.revision,
        esc(&item.file_name),
        time_text(item.queued_unix_ms),
        verdicts(&item.current_reviews()),
        id = item.id,
        csrf = esc(csrf),
    );
    page(&format!("Film #{}", item.id), Some(user), Some(csrf), &body)
}

/// After a review is saved.
pub fn done(review: &Review, next: Option<i64>, user: &str, csrf: &str) -> String {
    let next = match next {
        Some(n) => format!("<a id=\"next\" href=\"/item/{n}\">Next film waiting (#{n})</a>"),
        None => "No more films are waiting.".into(),
    };
    page(
        "Review saved",
        Some(user),
        Some(csrf),
        &format!(
            "<p id=\"saved\">Film #{} marked <b>{}</b> by {} at {} UTC.</p><p>{next}</p>\
             <p><a href=\"/\">Back to the queue</a></p>",
            review.item_id,
            esc(review.verdict.label()),
            esc(&review.reviewer),
            time_text(review.reviewed_unix_ms)
        ),
    )
}

/// A short error page.
pub fn error(title: &str, message: &str) -> String {
    page(
        title,
        None,
        None,
        &format!(
            "<p>{}</p><p><a href=\"/\">Start again</a></p>",
            esc(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_values_are_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let p = login("tok\"en", Some("<script>"));
        assert!(p.contains("value=\"tok&quot;en\""));
        assert!(!p.contains("<script>"));
    }

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(time_text(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
