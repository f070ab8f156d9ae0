//! A database named by a URL, and the history the tool reads from it: `schema_migrations` (through the
//! runtime's [`migrator::Backend::read_history`]) and every event of `schema_migrations_log` (read here:
//! the runtime writes the log but has no reader for it yet).
//!
//! Timestamps are read in SQLite's `CURRENT_TIMESTAMP` form (`YYYY-MM-DD HH:MM:SS`, UTC) on both engines,
//! as the runtime's own history reader does.

use std::path::{Path, PathBuf};

use migrator::{Backend, Engine, HistoryRow};

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Target {
    /// `sqlite:PATH`, `sqlite://PATH`, a plain path, or `postgres://` / `postgresql://`.
    pub fn parse(url: &str) -> Result<Target, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(format!("--database-url {url:?} names no file"));
        }
        if let Some((scheme, _)) = url.split_once("://").filter(|_| path == url) {
            return Err(format!(
                "--database-url: unsupported scheme {scheme}://; use sqlite:PATH (or a file path) or postgres://..."
            ));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    }
}

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
    pub engine: Engine,
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

/// An open connection.
pub enum Database {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL (with the URL the runtime's backend keeps).
    Postgres(Box<diesel::PgConnection>, String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Database::Sqlite(_) => "Database::Sqlite",
            Database::Postgres(..) => "Database::Postgres",
        })
    }
}

const SELECT_LOG_SQLITE: &str =
    "SELECT id, version, action, at, duration_ms, detail FROM schema_migrations_log ORDER BY id";

const SELECT_LOG_POSTGRES: &str = "SELECT id, version, action,
    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS at, duration_ms, detail
FROM schema_migrations_log ORDER BY id";

#[derive(diesel::QueryableByName)]
struct PgLogRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    version: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    at: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    duration_ms: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    detail: Option<String>,
}

impl Database {
    /// Opens the database of `url`. A missing SQLite file is an error (nothing is created).
    pub fn open(url: &str, access: Access) -> Result<Database, DatabaseError> {
        match Target::parse(url).map_err(DatabaseError::Url)? {
            Target::Sqlite(path) => open_sqlite(&path, access).map(Database::Sqlite),
            Target::Postgres(url) => {
                use diesel::Connection as _;
                let conn = diesel::PgConnection::establish(&url).map_err(|e| {
                    DatabaseError::Open(crate::secret::redact_url(&e.to_string(), &url))
                })?;
                Ok(Database::Postgres(Box::new(conn), url))
            }
        }
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        match self {
            Database::Sqlite(_) => Engine::Sqlite,
            Database::Postgres(..) => Engine::Postgres,
        }
    }

    /// Runs `f` with the runtime's backend over this connection.
    pub fn with_backend<T>(&mut self, f: impl FnOnce(&mut dyn Backend) -> T) -> T {
        match self {
            Database::Sqlite(conn) => f(&mut migrator::Sqlite::new(conn)),
            Database::Postgres(conn, url) => f(&mut migrator::Postgres::new(conn, url.clone())),
        }
    }

    /// Reads `schema_migrations` and `schema_migrations_log`.
    pub fn history(&mut self) -> Result<History, DatabaseError> {
        let engine = self.engine();
        let rows = self
            .with_backend(|b| b.read_history())
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
        let fail = |message: String| DatabaseError::Query {
            context: "reading schema_migrations_log",
            message,
        };
        match self {
            Database::Sqlite(conn) => {
                let mut stmt = match conn.prepare(SELECT_LOG_SQLITE) {
                    Ok(stmt) => stmt,
                    Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
                    Err(e) => return Err(fail(e.to_string())),
                };
                let rows = stmt
                    .query_map([], |r| {
                        Ok(LogEvent {
                            id: r.get(0)?,
                            version: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            action: r.get(2)?,
                            at: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                            duration_ms: r.get(4)?,
                            detail: r.get(5)?,
                        })
                    })
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
                rows.map_err(|e| fail(e.to_string()))
            }
            Database::Postgres(conn, _) => {
                use diesel::RunQueryDsl as _;
                if !pg_log_exists(conn).map_err(fail)? {
                    return Ok(Vec::new());
                }
                let rows: Vec<PgLogRow> = diesel::sql_query(SELECT_LOG_POSTGRES)
                    .load(conn.as_mut())
                    .map_err(|e| fail(e.to_string()))?;
                Ok(rows
                    .into_iter()
                    .map(|r| LogEvent {
                        id: r.id,
                        version: u64::try_from(r.version).unwrap_or(0),
                        action: r.action,
                        at: r.at.unwrap_or_default(),
                        duration_ms: r.duration_ms,
                        detail: r.detail,
                    })
                    .collect())
            }
        }
    }

    /// Adds an event to `schema_migrations_log` through the runtime's backend (the history tables must
    /// exist: a database some migration ran on).
    pub fn record_event(
        &mut self,
        version: u64,
        action: &str,
        detail: &str,
    ) -> Result<(), DatabaseError> {
        self.with_backend(|b| b.record_event(version, action, detail))
            .map_err(|e| DatabaseError::Query {
                context: "writing schema_migrations_log",
                message: e.to_string(),
            })
    }
}

fn pg_log_exists(conn: &mut diesel::PgConnection) -> Result<bool, String> {
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    diesel::sql_query("SELECT to_regclass('schema_migrations_log') IS NOT NULL AS exists")
        .get_result::<Exists>(conn)
        .map(|e| e.exists)
        .map_err(|e| e.to_string())
}

fn open_sqlite(path: &Path, access: Access) -> Result<rusqlite::Connection, DatabaseError> {
    use rusqlite::OpenFlags;
    if !path.is_file() {
        return Err(DatabaseError::Url(format!(
            "--database-url: no SQLite database at {}",
            path.display()
        )));
    }
    let mode = match access {
        Access::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
        Access::Write => OpenFlags::SQLITE_OPEN_READ_WRITE,
    };
    tracing::info!(database = %path.display(), "opening the SQLite database");
    rusqlite::Connection::open_with_flags(
        path,
        mode | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DatabaseError::Open(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(Target::parse("app.db"), Ok(Target::Sqlite("app.db".into())));
        assert_eq!(
            Target::parse("sqlite:data/app.db"),
            Ok(Target::Sqlite("data/app.db".into()))
        );
        assert_eq!(
            Target::parse("sqlite:///tmp/app.db"),
            Ok(Target::Sqlite("/tmp/app.db".into()))
        );
        assert_eq!(
            Target::parse("postgresql://u@h/db"),
            Ok(Target::Postgres("postgresql://u@h/db".into()))
        );
        assert!(Target::parse("mysql://u@h/db")
            .unwrap_err()
            .contains("unsupported scheme mysql://"));
        assert!(Target::parse("sqlite:").is_err());
        assert!(Target::parse("").is_err());
    }

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
