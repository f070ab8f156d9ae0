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
    /// A parser gap: the SQL parser cannot read this form, but its leading keywords name a statement the
    /// dialect has, and it was analysed by them (coarsely: the objects, tables and locks the keywords show).
    /// Always comes with a `not-understood` finding. Whether it is valid is for the database to say (the
    /// rehearsal runs it; see [`Analysis::record_engine_verdict`]).
    NotUnderstood {
        /// The statement form, e.g. `ALTER SEQUENCE ... RENAME`, `DO block`.
        form: String,
        /// The parser's message.
        reason: String,
    },
    /// The parser refuses it and nothing marks it as a form the parser does not know: likely invalid SQL, or
    /// too deeply nested to analyse. Nothing below is known. Always comes with a `not-analysed` finding.
    NotAnalysed {
        /// The parser's message, or why the statement was not given to the parser.
        reason: String,
    },
}

/// How a function's result varies, as PostgreSQL's `pg_proc.provolatile` says: a column default calling a
/// volatile function is evaluated once per row (a table rewrite when the column is added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    /// Same arguments, same result, forever (`lower`, `abs`, casts).
    Immutable,
    /// Same result within one statement (`now()`, `current_setting`).
    Stable,
    /// Anything else; what PostgreSQL assumes for a function not declared otherwise.
    Volatile,
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

/// A query a live preview runs for this statement: to size it, or to find the rows (or, for SQLite, the schema
/// objects) that will make it fail on the database in hand. The queries are in the analysis's dialect and
/// read only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCheck {
    /// What it measures.
    pub kind: LiveCheckKind,
    /// The table it reads.
    pub table: String,
    /// The columns the check is about (the new key, the column set NOT NULL, the foreign key's columns).
    pub columns: Vec<String>,
    /// The query; it returns one row with one count.
    pub sql: String,
    /// For the checks that decide failure: the query that shows the offending rows or objects (at most 20),
    /// for the user to look at.
    pub show_sql: Option<String>,
}

impl LiveCheck {
    /// What the preview says when the count query answered `count` and the check decides failure
    /// ([`LiveCheckKind::fails_when_found`]); `None` when `count` is 0 or the check only sizes.
    pub fn failure_message(&self, count: u64) -> Option<String> {
        if count == 0 || !self.kind.fails_when_found() {
            return None;
        }
        let cols = self.columns.join(", ");
        let t = &self.table;
        let what = match self.kind {
            LiveCheckKind::Nulls => {
                format!("SET NOT NULL on {t}.{cols} will fail: {count} rows hold NULL")
            }
            LiveCheckKind::Duplicates => format!(
                "the unique key {t}({cols}) will fail: {count} rows share a value with another row"
            ),
            LiveCheckKind::Orphans => format!(
                "the foreign key {t}({cols}) will fail: {count} rows reference no existing row"
            ),
            LiveCheckKind::CheckViolations => {
                format!("the CHECK on {t} will fail: {count} rows violate it")
            }
            LiveCheckKind::SqliteDropColumnBlocked => format!(
                "SQLite refuses DROP COLUMN {t}.{cols}: {count} schema objects use the column"
            ),
            LiveCheckKind::RowCount | LiveCheckKind::RowsAffected => return None,
        };
        Some(match &self.show_sql {
            Some(show) => format!("{what}; see them with: {show}"),
            None => what,
        })
    }
}

/// What a [`LiveCheck`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiveCheckKind {
    /// Rows in the table (sizes a scan, a rewrite or a data loss).
    RowCount,
    /// Rows the UPDATE/DELETE touches (max_rows_affected, check 22).
    RowsAffected,
    /// Rows whose key another row shares: a UNIQUE / PRIMARY KEY / unique index fails over them (check 16).
    Duplicates,
    /// Rows with NULL where NOT NULL (or a PRIMARY KEY) is being asked for (check 16).
    Nulls,
    /// Rows whose foreign key columns match no row of the referenced table: the validation fails.
    Orphans,
    /// Rows a CHECK being validated refuses.
    CheckViolations,
    /// SQLite: indexes, keys, foreign keys, generated columns, views and triggers that use a column, which
    /// make `DROP COLUMN` fail.
    SqliteDropColumnBlocked,
}

impl LiveCheckKind {
    /// `true` when any row (or object) found means the statement fails; `false` for the sizing queries.
    pub fn fails_when_found(self) -> bool {
        !matches!(self, LiveCheckKind::RowCount | LiveCheckKind::RowsAffected)
    }
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
