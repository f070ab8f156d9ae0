use std::time::Duration;

use migrator_format::Policy;

/// How the runtime behaves. `Config::default()` follows the spec's safety rules; a policy file
/// (`migration_safety.yaml`) sets five of the fields through [`Config::with_policy`].
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
    /// that cannot make one refuses to apply. Where the run commits once, unseen before its commit
    /// (SQLite, no `no-transaction` migration, no backfill), the backup is made beside the run, from the
    /// state before it, and the commit waits for it; a backup that fails rolls the run back.
    pub require_backup: bool,
    /// Where backups go; `None`: beside the database (SQLite: `<file>.backups/`, PostgreSQL:
    /// `migrator-backups/` in the working directory).
    pub backup_dir: Option<std::path::PathBuf>,
    /// How many backups to keep (the newest).
    pub backups_to_keep: usize,
    /// SQLite: run the full `integrity_check` of the whole database after applying, instead of
    /// `quick_check` of the tables the boot's migrations can have changed (README, "Health checks").
    pub full_integrity_check: bool,
    /// The application's own checks after applying: queries that must return true.
    pub health_checks: Vec<HealthCheck>,
    /// What a failed health check does.
    pub on_health_failure: OnHealthFailure,
    /// The spec's `require_test_run`: before anything is committed, rehearse the pending migrations (each
    /// one's UP, its DOWN compared with the schema from before the UP, its UP again; then the health
    /// checks), in the run's own transaction where nobody else sees it (SQLite, a fresh PostgreSQL
    /// database) or else on a scratch copy; any finding stops the boot with the database as it was. On by
    /// default.
    pub require_test_run: bool,
    /// The spec's `max_rows_affected`: an UPDATE or DELETE whose estimated row count exceeds this is
    /// refused before anything runs. `None`: no limit. 1,000,000 by default.
    pub max_rows_affected: Option<u64>,
    /// The history table (`schema_migrations` by default); its log is `<name>_log`. Change it when the
    /// application already has a table of that name (some frameworks' own history tables).
    pub history_table: String,
    /// Migrations up to this version are history: applied elsewhere for years and reviewed in their time.
    /// The review gate, the row limit and the rehearsal of DOWNs leave them out (imported migrations are
    /// history whatever this says). A fresh database still gets every one of them applied.
    pub history_until: Option<u64>,
    /// Review marks kept outside the migration files (version, reviewer): a migration listed here passes the
    /// review gate as if its file carried `-- Reviewed-by:`, and its checksum does not change.
    pub reviewed: Vec<(u64, String)>,
    /// At a boot, adopt the history tables of diesel, sqlx and refinery found in the database (their
    /// applied migrations are recorded as applied, not run). On by default.
    pub adopt_peers: bool,
    /// Where a boot runs the batches of a backfill migration: inline (the default), in the background,
    /// or deferred to an operator. See [`crate::backfill`].
    pub backfill: crate::backfill::BackfillMode,
    /// A stop request shared with the caller: a boot or backfill holding a clone stops at its next safe
    /// point (before a migration, between two batches). The async API sets it when its future is dropped.
    pub stop: crate::backfill::Stop,
}

/// A user health check: a query whose first column of its first row must be true (or non-zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Its name in reports.
    pub name: String,
    /// The query.
    pub sql: String,
}

impl HealthCheck {
    /// A check from a name and a query.
    pub fn new(name: impl Into<String>, sql: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            sql: sql.into(),
        }
    }

    /// The checks of a `health/` directory: one query per `.sql` file, named after the file.
    pub fn from_dir(dir: &std::path::Path) -> Result<Vec<HealthCheck>, crate::Error> {
        let mut checks = Vec::new();
        for path in migrator_format::migration_files(dir)? {
            let sql = std::fs::read_to_string(&path).map_err(|e| {
                crate::Error::Usage(format!("cannot read health check {}: {e}", path.display()))
            })?;
            let name = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            checks.push(HealthCheck::new(
                name,
                sql.trim().trim_end_matches(';').trim(),
            ));
        }
        Ok(checks)
    }
}

/// What a failed health check after applying does. When the checks ran in the run's own transaction,
/// before its commit (a SQLite boot without a rehearsal: see [`Config::require_backup`]), `RollBack` and
/// `Restore` both roll that transaction back instead: nothing of the boot stays and no DOWN runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHealthFailure {
    /// Roll the migrations of this boot back through their DOWNs, newest first (the default).
    RollBack,
    /// Restore the backup taken before this boot applied anything.
    Restore,
    /// Keep the migrations and report.
    Stop,
}

impl Default for Config {
    /// The spec's policy ([`Policy::SPEC`]) and the runtime's own defaults for the rest.
    fn default() -> Self {
        Self {
            lock_timeout: Policy::SPEC.max_lock_duration,
            statement_timeout: None,
            lock_retries: 5,
            lock_wait: Duration::from_secs(60),
            allow_out_of_order: false,
            require_review: Vec::new(),
            require_backup: Policy::SPEC.require_backup,
            backup_dir: None,
            backups_to_keep: 5,
            full_integrity_check: false,
            health_checks: Vec::new(),
            on_health_failure: OnHealthFailure::RollBack,
            require_test_run: Policy::SPEC.require_test_run,
            max_rows_affected: Policy::SPEC.max_rows_affected,
            history_table: "schema_migrations".to_string(),
            history_until: None,
            reviewed: Vec::new(),
            adopt_peers: true,
            backfill: crate::backfill::BackfillMode::Inline,
            stop: crate::backfill::Stop::new(),
        }
        .with_policy(&Policy::SPEC)
    }
}

