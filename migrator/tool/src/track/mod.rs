//! `track`: the issue hears back. For every issue whose migrations were applied, rolled back or failed on
//! the database since the last run, one comment on the issue (found again by a hidden marker and updated
//! in place) says where its migrations stand: status, versions, timings, what they change, the rollback
//! reason, the failure.
//!
//! "Since the last run" is a cursor in the database's own `schema_migrations_log`: after a run that
//! reached every issue, an event `tracked` (version 0, detail `github <repo> <env> last=<id>`) records the
//! last log id seen. The next run looks only at issues with events after it. A run that stops half-way
//! (GitHub down, a rate limit past the deadline) records no cursor; the next run redoes those issues, and
//! the marker keeps that from posting twice: an existing comment is updated, and only when its text
//! changes.
//!
//! A host can do the same after its boot, without the tool:
//!
//! ```no_run
//! use migrator_tool::track::{self, TrackOptions};
//! let mut options = TrackOptions::new("acme/crm", "sqlite:app.db");
//! options.token = std::env::var("GITHUB_TOKEN").ok();
//! options.dir = Some("migrations".into());
//! let report = track::run(&options)?;
//! eprintln!("{} posted, {} updated", report.posted.len(), report.updated.len());
//! # Ok::<(), migrator_tool::track::TrackError>(())
//! ```

pub mod comment;
pub mod github;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use migrator_analyse::{Dialect, Options};
use migrator_format::Migration;

use crate::changelog::State;
use crate::changes;
use crate::database::{Access, Database, DatabaseError, History};
use comment::Item;
use github::{GitHub, GitHubError};

/// The log action of the cursor.
pub const CURSOR_ACTION: &str = "tracked";

/// Options of [`run`].
#[derive(Clone)]
pub struct TrackOptions {
    /// `owner/name`.
    pub repo: String,
    /// The API base: `https://api.github.com`, or GitHub Enterprise's `https://HOST/api/v3`.
    pub api_url: String,
    /// The token (from `GITHUB_TOKEN`); GitHub refuses comments without one.
    pub token: Option<String>,
    /// The database.
    pub database_url: String,
    /// The migrations directory: adds what each migration changes, and names issues of versions the
    /// history does not know.
    pub dir: Option<PathBuf>,
    /// A name for the database (`production`, `staging`): each gets its own comment and cursor.
    pub environment: Option<String>,
    /// How long rate limits may be waited out in all.
    pub max_wait: Duration,
    /// Print what would be posted; change nothing on GitHub or in the database.
    pub dry_run: bool,
}

impl std::fmt::Debug for TrackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackOptions")
            .field("repo", &self.repo)
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("dir", &self.dir)
            .field("environment", &self.environment)
            .field("max_wait", &self.max_wait)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl TrackOptions {
    /// Defaults: the public API, no token, no directory, no environment, rate limits waited out for up to
    /// ten minutes.
    pub fn new(repo: &str, database_url: &str) -> Self {
        TrackOptions {
            repo: repo.to_string(),
            api_url: crate::fetch::DEFAULT_API_URL.to_string(),
            token: None,
            database_url: database_url.to_string(),
            dir: None,
            environment: None,
            max_wait: Duration::from_secs(600),
            dry_run: false,
        }
    }
}

