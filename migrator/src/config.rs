use std::time::Duration;

/// How the runtime behaves. `Config::default()` follows the spec's safety rules.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long to wait for the database's write lock (SQLite `busy_timeout`); the spec's
    /// `max_lock_duration`, 5 s by default.
    pub lock_timeout: Duration,
    /// Apply a pending migration older than the newest applied one instead of refusing to boot.
    pub allow_out_of_order: bool,
    /// SQLite: commit after every migration instead of once per run (one commit with a savepoint per
    /// migration is the default: far fewer fsyncs, and a failure in migration k still keeps 1..k-1).
    pub commit_each: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(5),
            allow_out_of_order: false,
            commit_each: false,
        }
    }
}
