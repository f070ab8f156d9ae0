//! The `-- ============ MIGRATION METRICS ============` footer of a migration file, filled from the offline
//! analysis (`migrator-analyse`): tables affected, indexes created, blocking statements, the rollback's
//! reach and the lint findings. Row counts and times need a database: offline they read "unknown offline"
//! and point to `--migrate-preview`, which has them.
//!
//! Only the footer block changes (from its marker line to the end of the file; a file without one gets it
//! appended), the rest of the text is kept byte for byte, and a file whose footer is already current is not
//! written at all: running it twice changes nothing. The footer is part of the file's checksum, so fill it
//! before the migration is applied anywhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use migrator_analyse::{Action, Analysis, Dialect, ObjectKind, Options, Section, Severity};

use crate::write::{write_all, PlannedFile};

/// The footer's marker line, as the generator writes it.
pub const MARKER: &str = "-- ============ MIGRATION METRICS ============";

/// What can go wrong filling footers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The file or directory cannot be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The file is not a well-formed migration (the footer is only filled in files the runtime accepts).
    #[error("{0}")]
    Format(#[from] migrator_format::FormatError),
    /// The file name is not valid UTF-8.
    #[error("{0}: the file name is not valid UTF-8")]
    FileName(PathBuf),
    /// Writing failed; the file is unchanged.
    #[error(transparent)]
    Write(#[from] crate::GenError),
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The footer was written (or would be, with `check`).
    Updated,
    /// The footer was already current.
    Unchanged,
}

/// Figures measured on a database (`metrics --database-url`, from `migrator::preview`), already worded
/// for the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The server, as it reports itself (`PostgreSQL 15.8`).
    pub database: String,
    /// `~50,000` (with its qualifier, e.g. `at most`).
    pub rows: String,
    /// The UP's estimated (or measured) time.
    pub time: String,
    /// The DOWN's estimated time.
    pub rollback_time: String,
}

/// The footer lines (marker included) for one analysed migration; `live` fills rows and times.
pub fn footer(analysis: &Analysis, live: Option<&Live>) -> Vec<String> {
    let up: Vec<_> = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
        .collect();
    let down: Vec<_> = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Down)
        .collect();
    let tables: BTreeSet<&str> = up
        .iter()
        .flat_map(|s| &s.tables)
        .map(|t| t.table.as_str())
        .filter(|t| !t.starts_with("schema_migrations"))
        .collect();
    let indexes = up
        .iter()
        .flat_map(|s| &s.objects)
        .filter(|o| o.object == ObjectKind::Index && o.action == Action::Create)
        .count();
    let mut updated: Vec<String> = up
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "UPDATE" | "DELETE" | "INSERT"))
        .flat_map(|s| {
            s.tables
                .iter()
                .map(move |t| format!("{} on {}", s.kind, t.table))
        })
        .filter(|w| !w.contains("schema_migrations"))
        .collect();
    updated.dedup();
    let issue = analysis
        .issue
        .map_or_else(|| "pending".to_string(), |i| i.to_string());
    let mut lines = vec![
        MARKER.to_string(),
        format!(
            "-- Tables affected: {} ({})",
            tables.len(),
            tables.iter().copied().collect::<Vec<_>>().join(", ")
        ),
        format!(
            "-- Rows affected: {}{}",
            live.map_or("unknown offline", |l| l.rows.as_str()),
            if updated.is_empty() {
                String::new()
            } else {
                format!(" ({})", updated.join(", "))
            }
        ),
        format!("-- Indexes created: {indexes}"),
        match live {
            Some(l) => format!("-- Estimated time: {} (on {})", l.time, l.database),
            None => format!(
                "-- Estimated time: unknown offline (`app --migrate-preview {issue}` measures it on the database)"
            ),
        },
    ];
    lines.extend(blocking(analysis, &up));
    let dropped: Vec<&str> = down
        .iter()
        .flat_map(|s| &s.objects)
        .filter(|o| {
            o.action == Action::Drop && matches!(o.object, ObjectKind::Table | ObjectKind::Column)
        })
        .map(|o| o.name.as_str())
        .collect();
    lines.push(if down.is_empty() {
        "-- Rollback time: no DOWN (cannot be rolled back)".to_string()
    } else {
        format!(
            "-- Rollback time: {} ({} statements{})",
            live.map_or("unknown offline", |l| l.rollback_time.as_str()),
            down.len(),
            if dropped.is_empty() {
                String::new()
            } else {
                format!("; drops {}", dropped.join(", "))
            }
        )
    });
    let count = |sev: Severity| {
        analysis
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none() && f.severity == sev)
            .count()
    };
    let allowed = analysis
        .findings
        .iter()
        .filter(|f| f.suppressed.is_some())
        .count();
    lines.push(format!(
        "-- Findings: errors {}, warnings {}, info {}, allowed {allowed} (migrator-tool lint)",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    ));
    lines.push(format!(
        "-- Analysed for: {}",
        match analysis.pg_version {
            Some(v) => format!("PostgreSQL {v}"),
            None => "SQLite".to_string(),
        }
    ));
    lines
}

