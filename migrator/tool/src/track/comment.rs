//! The issue comment `track` keeps current: a hidden marker that finds it again, the status of the issue's
//! migrations on the database (versions, timings, rollback reasons, failures), what they change (the
//! analyser's summary), and the events that led there.

use std::fmt::Write as _;

use migrator::Status;

use crate::changelog::{self, State};
use crate::changes::Summary;

/// Events shown in a comment; older ones are counted, not listed.
const MAX_EVENTS: usize = 50;

/// The longest body written (GitHub's limit is 65,536 characters).
const MAX_BODY: usize = 60_000;

/// One migration of the issue, as the comment shows it.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its version.
    pub version: u64,
    /// Its name.
    pub name: String,
    /// Its state on the database.
    pub state: State,
    /// What it changes (when the migration files were given).
    pub summary: Option<Summary>,
}

/// The hidden marker of the comment of `issue` (and `environment`): the first line of its body.
pub fn marker(issue: u32, environment: Option<&str>) -> String {
    match environment {
        Some(env) => format!("<!-- migrator-track issue={issue} env={env} -->"),
        None => format!("<!-- migrator-track issue={issue} -->"),
    }
}

/// Whether `body` is the comment of this marker.
pub fn is_ours(body: &str, marker: &str) -> bool {
    body.lines().next().map(str::trim) == Some(marker)
}

/// Text from the database or an operator, made inert for Markdown: no HTML, no table breaks, one line.
fn inert(text: &str) -> String {
    changelog::quote(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

fn status_word(state: &State) -> &'static str {
    match state.row.as_ref().map(|r| r.status) {
        None => "pending",
        Some(Status::Applied) => "applied",
        Some(Status::RolledBack) => "rolled back",
        Some(Status::Failed) => "failed",
        Some(Status::Running) => "running",
    }
}

/// The issue's status in a few words: `applied`, `rolled back`, `failed`, `2 applied, 1 rolled back`.
pub fn headline(items: &[Item]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for i in items {
        let w = status_word(&i.state);
        match counts.iter_mut().find(|(word, _)| *word == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    if let [(word, _)] = counts[..] {
        return word.to_string();
    }
    counts
        .iter()
        .map(|(w, n)| format!("{n} {w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comment's Markdown.
pub fn render(issue: u32, environment: Option<&str>, items: &[Item]) -> String {
    let mut out = marker(issue, environment);
    let place = environment
        .map(|e| format!(" on `{}`", inert(e).trim_matches('"')))
        .unwrap_or_default();
    let _ = write!(
        out,
        "\n### Migrations of #{issue}{place}: {}\n\n",
        headline(items)
    );
    out.push_str("| version | migration | status | applied at | took | rolled back at |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for i in items {
        let row = i.state.row.as_ref();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |",
            i.version,
            i.name,
            status_word(&i.state),
            row.map_or("", |r| r.applied_at.as_str()),
            row.and_then(|r| r.execution_ms)
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_default(),
            row.and_then(|r| r.rolled_back_at.as_deref())
                .unwrap_or_default(),
        );
    }
    for i in items {
        let row = i.state.row.as_ref();
        match row.map(|r| r.status) {
            Some(Status::RolledBack) => {
                let reason = i
                    .state
                    .rollback_reason()
                    .map_or_else(|| "none recorded".to_string(), inert);
                let _ = write!(out, "\n**Rollback reason** ({}): {reason}\n", i.version);
            }
            Some(Status::Failed) => {
                let error = row
                    .and_then(|r| r.error.as_deref())
                    .unwrap_or("(no message)");
                let _ = write!(out, "\n**Failure** ({}): {}\n", i.version, inert(error));
            }
            _ => {}
        }
    }
    // GitHub refuses comments over 65,536 characters: the changes go first, then the events.
    let mut changes = String::new();
    render_changes(&mut changes, items);
    let mut events = String::new();
    render_events(&mut events, items);
    if out.len() + changes.len() + events.len() > MAX_BODY {
        changes =
            "\n(What the migrations change is left out: the comment would be too long.)\n".into();
    }
    if out.len() + changes.len() + events.len() > MAX_BODY {
        events = String::new();
    }
    out.push_str(&changes);
    out.push_str(&events);
    out.push_str("\n<sub>Kept current by `migrator-tool track` from the database's `schema_migrations_log`; this comment is updated in place.</sub>\n");
    out
}

fn render_changes(out: &mut String, items: &[Item]) {
    if items.iter().all(|i| i.summary.is_none()) {
        return;
    }
    out.push_str("\n<details><summary>What the migrations change</summary>\n");
    for i in items {
        if let Some(summary) = &i.summary {
            let _ = write!(out, "\n**{} `{}`**\n\n", i.version, i.name);
            changelog::render_summary(out, summary);
        }
    }
    out.push_str("\n</details>\n");
}

fn render_events(out: &mut String, items: &[Item]) {
    let mut events: Vec<(i64, String)> = items
        .iter()
        .flat_map(|i| {
            i.state.events.iter().map(move |e| {
                let mut line = format!("{} {} {}", e.at, i.version, e.action.replace('_', " "));
                if let Some(ms) = e.duration_ms {
                    let _ = write!(line, " ({ms} ms)");
                }
                if let Some(d) = e.detail() {
                    let _ = write!(line, ": {}", inert(d));
                }
                (e.id, line)
            })
        })
        .collect();
    if events.is_empty() {
        return;
    }
    events.sort();
    out.push_str("\n<details><summary>Events</summary>\n\n");
    let skipped = events.len().saturating_sub(MAX_EVENTS);
    if skipped > 0 {
        let _ = writeln!(out, "- ({skipped} earlier events not shown)");
    }
    for (_, line) in &events[skipped..] {
        let _ = writeln!(out, "- {line}");
    }
    out.push_str("\n</details>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_comments_stay_under_the_limit() {
        use crate::changes::{Change, Summary};
        let item = |version| Item {
            version,
            name: "big".into(),
            state: State {
                row: None,
                events: Vec::new(),
            },
            summary: Some(Summary {
                changes: vec![
                    Change {
                        text: "x".repeat(1000),
                        breaking: false,
                    };
                    3
                ],
                warnings: Vec::new(),
            }),
        };
        let items: Vec<Item> = (0..10).map(item).collect();
        let body = render(1, None, &items);
        assert!(body.len() < MAX_BODY && body.contains("xxxx"));
        let items: Vec<Item> = (0..100).map(item).collect();
        let body = render(1, None, &items);
        assert!(body.len() <= MAX_BODY, "{}", body.len());
        assert!(body.contains("left out"));
    }

    #[test]
    fn markers_and_inert_text() {
        let m = marker(234, Some("production"));
        assert!(is_ours(&format!("{m}\nbody"), &m));
        assert!(!is_ours(&format!("quoted:\n{m}"), &m));
        assert!(!is_ours(&marker(23, None), &marker(234, None)));
        assert_eq!(inert("<!-- x --> | y"), "\"&lt;!-- x --&gt; \\| y\"");
    }
}
