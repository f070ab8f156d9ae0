//! The migration changelog: every migration of a directory grouped by issue, newest first, with what it
//! changes in words (from the offline analysis) and, given a database, what happened to it there
//! (applied when, rolled back when and why, failed with what).
//!
//! Data flows one way: files → [`migrator_analyse::analyse`] → [`crate::changes::summarise`] →
//! [`Changelog`] (+ the database's [`History`]) → [`render`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use migrator::{HistoryRow, Status};
use migrator_analyse::{Dialect, Options};
use migrator_format::Migration;

use crate::changes::{self, Summary};
use crate::database::{EventKind, History, LogEvent};
use crate::output::Links;

/// Where a slice of the changelog starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Migrations newer than this version (the last one of the previous release).
    Version(u64),
    /// Migrations from this day on (`YYYY-MM-DD`, compared with the version's timestamp).
    Date(u64),
}

impl Since {
    /// Reads `20240112091533` or `2024-01-12`.
    pub fn parse(text: &str) -> Result<Since, String> {
        let t = text.trim();
        if t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse()
                .map(Since::Version)
                .map_err(|_| format!("--since {text:?}: not a version"));
        }
        let parts: Vec<&str> = t.split('-').collect();
        let ok = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if let [y, m, d] = parts[..] {
            if ok(y, 4) && ok(m, 2) && ok(d, 2) {
                let (m_n, d_n): (u32, u32) = (m.parse().unwrap_or(0), d.parse().unwrap_or(0));
                if (1..=12).contains(&m_n) && (1..=31).contains(&d_n) {
                    let day: u64 = format!("{y}{m}{d}").parse().unwrap_or(0);
                    return Ok(Since::Date(day * 1_000_000));
                }
            }
        }
        Err(format!(
            "--since {text:?}: use a migration version (YYYYMMDDHHMMSS) or a date (YYYY-MM-DD)"
        ))
    }

    /// Whether `version` is in the slice.
    pub fn includes(self, version: u64) -> bool {
        match self {
            Since::Version(v) => version > v,
            Since::Date(start) => version >= start,
        }
    }
}

/// What happened to a migration on the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Its `schema_migrations` row; `None`: never run there (pending).
    pub row: Option<HistoryRow>,
    /// Its applied, rolled back and failed events, oldest first.
    pub events: Vec<LogEvent>,
}

impl State {
    /// The reason given for the latest rollback, when it is rolled back.
    pub fn rollback_reason(&self) -> Option<&str> {
        if self.row.as_ref()?.status != Status::RolledBack {
            return None;
        }
        self.events
            .iter()
            .rev()
            .find(|e| e.kind() == EventKind::RolledBack)?
            .detail()
    }
}

/// One migration of the changelog.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its version.
    pub version: u64,
    /// Its name.
    pub name: String,
    /// Its file name.
    pub file: String,
    /// `-- Generated:` of the header.
    pub generated: Option<String>,
    /// `-- Downtime Required:` of the header.
    pub downtime: Option<String>,
    /// What it changes.
    pub summary: Summary,
    /// With a database: what happened to it there.
    pub state: Option<State>,
}

/// The migrations of one issue (or of none), newest first.
#[derive(Debug, Clone)]
pub struct IssueGroup {
    /// The issue.
    pub issue: Option<u32>,
    /// Its title, from the newest migration's header that has one.
    pub title: Option<String>,
    /// Its migrations, newest first.
    pub entries: Vec<Entry>,
}

/// The whole changelog: issues ordered by their newest migration, newest first.
#[derive(Debug, Clone)]
pub struct Changelog {
    /// The groups.
    pub groups: Vec<IssueGroup>,
    /// The slice asked for.
    pub since: Option<Since>,
    /// Whether a database's states are included.
    pub with_states: bool,
}

/// The dialect to analyse for: the database's engine when one is given.
pub fn dialect_of(history: Option<&History>, default: Dialect) -> Dialect {
    match history.map(|h| h.engine) {
        Some(migrator::EngineKind::Sqlite) => Dialect::Sqlite,
        Some(migrator::EngineKind::Postgres) => Dialect::Postgres,
        Some(migrator::EngineKind::MySql) | None => default,
    }
}

