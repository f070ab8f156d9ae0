//! SQLite's schema-only copy (capability [`super::ScratchCopy::with_schema_copy`]): an in-memory
//! database built from the `CREATE` statements the run's connection sees now, inside its transaction,
//! without a row. The rehearsal runs there the DOWN and UP again of a migration whose outcome the rows
//! cannot change, instead of rewriting a table of millions of rows in place only to roll it back.
//!
//! The copy is refused (the caller rehearses in place) where it could answer differently from the
//! database: with `legacy_alter_table` on (a renamed table's foreign keys are then left pointing at the
//! old name, and the foreign-key check after the migration reports every child row, a count the rows
//! decide), when one of the migration's tables is `STRICT` (an added column's `DEFAULT` is checked
//! against the declared type only when the table holds rows), when the schema holds a virtual table
//! (its shadow tables cannot be created again by their `CREATE`), and when any `CREATE` fails on the
//! fresh connection (a function the host registered on its own connection, say).

use rusqlite::Connection;
use tracing::debug;

use super::sqlite::{context, Sqlite};
use super::Engine;
use crate::Error;

/// One entry of `sqlite_schema`.
struct Entry {
    kind: String,
    name: String,
    sql: String,
}

impl Sqlite<'_> {
    /// See [`super::ScratchCopy::with_schema_copy`].
    pub(super) fn schema_copy(
        &mut self,
        tables: &[&str],
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let legacy: i64 = self
            .conn
            .query_row("PRAGMA legacy_alter_table", [], |r| r.get(0))
            .map_err(|e| context("reading legacy_alter_table", e))?;
        if legacy != 0 {
            debug!("no schema-only copy: legacy_alter_table is on");
            return Ok(false);
        }
        let entries = self.schema_entries()?;
        if let Some(reason) = refusal(&entries, tables) {
            debug!(reason, "no schema-only copy");
            return Ok(false);
        }
        let copy = Connection::open_in_memory()
            .map_err(|e| context("creating the schema-only copy", e))?;
        if let Err(e) = build(&copy, &entries) {
            debug!(error = %e, "no schema-only copy: a CREATE of the schema fails on a new connection");
            return Ok(false);
        }
        // The copy behaves as the host's connection does (foreign keys are checked after each migration
        // when the host turned them on).
        if self.foreign_keys_were_on {
            copy.execute_batch("PRAGMA foreign_keys = ON")
                .map_err(|e| context("configuring the schema-only copy", e))?;
        }
        debug!(objects = entries.len(), "schema-only copy made");
        let result = run(&mut Sqlite::new(&copy));
        let _ = copy.execute_batch("ROLLBACK");
        result.map(|()| true)
    }

    /// Every entry with SQL of `sqlite_schema` (the automatic indexes have none), in creation order.
    fn schema_entries(&self) -> Result<Vec<Entry>, Error> {
        let read = || -> rusqlite::Result<Vec<Entry>> {
            let mut stmt = self.conn.prepare(
                "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Entry {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    sql: r.get(2)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| context("reading the schema for its copy", e))
    }
}

/// Why the copy could answer differently from the database, if it could.
fn refusal(entries: &[Entry], tables: &[&str]) -> Option<&'static str> {
    for entry in entries {
        let words = migrator_format::statement_words(&entry.sql).unwrap_or_default();
        if words.get(1).map(String::as_str) == Some("VIRTUAL") {
            return Some("the schema holds a virtual table");
        }
        let named = tables.iter().any(|t| t.eq_ignore_ascii_case(&entry.name));
        if entry.kind == "table" && named && is_strict(&words) {
            return Some("a table of the migration is STRICT");
        }
    }
    None
}

/// `true` when the table options after the column list's closing parenthesis include `STRICT`.
fn is_strict(words: &[String]) -> bool {
    let Some(close) = words.iter().rposition(|w| w == ")") else {
        return false;
    };
    words[close + 1..].iter().any(|w| w == "STRICT")
}

