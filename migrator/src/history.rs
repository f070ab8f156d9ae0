use std::fmt;

/// The state of one migration in `schema_migrations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Applied and in force.
    Applied,
    /// Applied, then rolled back through its DOWN.
    RolledBack,
    /// Failed; a transactional migration left nothing behind and is retried at the next boot, a
    /// no-transaction one blocks the boot until an operator checks it.
    Failed,
    /// A no-transaction migration started and did not finish (the process died): blocks the boot.
    Running,
}

impl Status {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::RolledBack => "rolled_back",
            Status::Failed => "failed",
            Status::Running => "running",
        }
    }

    /// Reads a `status` column value; unknown values (a hand edit) read as `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "applied" => Status::Applied,
            "rolled_back" => Status::RolledBack,
            "failed" => Status::Failed,
            "running" => Status::Running,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The migration's version.
    pub version: u64,
    /// Its name.
    pub name: String,
    /// Its issue.
    pub issue: Option<u32>,
    /// SHA-256 of the file as applied; `None` for a row written by the file's own standalone INSERT.
    pub checksum: Option<String>,
    /// State.
    pub status: Status,
    /// When it was (last) applied, as the database wrote it (UTC).
    pub applied_at: String,
    /// How long the UP took, in milliseconds.
    pub execution_ms: Option<i64>,
    /// When it was rolled back.
    pub rolled_back_at: Option<String>,
    /// The last failure's message.
    pub error: Option<String>,
}
