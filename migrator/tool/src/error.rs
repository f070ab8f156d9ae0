//! Error types. Every message says where the problem is (file and position, issue line, table cell).

use std::path::PathBuf;

/// Problems reading issue exports or fetching an issue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The JSON is malformed.
    #[error("{file}:{line}:{column}: malformed JSON: {message}")]
    Json {
        /// File (or `api`).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message.
        message: String,
    },
    /// A field has the wrong JSON type.
    #[error("{file}: field `{field}` must be {expected}, found {found}")]
    FieldType {
        /// File.
        file: String,
        /// Field path, e.g. `[1].comments[0].body`.
        field: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// A required field is missing.
    #[error("{file}: field `{field}` is missing; is this a `gh issue view --json number,title,body,...` or REST issue export?")]
    MissingField {
        /// File.
        file: String,
        /// Field.
        field: String,
    },
    /// A body or comment is over [`crate::export::MAX_BODY_BYTES`].
    #[error(
        "{file}: issue #{issue} {part} is {bytes} bytes, over the limit of {limit} bytes; refused"
    )]
    TooLarge {
        /// File.
        file: String,
        /// Issue number.
        issue: u32,
        /// `body` or `comments[N]`.
        part: String,
        /// Size.
        bytes: usize,
        /// Limit.
        limit: usize,
    },
    /// A file is over [`crate::export::MAX_FILE_BYTES`].
    #[error("{path}: {bytes} bytes, over the limit of {limit} bytes for an export file; refused")]
    FileTooLarge {
        /// Path.
        path: PathBuf,
        /// Size.
        bytes: u64,
        /// Limit.
        limit: u64,
    },
    /// A directory holds no `.json` file.
    #[error("{0}: no .json export in this directory")]
    EmptyDir(PathBuf),
    /// The export holds no issue.
    #[error("the export holds no issue")]
    NoIssues,
    /// The issue asked for is not in the export.
    #[error("issue #{0} is not in the export")]
    NotFound(u32),
    /// Several issues and none chosen.
    #[error("the export holds issues {}; choose one with --issue N", .0.iter().map(|n| format!("#{n}")).collect::<Vec<_>>().join(", "))]
    Ambiguous(Vec<u32>),
    /// Two exports of one issue disagree.
    #[error("issue #{issue} is exported twice with different title or body ({first} and {second}); keep one")]
    Conflict {
        /// Issue.
        issue: u32,
        /// First file.
        first: String,
        /// Second file.
        second: String,
    },
    /// Fetching from the API failed (the message never holds the token).
    #[error("fetching issue #{issue} of {repo} from {url}: {message}")]
    Fetch {
        /// `owner/name`.
        repo: String,
        /// Issue.
        issue: u32,
        /// The URL asked (no credentials in it).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A bad `owner/name`.
    #[error("--repo must be owner/name with letters, digits, `-`, `_` and `.`; got {0:?}")]
    BadRepo(String),
}

/// One thing in an issue that looked like a data-model change but could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// `body` or `comment N`.
    pub part: String,
    /// 1-based line in that part.
    pub line: usize,
    /// The line's text (shortened).
    pub text: String,
    /// Why it could not be read.
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} line {}: {} (in: {})",
            self.part, self.line, self.reason, self.text
        )
    }
}

/// Problems generating a migration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// Reading the export or fetching failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Parts of the data-model section could not be read; nothing is generated.
    #[error("issue #{issue}: {} part(s) of the data model could not be read; nothing was generated:\n{}", .problems.len(), .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Unreadable {
        /// Issue.
        issue: u32,
        /// Each problem.
        problems: Vec<Unreadable>,
    },
    /// No data-model change found.
    #[error("issue #{0}: no data model changes found (no ```sql block, no table of columns under a heading naming a table, no change bullet such as `Add column x (TEXT) to t`)")]
    NoDataModel(u32),
    /// A change this dialect cannot express without a table rebuild (or at all).
    #[error("issue #{issue}, {origin}: {message}")]
    Unsupported {
        /// Issue.
        issue: u32,
        /// Where the change was read.
        origin: String,
        /// What and why.
        message: String,
    },
    /// A bad option (timestamp, name).
    #[error("{0}")]
    Options(String),
    /// The generated file does not parse with `migrator_format` (a bug of the tool).
    #[error("the generated file does not parse (a bug in migrator-tool): {0}")]
    Format(#[from] migrator_format::FormatError),
    /// Writing the files failed; nothing was left behind.
    #[error("writing {path}: {message} (nothing was written)")]
    Write {
        /// Path.
        path: PathBuf,
        /// Message.
        message: String,
    },
    /// The schema the migration applies to could not be loaded (replay, dump or database).
    #[error("{0}")]
    Schema(#[from] crate::schema::SchemaError),
    /// A generated file does not pass its own lint at warning level (a bug of the tool); nothing is written.
    #[error("the generated {file} does not pass the lint at warning level (a bug in migrator-tool; nothing was written):\n{findings}")]
    Lint {
        /// The file.
        file: String,
        /// The findings, one per line.
        findings: String,
    },
    /// The issue changed since its migration was generated.
    #[error("issue #{issue} changed since {file} was generated; nothing was written. Differences (- file, + now):\n{diff}")]
    Changed {
        /// Issue.
        issue: u32,
        /// The existing file.
        file: PathBuf,
        /// A line diff.
        diff: String,
    },
}
