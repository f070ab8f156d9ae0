//! The progress table of backfills, `<history>_backfill`: one row per backfill migration with its cursor,
//! written in the same transaction as each batch. Created when the first backfill starts.

use std::time::Duration;

use crate::backfill::{BackfillState, Phase};
use crate::engine::{DbError, DbErrorKind, Dialect, Engine, Row, Value};
use crate::Error;

/// The progress table of one history table.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    table: String,
}

/// What a batch needs of the progress row, read under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub cursor: Option<i64>,
    pub phase: Phase,
    pub rows_done: u64,
    pub busy_ms: u64,
}

const COLUMNS: &str =
    "version, key_column, first_key, last_key, cursor_key, rows_done, batches, state, busy_ms";

impl Store {
    /// The progress table of the history table `history`.
    pub fn new(history: &str) -> Self {
        Self {
            table: format!("{history}_backfill"),
        }
    }

    fn db(&self, what: &str, e: DbError) -> Error {
        Error::Database {
            context: format!("{what} {}", self.table),
            source: e,
        }
    }

    /// Creates the table when it is missing.
    pub fn ensure(&self, engine: &mut dyn Engine) -> Result<(), Error> {
        let d = engine.dialect();
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (
    version     {big} PRIMARY KEY,
    checksum    {text},
    key_column  {text} NOT NULL,
    first_key   {big},
    last_key    {big},
    cursor_key  {big},
    rows_done   {big} NOT NULL,
    batches     {big} NOT NULL,
    state       {text} NOT NULL,
    busy_ms     {big} NOT NULL,
    started_at  {ts} NOT NULL,
    updated_at  {ts} NOT NULL,
    finished_at {ts} NULL,
    error       {text}
)",
            d.ident(&self.table),
            big = d.bigint,
            text = d.text,
            ts = d.timestamp,
        );
        engine.execute(&sql).map_err(|e| self.db("creating", e))
    }

    /// Every backfill's progress, by version; empty when no backfill ever started.
    pub fn read_all(&self, engine: &mut dyn Engine) -> Result<Vec<BackfillState>, Error> {
        let d = engine.dialect();
        let ts = |c: &str| d.timestamp_text.replace("{}", c);
        let sql = format!(
            "SELECT {COLUMNS}, {}, {}, {}, error FROM {} ORDER BY version",
            ts("started_at"),
            ts("updated_at"),
            ts("finished_at"),
            d.ident(&self.table)
        );
        match engine.query(&sql) {
            Ok(rows) => Ok(rows.iter().map(state).collect()),
            Err(e) if e.kind == DbErrorKind::MissingObject => Ok(Vec::new()),
            Err(e) => Err(self.db("reading", e)),
        }
    }

    /// The progress row of `version`, locking it until the transaction ends where the engine can (so
    /// that two processes take turns batch by batch). `Ok(None)`: there is none.
    pub fn cursor(
        &self,
        engine: &mut dyn Engine,
        version: u64,
        lock: bool,
    ) -> Result<Option<Cursor>, DbError> {
        let d = engine.dialect();
        // SQLite's transaction is the database's write lock already (BEGIN IMMEDIATE).
        let for_update = if lock && d.kind != crate::EngineKind::Sqlite {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT cursor_key, state, rows_done, busy_ms FROM {} WHERE version = {version}{for_update}",
            d.ident(&self.table)
        );
        let rows = engine.query(&sql)?;
        Ok(rows.first().map(|r| Cursor {
            cursor: cell(r, 0).and_then(Value::as_i64),
            phase: cell(r, 1)
                .and_then(Value::as_text)
                .and_then(|s| Phase::parse(&s))
                .unwrap_or(Phase::Running),
            rows_done: unsigned(r, 2),
            busy_ms: unsigned(r, 3),
        }))
    }

    /// The INSERT of a fresh progress row, or the reset of a finished one (a backfill rolled back and
    /// applied again starts over).
    pub fn start_sql(&self, d: &Dialect, fresh: &Fresh<'_>, existing: bool) -> String {
        let t = d.ident(&self.table);
        let (first, last) = (opt(fresh.first_key), opt(fresh.last_key));
        let (v, checksum, column) = (
            fresh.version,
            d.literal(fresh.checksum),
            d.literal(fresh.key_column),
        );
        if existing {
            format!(
                "UPDATE {t} SET checksum = {checksum}, key_column = {column}, first_key = {first}, last_key = {last}, cursor_key = NULL, rows_done = 0, batches = 0, state = 'running', busy_ms = 0, started_at = {now}, updated_at = {now}, finished_at = NULL, error = NULL WHERE version = {v}",
                now = d.now
            )
        } else {
            format!(
                "INSERT INTO {t} (version, checksum, key_column, first_key, last_key, cursor_key, rows_done, batches, state, busy_ms, started_at, updated_at, finished_at, error)
                 VALUES ({v}, {checksum}, {column}, {first}, {last}, NULL, 0, 0, 'running', 0, {now}, {now}, NULL, NULL)",
                now = d.now
            )
        }
    }

    /// Moves the cursor from `from` to `to` with the batch's rows and time, only if it still is at
    /// `from` (the batch's claim: affects no row when another process moved it).
    pub fn advance_sql(
        &self,
        d: &Dialect,
        version: u64,
        from: Option<i64>,
        to: i64,
        rows: u64,
        ms: u64,
    ) -> String {
        let at = match from {
            Some(k) => format!("cursor_key = {k}"),
            None => "cursor_key IS NULL".to_string(),
        };
        format!(
            "UPDATE {} SET cursor_key = {to}, rows_done = rows_done + {rows}, batches = batches + 1, busy_ms = busy_ms + {ms}, updated_at = {} WHERE version = {version} AND {at} AND state = 'running'",
            d.ident(&self.table),
            d.now
        )
    }

    /// Marks the backfill done.
    pub fn finish_sql(&self, d: &Dialect, version: u64) -> String {
        format!(
            "UPDATE {} SET state = 'done', updated_at = {now}, finished_at = {now}, error = NULL WHERE version = {version}",
            d.ident(&self.table),
            now = d.now
        )
    }

    /// Sets the state (`running` to resume a failed one, `failed` with the error).
    pub fn set_state_sql(
        &self,
        d: &Dialect,
        version: u64,
        phase: Phase,
        error: Option<&str>,
    ) -> String {
        format!(
            "UPDATE {} SET state = '{phase}', error = {}, updated_at = {} WHERE version = {version} AND state <> 'done'",
            d.ident(&self.table),
            d.literal_or_null(error),
            d.now
        )
    }
}

