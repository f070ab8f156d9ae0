//! MySQL and MariaDB through diesel's `MysqlConnection`: the core engine in one file (its capabilities,
//! backups with `mysqldump`, scratch databases, fingerprints and statistics from `information_schema`,
//! are in `mysql_copy.rs` and `mysql_schema.rs`, as PostgreSQL's are).
//!
//! Honest about the engine: DDL commits implicitly, so a migration cannot be atomic. Every migration runs
//! as a no-transaction migration does everywhere ([`Atomicity::None`]): its history row is claimed as
//! `running` (committed, under the primary key, so no other process can run it), its statements run one by
//! one, and the row becomes `applied` at the end. A failure part way leaves the statements before it in
//! the database and the row `failed`: the next boot refuses until an operator checks and runs
//! `--migrate-mark`. The lock is `GET_LOCK` on a dedicated connection kept alive by a heartbeat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::{Mysql, MysqlType, MysqlValue};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::row::{Field, NamedRow};
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};
use tracing::info;

use super::heartbeat::HeartbeatLock;
use super::{
    Atomicity, Backup, DbError, DbErrorKind, Dialect, Engine, EngineKind, Fingerprint, LockGuard,
    Row, ScratchCopy, Stats, Upsert, Value,
};
use crate::Error;

/// MySQL's dialect facts.
pub const DIALECT: Dialect = Dialect {
    kind: EngineKind::MySql,
    atomicity: Atomicity::None,
    begin: "START TRANSACTION",
    bigint: "BIGINT",
    text: "TEXT",
    timestamp: "DATETIME",
    serial_id: "BIGINT AUTO_INCREMENT PRIMARY KEY",
    now: "UTC_TIMESTAMP()",
    timestamp_text: "DATE_FORMAT({}, '%Y-%m-%d %H:%i:%s')",
    upsert: Upsert::OnDuplicateKey,
    backslash_escapes: true,
    e_strings: false,
    ident_quote: '`',
    elapsed_ms: None,
};

/// Opens a connection from a `mysql://user:password@host:port/database` URL.
pub fn connect(url: &str) -> Result<MysqlConnection, DieselError> {
    MysqlConnection::establish(url)
        .map_err(|e| DieselError::QueryBuilderError(e.to_string().into()))
}

/// The MySQL engine over the host's diesel connection; `url` opens the lock connection and is what
/// `mysqldump` and scratch copies connect with (the password through `MYSQL_PWD`, never argv).
pub struct MySql<'c> {
    conn: &'c mut MysqlConnection,
    pub(super) url: String,
    slot: Option<Arc<Mutex<Option<MysqlConnection>>>>,
}

impl<'c> MySql<'c> {
    /// Wraps the host's connection to the database `url` names.
    pub fn new(conn: &'c mut MysqlConnection, url: impl Into<String>) -> Self {
        Self {
            conn,
            url: url.into(),
            slot: None,
        }
    }

    pub(super) fn rows(&mut self, sql: &str) -> Result<Vec<Row>, DbError> {
        diesel::sql_query(sql)
            .load::<DynRow>(self.conn)
            .map(|rows| rows.into_iter().map(|r| r.0).collect())
            .map_err(db_error)
    }

    pub(super) fn text(&mut self, sql: &str) -> Option<String> {
        self.rows(sql).ok()?.first()?.first()?.as_text()
    }
}

/// A row of any shape, decoded from MySQL's binary protocol by type.
struct DynRow(Row);

impl QueryableByName<Mysql> for DynRow {
    fn build<'a>(row: &impl NamedRow<'a, Mysql>) -> diesel::deserialize::Result<Self> {
        let count = diesel::row::Row::field_count(row);
        let mut cells = Vec::with_capacity(count);
        for i in 0..count {
            let field = diesel::row::Row::get(row, i).ok_or("a column disappeared")?;
            cells.push(match field.value() {
                None => Value::Null,
                Some(value) => decode(&value)?,
            });
        }
        Ok(DynRow(cells))
    }
}

fn decode(value: &MysqlValue<'_>) -> diesel::deserialize::Result<Value> {
    let b = value.as_bytes();
    let le = |n: usize, signed: bool| -> diesel::deserialize::Result<i64> {
        let bytes = b.get(..n).ok_or("short integer")?;
        let raw = bytes
            .iter()
            .rev()
            .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        let shift = 64 - 8 * n as u32;
        Ok(if signed {
            ((raw << shift) as i64) >> shift
        } else {
            raw as i64
        })
    };
    Ok(match value.value_type() {
        MysqlType::Tiny => Value::Int(le(1, true)?),
        MysqlType::UnsignedTiny => Value::Int(le(1, false)?),
        MysqlType::Short => Value::Int(le(2, true)?),
        MysqlType::UnsignedShort => Value::Int(le(2, false)?),
        MysqlType::Long => Value::Int(le(4, true)?),
        MysqlType::UnsignedLong => Value::Int(le(4, false)?),
        MysqlType::LongLong | MysqlType::UnsignedLongLong => Value::Int(le(8, true)?),
        MysqlType::Float => Value::Float(f64::from(f32::from_bits(le(4, false)? as u32))),
        MysqlType::Double => Value::Float(f64::from_bits(le(8, false)? as u64)),
        MysqlType::Numeric => Value::Float(std::str::from_utf8(b)?.parse()?),
        MysqlType::String | MysqlType::Blob | MysqlType::Enum | MysqlType::Set => {
            Value::Text(String::from_utf8_lossy(b).into_owned())
        }
        other => {
            return Err(
                format!("a column of type {other:?} cannot be read here; cast it to CHAR").into(),
            )
        }
    })
}

