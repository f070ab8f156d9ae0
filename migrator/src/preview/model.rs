//! The preview as plain data: what `--migrate-preview` prints and what `--format json` serialises. The
//! JSON shape is versioned by [`PREVIEW_SCHEMA_VERSION`] and documented in the README ("Preview").

use serde::Serialize;

/// The version of the preview's JSON document. Fields are only added within a version; a removal or a
/// change of meaning bumps it.
pub const PREVIEW_SCHEMA_VERSION: u32 = 1;

/// What a preview covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Every migration of one issue (applied ones included: their rollback plan is live).
    Issue(u32),
    /// Every migration the next boot would apply.
    Pending,
}

/// Where a migration stands in this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The next boot applies it.
    Pending,
    /// Applied.
    Applied,
    /// Rolled back; stays so until its file changes or it is reapplied.
    RolledBack,
    /// Anything else (`failed`, `running`, drifted): see `--migrate-status`.
    Other,
}

/// The whole preview.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Always [`PREVIEW_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was asked for.
    pub target: Target,
    /// The server, as it reports itself (`PostgreSQL 15.8`, `SQLite 3.50.2`).
    pub database: String,
    /// How long the calibration on this database took, in milliseconds.
    pub calibration_ms: f64,
    /// One entry per migration, in version order.
    pub migrations: Vec<MigrationPreview>,
    /// The sections over all of them (what the text output shows).
    pub total: Sections,
}

/// One migration's preview.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationPreview {
    /// Version (`YYYYMMDDHHMMSS`).
    pub version: u64,
    /// File name.
    pub file: String,
    /// Issue, if any.
    pub issue: Option<u32>,
    /// Where it stands.
    pub state: State,
    /// Its sections.
    #[serde(flatten)]
    pub sections: Sections,
}

/// The spec's five sections.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sections {
    /// 📊 Schema Changes.
    pub schema_changes: SchemaChanges,
    /// ⏱️ Performance Impact.
    pub performance: Performance,
    /// ⚠️ Warnings.
    pub warnings: Vec<Warning>,
    /// ✅ Rollback Plan.
    pub rollback: Rollback,
    /// 📁 Generated Files (paths that exist).
    pub generated_files: Vec<String>,
    /// Statements (UP and DOWN) the analyser's parser cannot read: parser gaps read by their leading
    /// keywords, and statements it takes for invalid. Their locks and work may be more than shown; a
    /// rehearsal (`--rehearse`) has the database decide whether they are valid.
    pub not_understood: usize,
}

/// What the UP does to the schema.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchemaChanges {
    /// Tables the UP creates.
    pub new_tables: Vec<NewTable>,
    /// Existing tables the UP alters.
    pub modified_tables: Vec<ModifiedTable>,
    /// Objects the UP drops (`table`, `index`, ...: `kind` and `name`).
    pub dropped: Vec<Dropped>,
    /// Foreign keys and CHECK/UNIQUE constraints the UP adds.
    pub constraints: Vec<ConstraintChange>,
}

/// A new table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewTable {
    /// Name.
    pub name: String,
    /// Its columns.
    pub columns: usize,
    /// Indexes the migration creates on it.
    pub indexes: usize,
}

/// An existing table the UP changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModifiedTable {
    /// Name.
    pub name: String,
    /// Columns added.
    pub added_columns: Vec<String>,
    /// Columns dropped.
    pub dropped_columns: Vec<String>,
    /// Columns altered (type, default, NOT NULL) or renamed.
    pub altered_columns: Vec<String>,
    /// Indexes created on it.
    pub indexes: Vec<String>,
}

/// A dropped object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// `table`, `index`, `view`, ... (the analyser's object kinds).
    pub kind: String,
    /// Name.
    pub name: String,
}

/// A constraint the UP adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstraintChange {
    /// `FK`, `CHECK`, `UNIQUE` or `CONSTRAINT`.
    pub kind: String,
    /// The table it is on.
    pub table: String,
    /// FK: `contact_enrichment.contact_id → contacts.id`; CHECK: `confidence_score range`.
    pub description: String,
}

