//! SQLite keeps the text of every table, index and trigger, and rewrites it on `ALTER TABLE`; a DOWN that
//! puts a table back must use the text SQLite would hold at that point. So the planner keeps a shadow: an
//! in-memory SQLite database holding the schema (no rows), runs every generated UP statement on it, and
//! reads the schema back from it after each step. Each statement has then run on SQLite once before the
//! file is written.

use rusqlite::Connection;

use crate::render;
use crate::schema::{Schema, SchemaError};

/// The shadow database of `schema`, or why it could not be built.
pub(super) fn build(schema: &Schema) -> Result<Connection, String> {
    let conn = Connection::open_in_memory().map_err(|e| e.to_string())?;
    let d = crate::Dialect::Sqlite;
    let run = |sql: &str| conn.execute_batch(sql).map_err(|e| format!("{e}: {sql}"));
    for t in schema.tables.values() {
        run(&render::create_table_from_schema(t, &t.name, d))?;
    }
    for t in schema.tables.values() {
        for i in &t.indexes {
            run(&render::index_from_schema(i, &t.name, d, false))?;
        }
    }
    for v in schema.views.values() {
        run(&v.sql)?;
    }
    for t in schema.tables.values() {
        for tr in &t.triggers {
            run(&tr.sql)?;
        }
    }
    Ok(conn)
}

/// Runs `sql` on the shadow and reads the schema back.
pub(super) fn apply(conn: &Connection, sql: &str) -> Result<Schema, String> {
    conn.execute_batch(sql).map_err(|e| e.to_string())?;
    Schema::from_sqlite(conn).map_err(|e: SchemaError| e.to_string())
}
