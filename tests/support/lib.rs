//! Helpers for the integration tests: migration directories written on the fly, schema fingerprints and
//! data dumps of real SQLite files.

use std::path::{Path, PathBuf};

use migrator::MigrationSet;
use rusqlite::Connection;

/// A temporary directory holding a migration directory and a database file.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A fresh workspace with an empty `migrations/`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
        Self { dir }
    }

    /// The migration directory.
    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("app.db")
    }

    /// Opens (or creates) the database.
    pub fn open(&self) -> Connection {
        Connection::open(self.db_path()).expect("open db")
    }

    /// Writes a migration file in the spec's format and returns its file name.
    pub fn add(
        &self,
        version: u64,
        issue: Option<u32>,
        name: &str,
        up: &str,
        down: Option<&str>,
    ) -> String {
        let file = match issue {
            Some(i) => format!("{version}_issue_{i}_{name}.sql"),
            None => format!("{version}_{name}.sql"),
        };
        std::fs::write(
            self.migrations().join(&file),
            migration_text(issue, name, up, down),
        )
        .expect("write migration");
        file
    }

    /// Writes a file as given.
    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.migrations().join(file), text).expect("write migration");
    }

    /// Deletes a migration file.
    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.migrations().join(file)).expect("remove migration");
    }

    /// The set as the runtime reads it (the same parser the macro uses).
    pub fn set(&self) -> MigrationSet {
        MigrationSet::from_dir(&self.migrations()).expect("valid migration set")
    }

    /// The root of the workspace.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The text of a migration file in the spec's layout.
pub fn migration_text(issue: Option<u32>, name: &str, up: &str, down: Option<&str>) -> String {
    let mut text = String::new();
    if let Some(i) = issue {
        text.push_str(&format!("-- Issue #{i}: {name}\n"));
    }
    text.push_str("-- Generated: 2024-01-01 00:00:00\n-- Author: tests\n\n-- ============ UP MIGRATION ============\n");
    text.push_str(up);
    text.push('\n');
    if let Some(down) = down {
        text.push_str("\n-- ============ DOWN MIGRATION ============\n");
        text.push_str(down);
        text.push('\n');
    }
    text
}

/// A sorted list of the schema objects (type, name, table, SQL), without migrator's own tables: equal
/// fingerprints mean equal schemas.
pub fn fingerprint(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
             WHERE name NOT LIKE 'sqlite_%' AND tbl_name NOT LIKE 'schema_migrations%'
             ORDER BY type, name",
        )
        .expect("fingerprint query");
    stmt.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ))
    })
    .expect("fingerprint rows")
    .collect::<Result<_, _>>()
    .expect("fingerprint values")
}

/// Every row of every user table, as text, sorted: equal dumps mean no row was lost or changed.
pub fn data_dump(conn: &Connection) -> Vec<String> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("tables");
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("select");
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(columns);
                for i in 0..columns {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cells.push(format!("{v:?}"));
                }
                Ok(format!("{table}: {}", cells.join(", ")))
            })
            .expect("rows");
        for row in rows {
            out.push(row.expect("row"));
        }
    }
    out.sort();
    out
}

/// `(version, status)` of every history row.
pub fn history(conn: &Connection) -> Vec<(u64, String)> {
    conn.prepare("SELECT version, status FROM schema_migrations ORDER BY version")
        .expect("history")
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .expect("history")
        .collect::<Result<_, _>>()
        .expect("history")
}
