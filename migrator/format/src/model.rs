use std::borrow::Cow;

/// One SQL statement of a section, as it will be sent to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement text, from its first token to its terminating semicolon (excluded).
    pub sql: Cow<'static, str>,
    /// 1-based line of the statement's first token in the migration file.
    pub line: u32,
}

/// The metadata header of a migration file (the comment lines before `UP MIGRATION`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `-- Generated: ...`
    pub generated: Option<Cow<'static, str>>,
    /// `-- Author: ...`
    pub author: Option<Cow<'static, str>>,
    /// `-- Estimated Duration: ...`
    pub estimated_duration: Option<Cow<'static, str>>,
    /// `-- Downtime Required: ...`
    pub downtime_required: Option<Cow<'static, str>>,
    /// `-- Reviewed-by: ...`: the review mark asked for by the safety policy.
    pub reviewed_by: Option<Cow<'static, str>>,
    /// `-- Imported-from: <tool> <original file or directory name>`: the file was converted once from
    /// diesel, sqlx or refinery by `migrator-tool import`; its UP and DOWN are that tool's SQL, verbatim.
    pub imported_from: Option<Cow<'static, str>>,
}

/// The directory layout a migration was read from: migrator's own format or another tool's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One file per migration, `<version>_[issue_<N>_]<name>.sql`, with UP/DOWN sections.
    Native,
    /// diesel: a directory per migration, `<version>_<name>/up.sql`, `down.sql`, `metadata.toml`.
    Diesel,
    /// sqlx: `<version>_<description>.sql`, or `.up.sql` and `.down.sql`.
    Sqlx,
    /// refinery: `V<version>__<name>.sql` (and `U<version>__`), in the directory and its sub-directories.
    Refinery,
}

impl Layout {
    /// The layout's name as users write it (`native`, `diesel`, `sqlx`, `refinery`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Diesel => "diesel",
            Layout::Sqlx => "sqlx",
            Layout::Refinery => "refinery",
        }
    }

    /// The layout of a name written as [`Layout::name`] gives it.
    pub fn from_name(name: &str) -> Option<Layout> {
        [
            Layout::Native,
            Layout::Diesel,
            Layout::Sqlx,
            Layout::Refinery,
        ]
        .into_iter()
        .find(|l| l.name() == name)
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub use crate::engine::EngineKind as Engine;

/// How the tool a migration came from identifies it in its own history table: what adopting a database
/// that tool migrated matches rows against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Original {
    /// diesel's `__diesel_schema_migrations.version`: the directory name up to its first `_`, dashes
    /// removed (`2019-02-26-002946_create_user` is `20190226002946`).
    Diesel {
        /// The version string as diesel records it.
        version: Cow<'static, str>,
    },
    /// sqlx's `_sqlx_migrations.version` and `.checksum`.
    Sqlx {
        /// The version.
        version: i64,
        /// Lower-case hex SHA-384 of the (UP) file's bytes, as sqlx computes it.
        checksum: Cow<'static, str>,
    },
    /// refinery's `refinery_schema_history.version`, `.name` and `.checksum`.
    Refinery {
        /// The version (an `i32` unless the project enables refinery's `int8-versions`).
        version: i64,
        /// The name part of the file name (after `__`).
        name: Cow<'static, str>,
        /// SipHash-1-3 (keys 0, 0) of name, version as `i32`, and the file's text, as refinery computes it
        /// by default; for a version beyond `i32`, the `int8-versions` value.
        checksum: u64,
        /// The same with the version hashed as `i64` (refinery built with `int8-versions`).
        checksum_int8: u64,
        /// `U<n>__`: an unversioned migration (refinery applies it even when it is older than the newest
        /// applied one).
        unversioned: bool,
    },
}

impl Original {
    /// The version as the tool's history table holds it, as text.
    pub fn version_text(&self) -> String {
        match self {
            Original::Diesel { version } => version.to_string(),
            Original::Sqlx { version, .. } | Original::Refinery { version, .. } => {
                version.to_string()
            }
        }
    }
}

/// What a migration's DOWN is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownKind {
    /// No DOWN at all (no DOWN section, no `down.sql`, a one-file sqlx or refinery migration).
    Missing,
    /// A DOWN that is present but empty or comments only: an explicit irreversible step.
    Irreversible,
    /// A DOWN with statements.
    Statements,
}