/// Creates the entries on `copy`: tables first, then indexes, views and triggers, each kind in creation
/// order (a trigger or an index needs its table; a view is made after the tables it reads). SQLite's own
/// tables (`sqlite_sequence`, `sqlite_stat1`) are made by SQLite or not needed.
fn build(copy: &Connection, entries: &[Entry]) -> rusqlite::Result<()> {
    copy.execute_batch("BEGIN")?;
    for kind in ["table", "index", "view", "trigger"] {
        for entry in entries.iter().filter(|e| e.kind == kind) {
            if entry.name.to_ascii_lowercase().starts_with("sqlite_") {
                continue;
            }
            copy.execute_batch(&entry.sql)?;
        }
    }
    copy.execute_batch("COMMIT")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ScratchCopy, Value};

    fn words(sql: &str) -> Vec<String> {
        migrator_format::statement_words(sql).unwrap()
    }

    #[test]
    fn strict_is_a_table_option_not_a_column_name() {
        assert!(is_strict(&words("CREATE TABLE t (a INT) STRICT")));
        assert!(is_strict(&words(
            "create table t (a int) without rowid, strict"
        )));
        assert!(!is_strict(&words("CREATE TABLE t (strict INT, b TEXT)")));
        assert!(!is_strict(&words("CREATE TABLE t (a INT)")));
    }

    #[test]
    fn the_copy_holds_the_schema_the_transaction_sees_and_no_row() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE);
             CREATE VIEW v AS SELECT email FROM b;
             CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id), note TEXT);
             CREATE INDEX b_note ON b (note);
             CREATE TRIGGER a_touch AFTER UPDATE ON a BEGIN UPDATE b SET note = 'x'; END;
             INSERT INTO a (email) VALUES ('one@example.com');
             BEGIN; ALTER TABLE b ADD COLUMN email TEXT;",
        )
        .unwrap();
        let mut engine = Sqlite::new(&conn);
        let mut seen = Vec::new();
        let made = engine
            .with_schema_copy(&["b"], &mut |copy| {
                let rows = copy.query("SELECT type, name FROM sqlite_schema ORDER BY type, name");
                seen = rows
                    .unwrap()
                    .into_iter()
                    .map(|r| format!("{r:?}"))
                    .collect();
                let count = copy.query("SELECT count(*) FROM a").unwrap();
                assert_eq!(count, vec![vec![Value::Int(0)]]);
                // The view reads the column added in the transaction: the copy refuses to drop it, as
                // the database does.
                let refused = copy.execute("ALTER TABLE b DROP COLUMN email").unwrap_err();
                assert!(refused.message.contains("error in view v"), "{refused:?}");
                copy.execute("DROP VIEW v; ALTER TABLE b DROP COLUMN email")
                    .unwrap();
                Ok(())
            })
            .unwrap();
        assert!(made);
        assert_eq!(
            seen.len(),
            7,
            "every object, SQLite's own included: {seen:?}"
        );
        // The database itself is as it was: the view and the column added in its transaction are there.
        conn.execute_batch("SELECT email FROM v").unwrap();
        let refused = conn
            .execute_batch("ALTER TABLE b DROP COLUMN email")
            .unwrap_err();
        assert!(refused.to_string().contains("error in view v"), "{refused}");
    }

    #[test]
    fn refused_where_the_rows_could_answer_differently() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE s (id INTEGER PRIMARY KEY, n INT) STRICT; CREATE TABLE t (id INT)",
        )
        .unwrap();
        let mut engine = Sqlite::new(&conn);
        let mut ran = false;
        let mut probe = |_: &mut dyn Engine| {
            ran = true;
            Ok(())
        };
        assert!(!engine.with_schema_copy(&["s"], &mut probe).unwrap());
        assert!(engine.with_schema_copy(&["t"], &mut probe).unwrap());
        conn.execute_batch("PRAGMA legacy_alter_table = ON")
            .unwrap();
        assert!(!engine.with_schema_copy(&["t"], &mut probe).unwrap());
        assert!(ran);
    }
}
