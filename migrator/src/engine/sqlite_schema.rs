//! SQLite's schema fingerprint and size statistics (capabilities of [`Sqlite`]): the rehearsal compares
//! fingerprints, the row limit and the preview read the statistics.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};
use tracing::debug;

use super::sqlite::{context as db_context, quote_ident, Sqlite};
use super::sqlite_schema_mirror::{SchemaMirror, SchemaRow as Entry};
use super::{EngineKind, Fingerprint, SchemaObject, Stats, TableStats};
use crate::Error;

impl Fingerprint for Sqlite<'_> {
    fn schema_fingerprint(
        &mut self,
        tables: Option<&[&str]>,
        exclude: &[&str],
        _unattached: bool,
    ) -> Result<Vec<SchemaObject>, Error> {
        // Every SQLite object belongs to a table (`tbl_name`; a view or a trigger to itself or its table).
        let entries = match tables {
            Some(scope) if self.incremental => self.mirrored_entries(scope),
            _ => scanned_entries(self.conn, tables),
        };
        entries
            .and_then(|entries| describe_all(self.conn, entries, exclude, &mut self.fingerprints))
            .map_err(|e| db_context("reading the schema", e))
    }

    fn read_incrementally(&mut self, on: bool) {
        self.incremental = on;
        self.mirror = None;
    }
}

impl Stats for Sqlite<'_> {
    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error> {
        let context = format!("reading the size of table {table}");
        let err = |e| db_context(&context, e);
        let Some(name) = self.table_name(table).map_err(err)? else {
            return Ok(None);
        };
        let stat1 = if exact {
            None
        } else {
            self.stat1_rows(&name).map_err(err)?
        };
        let (rows, exact) = match stat1 {
            Some(rows) => (rows, false),
            None => (self.count(&name, None).map_err(err)?, true),
        };
        let (table_bytes, index_bytes) = self.table_bytes(&name).map_err(err)?;
        debug!(table = %name, rows, exact, table_bytes, index_bytes, "table stats");
        Ok(Some(TableStats {
            table: table.to_string(),
            rows,
            exact,
            table_bytes,
            index_bytes,
        }))
    }

    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        let Some(count_sql) = migrator_format::rows_select(sql, EngineKind::Sqlite, "count(*)")
        else {
            return Ok(None);
        };
        match self.conn.query_row(&count_sql, [], |r| r.get::<_, i64>(0)) {
            Ok(n) => Ok(Some(n.max(0) as u64)),
            // A table or column an earlier pending migration creates: nothing to count yet.
            Err(e) if is_missing_object(&e) => {
                debug!(error = %e, "estimate_rows: object does not exist yet");
                Ok(None)
            }
            Err(e) => Err(db_context("counting the rows an UPDATE/DELETE touches", e)),
        }
    }

    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        // SQLite's estimate is already a count.
        self.estimate_rows(sql)
    }

    fn key_width(&mut self, table: &str, columns: &[&str]) -> Result<Option<f64>, Error> {
        let context = format!("reading the key width of table {table}");
        let Some(name) = self
            .table_name(table)
            .map_err(|e| db_context(&context, e))?
        else {
            return Ok(None);
        };
        let mut parts = Vec::new();
        for column in columns {
            let exists: bool = self
                .conn
                .query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
                    [name.as_str(), column],
                    |r| r.get(0),
                )
                .map_err(|e| db_context(&context, e))?;
            if !exists {
                return Ok(None);
            }
            parts.push(format!("coalesce(length({}), 0)", quote_ident(column)));
        }
        if parts.is_empty() {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!(
                    "SELECT avg({}) FROM (SELECT * FROM {} LIMIT 1000)",
                    parts.join(" + "),
                    quote_ident(&name)
                ),
                [],
                |r| r.get::<_, Option<f64>>(0),
            )
            .map_err(|e| db_context(&context, e))
    }

    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error> {
        let context = format!("counting the rows of table {table}");
        let name = self
            .table_name(table)
            .map_err(|e| db_context(&context, e))?
            .ok_or_else(|| Error::Database {
                context: context.clone(),
                source: crate::engine::DbError::new(
                    crate::engine::DbErrorKind::MissingObject,
                    format!("no such table: {table}"),
                ),
            })?;
        self.count(&name, non_null)
            .map_err(|e| db_context(&context, e))
    }

    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error> {
        let started = Instant::now();
        self.conn
            .execute_batch(sql)
            .map_err(|e| db_context("running the calibration sample", e))?;
        Ok(started.elapsed())
    }
}