/// `Blocking:` lines: UP statements whose lock makes writes (or reads) wait on a table that exists before
/// the migration. SQLite has one line: its write lock covers the whole migration.
fn blocking(analysis: &Analysis, up: &[&migrator_analyse::StatementAnalysis]) -> Vec<String> {
    if analysis.dialect == Dialect::Sqlite {
        return vec![format!(
            "-- Blocking: SQLite write lock for the whole migration ({} statements)",
            up.len()
        )];
    }
    let created: BTreeSet<&str> = up
        .iter()
        .flat_map(|s| &s.objects)
        .filter(|o| o.object == ObjectKind::Table && o.action == Action::Create)
        .map(|o| o.name.as_str())
        .collect();
    let mut lines = Vec::new();
    for s in up {
        for t in s.tables.iter().filter(|t| {
            t.blocks_writes
                && !created.contains(t.table.as_str())
                && !t.table.starts_with("schema_migrations")
        }) {
            let waits = if t.blocks_reads {
                "reads and writes wait"
            } else {
                "writes wait"
            };
            let how_long = if t.brief { "brief" } else { "while it works" };
            lines.push(format!(
                "-- Blocking: line {} {}: {} on {} ({waits}, {how_long})",
                s.line,
                s.kind,
                t.lock.sql_name(),
                t.table
            ));
        }
    }
    if lines.is_empty() {
        lines.push("-- Blocking: none on existing tables".to_string());
    }
    lines
}

/// The key of a footer line: `Blocking` of `-- Blocking: ...`.
fn key(line: &str) -> Option<&str> {
    let (key, _) = line.trim().strip_prefix("--")?.split_once(':')?;
    Some(key.trim())
}

/// `text` with its footer replaced by `footer` (or appended when it has none). Lines of the old footer
/// with a key `footer` does not write (`-- Rollback lossy: ...`, a team's own notes) are kept, after the
/// new lines, in their order. Line ends follow the file (CRLF when its first line ends so).
pub fn fill(text: &str, footer: &[String]) -> String {
    let eol = if text.split('\n').next().is_some_and(|l| l.ends_with('\r')) {
        "\r\n"
    } else {
        "\n"
    };
    let ours: BTreeSet<&str> = footer.iter().filter_map(|l| key(l)).collect();
    let mut kept = String::with_capacity(text.len());
    let mut others: Vec<&str> = Vec::new();
    let mut found = false;
    for line in text.split_inclusive('\n') {
        if found {
            let line = line.trim_end_matches(['\r', '\n']);
            if !line.trim().is_empty() && key(line).is_none_or(|k| !ours.contains(k)) {
                others.push(line);
            }
        } else if migrator_format::is_metrics_marker(line) {
            found = true;
        } else {
            kept.push_str(line);
        }
    }
    if !found {
        if !kept.is_empty() && !kept.ends_with('\n') {
            kept.push_str(eol);
        }
        if !kept.is_empty() && !kept.ends_with(&format!("{eol}{eol}")) {
            kept.push_str(eol);
        }
    }
    for line in footer.iter().map(String::as_str).chain(others) {
        kept.push_str(line);
        kept.push_str(eol);
    }
    kept
}

/// Fills the footer of one migration file (atomically: a temporary file renamed over it), with `live`
/// figures when given. With `check` nothing is written; the outcome says whether it would be.
pub fn fill_file(
    path: &Path,
    options: Options,
    check: bool,
    live: Option<&Live>,
) -> Result<Outcome, MetricsError> {
    let read = |e: std::io::Error| MetricsError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let text = std::fs::read_to_string(path).map_err(read)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| MetricsError::FileName(path.to_path_buf()))?;
    let migration = migrator_format::parse_file(name, &text)?;
    let analysis = migrator_analyse::analyse(&migration, options);
    let filled = fill(&text, &footer(&analysis, live));
    if filled == text {
        tracing::info!(path = %path.display(), "footer unchanged");
        return Ok(Outcome::Unchanged);
    }
    if !check {
        write_all(&[PlannedFile {
            path: path.to_path_buf(),
            contents: filled,
        }])?;
        tracing::info!(path = %path.display(), "footer written");
    }
    Ok(Outcome::Updated)
}

/// The migration files a path names: the file itself, or every migration file of a directory.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, MetricsError> {
    if path.is_dir() {
        migrator_format::migration_files(path).map_err(|e| MetricsError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    } else {
        Ok(vec![path.to_path_buf()])
    }
}
