use std::fmt;
use std::time::Duration;

use crate::{Direction, Status};

/// Everything that can stop a boot or an admin command. Every variant says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Migration files that cannot be read or parsed (run-time loading; the macro refuses them at compile
    /// time).
    #[error("the migration files cannot be read:\n{0}")]
    Files(#[from] migrator_format::SetError),
    /// The embedded set and `schema_migrations` disagree: the boot is refused before anything runs.
    #[error("refusing to migrate: the migrations in this binary do not match schema_migrations\n{}", list(.0))]
    Validation(Vec<ValidationProblem>),
    /// A migration failed; the database is as it was before that migration.
    #[error(transparent)]
    Migration(Box<MigrationError>),
    /// The write lock (or the PostgreSQL advisory lock) could not be had in time.
    #[error("could not take the migration lock within {}: {message}\nwhat to do: another process is migrating this database or holds a long write transaction; wait and retry, or raise the lock timeout", seconds(*.waited))]
    Lock {
        /// How long we waited.
        waited: Duration,
        /// The database's message.
        message: String,
    },
    /// A database call outside a migration failed (reading or writing history, taking the lock).
    #[error("database error while {context}: {message}")]
    Database {
        /// What the runtime was doing.
        context: String,
        /// The database's message.
        message: String,
    },
    /// A rollback or reapply named an issue with nothing to act on.
    #[error("issue #{issue} has no {what} migration in this database{}\nwhat to do: check the number with --migrate-history", known_issues(.known))]
    UnknownIssue {
        /// The issue asked for.
        issue: u32,
        /// `applied` or `rolled-back`.
        what: &'static str,
        /// Issues that do have such migrations.
        known: Vec<u32>,
    },
    /// A rollback that would break something, refused before anything runs.
    #[error("refusing to roll back issue #{issue}: {reason}")]
    RollbackRefused {
        /// The issue.
        issue: u32,
        /// Why, and what to do.
        reason: String,
    },
    /// Pending migrations hold statements the policy wants reviewed, and their files carry no review mark.
    #[error("refusing to migrate: statements that need a review (require_review) in files without a review mark\n{}\nwhat to do: have someone review the migration and add a header line `-- Reviewed-by: <name>` to its file (the mark is part of the checksum, so the reviewed text is what runs)", unreviewed_list(.0))]
    ReviewRequired(Vec<crate::review::Unreviewed>),
    /// Pending UPDATE/DELETE statements would touch more rows than `max_rows_affected`: refused before
    /// anything runs.
    #[error("refusing to migrate: UPDATE/DELETE statements would touch more rows than max_rows_affected ({}) allows\n{}\nwhat to do: backfill in batches instead, from a background job that repeats a bounded statement until it touches no row, as the spec's Complex Migration Example does:\n    UPDATE users SET email_verified = true\n    WHERE id IN (SELECT id FROM users WHERE email_verified IS NULL LIMIT 1000);\nIf one pass is right for this migration, add `-- migrator:allow {} <reason>` to its file, or raise max_rows_affected", thousands(*.limit), row_limit_list(.over), crate::execute::ROW_LIMIT_ALLOW)]
    RowLimit {
        /// The configured `max_rows_affected`.
        limit: u64,
        /// The statements over it.
        over: Vec<RowLimitHit>,
    },
    /// The backup the policy requires could not be made or checked: nothing was applied.
    #[error("backup failed, nothing was applied: {0}\nwhat to do: fix the cause (disk space, permissions, pg_dump on PATH), or set require_backup = false in the configuration if this database needs no backup")]
    Backup(String),
    /// The health checks failed after applying; `outcome` says what was done about it.
    #[error("health checks failed after applying {}:\n{}\n{outcome}", versions(.applied), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    HealthCheck {
        /// What failed.
        problems: Vec<String>,
        /// The versions this boot applied.
        applied: Vec<u64>,
        /// What the runtime did (rolled back, restored, kept) and what to do next.
        outcome: String,
    },
    /// The rehearsal on a scratch copy failed: the real database was not touched.
    #[error("rehearsal on a scratch copy failed at the {phase} of {file} (version {version}); the real database was not touched\n{detail}{}\nwhat to do: {}", differences_list(.differences), phase.advice())]
    Rehearsal {
        /// The migration.
        version: u64,
        /// Its file.
        file: String,
        /// Which step failed.
        phase: crate::RehearsalPhase,
        /// What went wrong.
        detail: String,
        /// For a DOWN that does not restore the schema (or an UP again that does not rebuild it): the
        /// objects that differ.
        differences: Vec<String>,
    },
    /// The operator answered no to a confirmation.
    #[error("{0}")]
    Cancelled(String),
    /// Wrong use of the API or the admin flags.
    #[error("{0}")]
    Usage(String),
    /// `--migrate-preview` named an issue this binary carries no migration for.
    #[error("issue #{issue} has no migration in this migration set{}\nwhat to do: check the number with --migrate-status", known_issues(.known))]
    NoSuchIssue {
        /// The issue asked for.
        issue: u32,
        /// Issues the binary has migrations for.
        known: Vec<u32>,
    },
}