/// Builds the changelog of `migrations` (any order), analysed for `dialect`, with the database's
/// `history` when given.
pub fn build(
    migrations: &[Migration],
    dialect: Dialect,
    since: Option<Since>,
    history: Option<&History>,
) -> Changelog {
    let mut groups: BTreeMap<Option<u32>, Vec<&Migration>> = BTreeMap::new();
    for m in migrations
        .iter()
        .filter(|m| since.is_none_or(|s| s.includes(m.version)))
    {
        groups.entry(m.issue).or_default().push(m);
    }
    let mut groups: Vec<IssueGroup> = groups
        .into_iter()
        .map(|(issue, mut ms)| {
            ms.sort_by_key(|m| std::cmp::Reverse(m.version));
            IssueGroup {
                issue,
                title: ms
                    .iter()
                    .find_map(|m| m.title.as_deref().map(str::to_string)),
                entries: ms.iter().map(|m| entry(m, dialect, history)).collect(),
            }
        })
        .collect();
    groups
        .sort_by_key(|g| std::cmp::Reverse((g.entries.first().map_or(0, |e| e.version), g.issue)));
    Changelog {
        groups,
        since,
        with_states: history.is_some(),
    }
}

fn entry(m: &Migration, dialect: Dialect, history: Option<&History>) -> Entry {
    let analysis = migrator_analyse::analyse(m, Options::new(dialect));
    Entry {
        version: m.version,
        name: m.name.to_string(),
        file: m.file_name.to_string(),
        generated: m.header.generated.as_deref().map(str::to_string),
        downtime: m.header.downtime_required.as_deref().map(str::to_string),
        summary: changes::summarise(&analysis),
        state: history.map(|h| State {
            row: h.row(m.version).cloned(),
            events: h
                .events_of(m.version)
                .filter(|e| e.kind() != EventKind::Other)
                .cloned()
                .collect(),
        }),
    }
}

/// A one-line state: `applied 2024-01-15 14:35:02 (12 ms)`, `rolled back ... : reason`, `pending`.
pub fn state_line(state: &State) -> String {
    let Some(row) = &state.row else {
        return "pending (not run on this database)".to_string();
    };
    match row.status {
        Status::Applied => format!("applied {}{}", row.applied_at, took(row.execution_ms)),
        Status::RolledBack => {
            let mut s = format!(
                "rolled back {}",
                row.rolled_back_at.as_deref().unwrap_or("(time unknown)")
            );
            match state.rollback_reason() {
                Some(reason) => {
                    let _ = write!(s, ": {}", quote(reason));
                }
                None => s.push_str(" (no reason recorded)"),
            }
            s
        }
        Status::Failed => format!(
            "failed: {}",
            quote(row.error.as_deref().unwrap_or("(no message)"))
        ),
        Status::Running => "running: started without a transaction and not finished".to_string(),
    }
}

/// One event: `2024-01-15 14:35:02 applied (12 ms)`.
pub fn event_line(e: &LogEvent) -> String {
    let what = match e.kind() {
        EventKind::Applied => "applied".to_string(),
        EventKind::RolledBack => "rolled back".to_string(),
        EventKind::Failed => e.action.replace('_', " "),
        EventKind::Other => e.action.clone(),
    };
    let mut s = format!("{} {what}{}", e.at, took(e.duration_ms));
    if let Some(d) = e.detail() {
        let _ = write!(s, ": {}", quote(d));
    }
    s
}

fn took(ms: Option<i64>) -> String {
    ms.map(|ms| format!(" ({ms} ms)")).unwrap_or_default()
}

/// A detail on one line, in quotes, at most 300 characters.
pub fn quote(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = one.chars().take(300).collect();
    let ellipsis = if short.len() < one.len() { "…" } else { "" };
    format!("\"{short}{ellipsis}\"")
}

/// The changes of a summary as Markdown bullets (breaking ones marked), then its warnings.
pub fn render_summary(out: &mut String, summary: &Summary) {
    if summary.changes.is_empty() {
        out.push_str("- no schema change\n");
    }
    for c in &summary.changes {
        let mark = if c.breaking { "**breaking:** " } else { "" };
        let _ = writeln!(out, "- {mark}{}", c.text);
    }
    for w in &summary.warnings {
        let _ = writeln!(out, "- {} `{}`: {}", w.severity, w.id, w.message);
    }
}

