use std::fmt;
use std::time::Duration;

use crate::engine::{DbError, Direction};
use crate::Status;

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
    /// The migration lock (or a lock on the history table) could not be had in time.
    #[error("could not take the migration lock within {}: {message}\nwhat to do: another process is migrating this database or holds a long transaction; wait and retry, or raise {setting}", seconds(*.waited))]
    Lock {
        /// How long we waited.
        waited: Duration,
        /// What held it, as far as the database says.
        message: String,
        /// The setting that bounds the wait (`lock_wait`).
        setting: &'static str,
    },
    /// The migration lock was lost while this process was migrating (its connection died, for example
    /// killed by `idle_session_timeout`): the run stopped; what it completed stays, nothing ran twice.
    #[error("the migration lock was lost while migrating: {message}\nwhat to do: nothing was applied twice (each migration claims its history row first); start again to finish what is pending, and check why the lock's connection died (idle_session_timeout, a firewall, a killed session)")]
    LockLost {
        /// What happened to it.
        message: String,
    },
    /// Another process applied (or rolled back, or is running) this migration while this one was about
    /// to: the claim of its history row found it done. Nothing was run.
    #[error("migration {version} ({file}) was {} by another process while this one was about to: this process stopped without running it (the migration lock was lost or bypassed)\nwhat to do: nothing for this migration; start again to see the current state", if *.direction == Direction::Up { "applied" } else { "rolled back" })]
    AlreadyDone {
        /// The version.
        version: u64,
        /// Its file.
        file: String,
        /// UP or DOWN.
        direction: Direction,
    },
    /// A database call outside a migration failed (reading or writing history, taking the lock).
    #[error("database error while {context}: {source}")]
    Database {
        /// What the runtime was doing.
        context: String,
        /// The database's error, with its DETAIL and HINT.
        source: DbError,
    },
    /// The policy needs something this engine cannot do: refused before anything runs.
    #[error("the {engine} engine cannot make {capability}, which {setting} asks for; nothing was done\nwhat to do: turn {setting} off for this database, or use an engine (or a connection, such as a backend made from a URL) that offers {capability}")]
    MissingCapability {
        /// The engine.
        engine: &'static str,
        /// What it lacks.
        capability: &'static str,
        /// The setting that needs it.
        setting: &'static str,
    },
    /// An action that loses data needs the operator's confirmation (`--yes`).
    #[error("{0}\nwhat to do: answer yes to go on, or pass --yes")]
    NeedsConfirmation(String),
    /// An operator action that cannot be done as asked; nothing was changed.
    #[error("{0}")]
    Refused(String),
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
    #[error("refusing to roll back {target}: {reason}")]
    RollbackRefused {
        /// What was to be rolled back (`issue #234`, `version(s) ...`).
        target: String,
        /// Why, and what to do.
        reason: String,
    },
    /// Pending migrations hold statements the policy wants reviewed, and their files carry no review mark.
    #[error("refusing to migrate: statements that need a review (require_review) in files without a review mark\n{}\nwhat to do: have someone review the migration, then add a header line `-- Reviewed-by: <name>` to its file (the mark is part of the checksum, so the reviewed text is what runs), or list it under `reviewed:` in migration_safety.yaml (`<version>: <name>`; for files in diesel, sqlx or refinery layouts, whose checksums must not change)", unreviewed_list(.0))]
    ReviewRequired(Vec<crate::review::Unreviewed>),
    /// Pending UPDATE/DELETE statements would touch more rows than `max_rows_affected`: refused before
    /// anything runs.
    #[error("refusing to migrate: UPDATE/DELETE statements would touch more rows than max_rows_affected ({}) allows\n{}\nwhat to do: make it a backfill migration, which runs the UPDATE in batches of key ranges (each a short transaction that records its cursor, resumable, never above the limit): give the UPDATE a migration of its own and add the directive\n    -- migrator:backfill table=<table> key=<integer key column> batch=1000\nto its header (`--migrate-backfill` runs it when the boot defers it). If one pass is right for this migration, add `-- migrator:allow {} <reason>` to its file, or raise max_rows_affected", thousands(*.limit), row_limit_list(.over), crate::run::ROW_LIMIT_ALLOW)]
    RowLimit {
        /// The configured `max_rows_affected`.
        limit: u64,
        /// The statements over it.
        over: Vec<RowLimitHit>,
    },
    /// A backup, a restore or a scratch copy could not be made or checked; the message says which, and
    /// that nothing was changed.
    #[error("{0}")]
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
    /// The rehearsal found problems (every one, in order): the real database was not touched (a rehearsal
    /// on a scratch copy), or everything the run did was rolled back (a rehearsal in the run's own
    /// transaction).
    #[error("rehearsal {place} found {} problem(s) in {rehearsed} migration(s); {outcome}\n{}", .findings.len(), findings_list(.findings), outcome = if .place.starts_with("on") { "the real database was not touched" } else { "all of it was rolled back: the database is as it was before this run" })]
    Rehearsal {
        /// Where it ran: "on a scratch copy", or "in the run's transaction".
        place: &'static str,
        /// What was found.
        findings: Vec<crate::RehearsalFinding>,
        /// How many migrations the rehearsal covered.
        rehearsed: usize,
    },
    /// The operator answered no to a confirmation.
    #[error("{0}")]
    Cancelled(String),
    /// A batch of a backfill migration failed; the earlier batches stay, the migration is `failed` and
    /// resumes at its cursor when started again.
    #[error(transparent)]
    Backfill(Box<crate::backfill::BackfillError>),
    /// A stop was requested ([`crate::backfill::Stop`], or the async call's future was dropped): the run
    /// stopped at a safe point; what it completed stays, nothing is half done.
    #[error("{0}")]
    Stopped(String),
    /// Wrong use of the API or the admin flags.
    #[error("{0}")]
    Usage(String),
    /// The output (a report, a listing, a JSON document) could not be written: a closed pipe, a full disk.
    /// What the action did to the database is done; only its printout is lost.
    #[error("cannot write {what}: {source}")]
    Output {
        /// What was being written.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
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

fn findings_list(findings: &[crate::RehearsalFinding]) -> String {
    findings
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{}. {f}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
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
pub(crate) fn thousands(n: u64) -> String {
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

impl ValidationProblem {
    /// `true` for a migration recorded `running`: interrupted, or being run right now by another process
    /// that holds the migration lock (only the lock can tell).
    pub fn may_be_in_progress(&self) -> bool {
        matches!(
            self,
            ValidationProblem::Interrupted {
                status: Status::Running,
                ..
            }
        )
    }
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
    /// The database's own error, with its DETAIL and HINT.
    pub db_error: DbError,
    /// What else the engine found (locks other sessions hold, INVALID indexes left behind).
    pub diagnosis: Option<String>,
    /// Versions this run completed before the failure; they stay in force.
    pub completed: Vec<u64>,
    /// `true` when the database rolled back the whole run (SQLite does so on some errors, such as a full
    /// disk): then nothing of this run is kept.
    pub run_rolled_back: bool,
    /// `true` when the migration ran without a transaction (`no-transaction`, or an engine without
    /// transactional DDL): the statements before the failing one stay.
    pub without_transaction: bool,
    /// How many of its statements ran and stayed (without a transaction).
    pub statements_kept: usize,
    /// Engine name for the message (`SQLite`, `PostgreSQL`, `MySQL`).
    pub engine: &'static str,
}

impl MigrationError {
    /// Which statement failed and what the database said, without what it means for the database (the
    /// rehearsal reports a failure on a scratch copy with this).
    pub fn statement_report(&self) -> String {
        let issue = self
            .issue
            .map(|i| format!(", issue #{i}"))
            .unwrap_or_default();
        let mut out = if self.statement_index > 0 {
            let mut head = format!(
                "{} of {}{issue}, statement {} of {} at line {}:\n",
                self.direction, self.file, self.statement_index, self.statement_count, self.line
            );
            for line in self.sql.lines() {
                head.push_str(&format!("    {line}\n"));
            }
            head
        } else {
            format!("{} of {}{issue}:\n", self.direction, self.file)
        };
        out.push_str(&format!("  {} said: {}", self.engine, self.db_error));
        if let Some(diagnosis) = &self.diagnosis {
            out.push_str(&format!("\n  {diagnosis}"));
        }
        out
    }
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "migration {} failed: {}",
            self.version,
            self.statement_report()
        )?;
        let kept = self.completed.len();
        if self.db_error.kind == crate::engine::DbErrorKind::ConnectionLost {
            return write!(
                f,
                "  The connection to the database was lost while the migration ran: whether the server committed it is not known here. Each migration is recorded in its own transaction, so the next boot reads the truth from the history table and applies it only if it is not there; {kept} earlier migration(s) of this run stay applied.\n  What to do: find out why the connection ended (the server's log), then start again."
            );
        }
        if self.run_rolled_back {
            writeln!(
                f,
                "  The database rolled back the whole run: this migration and the {kept} before it in this run are not applied."
            )?;
        } else if self.without_transaction {
            writeln!(
                f,
                "  It ran without a transaction: {} of its {} statement(s) ran before the failure and stay in the database; it is recorded as failed, and the next boot refuses until an operator checks it. {kept} earlier migration(s) of this run stay applied.",
                self.statements_kept, self.statement_count
            )?;
        } else {
            writeln!(
                f,
                "  Nothing of this migration was applied; {kept} earlier migration(s) of this run stay applied."
            )?;
        }
        let message = &self.db_error.message;
        if message.contains("cannot run inside a transaction block")
            || message.contains("cannot be executed inside a transaction")
        {
            writeln!(
                f,
                "  This statement cannot run in a transaction: add the line `-- migrator:no-transaction` to the file's header, so its statements run one by one (a failure part way then needs an operator, see --migrate-mark)."
            )?;
        }
        let held_up = matches!(
            self.db_error.kind,
            crate::engine::DbErrorKind::LockTimeout | crate::engine::DbErrorKind::Conflict
        );
        match (self.direction, self.without_transaction) {
            (Direction::Up, false) if held_up => write!(
                f,
                "  What to do: nothing in {} needs a change: other transactions held it up (see above); start again when they are gone, or at a quieter time.",
                self.file
            ),
            (Direction::Up, false) => write!(
                f,
                "  What to do: fix the statement in {} (it is not recorded as applied, so editing it is allowed), rebuild and start again.",
                self.file
            ),
            (Direction::Up, true) => write!(
                f,
                "  What to do: undo or finish by hand what its first {} statement(s) did, then run --migrate-mark {} rolled_back (or applied), fix the file and start again.",
                self.statements_kept, self.version
            ),
            (Direction::Down, _) => write!(
                f,
                "  What to do: fix the DOWN section of {} or undo the change by hand; the migration is still recorded as applied.",
                self.file
            ),
        }
    }
}

impl std::error::Error for MigrationError {}

impl Error {
    /// The process exit code this error means: 2 for a usage error (wrong flags, bad input given on the
    /// command line), 1 for everything that was refused or failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
