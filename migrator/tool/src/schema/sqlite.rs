//! The schema of an SQLite database: the `CREATE` texts SQLite keeps in `sqlite_schema`, read as a dump.
//! And the replay of a migrations directory on an in-memory database.

use std::path::Path;

use rusqlite::Connection;

use super::{dump, replay_config, Replay, Schema, SchemaError};
use crate::dialect::Dialect;

impl Schema {
    /// Reads the schema of an SQLite database (without migrator's history tables and SQLite's own).
    pub fn from_sqlite(conn: &Connection) -> Result<Schema, SchemaError> {
        let db = |e: rusqlite::Error| SchemaError::Database(format!("reading sqlite_schema: {e}"));
        let mut stmt = conn
            .prepare(
                "SELECT sql FROM sqlite_schema
                 WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                   AND tbl_name NOT IN ('schema_migrations', 'schema_migrations_log')
                 ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid",
            )
            .map_err(db)?;
        let texts: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let script = texts.join(";\n");
        let (schema, _) = dump::read(&script, Dialect::Sqlite, "sqlite_schema")?;
        Ok(schema)
    }

    /// Applies every migration of `dir` to a fresh in-memory SQLite database through the runtime (the
    /// host's own boot, without backup, rehearsal or review checks) and reads the schema it leaves.
    pub fn replay_sqlite(dir: &Path) -> Result<(Schema, Replay), SchemaError> {
        Schema::replay_set_sqlite(&super::load_set(dir)?)
    }

    /// [`Schema::replay_sqlite`] for a migration set already loaded (a directory without some of its
    /// files, for instance).
    pub fn replay_set_sqlite(
        set: &migrator::MigrationSet,
    ) -> Result<(Schema, Replay), SchemaError> {
        let dir = Path::new(set.source_dir());
        let conn = Connection::open_in_memory()
            .map_err(|e| SchemaError::Database(format!("opening an in-memory database: {e}")))?;
        let migrator = migrator::Migrator::new(set).with_config(replay_config());
        let mut backend = migrator::Sqlite::new(&conn);
        let report = migrator
            .boot(&mut backend)
            .map_err(|e| SchemaError::Replay {
                dir: dir.to_path_buf(),
                engine: "SQLite",
                message: e.to_string(),
            })?;
        let schema = Schema::from_sqlite(&conn)?;
        tracing::info!(dir = %dir.display(), migrations = report.applied_versions().len(), tables = schema.tables.len(), "replayed the migrations on SQLite in memory");
        Ok((
            schema,
            Replay {
                migrations: report.applied_versions().len(),
                engine: "SQLite in memory".to_string(),
            },
        ))
    }
}