/// A fresh progress row.
pub(crate) struct Fresh<'a> {
    pub version: u64,
    pub checksum: &'a str,
    pub key_column: &'a str,
    pub first_key: Option<i64>,
    pub last_key: Option<i64>,
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

fn cell(row: &Row, i: usize) -> Option<&Value> {
    row.get(i).filter(|v| **v != Value::Null)
}

fn unsigned(row: &Row, i: usize) -> u64 {
    cell(row, i).and_then(Value::as_i64).unwrap_or(0).max(0) as u64
}

fn text(row: &Row, i: usize) -> Option<String> {
    cell(row, i).and_then(Value::as_text)
}

fn state(r: &Row) -> BackfillState {
    BackfillState {
        version: unsigned(r, 0),
        key_column: text(r, 1).unwrap_or_default(),
        first_key: cell(r, 2).and_then(Value::as_i64),
        last_key: cell(r, 3).and_then(Value::as_i64),
        cursor: cell(r, 4).and_then(Value::as_i64),
        rows_done: unsigned(r, 5),
        batches: unsigned(r, 6),
        phase: text(r, 7)
            .and_then(|s| Phase::parse(&s))
            .unwrap_or(Phase::Running),
        busy: Duration::from_millis(unsigned(r, 8)),
        started_at: text(r, 9).unwrap_or_default(),
        updated_at: text(r, 10).unwrap_or_default(),
        finished_at: text(r, 11),
        error: text(r, 12),
    }
}
