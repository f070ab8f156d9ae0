//! # migrator
//!
//! Schema migrations that live inside the application. `embed_migrations!("migrations")` parses and
//! checksums a directory of issue-tagged migration files at compile time; at boot, [`Migrator::boot`] checks
//! `schema_migrations`, refuses to go on when an applied migration was edited or lost, applies what is
//! pending under the database's write lock and returns a [`Report`]. Operators drive the same binary with
//! admin flags ([`admin`]): `app --migrate-rollback 234`, `--migrate-history`, `--migrate-status`.
//!
//! Data flows one way: the migration set (static, from the macro) and the history rows (from the
//! database) are validated into a [`Plan`]; the plan is executed through a [`Backend`]; the outcome is a
//! [`Report`], which [`render`] turns into text. Rendering never decides, the executor never formats.
//!
//! ```ignore
//! static MIGRATIONS: migrator::MigrationSet = migrator::embed_migrations!("migrations");
//!
//! let mut conn = rusqlite::Connection::open("app.db")?;
//! let report = migrator::Migrator::new(&MIGRATIONS).boot(&mut migrator::Sqlite::new(&mut conn))?;
//! ```

pub mod admin;
pub mod backend;
pub mod backup;
mod config;
mod error;
mod execute;
mod history;
#[cfg(feature = "preview")]
pub mod live;
mod plan;
#[cfg(feature = "preview")]
pub mod preview;
mod rehearse;
pub mod render;
mod report;
pub mod review;
mod set;

#[cfg(feature = "postgres")]
pub use backend::postgres::Postgres;
#[cfg(feature = "sqlite")]
pub use backend::sqlite::Sqlite;
pub use backend::{Backend, Direction, Engine, SchemaObject, StatementFailure, TableStats};
pub use config::{Config, HealthCheck, OnHealthFailure};
pub use error::{Error, MigrationError, RowLimitHit, ValidationProblem};
pub use execute::{Migrator, RollbackOptions};
pub use history::{HistoryRow, Status};
#[doc(hidden)]
pub use migrator_format::embed as __embed;
pub use migrator_format::{DownKind, EngineMigrations, Layout, Original};
pub use migrator_format::{Header, Migration, Policy, PolicyError, Statement};
pub use migrator_macros::{embed_migrations, embed_policy};
pub use plan::{Plan, StatusEntry, StatusKind};
pub use rehearse::{Rehearsal, RehearsalPhase, RehearsalStep};
pub use report::{Outcome, Report, Step};
pub use set::MigrationSet;