/// A parsed, checksummed migration: what the proc-macro bakes into the binary and what the runtime applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The ordering key, unique in a set: the 14-digit `YYYYMMDDHHMMSS` version of a native file name; the
    /// sqlx or refinery version; diesel's version string right-padded with zeros to 18 digits (see
    /// [`diesel_key`](crate::diesel_key)).
    pub version: u64,
    /// The name part of the file name (after `issue_<N>_`), e.g. `contact_enrichment`.
    pub name: Cow<'static, str>,
    /// The issue the migration belongs to, from the file name or the `-- Issue #N` header.
    pub issue: Option<u32>,
    /// The issue title from the `-- Issue #N: title` header.
    pub title: Option<Cow<'static, str>>,
    /// The file, relative to the migrations directory: `20240115143022_issue_234_contact_enrichment.sql`,
    /// `postgres/20240115143022_x.sql` for an engine variant, `2019-02-26-002946_create_user/up.sql`
    /// (diesel), `V1-2/V2__cars.sql` (refinery).
    pub file_name: Cow<'static, str>,
    /// Lower-case hex SHA-256 of the normalised file text (LF line ends, no BOM); for a migration made of
    /// several files (diesel, sqlx `.up.sql`/`.down.sql`), of each file's name and normalised text.
    pub checksum: Cow<'static, str>,
    /// `-- migrator:no-transaction` (diesel: `run_in_transaction = false`; sqlx: `-- no-transaction`;
    /// refinery: `-- refinery:noTransaction`): the UP and DOWN run statement by statement outside a
    /// transaction.
    pub no_transaction: bool,
    /// The metadata header.
    pub header: Header,
    /// `-- migrator:backfill table=... key=...`: the UP is one UPDATE the runtime runs in batches of key
    /// ranges, each batch its own short transaction (see [`crate::backfill`]).
    pub backfill: Option<crate::Backfill>,
    /// UP statements: of a native file without its own `BEGIN`/`COMMIT` and `schema_migrations`
    /// bookkeeping; of another tool's layout (or an imported file) verbatim.
    pub up: Cow<'static, [Statement]>,
    /// DOWN statements (same rules); `None` when there is no DOWN at all, `Some` of nothing when the DOWN
    /// is empty or comments only (an explicit irreversible step, see [`Migration::down_kind`]).
    pub down: Option<Cow<'static, [Statement]>>,
    /// Tables the UP or DOWN names (created, altered, dropped, indexed, written), lower-case, sorted, unique.
    pub tables: Cow<'static, [Cow<'static, str>]>,
    /// Inline suppressions `-- migrator:allow <check-id> <reason>`, as `(check-id, reason)`.
    pub allows: Cow<'static, [(Cow<'static, str>, Cow<'static, str>)]>,
    /// The layout the migration was read from (an imported file is [`Layout::Native`]).
    pub layout: Layout,
    /// The migration's identity in the history table of the tool it came from: diesel, sqlx or refinery
    /// layouts, and files imported from them.
    pub original: Option<Original>,
}

impl Migration {
    /// Whether the DOWN is missing, an explicit irreversible step (empty or comments only), or statements.
    pub fn down_kind(&self) -> DownKind {
        match &self.down {
            None => DownKind::Missing,
            Some(d) if d.is_empty() => DownKind::Irreversible,
            Some(_) => DownKind::Statements,
        }
    }

    /// `true` when the DOWN section is present and holds at least one statement.
    pub fn has_down(&self) -> bool {
        self.down.as_ref().is_some_and(|d| !d.is_empty())
    }

    /// The issue as `#N`, or `-` for a migration without an issue.
    pub fn issue_label(&self) -> String {
        match self.issue {
            Some(n) => format!("#{n}"),
            None => "-".to_string(),
        }
    }
}

/// The migrations of one engine: the shared files of the directory with the engine's sub-directory's
/// variants in their place (same version) and its own migrations added, sorted by version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineMigrations {
    /// The engine.
    pub engine: Engine,
    /// Its migrations, sorted by version.
    pub migrations: Cow<'static, [Migration]>,
}
