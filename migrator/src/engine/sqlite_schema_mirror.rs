//! A copy of `sqlite_schema`'s rows by rowid, so that a rehearsal's scoped reads cost what the scope
//! holds rather than what the schema holds.
//!
//! `sqlite_schema` has no index: finding the rows of one table is a scan of every row, about 0.1 ms per
//! 1,000 objects, and the short rehearsal path reads a scope three times per migration (1,000 pending
//! migrations: 0.86 s of a 1.7 s boot, against 0.47 s for the apply alone). Rows found by rowid are a
//! b-tree seek each. The mirror knows every row's rowid, name and table; a read of a scope reads again
//! every row whose name or table is in the scope (its text may have changed, a dropped one is gone, a
//! rowid freed at the top may have gone to a new row) and every row from the newest it knew up (SQLite
//! gives a new row the largest rowid plus one). When that newest row changed although the scope does not
//! name it, a rowid may have been freed and given again outside the scope, and the whole table is read
//! again.
//!
//! That is exact while the schema changes through DDL statements whose dropped objects and renamed
//! tables are named in the scope that is read next, and nothing is rolled back: rows of other scopes are
//! then only rewritten (a rename changes the text of the views that use the table), and each is read
//! again before a read returns it. The caller promises it ([`super::Fingerprint::read_incrementally`]);
//! the engine drops the mirror on any `ROLLBACK`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::Connection;
use tracing::debug;

/// One row of `sqlite_schema`: type, name, table and SQL text (empty for automatic indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SchemaRow {
    pub kind: String,
    pub name: String,
    pub table: String,
    pub sql: String,
}

/// `sqlite_schema` as last read, by rowid.
#[derive(Debug, Default)]
pub(super) struct SchemaMirror {
    rows: BTreeMap<i64, SchemaRow>,
    /// Rowids under each lower-cased name and table name.
    by_name: HashMap<String, BTreeSet<i64>>,
    /// How far below the newest row a scope's oldest row may be for a refresh to read every row from it
    /// up ([`NEAR_THE_TOP`]; the tests try 0 too).
    near_the_top: i64,
}

const COLUMNS: &str = "SELECT rowid, type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema";

/// How far below the newest row a scope's oldest row may be for a refresh to read every row from it up.
const NEAR_THE_TOP: i64 = 64;

/// A [`SchemaRow`] from the columns after the rowid of [`COLUMNS`].
fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<SchemaRow> {
    Ok(SchemaRow {
        kind: row.get(1)?,
        name: row.get(2)?,
        table: row.get(3)?,
        sql: row.get(4)?,
    })
}

