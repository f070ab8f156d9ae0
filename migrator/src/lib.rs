//! # migrator
//!
//! Schema migrations that live inside the application. `embed_migrations!("migrations")` parses and
//! checksums a directory of issue-tagged migration files at compile time; at boot, [`Migrator::boot`] checks
//! `schema_migrations`, refuses to go on when an applied migration was edited or lost, applies what is
//! pending under the database's write lock and returns a [`Report`]. Operators drive the same binary with
//! admin flags ([`admin`]): `app --migrate-rollback 234`, `--migrate-history`, `--migrate-status`.
//!
//! Data flows one way: the migration set (static, from the macro) and the history rows (from the
//! database) are validated into a [`Plan`]; the plan is executed through a [`Engine`]; the outcome is a
//! [`Report`], which [`render`] turns into text. Rendering never decides, the executor never formats.
//!
//! ```ignore
//! static MIGRATIONS: migrator::MigrationSet = migrator::embed_migrations!("migrations");
//!
//! let mut conn = rusqlite::Connection::open("app.db")?;
//! let report = migrator::Migrator::new(&MIGRATIONS).boot(&mut migrator::Sqlite::new(&mut conn))?;
//! ```

pub mod admin;
#[cfg(feature = "tokio")]
pub mod asynch;
pub mod backfill;
pub mod backup;
mod config;
pub mod connect;
pub mod engine;
mod error;
mod history;
#[cfg(feature = "preview")]
pub mod live;
mod plan;
#[cfg(feature = "preview")]
pub mod preview;
pub mod redact;
pub mod render;
mod report;
pub mod review;
mod run;
mod set;

pub use config::{Config, HealthCheck, OnHealthFailure};
#[cfg(feature = "mysql")]
pub use engine::mysql::MySql;
#[cfg(feature = "postgres")]
pub use engine::postgres::Postgres;
#[cfg(feature = "sqlite")]
pub use engine::sqlite::Sqlite;
pub use engine::{
    Backup, CheckScope, CopyFrom, DbError, DbErrorKind, Direction, Engine, EngineKind, Fingerprint,
    SchemaObject, ScratchCopy, Stats, TableStats,
};
pub use error::{Error, MigrationError, RowLimitHit, ValidationProblem};
pub use history::{tables as history_tables, HistoryRow, LogEntry, Status};
#[doc(hidden)]
pub use migrator_format::embedded as __embed;
pub use migrator_format::{DownKind, EngineMigrations, Layout, Original};
pub use migrator_format::{Header, Migration, Policy, PolicyError, Statement};
pub use migrator_macros::{embed_migrations, embed_policy};
pub use plan::{Plan, StatusEntry, StatusKind};
pub use report::{Outcome, Report, Step};
pub use run::rehearse::{Rehearsal, RehearsalFinding, RehearsalPhase, RehearsalStep};
pub use run::{Adoption, Migrator, PeerTool, RollbackOptions, RollbackTarget, ROW_LIMIT_ALLOW};
pub use set::MigrationSet;
