//! The one "which database" enum of the workspace: the runtime's engines, the per-engine migration sets,
//! the analyser's dialects and the tool's `--database-url` all name an engine with it.

use std::fmt;

/// A database engine migrator runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EngineKind {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl EngineKind {
    /// Every engine, in a fixed order.
    pub const ALL: [EngineKind; 3] = [EngineKind::Sqlite, EngineKind::Postgres, EngineKind::MySql];

    /// The engine's name as users know it: `SQLite`, `PostgreSQL`, `MySQL`.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Sqlite => "SQLite",
            EngineKind::Postgres => "PostgreSQL",
            EngineKind::MySql => "MySQL",
        }
    }

    /// The short lower-case id used in directory names and on command lines: `sqlite`, `postgres`,
    /// `mysql`.
    pub fn id(self) -> &'static str {
        match self {
            EngineKind::Sqlite => "sqlite",
            EngineKind::Postgres => "postgres",
            EngineKind::MySql => "mysql",
        }
    }

    /// The engine whose sub-directory of a migrations directory is called `name` (`sqlite`, `postgres`,
    /// `mysql`, exactly).
    pub fn from_dir_name(name: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|e| e.id() == name)
    }

    /// The name of the engine's sub-directory in a migrations directory (its id).
    pub fn dir_name(self) -> &'static str {
        self.id()
    }

    /// Reads an id (`sqlite`, `postgres`/`postgresql`/`pg`, `mysql`/`mariadb`), any case.
    pub fn from_id(id: &str) -> Option<EngineKind> {
        match id.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Some(EngineKind::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(EngineKind::Postgres),
            "mysql" | "mariadb" => Some(EngineKind::MySql),
            _ => None,
        }
    }

    /// The engine a database URL names by its scheme (`sqlite:`, `postgres://`, `postgresql://`,
    /// `mysql://`, `mariadb://`); `None` for anything else (a plain path is not decided here).
    pub fn from_url(url: &str) -> Option<EngineKind> {
        let scheme = url.split_once(':')?.0;
        EngineKind::from_id(scheme)
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_urls_name_engines() {
        for kind in EngineKind::ALL {
            assert_eq!(EngineKind::from_id(kind.id()), Some(kind));
        }
        assert_eq!(
            EngineKind::from_url("postgresql://u@h/db"),
            Some(EngineKind::Postgres)
        );
        assert_eq!(
            EngineKind::from_url("mariadb://u@h/db"),
            Some(EngineKind::MySql)
        );
        assert_eq!(
            EngineKind::from_url("sqlite::memory:"),
            Some(EngineKind::Sqlite)
        );
        assert_eq!(EngineKind::from_url("app.db"), None);
    }
}
