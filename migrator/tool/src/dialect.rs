//! The two SQL dialects the tool writes and reads.

/// The SQL dialect to render for (and read schemas in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.35+.
    Sqlite,
    /// PostgreSQL 13+.
    Postgres,
}

impl Dialect {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// The engine's name as users know it: `SQLite`, `PostgreSQL`.
    pub fn engine(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        }
    }

    /// The analyser's dialect.
    pub fn analyse(self) -> migrator_analyse::Dialect {
        match self {
            Dialect::Sqlite => migrator_analyse::Dialect::Sqlite,
            Dialect::Postgres => migrator_analyse::Dialect::Postgres,
        }
    }
}
