//! Opening a database from a URL, for the companion tool, the example application and tests: one place
//! that knows which schemes name which engine, and that keeps passwords out of its errors.
//!
//! ```ignore
//! let mut db = migrator::connect::Database::open("postgres://app@db/crm", Create::No)?;
//! let report = db.with_engine(|engine| migrator.boot(engine))?;
//! ```

use std::path::{Path, PathBuf};

use crate::engine::{Engine, EngineKind};
use crate::redact::mask_url;
use crate::Error;

/// Whether opening may create a missing SQLite file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create the file when it does not exist.
    Yes,
    /// A missing file is an error.
    No,
}

/// An open database of any engine this build has.
pub enum Database {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(rusqlite::Connection),
    /// PostgreSQL, with the URL its lock connection, backups and scratch copies use.
    #[cfg(feature = "postgres")]
    Postgres(diesel::PgConnection, String),
    /// MySQL or MariaDB, with its URL.
    #[cfg(feature = "mysql")]
    MySql(diesel::MysqlConnection, String),
}

/// Where a URL points: an engine and its address (a file path for SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An SQLite file, or `:memory:`.
    Sqlite(PathBuf),
    /// A server URL of that engine.
    Server(EngineKind, String),
}

impl Target {
    /// `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:` or a plain path; `postgres://`,
    /// `postgresql://`, `mysql://`, `mariadb://` URLs (a keyword/value PostgreSQL string works too).
    pub fn parse(url: &str) -> Result<Target, Error> {
        match EngineKind::from_url(url) {
            Some(EngineKind::Postgres) => {
                return Ok(Target::Server(EngineKind::Postgres, url.to_string()))
            }
            Some(EngineKind::MySql) => {
                return Ok(Target::Server(
                    EngineKind::MySql,
                    url.replacen("mariadb://", "mysql://", 1),
                ))
            }
            _ => {}
        }
        if url.contains("host=") || url.contains("dbname=") {
            return Ok(Target::Server(EngineKind::Postgres, url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(Error::Usage(format!(
                "the database URL {url:?} names no file"
            )));
        }
        if let Some((scheme, _)) = url.split_once("://").filter(|_| path == url) {
            return Err(Error::Usage(format!(
                "unsupported database URL scheme {scheme}://; use sqlite:PATH (or a file path), postgres://... or mysql://..."
            )));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    }
}

impl Database {
    /// Opens the database `url` names. Errors name the URL with its password masked.
    pub fn open(url: &str, create: Create) -> Result<Database, Error> {
        match Target::parse(url)? {
            Target::Sqlite(path) => open_sqlite(&path, create),
            Target::Server(kind, url) => open_server(kind, &url),
        }
    }

    /// The engine.
    pub fn kind(&self) -> EngineKind {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => EngineKind::Sqlite,
            #[cfg(feature = "postgres")]
            Database::Postgres(..) => EngineKind::Postgres,
            #[cfg(feature = "mysql")]
            Database::MySql(..) => EngineKind::MySql,
        }
    }

    /// Runs `f` with an engine over this database.
    pub fn with_engine<R>(&mut self, f: impl FnOnce(&mut dyn Engine) -> R) -> R {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(conn) => f(&mut crate::Sqlite::new(conn)),
            #[cfg(feature = "postgres")]
            Database::Postgres(conn, url) => f(&mut crate::Postgres::new(conn, url.clone())),
            #[cfg(feature = "mysql")]
            Database::MySql(conn, url) => f(&mut crate::MySql::new(conn, url.clone())),
        }
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &Path, create: Create) -> Result<Database, Error> {
    use rusqlite::OpenFlags;
    let failed = |e: rusqlite::Error| {
        Error::Usage(format!(
            "cannot open the SQLite database {}: {e}",
            path.display()
        ))
    };
    if path == Path::new(":memory:") {
        return rusqlite::Connection::open_in_memory()
            .map(Database::Sqlite)
            .map_err(failed);
    }
    if create == Create::No && !path.is_file() {
        return Err(Error::Usage(format!(
            "no SQLite database at {}",
            path.display()
        )));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create == Create::Yes {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    rusqlite::Connection::open_with_flags(path, flags)
        .map(Database::Sqlite)
        .map_err(failed)
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(path: &Path, _: Create) -> Result<Database, Error> {
    Err(Error::Usage(format!(
        "{}: this build has no SQLite engine (feature `sqlite`)",
        path.display()
    )))
}

/// A connection refused, with the URL's password masked wherever the driver echoed it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn refused(url: &str, e: String) -> Error {
    Error::Usage(format!(
        "cannot connect to {}: {}",
        mask_url(url),
        crate::redact::url_in(&e, url)
    ))
}

fn open_server(kind: EngineKind, url: &str) -> Result<Database, Error> {
    match kind {
        #[cfg(feature = "postgres")]
        EngineKind::Postgres => {
            use diesel::Connection as _;
            diesel::PgConnection::establish(url)
                .map(|c| Database::Postgres(c, url.to_string()))
                .map_err(|e| refused(url, e.to_string()))
        }
        #[cfg(feature = "mysql")]
        EngineKind::MySql => crate::engine::mysql::connect(url)
            .map(|c| Database::MySql(c, url.to_string()))
            .map_err(|e| refused(url, e.to_string())),
        other => Err(Error::Usage(format!(
            "{}: this build has no {} engine (enable migrator's `{}` feature)",
            mask_url(url),
            other.name(),
            other.id()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_engine() {
        assert_eq!(
            Target::parse("app.db").unwrap(),
            Target::Sqlite("app.db".into())
        );
        assert_eq!(
            Target::parse("sqlite:data/app.db").unwrap(),
            Target::Sqlite("data/app.db".into())
        );
        assert_eq!(
            Target::parse("sqlite:///tmp/app.db").unwrap(),
            Target::Sqlite("/tmp/app.db".into())
        );
        assert_eq!(
            Target::parse("postgresql://u@h/db").unwrap(),
            Target::Server(EngineKind::Postgres, "postgresql://u@h/db".into())
        );
        assert_eq!(
            Target::parse("mariadb://u@h/db").unwrap(),
            Target::Server(EngineKind::MySql, "mysql://u@h/db".into())
        );
        assert!(Target::parse("oracle://u@h/db")
            .unwrap_err()
            .to_string()
            .contains("unsupported"));
        assert!(Target::parse("sqlite:").is_err());
        assert!(Target::parse("").is_err());
    }
}