impl SchemaMirror {
    /// Every row of `sqlite_schema`.
    pub fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut mirror = Self {
            near_the_top: NEAR_THE_TOP,
            ..Self::default()
        };
        mirror.read_into(conn, &format!("{COLUMNS} WHERE rowid >= ?1"), i64::MIN)?;
        Ok(mirror)
    }

    /// Brings the rows of `scope` and the table's new rows up to date. `Ok(false)` when the newest row
    /// it knew changed outside the scope (a rowid freed at the top may have gone to a new row): the
    /// caller loads the table again.
    ///
    /// Each statement after a schema change is prepared again, most of a read's cost, so a read is one
    /// statement where it can be: every row from the oldest row of the scope up, when that is near the
    /// newest (a migration's own objects, and the DOWNs, newest first), else each row of the scope by
    /// rowid and the rows from the newest up.
    pub fn refresh(&mut self, conn: &Connection, scope: &[&str]) -> rusqlite::Result<bool> {
        let mut again = BTreeSet::new();
        for name in scope {
            if let Some(rowids) = self.by_name.get(&name.to_ascii_lowercase()) {
                again.extend(rowids.iter().copied());
            }
        }
        let newest = self.rows.last_key_value().map(|(r, row)| (*r, row.clone()));
        let top = newest.as_ref().map_or(0, |(r, _)| *r);
        let newest_in_scope = again.contains(&top);
        let from = again.first().copied().unwrap_or(top).min(top);
        let from = if top - from <= self.near_the_top {
            from
        } else {
            let mut by_rowid = conn.prepare_cached(&format!("{COLUMNS} WHERE rowid = ?1"))?;
            for rowid in again.range(..top) {
                self.remove(*rowid);
                let mut rows = by_rowid.query([rowid])?;
                if let Some(row) = rows.next()? {
                    self.insert(*rowid, row_of(row)?);
                }
            }
            top
        };
        // From `from` up, the mirror becomes what the table holds.
        let stale: Vec<i64> = self.rows.range(from..).map(|(r, _)| *r).collect();
        for rowid in stale {
            self.remove(rowid);
        }
        self.read_into(conn, &format!("{COLUMNS} WHERE rowid >= ?1"), from)?;
        let in_step = match &newest {
            Some((rowid, row)) if !newest_in_scope => self.rows.get(rowid) == Some(row),
            _ => true,
        };
        if !in_step {
            debug!(
                "sqlite_schema's newest row changed outside the scope read: reading it whole again"
            );
        }
        Ok(in_step)
    }

    /// The rows whose table is one of `scope` (compared as SQLite compares names: ASCII case folded).
    pub fn rows_of<'m>(&'m self, scope: &[&str]) -> Vec<&'m SchemaRow> {
        let mut rowids = BTreeSet::new();
        for name in scope {
            if let Some(found) = self.by_name.get(&name.to_ascii_lowercase()) {
                rowids.extend(found.iter().copied());
            }
        }
        rowids
            .into_iter()
            .filter_map(|rowid| self.rows.get(&rowid))
            .filter(|row| scope.iter().any(|t| t.eq_ignore_ascii_case(&row.table)))
            .collect()
    }

    fn read_into(&mut self, conn: &Connection, sql: &str, bound: i64) -> rusqlite::Result<()> {
        let mut statement = conn.prepare_cached(sql)?;
        let mut rows = statement.query([bound])?;
        while let Some(row) = rows.next()? {
            self.insert(row.get(0)?, row_of(row)?);
        }
        Ok(())
    }

    fn insert(&mut self, rowid: i64, row: SchemaRow) {
        self.remove(rowid);
        for key in [
            row.name.to_ascii_lowercase(),
            row.table.to_ascii_lowercase(),
        ] {
            self.by_name.entry(key).or_default().insert(rowid);
        }
        self.rows.insert(rowid, row);
    }

    fn remove(&mut self, rowid: i64) {
        let Some(old) = self.rows.remove(&rowid) else {
            return;
        };
        for key in [
            old.name.to_ascii_lowercase(),
            old.table.to_ascii_lowercase(),
        ] {
            if let Some(rowids) = self.by_name.get_mut(&key) {
                rowids.remove(&rowid);
                if rowids.is_empty() {
                    self.by_name.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(conn: &Connection, scope: &[&str]) -> Vec<SchemaRow> {
        let mut statement = conn.prepare(&format!("{COLUMNS} ORDER BY rowid")).unwrap();
        let rows = statement
            .query_map([], |r| {
                Ok(SchemaRow {
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    table: r.get(3)?,
                    sql: r.get(4)?,
                })
            })
            .unwrap();
        rows.map(Result::unwrap)
            .filter(|row| scope.iter().any(|t| t.eq_ignore_ascii_case(&row.table)))
            .collect()
    }

    fn mirrored(mirror: &mut SchemaMirror, conn: &Connection, scope: &[&str]) -> Vec<SchemaRow> {
        if !mirror.refresh(conn, scope).unwrap() {
            *mirror = SchemaMirror {
                near_the_top: mirror.near_the_top,
                ..SchemaMirror::load(conn).unwrap()
            };
        }
        mirror.rows_of(scope).into_iter().cloned().collect()
    }

    /// Each step's DDL, the scope its migration names, and the rows a scan finds there: the mirror must
    /// find the same, whatever the DDL did to rowids (freed at the top and given again, renamed tables,
    /// rows of other scopes dropped).
    #[test]
    fn a_scope_read_from_the_mirror_is_what_a_scan_finds() {
        // Each scope read from its oldest row up, and each row of a scope read by rowid.
        for near_the_top in [NEAR_THE_TOP, 0] {
            reads_as_a_scan(near_the_top);
        }
    }

    fn reads_as_a_scan(near_the_top: i64) {
        let load = |conn: &Connection| SchemaMirror {
            near_the_top,
            ..SchemaMirror::load(conn).unwrap()
        };
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT UNIQUE);
             CREATE INDEX a_v ON a (v);
             CREATE TABLE b (id INTEGER PRIMARY KEY AUTOINCREMENT, a_id REFERENCES a (id));
             CREATE TRIGGER b_touch AFTER INSERT ON b BEGIN SELECT 1; END;
             CREATE VIEW v AS SELECT * FROM a;",
        )
        .unwrap();
        let mut mirror = load(&conn);
        let steps: [(&str, &[&str]); 9] = [
            ("CREATE TABLE c (id INTEGER PRIMARY KEY, x TEXT)", &["c"]),
            ("CREATE INDEX c_x ON c (x)", &["c", "c_x"]),
            // The top row dropped and its rowid given to the next object.
            (
                "DROP INDEX c_x; CREATE TABLE d (id INT)",
                &["c", "c_x", "d"],
            ),
            ("ALTER TABLE a RENAME TO a2", &["a", "a2"]),
            ("ALTER TABLE a2 ADD COLUMN w TEXT", &["a2"]),
            ("ALTER TABLE a2 RENAME COLUMN w TO w2", &["a2"]),
            ("DROP TRIGGER b_touch", &["b", "b_touch"]),
            ("DROP TABLE b", &["b"]),
            ("CREATE VIEW w AS SELECT 1; DROP VIEW v", &["v", "w"]),
        ];
        for (sql, scope) in steps {
            conn.execute_batch(sql).unwrap();
            assert_eq!(
                mirrored(&mut mirror, &conn, scope),
                scanned(&conn, scope),
                "{sql} ({near_the_top})"
            );
        }
        // Outside the promise: a row dropped by a statement the scope read does not name. In the
        // middle it stays in the mirror until a read of its scope reads it again; at the top, where its
        // rowid goes to the next row, the mirror reads everything again.
        conn.execute_batch("DROP INDEX a_v").unwrap();
        assert_eq!(mirrored(&mut mirror, &conn, &["w"]), scanned(&conn, &["w"]));
        assert_eq!(
            mirrored(&mut mirror, &conn, &["a2"]),
            scanned(&conn, &["a2"])
        );
        conn.execute_batch("CREATE INDEX d_id ON d (id)").unwrap();
        assert_eq!(mirrored(&mut mirror, &conn, &["d"]), scanned(&conn, &["d"]));
        conn.execute_batch("DROP INDEX d_id; CREATE TABLE e (id INT)")
            .unwrap();
        assert!(!mirror.refresh(&conn, &["e"]).unwrap());
        let mut mirror = load(&conn);
        for scope in [&["a2"][..], &["c"], &["d"], &["e"], &["sqlite_sequence"]] {
            assert_eq!(mirrored(&mut mirror, &conn, scope), scanned(&conn, scope));
        }
    }
}
