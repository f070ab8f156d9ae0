//! SQLite's in-memory page copy (capability [`super::ScratchCopy::with_page_copy`]): the database exactly
//! as the run's connection sees it now, inside its transaction, copied page by page into memory with
//! `sqlite3_serialize` (which reads through the connection's own pager, so the run's uncommitted pages
//! are in it; the online backup API cannot read from a connection in a write transaction) and opened
//! there.
//!
//! The rehearsal's short path runs its DOWNs on it (`run/down_chain.rs`): on the database itself they ran
//! under a savepoint that was rolled back, and every page they changed was first written to the
//! savepoint's sub-journal, a temporary file (a quarter of the DOWNs' time at 1,000 migrations in a
//! profile), then read back to undo them. On the copy nothing is journaled to a file and nothing is
//! undone: the copy is dropped.

use std::io::Read;

use rusqlite::{Connection, MAIN_DB};
use tracing::debug;

use super::sqlite::{context, Sqlite};
use super::Engine;
use crate::Error;

/// The database header's size, and the offsets of its read and write format versions (2 = WAL).
const HEADER: usize = 100;
const FORMAT_VERSIONS: [usize; 2] = [18, 19];

impl Sqlite<'_> {
    /// See [`super::ScratchCopy::with_page_copy`].
    pub(super) fn page_copy(
        &mut self,
        max_bytes: u64,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let bytes: i64 = self
            .conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .map_err(|e| context("reading the database's size", e))?;
        if u64::try_from(bytes).map_or(true, |b| b > max_bytes) {
            debug!(bytes, max_bytes, "no page copy: the database is too large");
            return Ok(false);
        }
        let copy = self.copy_in_memory()?;
        // The settings of the host's connection that DDL depends on (the run turned foreign keys off on
        // its own connection and remembers whether the host had them on).
        let mut settings = String::new();
        for setting in ["legacy_alter_table", "trusted_schema", "recursive_triggers"] {
            let on: i64 = self
                .conn
                .query_row(&format!("PRAGMA {setting}"), [], |r| r.get(0))
                .map_err(|e| context("reading the connection's settings for the page copy", e))?;
            settings.push_str(&format!("PRAGMA {setting} = {on};"));
        }
        if self.foreign_keys_were_on {
            settings.push_str("PRAGMA foreign_keys = ON;");
        }
        copy.execute_batch(&settings)
            .map_err(|e| context("configuring the page copy", e))?;
        debug!(bytes, "page copy made in memory");
        let result = run(&mut Sqlite::new(&copy));
        let _ = copy.execute_batch("ROLLBACK");
        result.map(|()| true)
    }

    /// The database as this connection sees it, deserialized into a new in-memory connection.
    fn copy_in_memory(&self) -> Result<Connection, Error> {
        let image = self
            .conn
            .serialize(MAIN_DB)
            .map_err(|e| context("copying the database's pages", e))?;
        let Some(body) = image.get(HEADER..) else {
            return Err(Error::Database {
                context: "copying the database's pages".into(),
                source: crate::engine::DbError::new(
                    crate::engine::DbErrorKind::Other,
                    format!("the copy holds {} bytes, less than a header", image.len()),
                ),
            });
        };
        // A WAL database's header asks for a WAL file, which an in-memory database cannot have: the
        // copy says rollback journal instead (the pages are the same).
        let mut header = [0u8; HEADER];
        header.copy_from_slice(&image[..HEADER]);
        for at in FORMAT_VERSIONS {
            if header[at] == 2 {
                header[at] = 1;
            }
        }
        let mut copy =
            Connection::open_in_memory().map_err(|e| context("creating the page copy", e))?;
        copy.deserialize_read_exact(MAIN_DB, header.as_slice().chain(body), image.len(), false)
            .map_err(|e| context("opening the page copy", e))?;
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ScratchCopy, Value};

    fn names(engine: &mut dyn Engine) -> Vec<String> {
        engine
            .query("SELECT name FROM sqlite_schema ORDER BY name")
            .unwrap()
            .into_iter()
            .map(|row| match &row[0] {
                Value::Text(name) => name.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// The copy holds what the run's transaction holds, uncommitted rows and schema included, in
    /// rollback-journal and WAL databases alike; what is done on it leaves the database untouched.
    #[test]
    fn the_copy_is_the_transactions_state_and_changes_on_it_stay_there() {
        for wal in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let conn = Connection::open(dir.path().join("db.sqlite")).unwrap();
            if wal {
                conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                    .unwrap();
            }
            conn.execute_batch(
                "CREATE TABLE kept (id INTEGER PRIMARY KEY, v TEXT);
                 INSERT INTO kept (v) VALUES ('committed');
                 BEGIN IMMEDIATE;
                 CREATE TABLE added (id INTEGER PRIMARY KEY);
                 CREATE INDEX added_id ON added (id);
                 INSERT INTO kept (v) VALUES ('uncommitted');",
            )
            .unwrap();
            let mut engine = Sqlite::new(&conn);
            let mut seen = (Vec::new(), Vec::new());
            let made = engine
                .with_page_copy(1 << 20, &mut |copy| {
                    seen.0 = names(copy);
                    seen.1 = copy.query("SELECT count(*) FROM kept").unwrap();
                    copy.execute("DROP TABLE added; DROP TABLE kept").unwrap();
                    assert!(names(copy).is_empty());
                    Ok(())
                })
                .unwrap();
            assert!(made, "wal = {wal}");
            assert_eq!(
                seen.0,
                ["added", "added_id", "kept"].map(String::from),
                "wal = {wal}"
            );
            assert_eq!(seen.1, vec![vec![Value::Int(2)]], "wal = {wal}");
            // The database and its transaction are as they were.
            let count: i64 = conn
                .query_row("SELECT count(*) FROM added, kept", [], |r| r.get(0))
                .unwrap();
            assert_eq!(count, 0);
            conn.execute_batch("COMMIT").unwrap();
            let kept: i64 = conn
                .query_row("SELECT count(*) FROM kept", [], |r| r.get(0))
                .unwrap();
            assert_eq!(kept, 2, "wal = {wal}");
        }
    }

    #[test]
    fn no_copy_of_a_database_larger_than_the_limit() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (v BLOB); INSERT INTO t VALUES (zeroblob(100000)); BEGIN IMMEDIATE;",
        )
        .unwrap();
        let mut ran = false;
        let made = Sqlite::new(&conn)
            .with_page_copy(50_000, &mut |_| {
                ran = true;
                Ok(())
            })
            .unwrap();
        assert!(!made && !ran);
    }

    #[test]
    fn the_copy_has_the_connections_settings() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA legacy_alter_table = ON; CREATE TABLE t (id INT); BEGIN;")
            .unwrap();
        let mut legacy = Vec::new();
        Sqlite::new(&conn)
            .with_page_copy(1 << 20, &mut |copy| {
                legacy = copy.query("PRAGMA legacy_alter_table").unwrap();
                Ok(())
            })
            .unwrap();
        assert_eq!(legacy, vec![vec![Value::Int(1)]]);
    }
}
