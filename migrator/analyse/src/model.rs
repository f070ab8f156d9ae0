//! The plain data the analysis produces. Every type is `serde::Serialize`; the JSON shape is documented in
//! the crate README (`schema_version` 1).

use serde::Serialize;

/// The version of the JSON document shape ([`Analysis`], [`Finding`] and the `lint` report).
pub const SCHEMA_VERSION: u32 = 1;

/// The PostgreSQL major version assumed when none is given (the live preview reads it from the server).
pub const DEFAULT_PG_VERSION: u32 = 15;

/// The SQL dialect the migrations are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL; lock and rewrite rules are keyed on [`Options::pg_version`].
    Postgres,
    /// SQLite 3.35+.
    Sqlite,
}

/// What the analysis assumes about the target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The dialect.
    pub dialect: Dialect,
    /// PostgreSQL server major version (ignored for SQLite).
    pub pg_version: u32,
}

impl Options {
    /// Options for `dialect` with the default PostgreSQL version.
    pub fn new(dialect: Dialect) -> Self {
        Options {
            dialect,
            pg_version: DEFAULT_PG_VERSION,
        }
    }
}

/// UP or DOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// The UP section.
    Up,
    /// The DOWN section (the rollback).
    Down,
}

/// The analysis of one migration.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The migration's version (`YYYYMMDDHHMMSS`).
    pub version: u64,
    /// The file name.
    pub file: String,
    /// The issue, if any.
    pub issue: Option<u32>,
    /// The dialect analysed for.
    pub dialect: Dialect,
    /// The PostgreSQL major version the rules were applied for (`None` for SQLite).
    pub pg_version: Option<u32>,
    /// `-- migrator:no-transaction`.
    pub no_transaction: bool,
    /// Every statement of UP then DOWN, in order.
    pub statements: Vec<StatementAnalysis>,
    /// Every finding (suppressed ones included, marked).
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// Findings that count for the verdict: not suppressed, at or above `threshold`.
    pub fn failing(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.suppressed.is_none() && f.severity >= threshold)
    }
}

/// Whether the parser could read the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Status {
    /// Read and analysed.
    Analysed,
    /// The parser could not read it; nothing below is known. Always comes with a `not-analysed` finding.
    NotAnalysed {
        /// The parser's message.
        reason: String,
    },
}

/// What one statement does.
#[derive(Debug, Clone, Serialize)]
pub struct StatementAnalysis {
    /// UP or DOWN.
    pub section: Section,
    /// 0-based position in its section.
    pub index: usize,
    /// 1-based line in the file.
    pub line: u32,
    /// The statement text.
    pub sql: String,
    /// Whether it was analysed.
    pub status: Status,
    /// A short label: `CREATE INDEX`, `ALTER TABLE`, `UPDATE`, ...
    pub kind: String,
    /// The objects it creates, alters or drops.
    pub objects: Vec<ObjectChange>,
    /// The lock and the work per table.
    pub tables: Vec<TableImpact>,
    /// SQLite: the change cannot be done by ALTER TABLE and needs the 12-step table rebuild.
    pub needs_rebuild: bool,
    /// It destroys data (drops a table, column or schema, truncates, deletes every row).
    pub destructive: bool,
    /// Queries a live preview runs to size the statement or to check it will not fail on existing data
    /// (row counts, duplicates, NULLs). Not run offline.
    pub live_checks: Vec<LiveCheck>,
}

/// An object the statement creates, alters, renames or drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectChange {
    /// What was done.
    pub action: Action,
    /// The kind of object.
    pub object: ObjectKind,
    /// Its name (lower-case unless quoted; `table.column` for columns).
    pub name: String,
    /// The table it belongs to, for columns, indexes, constraints and triggers.
    pub table: Option<String>,
    /// Extra detail: the column type, the referenced table, the new name.
    pub detail: Option<String>,
}

/// What happens to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Created.
    Create,
    /// Changed in place.
    Alter,
    /// Renamed.
    Rename,
    /// Dropped.
    Drop,
}

/// Kinds of schema objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    /// A table.
    Table,
    /// A column.
    Column,
    /// An index.
    Index,
    /// A CHECK, UNIQUE, PRIMARY KEY or EXCLUDE constraint.
    Constraint,
    /// A foreign key.
    ForeignKey,
    /// A trigger.
    Trigger,
    /// A function or procedure.
    Function,
    /// A view or materialized view.
    View,
    /// A type or domain.
    Type,
    /// A sequence.
    Sequence,
    /// A schema.
    Schema,
    /// An extension.
    Extension,
    /// Table rows (DML).
    Rows,
    /// Anything else.
    Other,
}

