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

/// Non-generic constructors for the code `embed_migrations!` emits: calling concrete `const fn`s instead of
/// generic `Cow::Borrowed` / `Option::Some` keeps type checking of a 1,000-migration embed cheap.
#[doc(hidden)]
pub mod embed {
    use std::borrow::Cow;

    use super::Statement;

    /// A borrowed string.
    pub const fn s(text: &'static str) -> Cow<'static, str> {
        Cow::Borrowed(text)
    }

    /// `Some` of a borrowed string.
    pub const fn some(text: &'static str) -> Option<Cow<'static, str>> {
        Some(Cow::Borrowed(text))
    }

    /// No string.
    pub const NONE: Option<Cow<'static, str>> = None;

    /// A statement.
    pub const fn stmt(sql: &'static str, line: u32) -> Statement {
        Statement {
            sql: Cow::Borrowed(sql),
            line,
        }
    }

    /// A section.
    pub const fn section(statements: &'static [Statement]) -> Cow<'static, [Statement]> {
        Cow::Borrowed(statements)
    }

    /// A present section.
    pub const fn some_section(
        statements: &'static [Statement],
    ) -> Option<Cow<'static, [Statement]>> {
        Some(Cow::Borrowed(statements))
    }

    /// An absent section.
    pub const NO_SECTION: Option<Cow<'static, [Statement]>> = None;

    /// An issue number.
    pub const fn issue(number: u32) -> Option<u32> {
        Some(number)
    }

    /// No issue.
    pub const NO_ISSUE: Option<u32> = None;

    /// `len` statements of `all` from `start` (one shared static per embed instead of one per section).
    pub const fn section_at(
        all: &'static [Statement],
        start: usize,
        len: usize,
    ) -> Cow<'static, [Statement]> {
        Cow::Borrowed(all.split_at(start).1.split_at(len).0)
    }

    /// A present section, as [`section_at`].
    pub const fn some_section_at(
        all: &'static [Statement],
        start: usize,
        len: usize,
    ) -> Option<Cow<'static, [Statement]>> {
        Some(section_at(all, start, len))
    }

    /// `len` names of `all` from `start`.
    pub const fn names_at(
        all: &'static [Cow<'static, str>],
        start: usize,
        len: usize,
    ) -> Cow<'static, [Cow<'static, str>]> {
        Cow::Borrowed(all.split_at(start).1.split_at(len).0)
    }

    /// `len` suppressions of `all` from `start`.
    #[allow(clippy::type_complexity)]
    pub const fn allows_at(
        all: &'static [(Cow<'static, str>, Cow<'static, str>)],
        start: usize,
        len: usize,
    ) -> Cow<'static, [(Cow<'static, str>, Cow<'static, str>)]> {
        Cow::Borrowed(all.split_at(start).1.split_at(len).0)
    }

    /// A list of names.
    pub const fn names(names: &'static [Cow<'static, str>]) -> Cow<'static, [Cow<'static, str>]> {
        Cow::Borrowed(names)
    }

    /// A list of `(check id, reason)` suppressions.
    #[allow(clippy::type_complexity)]
    pub const fn allows(
        allows: &'static [(Cow<'static, str>, Cow<'static, str>)],
    ) -> Cow<'static, [(Cow<'static, str>, Cow<'static, str>)]> {
        Cow::Borrowed(allows)
    }
}