impl Sqlite<'_> {
    /// The table's name as the schema spells it, `None` when there is no such table.
    fn table_name(&self, table: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                [table],
                |r| r.get(0),
            )
            .optional()
    }

    /// The row count `ANALYZE` stored in `sqlite_stat1` (the first number of a `stat` entry).
    fn stat1_rows(&self, table: &str) -> rusqlite::Result<Option<u64>> {
        let has_stat1: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'",
            [],
            |r| r.get(0),
        )?;
        if !has_stat1 {
            return Ok(None);
        }
        let stat: Option<String> = self
            .conn
            .query_row(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 LIMIT 1",
                [table],
                |r| r.get(0),
            )
            .optional()?;
        Ok(stat.and_then(|s| s.split_whitespace().next()?.parse().ok()))
    }

    /// `count(*)`, or `count(column)` (its non-NULL values). A column that does not exist is an error
    /// (SQLite would read a double-quoted unknown name as a string literal and count every row).
    fn count(&self, table: &str, non_null: Option<&str>) -> rusqlite::Result<u64> {
        if let Some(column) = non_null {
            let exists: bool = self.conn.query_row(
                "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
                [table, column],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(format!("no such column: {column}")),
                ));
            }
        }
        let what = non_null.map_or_else(|| "*".to_string(), quote_ident);
        let n: i64 = self.conn.query_row(
            &format!("SELECT count({what}) FROM {}", quote_ident(table)),
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Bytes of the table's b-tree and of its indexes' b-trees, from the `dbstat` virtual table (0 and 0,
    /// with a debug event, when this SQLite was built without it).
    fn table_bytes(&self, table: &str) -> rusqlite::Result<(u64, u64)> {
        let size = |name: &str| -> rusqlite::Result<u64> {
            self.conn
                .query_row(
                    "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?1 AND aggregate = TRUE",
                    [name],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n.max(0) as u64)
        };
        let table_bytes = match size(table) {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e, "dbstat unavailable: table sizes unknown");
                return Ok((0, 0));
            }
        };
        let mut stmt = self.conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 COLLATE NOCASE",
        )?;
        let indexes = stmt
            .query_map([table], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut index_bytes = 0;
        for index in &indexes {
            index_bytes += size(index)?;
        }
        Ok((table_bytes, index_bytes))
    }
}

/// `true` for "no such table" / "no such column" (an object an earlier pending migration creates).
fn is_missing_object(e: &rusqlite::Error) -> bool {
    let message = e.to_string();
    message.contains("no such table") || message.contains("no such column")
}

/// The `sqlite_schema` rows of `tables` (all without), as (type, name, table, SQL text).
///
/// A scope is filtered by SQLite itself: the catalog has no index, and a rehearsal asks for the few
/// tables of one migration thousands of times, so a scan in C instead of a row-by-row one in Rust, with
/// a collation rather than a function call per row (`lower()` made the scan three times slower; both
/// fold ASCII only). The scan stays proportional to the schema, as SQLite's own DDL is: each CREATE
/// re-reads the catalog the same way (a rehearsal that may read incrementally uses the mirror instead).
fn scanned_entries(conn: &Connection, tables: Option<&[&str]>) -> rusqlite::Result<Vec<Entry>> {
    let scope_sql = tables.map_or(String::new(), |scope| {
        let names: Vec<String> = scope
            .iter()
            .map(|t| format!("'{}'", t.replace('\'', "''")))
            .collect();
        format!("WHERE tbl_name COLLATE NOCASE IN ({})", names.join(", "))
    });
    let mut query = conn.prepare_cached(&format!(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema {scope_sql}"
    ))?;
    let rows = query.query_map([], |row| {
        Ok(Entry {
            kind: row.get(0)?,
            name: row.get(1)?,
            table: row.get(2)?,
            sql: row.get(3)?,
        })
    })?;
    rows.collect()
}

impl Sqlite<'_> {
    /// The rows of `scope` from the mirror of `sqlite_schema`, brought up to date first (read whole
    /// when there is none yet or when it is out of step).
    fn mirrored_entries(&mut self, scope: &[&str]) -> rusqlite::Result<Vec<Entry>> {
        let in_step = match self.mirror.as_mut() {
            // Nothing ran since the last read (the read before an UP, right after the read after the
            // previous one): the mirror is what the table holds.
            Some(_) if self.mirror_read_at == self.statements_run => true,
            Some(mirror) => mirror.refresh(self.conn, scope)?,
            None => false,
        };
        if !in_step {
            self.mirror = Some(SchemaMirror::load(self.conn)?);
        }
        self.mirror_read_at = self.statements_run;
        let rows = self
            .mirror
            .as_ref()
            .map_or_else(Vec::new, |m| m.rows_of(scope));
        Ok(rows.into_iter().cloned().collect())
    }
}