/// diesel's error as the algorithm sees it.
pub(super) fn db_error(e: DieselError) -> DbError {
    let (kind, message) = match &e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            (DbErrorKind::UniqueViolation, info.message().to_string())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
            (DbErrorKind::ConnectionLost, info.message().to_string())
        }
        DieselError::DatabaseError(_, info) => (DbErrorKind::Other, info.message().to_string()),
        other => (DbErrorKind::Other, other.to_string()),
    };
    let kind = match kind {
        DbErrorKind::Other if message.contains("Lock wait timeout exceeded") => {
            DbErrorKind::LockTimeout
        }
        DbErrorKind::Other if message.contains("Deadlock found when trying to get lock") => {
            DbErrorKind::Conflict
        }
        DbErrorKind::Other
            if message.contains("doesn't exist") || message.contains("Unknown column") =>
        {
            DbErrorKind::MissingObject
        }
        DbErrorKind::Other
            if message.contains("server has gone away") || message.contains("Lost connection") =>
        {
            DbErrorKind::ConnectionLost
        }
        k => k,
    };
    DbError::new(kind, message)
}

pub(super) fn context(what: &str, e: DbError) -> Error {
    Error::Database {
        context: what.to_string(),
        source: e,
    }
}

impl Engine for MySql<'_> {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn lock(&mut self, name: &str, wait: Duration) -> Result<Box<dyn LockGuard>, Error> {
        let started = Instant::now();
        let mut conn = match self.slot.as_ref().and_then(|s| s.lock().ok()?.take()) {
            Some(conn) => conn,
            None => connect(&self.url).map_err(|e| {
                context(
                    "opening the dedicated connection for the lock",
                    DbError::new(
                        DbErrorKind::ConnectionLost,
                        crate::redact::url_in(&e.to_string(), &self.url),
                    ),
                )
            })?,
        };
        let database = self.text("SELECT DATABASE()").unwrap_or_default();
        // GET_LOCK names are at most 64 characters: the database and the table, hashed when longer.
        let mut key = format!("migrator:{database}/{name}");
        if key.len() > 64 {
            key = format!("migrator:{}", &crate::backup::short_hash(&key));
        }
        let sql = format!(
            "SELECT GET_LOCK({}, {})",
            DIALECT.literal(&key),
            wait.as_secs_f64().ceil().max(0.0)
        );
        let got = diesel::sql_query(sql)
            .load::<DynRow>(&mut conn)
            .map_err(|e| context("taking the lock", db_error(e)))?;
        if got
            .first()
            .and_then(|r| r.0.first())
            .and_then(Value::as_i64)
            != Some(1)
        {
            let holder = diesel::sql_query(format!(
                "SELECT CONCAT('connection ', IS_USED_LOCK({}))",
                DIALECT.literal(&key)
            ))
            .load::<DynRow>(&mut conn)
            .ok()
            .and_then(|r| r.first()?.0.first()?.as_text());
            return Err(Error::Lock {
                waited: started.elapsed(),
                message: format!(
                    "the MySQL lock {key} is held by {}",
                    holder.unwrap_or_else(|| "another session".into())
                ),
                setting: "lock_wait",
            });
        }
        info!(
            key,
            waited_ms = started.elapsed().as_millis() as u64,
            "lock taken"
        );
        let unlock = format!("DO RELEASE_LOCK({})", DIALECT.literal(&key));
        Ok(Box::new(HeartbeatLock::start(
            conn,
            unlock,
            self.slot.clone(),
            "MySQL",
        )))
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.batch_execute(sql).map_err(db_error)
    }

    fn execute_count(&mut self, sql: &str) -> Result<u64, DbError> {
        diesel::sql_query(sql)
            .execute(self.conn)
            .map(|n| n as u64)
            .map_err(db_error)
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>, DbError> {
        self.rows(sql)
    }

    fn session_timeouts(
        &mut self,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
    ) -> Result<String, DbError> {
        let restore = self
            .text("SELECT CONCAT('SET SESSION innodb_lock_wait_timeout = ', @@innodb_lock_wait_timeout, ', SESSION lock_wait_timeout = ', @@lock_wait_timeout, ', SESSION max_statement_time = ', @@max_statement_time)")
            .unwrap_or_default();
        let secs = lock_timeout.as_secs().max(1);
        let statement = statement_timeout.map_or(0.0, |d| d.as_secs_f64());
        self.execute(&format!("SET SESSION innodb_lock_wait_timeout = {secs}, SESSION lock_wait_timeout = {secs}, SESSION max_statement_time = {statement}"))?;
        Ok(restore)
    }

    fn server_version(&mut self) -> Result<String, Error> {
        let version = self.text("SELECT VERSION()").unwrap_or_default();
        let name = if version.to_lowercase().contains("mariadb") {
            "MariaDB"
        } else {
            "MySQL"
        };
        Ok(format!(
            "{name} {}",
            version.split('-').next().unwrap_or_default()
        ))
    }

    fn backup(&mut self) -> Option<&mut dyn Backup> {
        Some(self)
    }

    fn scratch(&mut self) -> Option<&mut dyn ScratchCopy> {
        Some(self)
    }

    fn fingerprint(&mut self) -> Option<&mut dyn Fingerprint> {
        Some(self)
    }

    fn stats(&mut self) -> Option<&mut dyn Stats> {
        Some(self)
    }
}