/// The changelog as Markdown. `source` names the migrations directory in the introduction.
pub fn render(log: &Changelog, links: &Links, source: &str) -> String {
    let mut out = String::from("# Migration changelog\n\n");
    let _ = writeln!(
        out,
        "The migrations of `{source}`, grouped by issue, newest first; what each changes comes from \
         the offline analysis of its UP section. Written by `migrator-tool changelog`: edit the \
         migrations, not this file."
    );
    match log.since {
        Some(Since::Version(v)) => {
            let _ = write!(out, "\nMigrations after version {v}.\n");
        }
        Some(Since::Date(d)) => {
            let d = d / 1_000_000;
            let _ = write!(
                out,
                "\nMigrations from {:04}-{:02}-{:02} on.\n",
                d / 10_000,
                d / 100 % 100,
                d % 100
            );
        }
        None => {}
    }
    if log.groups.is_empty() {
        out.push_str("\nNo migrations.\n");
    }
    for g in &log.groups {
        let heading = match (g.issue, &g.title) {
            (Some(n), Some(t)) => format!("{}: {t}", links.issue(n)),
            (Some(n), None) => links.issue(n),
            (None, _) => "Without an issue".to_string(),
        };
        let _ = write!(out, "\n## {heading}\n");
        for e in &g.entries {
            render_entry(&mut out, e, links);
        }
    }
    out
}

fn render_entry(out: &mut String, e: &Entry, links: &Links) {
    let _ = write!(
        out,
        "\n### {} `{}`\n\n{}",
        e.version,
        e.name,
        links.migration(&e.file)
    );
    if let Some(g) = &e.generated {
        let _ = write!(out, " · generated {g}");
    }
    if let Some(d) = &e.downtime {
        let _ = write!(out, " · downtime: {d}");
    }
    out.push_str("\n\n");
    render_summary(out, &e.summary);
    if let Some(state) = &e.state {
        let _ = write!(out, "\nOn the database: {}.\n", state_line(state));
        if !state.events.is_empty() {
            out.push('\n');
            for ev in &state.events {
                let _ = writeln!(out, "- {}", event_line(ev));
            }
        }
    }
}

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct ChangelogOptions {
    /// The migrations directory.
    pub dir: PathBuf,
    /// The dialect when no database is given.
    pub dialect: Dialect,
    /// A database whose states to include (`--database-url`).
    pub database_url: Option<String>,
    /// The slice.
    pub since: Option<Since>,
    /// How to link the migrations and issues.
    pub links: Links,
}

/// Problems building the changelog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangelogError {
    /// A migration file is malformed or the directory unreadable.
    #[error("{0}")]
    Files(#[from] migrator_format::SetError),
    /// The database could not be read.
    #[error(transparent)]
    Database(#[from] crate::database::DatabaseError),
}

/// Loads, analyses and renders the changelog of `options`.
pub fn run(options: &ChangelogOptions) -> Result<String, ChangelogError> {
    let history = match &options.database_url {
        Some(url) => {
            Some(crate::database::Database::open(url, crate::database::Access::Read)?.history()?)
        }
        None => None,
    };
    let migrations = migrator_format::load_dir(&options.dir)?;
    let dialect = dialect_of(history.as_ref(), options.dialect);
    let log = build(&migrations, dialect, options.since, history.as_ref());
    let source = options
        .dir
        .file_name()
        .map_or_else(|| "migrations".into(), |n| n.to_string_lossy().into_owned());
    Ok(render(&log, &options.links, &source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_versions_and_dates() {
        assert_eq!(
            Since::parse("20240112091533"),
            Ok(Since::Version(20240112091533))
        );
        assert_eq!(Since::parse("2024-01-12"), Ok(Since::Date(20240112000000)));
        assert!(Since::parse("2024-13-01").is_err());
        assert!(Since::parse("yesterday")
            .unwrap_err()
            .contains("YYYY-MM-DD"));
        assert!(!Since::Version(20240112091533).includes(20240112091533));
        assert!(Since::Version(20240112091533).includes(20240112091534));
        assert!(Since::Date(20240112000000).includes(20240112000000));
        assert!(!Since::Date(20240112000000).includes(20240111235959));
    }

    #[test]
    fn quotes_are_one_short_line() {
        assert_eq!(quote("a\n  b"), "\"a b\"");
        assert_eq!(quote(&"x".repeat(400)).chars().count(), 303);
    }
}