impl Config {
    /// Refuses settings no engine accepts, naming the setting (a lock timeout PostgreSQL rejects would
    /// otherwise surface as a failure of the first migration).
    pub fn validate(&self) -> Result<(), crate::Error> {
        // PostgreSQL's timeouts are 32-bit milliseconds.
        const MAX_MS: u128 = i32::MAX as u128;
        if self.lock_timeout.as_millis() > MAX_MS {
            return Err(crate::Error::Usage(format!(
                "max_lock_duration (lock_timeout) of {} ms is longer than the databases accept ({MAX_MS} ms, about 24.8 days)",
                self.lock_timeout.as_millis()
            )));
        }
        if self
            .statement_timeout
            .is_some_and(|d| d.as_millis() > MAX_MS)
        {
            return Err(crate::Error::Usage(format!(
                "statement_timeout is longer than the databases accept ({MAX_MS} ms)"
            )));
        }
        let valid_name = !self.history_table.is_empty()
            && self.history_table.len() <= 58
            && self
                .history_table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(crate::Error::Usage(format!(
                "history_table `{}` must be 1 to 58 letters, digits or underscores",
                self.history_table
            )));
        }
        Ok(())
    }

    /// The runtime configuration of a safety policy (`migration_safety.yaml`, read with
    /// [`Policy::from_path`] or embedded with `embed_policy!`); every other field has its default.
    pub fn from_policy(policy: &Policy) -> Self {
        Config::default().with_policy(policy)
    }

    /// Sets the five fields a safety policy decides (`require_review`, `require_backup`,
    /// `max_lock_duration` as `lock_timeout`, `max_rows_affected`, `require_test_run`) and keeps the
    /// others.
    pub fn with_policy(mut self, policy: &Policy) -> Self {
        self.require_review = policy.review_kinds().map(str::to_string).collect();
        self.require_backup = policy.require_backup;
        self.lock_timeout = policy.max_lock_duration;
        self.max_rows_affected = policy.max_rows_affected;
        self.require_test_run = policy.require_test_run;
        self.history_until = policy.history_until;
        self.reviewed = policy
            .reviewed
            .iter()
            .map(|(v, r)| (*v, r.to_string()))
            .collect();
        self.history_table = policy.history_table.to_string();
        self
    }

    /// `true` when `m` is history (imported, or up to `history_until`): the safety gates leave it out.
    pub fn is_history(&self, m: &crate::Migration) -> bool {
        m.header.imported_from.is_some() || self.history_until.is_some_and(|v| m.version <= v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_sets_its_five_fields_and_keeps_the_others() {
        let defaults = Config::default();
        assert_eq!(
            defaults.require_review,
            ["DROP TABLE", "DROP COLUMN", "ALTER TYPE"]
        );
        assert!(defaults.require_backup && defaults.require_test_run);
        assert_eq!(defaults.lock_timeout, Duration::from_secs(5));
        assert_eq!(defaults.max_rows_affected, Some(1_000_000));

        let policy = Policy::from_str(
            "migration_safety:\n  require_review: [TRUNCATE]\n  require_backup: []\n  max_lock_duration: 250ms\n  max_rows_affected: none\n  require_test_run: false\n",
            "migration_safety.yaml",
        )
        .unwrap();
        let custom = Config {
            lock_wait: Duration::from_secs(3),
            backups_to_keep: 2,
            ..Config::default()
        };
        let config = custom.with_policy(&policy);
        assert_eq!(config.require_review, ["TRUNCATE"]);
        assert!(!config.require_backup && !config.require_test_run);
        assert_eq!(config.lock_timeout, Duration::from_millis(250));
        assert_eq!(config.max_rows_affected, None);
        assert_eq!(
            (config.lock_wait, config.backups_to_keep),
            (Duration::from_secs(3), 2)
        );
        assert_eq!(
            Config::from_policy(&policy).lock_wait,
            Duration::from_secs(60)
        );
    }

    /// Issue #11: a `max_lock_duration` PostgreSQL rejects was blamed on a migration file at line 0. It is
    /// refused before anything runs, naming the setting; so are a statement timeout and a history table
    /// name no engine accepts.
    #[test]
    fn settings_no_engine_accepts_are_refused_by_name() {
        let policy = Policy::from_str(
            "migration_safety:\n  max_lock_duration: 30d\n",
            "migration_safety.yaml",
        );
        let config = match policy {
            Ok(policy) => Config::from_policy(&policy),
            // A policy parser that refuses 30d itself is as good; the runtime check is tested below.
            Err(_) => Config {
                lock_timeout: Duration::from_secs(30 * 86_400),
                ..Config::default()
            },
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("max_lock_duration"), "{err}");
        assert!(err.contains("2147483647 ms"), "{err}");

        let statement = Config {
            statement_timeout: Some(Duration::from_secs(40 * 86_400)),
            ..Config::default()
        };
        let err = statement.validate().unwrap_err().to_string();
        assert!(err.contains("statement_timeout"), "{err}");

        for bad in ["", "schema_migrations; DROP TABLE x", &"h".repeat(59)] {
            let named = Config {
                history_table: bad.to_string(),
                ..Config::default()
            };
            let err = named.validate().unwrap_err().to_string();
            assert!(err.contains("history_table"), "{bad}: {err}");
        }
        assert!(Config::default().validate().is_ok());
    }
}
