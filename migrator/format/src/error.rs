use std::path::PathBuf;

/// A problem in one migration file, located by file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct FormatError {
    /// The file name (or path) the problem is in.
    pub file: String,
    /// 1-based line; 1 for problems with the file name itself.
    pub line: u32,
    /// What is wrong.
    pub kind: FormatErrorKind,
}

/// What is wrong with a migration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// The file name does not follow `<YYYYMMDDHHMMSS>_issue_<N>_<name>.sql` or `<YYYYMMDDHHMMSS>_<name>.sql`.
    #[error("bad file name: {0}; expected <YYYYMMDDHHMMSS>_issue_<N>_<name>.sql or <YYYYMMDDHHMMSS>_<name>.sql, with <name> in lower-case letters, digits and underscores")]
    BadFileName(String),
    /// The file has no `UP MIGRATION` marker.
    #[error("no UP MIGRATION section; add a line `-- ============ UP MIGRATION ============` before the statements")]
    NoUpSection,
    /// A section marker appears twice.
    #[error("second {section} MIGRATION section (the first is at line {first_line}); a file holds one migration")]
    DuplicateSection {
        /// `UP` or `DOWN` (or `METRICS`).
        section: &'static str,
        /// Line of the first marker.
        first_line: u32,
    },
    /// Sections in the wrong order.
    #[error("the {section} section must come after the {after} section")]
    SectionOrder {
        /// The misplaced section.
        section: &'static str,
        /// The section it must follow.
        after: &'static str,
    },
    /// SQL outside any section.
    #[error("SQL before the UP MIGRATION marker; only `--` comment lines may stand in the header")]
    SqlInHeader,
    /// SQL in the metrics footer.
    #[error(
        "SQL in the MIGRATION METRICS section; the footer holds `-- key: value` comments only"
    )]
    SqlInMetrics,
    /// The issue in the file name and in the header differ.
    #[error("the file name says issue {in_name} but the header says issue #{in_header}")]
    IssueMismatch {
        /// Issue from the file name (`none` when the name carries none).
        in_name: String,
        /// Issue from the `-- Issue #N` header.
        in_header: u32,
    },
    /// A malformed `-- Issue #N: title` line.
    #[error("malformed issue header {0:?}; write `-- Issue #234: Title`")]
    BadIssueHeader(String),
    /// An unknown `-- migrator:` directive.
    #[error("unknown directive {0:?}; known: `-- migrator:no-transaction`, `-- migrator:allow <check-id> <reason>`, `-- migrator:backfill table=<table> key=<column> [batch=N] [pause=50ms] [target=200ms]`")]
    UnknownDirective(String),
    /// A `-- migrator:allow <check-id> <reason>` naming no known check (see [`crate::CHECK_IDS`]).
    #[error("`-- migrator:allow {id}`: unknown check id {id:?}{}; the known ids are listed by `migrator-tool lint --help` and in migrator/analyse/README.md", .suggestion.map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default())]
    UnknownCheck {
        /// The id as written.
        id: String,
        /// The closest known id, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A statement the splitter could not close.
    #[error("{0}")]
    Split(String),
    /// Transaction control the runtime owns.
    #[error("{0}")]
    Transaction(String),
    /// A `schema_migrations` statement that names another version, or writes the table in another way.
    #[error("{0}")]
    HistoryStatement(String),
    /// A `-- migrator:backfill` directive that is malformed, or a backfill migration whose UP cannot be run
    /// in batches.
    #[error("{0}")]
    Backfill(String),
    /// The UP section holds no statement.
    #[error("the UP MIGRATION section holds no statement")]
    EmptyUp,
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(String),
    /// The file holds a NUL byte: it is not text, and the database would see the SQL cut there.
    #[error("a NUL byte at column {column}: migration files are text; remove it (it would cut the SQL there)")]
    NulByte {
        /// 1-based byte column on the line.
        column: usize,
    },
    /// The file is not valid UTF-8.
    #[error("invalid UTF-8 at column {column}{hint}: migration files are UTF-8 text; re-save the file as UTF-8")]
    InvalidUtf8 {
        /// 1-based byte column on the line.
        column: usize,
        /// A guess at the file's real encoding, e.g. ` (the file starts with a UTF-16 byte order mark)`.
        hint: &'static str,
    },
    /// An entry of a migrations directory that is neither a migration nor a known non-migration file.
    #[error("not a migration: {0}")]
    NotAMigration(String),
    /// The directory mixes layouts, or its layout is not the one asked for.
    #[error("{0}")]
    Layout(String),
    /// A version another tool's layout carries that migrator cannot order, or a duplicate.
    #[error("{0}")]
    BadVersion(String),
    /// A diesel `metadata.toml` migrator cannot read.
    #[error("{0}")]
    Metadata(String),
    /// An engine variant that does not match the shared migration it replaces.
    #[error("{0}")]
    EngineVariant(String),
    /// An imported file whose `Imported-from` header does not hold together.
    #[error("{0}")]
    Imported(String),
}

/// Problems with a directory of migrations: every bad file is reported, not only the first.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// The directory could not be listed.
    #[error("cannot read migration directory {dir}: {message}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// One or more files are malformed, or versions collide.
    #[error("{}", render_errors(.0))]
    Files(Vec<FormatError>),
}

fn render_errors(errors: &[FormatError]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    lines.join("\n")
}
