//! Replaying a migrations directory one migration at a time, with the schema after each: what the schema
//! docs' lineage (which migration added or changed each column) is computed from. The runtime applies the
//! migrations exactly as [`Schema::replay_sqlite`] and [`Schema::replay_postgres`] do; the schema is read
//! after every one.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use migrator::{Engine, MigrationSet, Migrator};
use migrator_format::Migration;

use super::{replay_config, Replay, Schema, SchemaError};

/// Applies the migrations of `set` one by one through `backend`, calling `each` with the migration and
/// the schema `read` sees after it.
fn steps(
    dir: &Path,
    engine: &'static str,
    set: &MigrationSet,
    backend: &mut dyn Engine,
    read: &mut dyn FnMut(&mut dyn Engine) -> Result<Schema, SchemaError>,
    each: &mut dyn FnMut(&Migration, &Schema),
) -> Result<usize, SchemaError> {
    let all = set.migrations();
    for k in 1..=all.len() {
        let prefix =
            MigrationSet::from_migrations(all[..k].to_vec()).map_err(|e| SchemaError::Load {
                dir: dir.to_path_buf(),
                message: e.to_string(),
            })?;
        Migrator::new(&prefix)
            .with_config(replay_config())
            .boot(backend)
            .map_err(|e| SchemaError::Replay {
                dir: dir.to_path_buf(),
                engine,
                message: e.to_string(),
            })?;
        let schema = read(backend)?;
        each(&all[k - 1], &schema);
    }
    Ok(all.len())
}

impl Schema {
    /// [`Schema::replay_sqlite`], one migration at a time: `each` sees every migration and the schema after
    /// it, in version order.
    pub fn replay_steps_sqlite(
        dir: &Path,
        each: &mut dyn FnMut(&Migration, &Schema),
    ) -> Result<Replay, SchemaError> {
        let set = super::load_set(dir)?;
        let conn = rusqlite::Connection::open_in_memory()
            .map_err(|e| SchemaError::Database(format!("opening an in-memory database: {e}")))?;
        let mut backend = migrator::Sqlite::new(&conn);
        let mut read = |_: &mut dyn Engine| Schema::from_sqlite(&conn);
        let n = steps(dir, "SQLite", &set, &mut backend, &mut read, each)?;
        Ok(Replay {
            migrations: n,
            engine: "SQLite in memory".to_string(),
        })
    }

    /// [`Schema::replay_postgres`], one migration at a time, on a scratch database of the server of
    /// `server_url` (dropped on every path).
    pub fn replay_steps_postgres(
        dir: &Path,
        server_url: &str,
        each: &mut dyn FnMut(&Migration, &Schema),
    ) -> Result<Replay, SchemaError> {
        let set = super::load_set(dir)?;
        let connect = |url: &str| {
            PgConnection::establish(url).map_err(|e| {
                SchemaError::Database(format!(
                    "connecting to PostgreSQL: {}",
                    crate::secret::redact_url(&e.to_string(), url)
                ))
            })
        };
        let mut admin = connect(server_url)?;
        let scratch = format!(
            "migrator_docs_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {scratch} TEMPLATE template0"))
            .map_err(|e| {
                SchemaError::Database(format!(
                    "creating the scratch database {scratch} (the role needs CREATEDB): {e}"
                ))
            })?;
        let result = super::postgres::url_with_database(server_url, &scratch)
            .ok_or_else(|| {
                SchemaError::Database(
                    "the database URL must be a postgres:// or postgresql:// URL".to_string(),
                )
            })
            .and_then(|url| {
                let mut conn = connect(&url)?;
                let mut reader = connect(&url)?;
                let mut read = |_: &mut dyn Engine| Schema::from_postgres(&mut reader);
                let mut backend = migrator::Postgres::new(&mut conn, url.clone());
                steps(dir, "PostgreSQL", &set, &mut backend, &mut read, each)
            });
        let dropped = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
            .or_else(|_| admin.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch}")));
        if let Err(e) = dropped {
            tracing::warn!(database = %scratch, error = %e, "could not drop the scratch database");
        }
        Ok(Replay {
            migrations: result?,
            engine: "PostgreSQL (scratch database)".to_string(),
        })
    }
}
