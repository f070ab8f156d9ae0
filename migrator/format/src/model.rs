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
}

/// A parsed, checksummed migration: what the proc-macro bakes into the binary and what the runtime applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The 14-digit `YYYYMMDDHHMMSS` version of the file name.
    pub version: u64,
    /// The name part of the file name (after `issue_<N>_`), e.g. `contact_enrichment`.
    pub name: Cow<'static, str>,
    /// The issue the migration belongs to, from the file name or the `-- Issue #N` header.
    pub issue: Option<u32>,
    /// The issue title from the `-- Issue #N: title` header.
    pub title: Option<Cow<'static, str>>,
    /// The file name, e.g. `20240115143022_issue_234_contact_enrichment.sql`.
    pub file_name: Cow<'static, str>,
    /// Lower-case hex SHA-256 of the normalised file text (LF line ends, no BOM).
    pub checksum: Cow<'static, str>,
    /// `-- migrator:no-transaction`: the UP and DOWN run statement by statement outside a transaction.
    pub no_transaction: bool,
    /// The metadata header.
    pub header: Header,
    /// UP statements, without the file's own `BEGIN`/`COMMIT` and `schema_migrations` bookkeeping.
    pub up: Cow<'static, [Statement]>,
    /// DOWN statements (same stripping); `None` when the file has no DOWN section.
    pub down: Option<Cow<'static, [Statement]>>,
    /// Tables the UP or DOWN names (created, altered, dropped, indexed, written), lower-case, sorted, unique.
    pub tables: Cow<'static, [Cow<'static, str>]>,
    /// Inline suppressions `-- migrator:allow <check-id> <reason>`, as `(check-id, reason)`.
    pub allows: Cow<'static, [(Cow<'static, str>, Cow<'static, str>)]>,
}

impl Migration {
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
