//! A database named by a URL (opened by the runtime's [`migrator::connect`]), and the history the tool
//! reads from it: `schema_migrations` and every event of `schema_migrations_log`, through the runtime's
//! history store ([`migrator::history_tables`]). Timestamps read `YYYY-MM-DD HH:MM:SS`, UTC, on every
//! engine.

use migrator::connect::Create;
use migrator::{Engine, EngineKind, HistoryRow};

/// The history table the tool reads (migrator's default name).
const HISTORY_TABLE: &str = "schema_migrations";

/// Problems opening or reading a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// The URL is malformed or names no database (a usage error).
    #[error("{0}")]
    Url(String),
    /// The database could not be opened or reached (the message holds no password).
    #[error("cannot open the database: {0}")]
    Open(String),
    /// A query failed.
    #[error("{context}: {message}")]
    Query {
        /// What was being read or written.
        context: &'static str,
        /// The database's message.
        message: String,
    },
}

/// One row of `schema_migrations_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The row id (grows with every event).
    pub id: i64,
    /// The migration's version (`0` for events that belong to no migration).
    pub version: u64,
    /// What happened: `applied`, `rolled_back`, `up_failed`, `down_failed`, `repaired`, `marked_<status>`,
    /// `health_failed`, ...
    pub action: String,
    /// When, UTC, `YYYY-MM-DD HH:MM:SS`.
    pub at: String,
    /// How long the UP or DOWN took.
    pub duration_ms: Option<i64>,
    /// The detail: a failure's message, an operator's rollback reason.
    pub detail: Option<String>,
}

/// What a log event means for its migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The UP ran.
    Applied,
    /// The DOWN ran.
    RolledBack,
    /// The UP or DOWN failed (`up_failed`, `down_failed`).
    Failed,
    /// Anything else (repairs, marks, health checks, the tool's own cursor).
    Other,
}

impl LogEvent {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self.action.as_str() {
            "applied" => EventKind::Applied,
            "rolled_back" => EventKind::RolledBack,
            a if a.ends_with("_failed") && a != "health_failed" => EventKind::Failed,
            _ => EventKind::Other,
        }
    }

    /// The detail, trimmed, when not empty.
    pub fn detail(&self) -> Option<&str> {
        self.detail
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
    }
}

/// A database's migration history.
#[derive(Debug, Clone)]
pub struct History {
    /// The engine.
    pub engine: EngineKind,
    /// `schema_migrations`, by version.
    pub rows: Vec<HistoryRow>,
    /// `schema_migrations_log`, by id (empty when the table does not exist).
    pub events: Vec<LogEvent>,
}

impl History {
    /// The row of `version`.
    pub fn row(&self, version: u64) -> Option<&HistoryRow> {
        self.rows.iter().find(|r| r.version == version)
    }

    /// The events of `version`, oldest first.
    pub fn events_of(&self, version: u64) -> impl Iterator<Item = &LogEvent> {
        self.events.iter().filter(move |e| e.version == version)
    }
}

/// Whether the tool may write to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only (SQLite is opened read-only).
    Read,
    /// Read and write (the track cursor).
    Write,
}

/// An open database.
pub struct Database(migrator::connect::Database);

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({})", self.0.kind().name())
    }
}

impl Database {
    /// Opens the database of `url`. A missing SQLite file is an error (nothing is created).
    pub fn open(url: &str, _access: Access) -> Result<Database, DatabaseError> {
        migrator::connect::Database::open(url, Create::No)
            .map(Database)
            .map_err(|e| match e {
                migrator::Error::Usage(m) if m.starts_with("cannot connect") => {
                    DatabaseError::Open(m)
                }
                migrator::Error::Usage(m) => DatabaseError::Url(format!("--database-url: {m}")),
                other => DatabaseError::Open(other.to_string()),
            })
    }

    /// The engine.
    pub fn engine(&self) -> EngineKind {
        self.0.kind()
    }

    /// Runs `f` with the runtime's engine over this connection.
    pub fn with_backend<T>(&mut self, f: impl FnOnce(&mut dyn Engine) -> T) -> T {
        self.0.with_engine(f)
    }

    /// Reads `schema_migrations` and `schema_migrations_log`.
    pub fn history(&mut self) -> Result<History, DatabaseError> {
        let engine = self.engine();
        let rows = self
            .with_backend(|e| migrator::history_tables::rows(e, HISTORY_TABLE))
            .map_err(|e| DatabaseError::Query {
                context: "reading schema_migrations",
                message: e.to_string(),
            })?;
        let events = self.log()?;
        tracing::info!(
            migrations = rows.len(),
            events = events.len(),
            "read the history"
        );
        Ok(History {
            engine,
            rows,
            events,
        })
    }

    /// Every row of `schema_migrations_log`, by id; empty when the table does not exist.
    pub fn log(&mut self) -> Result<Vec<LogEvent>, DatabaseError> {
        let entries = self
            .with_backend(|e| migrator::history_tables::log(e, HISTORY_TABLE, None))
            .map_err(|e| DatabaseError::Query {
                context: "reading schema_migrations_log",
                message: e.to_string(),
            })?;
        Ok(entries
            .into_iter()
            .map(|e| LogEvent {
                id: e.id,
                version: e.version,
                action: e.action,
                at: e.at,
                duration_ms: e.duration_ms,
                detail: e.detail,
            })
            .collect())
    }

    /// Adds an event to `schema_migrations_log` (the history tables must exist: a database some migration
    /// ran on).
    pub fn record_event(
        &mut self,
        version: u64,
        action: &str,
        detail: &str,
    ) -> Result<(), DatabaseError> {
        self.with_backend(|e| {
            migrator::history_tables::record(e, HISTORY_TABLE, version, action, Some(detail))
        })
        .map_err(|e| DatabaseError::Query {
            context: "writing schema_migrations_log",
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds() {
        let event = |action: &str| LogEvent {
            id: 1,
            version: 1,
            action: action.into(),
            at: String::new(),
            duration_ms: None,
            detail: Some("  ".into()),
        };
        assert_eq!(event("applied").kind(), EventKind::Applied);
        assert_eq!(event("rolled_back").kind(), EventKind::RolledBack);
        assert_eq!(event("up_failed").kind(), EventKind::Failed);
        assert_eq!(event("down_failed").kind(), EventKind::Failed);
        assert_eq!(event("health_failed").kind(), EventKind::Other);
        assert_eq!(event("repaired").kind(), EventKind::Other);
        assert_eq!(event("applied").detail(), None);
    }
}