/// Table-level lock modes, weakest first (PostgreSQL's names; SQLite's database-wide write lock last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Lock {
    /// `ACCESS SHARE` (SELECT).
    AccessShare,
    /// `ROW SHARE`.
    RowShare,
    /// `ROW EXCLUSIVE` (INSERT/UPDATE/DELETE).
    RowExclusive,
    /// `SHARE UPDATE EXCLUSIVE` (CONCURRENTLY, VALIDATE): blocks neither reads nor writes.
    ShareUpdateExclusive,
    /// `SHARE` (CREATE INDEX): blocks writes.
    Share,
    /// `SHARE ROW EXCLUSIVE` (ADD FOREIGN KEY, CREATE TRIGGER): blocks writes.
    ShareRowExclusive,
    /// `EXCLUSIVE`.
    Exclusive,
    /// `ACCESS EXCLUSIVE`: blocks reads and writes.
    AccessExclusive,
    /// SQLite's single writer lock on the whole database file (readers go on in WAL mode).
    DatabaseWrite,
}

impl Lock {
    /// The lock's name as the database documents it (`ACCESS EXCLUSIVE`; SQLite: `database write lock`).
    pub fn sql_name(self) -> &'static str {
        match self {
            Lock::AccessShare => "ACCESS SHARE",
            Lock::RowShare => "ROW SHARE",
            Lock::RowExclusive => "ROW EXCLUSIVE",
            Lock::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Lock::Share => "SHARE",
            Lock::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Lock::Exclusive => "EXCLUSIVE",
            Lock::AccessExclusive => "ACCESS EXCLUSIVE",
            Lock::DatabaseWrite => "database write lock",
        }
    }

    /// Whether plain SELECTs on the table wait for it.
    pub fn blocks_reads(self) -> bool {
        self == Lock::AccessExclusive
    }

    /// Whether INSERT/UPDATE/DELETE on the table wait for it.
    pub fn blocks_writes(self) -> bool {
        self >= Lock::Share
    }
}

/// How much of the table the statement reads or writes, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Work {
    /// Catalog only.
    None,
    /// Writes the rows it touches (DML).
    Rows,
    /// Reads every row (validation).
    Scan,
    /// Builds an index (reads every row, writes the index).
    IndexBuild,
    /// Rewrites the table and its indexes.
    Rewrite,
    /// SQLite: copies the table into a new one (12-step rebuild).
    Rebuild,
}

/// The lock and work a statement puts on one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableImpact {
    /// The table.
    pub table: String,
    /// The strongest lock taken.
    pub lock: Lock,
    /// `true` when the lock is held only for a catalog change ("brief": still queues behind long queries).
    pub brief: bool,
    /// Plain reads wait.
    pub blocks_reads: bool,
    /// Writes wait.
    pub blocks_writes: bool,
    /// The work done on the table.
    pub work: Work,
    /// The table is created earlier in the same section (empty: locks and scans cost nothing).
    pub new_table: bool,
}

/// A query a live preview runs for this statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCheck {
    /// What it measures.
    pub kind: LiveCheckKind,
    /// The table it reads.
    pub table: String,
    /// The query (returns one count).
    pub sql: String,
}

/// What a [`LiveCheck`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveCheckKind {
    /// Rows in the table (sizes a scan, a rewrite or a data loss).
    RowCount,
    /// Rows the UPDATE/DELETE touches (max_rows_affected, check 22).
    RowsAffected,
    /// Duplicate key groups a UNIQUE would refuse (check 16).
    Duplicates,
    /// NULLs a NOT NULL would refuse (check 16).
    Nulls,
}

/// How bad a finding is, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails a lint by itself unless asked.
    Info,
    /// Risky; fails `lint --fail-on warning`.
    Warning,
    /// Blocks the application, fails at run time or loses data; fails `lint`.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One safety finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case id, the one `-- migrator:allow <id> <reason>` names.
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Migration version.
    pub version: u64,
    /// File name.
    pub file: String,
    /// UP or DOWN.
    pub section: Section,
    /// 0-based statement index in its section.
    pub statement: usize,
    /// 1-based line of the statement.
    pub line: u32,
    /// What is wrong.
    pub message: String,
    /// What to do instead.
    pub safe_alternative: String,
    /// `Some(reason)` when the migration allows this id: kept, reported, not counted.
    pub suppressed: Option<String>,
}