/// SQLite's schema as comparable objects: each table's columns (`pragma_table_xinfo`), foreign keys
/// (`pragma_foreign_key_list`) and CHECK constraints (from its text), and the normalised text of every
/// index, view and trigger, for `entries` without SQLite's own (`sqlite_` names) and the tables of
/// `exclude`. Structural where SQLite can tell, so that a DOWN that rebuilds a table with other
/// formatting still compares equal.
fn describe_all(
    conn: &Connection,
    entries: Vec<Entry>,
    exclude: &[&str],
    cache: &mut std::collections::HashMap<(String, String, String), Vec<SchemaObject>>,
) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut objects = Vec::new();
    for entry in entries {
        // `NOT LIKE 'sqlite\_%'`, as SQLite itself folds it.
        let own = entry
            .name
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("sqlite_"));
        if own || exclude.iter().any(|t| t.eq_ignore_ascii_case(&entry.table)) {
            continue;
        }
        let key = (entry.kind, entry.name, entry.sql);
        if let Some(known) = cache.get(&key) {
            objects.extend(known.iter().cloned());
            continue;
        }
        let described = describe_entry(conn, &key.0, &key.1, &key.2)?;
        objects.extend(described.iter().cloned());
        cache.insert(key, described);
    }
    objects.sort();
    Ok(objects)
}

/// The fingerprint objects of one schema entry.
fn describe_entry(
    conn: &Connection,
    kind: &str,
    name: &str,
    sql: &str,
) -> rusqlite::Result<Vec<SchemaObject>> {
    let object = |kind: &str, name: String, definition: String| SchemaObject {
        kind: kind.to_string(),
        name,
        definition,
    };
    let text = normalise_sql(sql);
    if kind != "table" {
        return Ok(vec![object(kind, name.to_string(), text)]);
    }
    // The PRAGMA statements rather than their table-valued functions: right after a schema change every
    // statement is prepared again, and these prepare in half the time. A name as a string literal.
    let literal = format!("'{}'", name.replace('\'', "''"));
    let mut objects = Vec::new();
    let mut columns = conn.prepare(&format!("PRAGMA table_xinfo({literal})"))?;
    let rows = columns.query_map([], |r| {
        Ok((
            r.get::<_, String>(1)?,
            format!(
                "{} notnull={} default={} pk={} hidden={} #{}",
                r.get::<_, String>(2)?.to_uppercase(),
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(0)? + 1
            ),
        ))
    })?;
    for row in rows {
        let (column, definition) = row?;
        objects.push(object("column", format!("{name}.{column}"), definition));
    }
    // A foreign key is declared with REFERENCES; a text without the word has none.
    if text.contains("references") {
        objects.extend(foreign_keys(conn, name, &literal)?);
    }
    for check in check_clauses(&text) {
        objects.push(object("check", name.to_string(), check));
    }
    objects.push(object("table", name.to_string(), String::new()));
    Ok(objects)
}

/// The foreign keys of table `name` (`literal`: the name as a string literal), one object per key.
fn foreign_keys(
    conn: &Connection,
    name: &str,
    literal: &str,
) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut keys = conn.prepare(&format!("PRAGMA foreign_key_list({literal})"))?;
    let mut rows: Vec<(i64, i64, String, String, String, String)> = keys
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                format!(
                    "on update {} on delete {}",
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?
                ),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.sort_by_key(|(id, seq, ..)| (*id, *seq));
    let mut foreign: Vec<(i64, String, String, String, String)> = Vec::new();
    for (id, _, from, table, to, actions) in rows {
        match foreign.last_mut() {
            Some(last) if last.0 == id => {
                last.1.push_str(&format!(",{from}"));
                last.3.push_str(&format!(",{to}"));
            }
            _ => foreign.push((id, from, table, to, actions)),
        }
    }
    Ok(foreign
        .into_iter()
        .map(|(_, from, table, to, actions)| SchemaObject {
            kind: "foreign key".to_string(),
            name: format!("{name}({from})"),
            definition: format!("references {table}({to}) {actions}"),
        })
        .collect())
}

/// SQLite keeps DDL as written: lower-cased, quotes dropped, white space collapsed and dropped around
/// punctuation, so that `ON "t" (x)` and `on t(x)` compare equal.
fn normalise_sql(sql: &str) -> String {
    let lowered: String = sql
        .chars()
        .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
        .flat_map(char::to_lowercase)
        .collect();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let mut out = String::with_capacity(lowered.len());
    for word in words {
        let glue = out
            .chars()
            .last()
            .is_some_and(|c| matches!(c, '(' | ',' | '=' | '<' | '>'))
            || word.starts_with([')', '(', ',', '=', '<', '>']);
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The `check(...)` clauses of a normalised CREATE TABLE text, parentheses balanced and quotes respected.
fn check_clauses(text: &str) -> Vec<String> {
    let mut clauses = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("check(") {
        let body = &rest[start..];
        let mut depth = 0usize;
        let mut in_string = false;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '\'' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        clauses.push(body[..end].to_string());
        rest = &body[end..];
    }
    clauses
}