/// Problems of [`run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// Bad options (a usage error).
    #[error("{0}")]
    Options(String),
    /// The database could not be read or the cursor written.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// The migration files could not be read.
    #[error("{0}")]
    Files(#[from] migrator_format::SetError),
    /// Some issues could not be updated; the others were, and the cursor was not moved.
    #[error("{} issue(s) could not be updated (run track again: it resumes where it stopped):\n{}", .failures.len(), .failures.iter().map(|(i, e)| format!("  #{i}: {e}")).collect::<Vec<_>>().join("\n"))]
    GitHub {
        /// Each issue and its error.
        failures: Vec<(u32, GitHubError)>,
        /// What was done before.
        done: Box<TrackReport>,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackReport {
    /// Issues that got a new comment (issue, comment id).
    pub posted: Vec<(u32, u64)>,
    /// Issues whose comment was updated.
    pub updated: Vec<(u32, u64)>,
    /// Issues whose comment was already current.
    pub unchanged: Vec<(u32, u64)>,
    /// With `dry_run`: each issue and the comment it would get.
    pub drafts: Vec<(u32, String)>,
    /// The log id the cursor now stands at.
    pub cursor: Option<i64>,
}

fn check_options(o: &TrackOptions) -> Result<(), TrackError> {
    if !crate::fetch::valid_repo(&o.repo) {
        return Err(TrackError::Options(format!(
            "--repo must be owner/name with letters, digits, `-`, `_` and `.`; got {:?}",
            o.repo
        )));
    }
    if !(o.api_url.starts_with("https://") || o.api_url.starts_with("http://")) {
        return Err(TrackError::Options(
            "the API URL must start with http:// or https://".into(),
        ));
    }
    if let Some(env) = &o.environment {
        if env.is_empty()
            || !env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(TrackError::Options(format!(
                "--environment must be letters, digits, `-`, `_` and `.`; got {env:?}"
            )));
        }
    }
    if !o.dry_run && o.token.as_deref().is_none_or(str::is_empty) {
        return Err(TrackError::Options(
            "GITHUB_TOKEN is not set: GitHub accepts comments only with a token (or use --dry-run)"
                .into(),
        ));
    }
    Ok(())
}

/// The cursor's detail for these options: `github acme/crm - last=57`.
fn cursor_prefix(o: &TrackOptions) -> String {
    format!(
        "github {} {} last=",
        o.repo,
        o.environment.as_deref().unwrap_or("-")
    )
}

/// The last log id a previous run reached, from the newest cursor event of these options.
pub fn cursor(history: &History, options: &TrackOptions) -> Option<i64> {
    let prefix = cursor_prefix(options);
    history
        .events
        .iter()
        .rev()
        .filter(|e| e.action == CURSOR_ACTION)
        .find_map(|e| e.detail()?.strip_prefix(&prefix)?.parse().ok())
}

/// The issues with events after `after`, with the versions each has in the history or the files.
fn issues_since(
    history: &History,
    migrations: &[Migration],
    after: Option<i64>,
) -> BTreeMap<u32, BTreeSet<u64>> {
    let issue_of = |version: u64| {
        history
            .row(version)
            .and_then(|r| r.issue)
            .or_else(|| migrations.iter().find(|m| m.version == version)?.issue)
    };
    let touched: BTreeSet<u32> = history
        .events
        .iter()
        .filter(|e| after.is_none_or(|a| e.id > a) && e.version != 0)
        .filter(|e| e.action != CURSOR_ACTION)
        .filter_map(|e| issue_of(e.version))
        .collect();
    let mut out: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for issue in touched {
        let versions = out.entry(issue).or_default();
        versions.extend(
            history
                .rows
                .iter()
                .filter(|r| r.issue == Some(issue))
                .map(|r| r.version),
        );
        versions.extend(
            migrations
                .iter()
                .filter(|m| m.issue == Some(issue))
                .map(|m| m.version),
        );
    }
    out
}

/// The comment items of `versions`.
fn items(
    history: &History,
    migrations: &[Migration],
    versions: &BTreeSet<u64>,
    dialect: Dialect,
) -> Vec<Item> {
    versions
        .iter()
        .map(|&version| {
            let file = migrations.iter().find(|m| m.version == version);
            let row = history.row(version).cloned();
            Item {
                version,
                name: row
                    .as_ref()
                    .map(|r| r.name.clone())
                    .or_else(|| file.map(|m| m.name.to_string()))
                    .unwrap_or_default(),
                summary: file.map(|m| {
                    changes::summarise(&migrator_analyse::analyse(m, Options::new(dialect)))
                }),
                state: State {
                    row,
                    events: history.events_of(version).cloned().collect(),
                },
            }
        })
        .collect()
}

/// Posts or updates the comment of each issue with new events, then moves the cursor.
pub fn run(options: &TrackOptions) -> Result<TrackReport, TrackError> {
    check_options(options)?;
    let access = if options.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let mut db = Database::open(&options.database_url, access)?;
    let history = db.history()?;
    let migrations = match &options.dir {
        Some(dir) => migrator_format::load_dir(dir)?
            .for_engine(history.engine)
            .to_vec(),
        None => Vec::new(),
    };
    let dialect = crate::changelog::dialect_of(Some(&history), Dialect::Postgres);
    let after = cursor(&history, options);
    let issues = issues_since(&history, &migrations, after);
    let last = history.events.iter().map(|e| e.id).max();
    tracing::info!(
        cursor = ?after,
        last = ?last,
        issues = issues.len(),
        "issues with new migration events"
    );
    let github = GitHub::new(
        &options.api_url,
        &options.repo,
        options.token.clone(),
        Instant::now() + options.max_wait,
    );
    let mut report = TrackReport {
        cursor: after,
        ..TrackReport::default()
    };
    let mut failures = Vec::new();
    for (issue, versions) in &issues {
        let body = comment::render(
            *issue,
            options.environment.as_deref(),
            &items(&history, &migrations, versions, dialect),
        );
        if options.dry_run {
            report.drafts.push((*issue, body));
            continue;
        }
        if let Err(e) = publish(&github, options, *issue, &body, &mut report) {
            tracing::warn!(issue, error = %e, "could not update the issue");
            failures.push((*issue, e));
        }
    }
    if !failures.is_empty() {
        return Err(TrackError::GitHub {
            failures,
            done: Box::new(report),
        });
    }
    if let Some(last) = last.filter(|l| !options.dry_run && after.is_none_or(|a| *l > a)) {
        db.record_event(
            0,
            CURSOR_ACTION,
            &format!("{}{last}", cursor_prefix(options)),
        )?;
        report.cursor = Some(last);
    }
    Ok(report)
}

/// Creates the issue's comment, or updates it when its text changed.
fn publish(
    github: &GitHub,
    options: &TrackOptions,
    issue: u32,
    body: &str,
    report: &mut TrackReport,
) -> Result<(), GitHubError> {
    let marker = comment::marker(issue, options.environment.as_deref());
    let existing = github
        .comments(issue)?
        .into_iter()
        .find(|c| comment::is_ours(&c.body, &marker));
    match existing {
        Some(c) if c.body.replace("\r\n", "\n").trim_end() == body.trim_end() => {
            tracing::info!(issue, comment = c.id, "comment already current");
            report.unchanged.push((issue, c.id));
        }
        Some(c) => {
            let c = github.update(c.id, body)?;
            tracing::info!(issue, comment = c.id, "updated the comment");
            report.updated.push((issue, c.id));
        }
        None => {
            let c = github.create(issue, body)?;
            tracing::info!(issue, comment = c.id, "posted a comment");
            report.posted.push((issue, c.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let mut o = TrackOptions::new("acme/crm", "app.db");
        assert!(check_options(&o)
            .unwrap_err()
            .to_string()
            .contains("GITHUB_TOKEN"));
        o.token = Some("t".into());
        assert!(check_options(&o).is_ok());
        o.repo = "../x".into();
        assert!(check_options(&o).is_err());
        o.repo = "acme/crm".into();
        o.environment = Some("prod env".into());
        assert!(check_options(&o).is_err());
        o.environment = None;
        o.api_url = "file:///etc".into();
        assert!(check_options(&o).is_err());
        assert!(!format!("{o:?}").contains("\"t\""));
    }
}
