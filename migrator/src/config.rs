use std::time::Duration;

/// How the runtime behaves. `Config::default()` follows the spec's safety rules.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long one migration may wait for a table lock: the spec's `max_lock_duration`, 5 s by default
    /// (PostgreSQL `SET LOCAL lock_timeout`).
    pub lock_timeout: Duration,
    /// PostgreSQL `SET LOCAL statement_timeout` for each migration's statements; `None`: no limit.
    pub statement_timeout: Option<Duration>,
    /// How often a migration that hit the lock timeout (SQLSTATE 55P03) is retried, with exponential
    /// backoff and jitter, before the boot fails.
    pub lock_retries: u32,
    /// How long a boot waits for another process that is migrating the same database (SQLite: the write
    /// lock through `busy_timeout`; PostgreSQL: the advisory lock, polled), 60 s by default.
    pub lock_wait: Duration,
    /// Apply a pending migration older than the newest applied one instead of refusing to boot.
    pub allow_out_of_order: bool,
    /// The spec's `require_review`: statement kinds (`DROP TABLE`, `DROP COLUMN`, `ALTER TYPE`, or any
    /// word sequence such as `TRUNCATE`) that a pending migration may only hold when its file carries a
    /// `-- Reviewed-by: name` header. Empty: no review needed.
    pub require_review: Vec<String>,
    /// The spec's `require_backup`: take a backup before a boot applies anything (on by default). A boot
    /// that cannot make one refuses to apply.
    pub require_backup: bool,
    /// Where backups go; `None`: beside the database (SQLite: `<file>.backups/`, PostgreSQL:
    /// `migrator-backups/` in the working directory).
    pub backup_dir: Option<std::path::PathBuf>,
    /// How many backups to keep (the newest).
    pub backups_to_keep: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lock_retries: 5,
            lock_wait: Duration::from_secs(60),
            allow_out_of_order: false,
            require_review: crate::review::DEFAULT_REQUIRE_REVIEW
                .iter()
                .map(|k| k.to_string())
                .collect(),
            require_backup: true,
            backup_dir: None,
            backups_to_keep: 5,
        }
    }
}