/// The cost of applying, from the live figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Performance {
    /// Estimated (or measured) time of the UP, in milliseconds.
    pub estimated_duration_ms: f64,
    /// `true` when every statement's time was measured by a rehearsal.
    pub measured: bool,
    /// Locks that make other sessions wait on tables that exist before the migration.
    pub locks: Vec<LockUse>,
    /// How long the strongest lock is held, in milliseconds.
    pub lock_duration_ms: f64,
    /// Rows of existing tables the UP reads or writes (per table the most any statement touches).
    pub affected_rows: u64,
    /// `true` when an UPDATE/DELETE could not be sized on the database (its WHERE names a column the
    /// migration adds) and its whole table was counted: `affected_rows` is then an upper bound.
    pub rows_upper_bound: bool,
    /// Extra space needed (new indexes, rewritten copies, the rows an UPDATE writes again), in bytes.
    pub space_bytes: u64,
    /// The downtime verdict: reads or writes blocked longer than the policy's `max_lock_duration`.
    pub downtime: bool,
}

/// One blocking lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockUse {
    /// The statement's kind (`ALTER TABLE`).
    pub statement: String,
    /// File of the statement.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// The table.
    pub table: String,
    /// The lock (`ACCESS EXCLUSIVE`, `SHARE`, `database write lock`).
    pub lock: String,
    /// Plain reads wait.
    pub blocks_reads: bool,
    /// Writes wait.
    pub blocks_writes: bool,
    /// Held only for a catalog change.
    pub brief: bool,
    /// How long it is held, in milliseconds.
    pub duration_ms: f64,
}

/// A finding of the safety checks, a note derived from the figures (`lock`, `downtime`), or the outcome of
/// a live check on the data in hand: `will-fail` (an error: the statement fails on this database, with the
/// query that shows why) or `not-checked` (info: the data it will meet is not today's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The check id (`backfill-in-ddl-transaction`), `lock` / `downtime` for notes from the figures,
    /// `will-fail` / `not-checked` for the live checks.
    pub id: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// File.
    pub file: String,
    /// `up` or `down`.
    pub section: String,
    /// Line of the statement.
    pub line: u32,
    /// What is wrong.
    pub message: String,
    /// What to do instead.
    pub safe_alternative: Option<String>,
    /// `Some(reason)` when the file allows it (`-- migrator:allow <id> <reason>`).
    pub suppressed: Option<String>,
    /// For `will-fail` (a live check found what makes the statement fail): the query that shows the
    /// offending rows or schema objects (at most 20). `None` otherwise.
    pub query: Option<String>,
}

/// How hard a rollback is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    /// Schema statements only, in one transaction.
    #[default]
    Low,
    /// It moves data (UPDATE/INSERT/DELETE) or rebuilds tables.
    Medium,
    /// Outside a transaction, unreadable statements, or no DOWN at all.
    High,
}

/// The rollback plan, from the DOWN against live data.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rollback {
    /// `false` when a migration has no DOWN (or an empty one): it cannot be rolled back.
    pub available: bool,
    /// Estimated time of the DOWN(s), in milliseconds.
    pub duration_ms: f64,
    /// `true` when measured by a rehearsal.
    pub measured: bool,
    /// What the DOWN destroys that holds data now (empty: no data loss).
    pub data_loss: Vec<DataLoss>,
    /// How hard it is.
    pub complexity: Complexity,
    /// Why.
    pub complexity_reason: String,
    /// Migrations without a DOWN.
    pub missing_down: Vec<String>,
}

/// Data a DOWN would destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataLoss {
    /// `table` or `column`.
    pub object: String,
    /// `contact_enrichment`, `contacts.enrichment_status`.
    pub name: String,
    /// Rows of the table, or non-NULL values of the column.
    pub rows: u64,
}