fn versions(v: &[u64]) -> String {
    v.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn list(problems: &[ValidationProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn unreviewed_list(found: &[crate::review::Unreviewed]) -> String {
    found
        .iter()
        .map(|u| {
            format!(
                "  - {}:{} ({}): {}: {}",
                u.file, u.line, u.version, u.kind, u.statement
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn differences_list(differences: &[String]) -> String {
    differences.iter().map(|d| format!("\n  - {d}")).collect()
}

fn row_limit_list(over: &[RowLimitHit]) -> String {
    over.iter()
        .map(|h| {
            format!(
                "  - {}:{} (migration {}): about {} rows: {}",
                h.file,
                h.line,
                h.version,
                thousands(h.rows),
                h.statement.lines().next().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An UPDATE or DELETE whose row estimate exceeds `max_rows_affected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowLimitHit {
    /// Migration version.
    pub version: u64,
    /// Its file.
    pub file: String,
    /// Line of the statement in the file.
    pub line: u32,
    /// The statement (shortened when long).
    pub statement: String,
    /// The estimate: SQLite counts the rows the WHERE selects, PostgreSQL's planner estimates them.
    pub rows: u64,
}

fn known_issues(known: &[u32]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = known.iter().map(|i| format!("#{i}")).collect();
        format!(" (issues that have: {})", names.join(", "))
    }
}

/// One reason the embedded set and the history disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationProblem {
    /// An applied migration's file changed.
    #[error("migration {version} ({file}) was edited after it was applied: checksum in schema_migrations {applied_checksum}, in this binary {embedded_checksum}. Restore the file as it was applied and put the change in a new migration; if the edit is deliberate and harmless (a comment), record the new checksum with --migrate-repair {version}")]
    Drifted {
        /// Version.
        version: u64,
        /// File name.
        file: String,
        /// Checksum recorded in `schema_migrations`.
        applied_checksum: String,
        /// Checksum embedded in this binary.
        embedded_checksum: String,
    },
    /// A migration recorded in the database is not in this binary.
    #[error("migration {version} ({name}{}) is {status} in schema_migrations but missing from this binary. Restore its file; if you just added it, rebuild (a build.rs with `println!(\"cargo:rerun-if-changed=migrations\");` makes new files trigger rebuilds); if this binary is older than the database, deploy the newer one", issue_suffix(*.issue))]
    Missing {
        /// Version.
        version: u64,
        /// Name recorded.
        name: String,
        /// Issue recorded.
        issue: Option<u32>,
        /// Status recorded.
        status: Status,
    },
    /// A pending migration is older than the newest applied one.
    #[error("migration {version} ({file}) is pending but older than the newest applied migration {newest_applied}. Give it a newer timestamp (rename the file), or allow out-of-order application in the configuration")]
    OutOfOrder {
        /// Version.
        version: u64,
        /// File name.
        file: String,
        /// Newest applied version.
        newest_applied: u64,
    },
    /// A no-transaction migration failed or was interrupted part way.
    #[error("migration {version} ({file}) is recorded as {status}{}: it ran without a transaction, so part of it may be in the database. Check what its statements left behind (for CREATE INDEX CONCURRENTLY: an INVALID index), undo or finish it by hand, then mark it with --migrate-mark {version} applied or --migrate-mark {version} rolled_back", error_suffix(.error))]
    Interrupted {
        /// Version.
        version: u64,
        /// File name.
        file: String,
        /// `running` or `failed`.
        status: Status,
        /// The recorded error.
        error: Option<String>,
    },
}

fn issue_suffix(issue: Option<u32>) -> String {
    issue.map(|i| format!(", issue #{i}")).unwrap_or_default()
}

fn error_suffix(error: &Option<String>) -> String {
    error
        .as_ref()
        .map(|e| format!(" (error: {e})"))
        .unwrap_or_default()
}

/// A migration that failed, with everything needed to find and fix the statement.
#[derive(Debug, Clone)]
pub struct MigrationError {
    /// Version of the failed migration.
    pub version: u64,
    /// Its file.
    pub file: String,
    /// Its issue.
    pub issue: Option<u32>,
    /// UP or DOWN.
    pub direction: Direction,
    /// 1-based index of the failing statement in the section (0 when the failure is not a statement's).
    pub statement_index: usize,
    /// Number of statements in the section.
    pub statement_count: usize,
    /// Line of the failing statement in the file.
    pub line: u32,
    /// The statement (shortened when long).
    pub sql: String,
    /// The database's own message.
    pub db_message: String,
    /// Versions this run completed before the failure; they stay in force.
    pub completed: Vec<u64>,
    /// `true` when the database rolled back the whole run (SQLite does so on some errors, such as a full
    /// disk): then nothing of this run is kept.
    pub run_rolled_back: bool,
    /// Engine name for the message (`SQLite`, `PostgreSQL`).
    pub engine: &'static str,
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issue = self
            .issue
            .map(|i| format!(", issue #{i}"))
            .unwrap_or_default();
        if self.statement_index > 0 {
            writeln!(
                f,
                "migration {} failed: {} of {}{issue}, statement {} of {} at line {}:",
                self.version,
                self.direction,
                self.file,
                self.statement_index,
                self.statement_count,
                self.line
            )?;
            for line in self.sql.lines() {
                writeln!(f, "    {line}")?;
            }
        } else {
            writeln!(
                f,
                "migration {} failed: {} of {}{issue}:",
                self.version, self.direction, self.file
            )?;
        }
        writeln!(f, "  {} said: {}", self.engine, self.db_message)?;
        let kept = self.completed.len();
        if self.run_rolled_back {
            writeln!(
                f,
                "  The database rolled back the whole run: this migration and the {kept} before it in this run are not applied."
            )?;
        } else {
            writeln!(
                f,
                "  Nothing of this migration was applied; {kept} earlier migration(s) of this run stay applied."
            )?;
        }
        if self
            .db_message
            .contains("cannot run inside a transaction block")
            || self
                .db_message
                .contains("cannot be executed inside a transaction")
        {
            writeln!(
                f,
                "  This statement cannot run in a transaction: add the line `-- migrator:no-transaction` to the file's header, so its statements run one by one (a failure part way then needs an operator, see --migrate-mark)."
            )?;
        }
        match self.direction {
            Direction::Up => write!(
                f,
                "  What to do: fix the statement in {} (it is not recorded as applied, so editing it is allowed), rebuild and start again.",
                self.file
            ),
            Direction::Down => write!(
                f,
                "  What to do: fix the DOWN section of {} or undo the change by hand; the migration is still recorded as applied.",
                self.file
            ),
        }
    }
}

impl std::error::Error for MigrationError {}
