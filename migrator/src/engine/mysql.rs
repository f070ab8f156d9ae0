//! MySQL and MariaDB through diesel's `MysqlConnection`, in one file: the core engine and every
//! capability (backups with `mysqldump`, scratch databases, fingerprints from `information_schema`,
//! statistics).
//!
//! Honest about the engine: DDL commits implicitly, so a migration cannot be atomic. Every migration runs
//! as a no-transaction migration does everywhere ([`Atomicity::None`]): its history row is claimed as
//! `running` (committed, under the primary key, so no other process can run it), its statements run one by
//! one, and the row becomes `applied` at the end. A failure part way leaves the statements before it in
//! the database and the row `failed`: the next boot refuses until an operator checks and runs
//! `--migrate-mark`. The lock is `GET_LOCK` on a dedicated connection kept alive by a heartbeat.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::mysql::{Mysql, MysqlType, MysqlValue};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::row::{Field, NamedRow};
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};
use tracing::{info, warn};

use super::heartbeat::HeartbeatLock;
use super::{
    run_client, Atomicity, Backup, CopyFrom, DbError, DbErrorKind, Dialect, Engine, EngineKind,
    Fingerprint, LockGuard, Row, SchemaObject, ScratchCopy, Stats, TableStats, Upsert, Value,
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
    url: String,
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

    fn rows(&mut self, sql: &str) -> Result<Vec<Row>, DbError> {
        diesel::sql_query(sql)
            .load::<DynRow>(self.conn)
            .map(|rows| rows.into_iter().map(|r| r.0).collect())
            .map_err(db_error)
    }

    fn text(&mut self, sql: &str) -> Option<String> {
        self.rows(sql).ok()?.first()?.first()?.as_text()
    }

    /// `--host`, `--port`, `--user`, the database, and `MYSQL_PWD` for the client programs.
    fn client_args(&self) -> (Vec<String>, String, Vec<(String, String)>) {
        let (bare, password) = crate::redact::split_password(&self.url);
        let rest = bare.split_once("://").map_or(bare.as_str(), |(_, r)| r);
        let rest = rest.split('?').next().unwrap_or_default();
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host) = authority.rsplit_once('@').unwrap_or(("root", authority));
        let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
        let args = vec![
            format!("--host={host}"),
            format!("--port={port}"),
            format!("--user={user}"),
            "--protocol=tcp".into(),
        ];
        let env = password
            .map(|p| vec![("MYSQL_PWD".to_string(), p)])
            .unwrap_or_default();
        (args, database.to_string(), env)
    }

    fn url_for(&self, database: &str) -> String {
        let (head, query) = self
            .url
            .split_once('?')
            .map_or((self.url.as_str(), None), |(h, q)| (h, Some(q)));
        let base = head.rsplit_once('/').map_or(head, |(b, _)| b);
        format!(
            "{base}/{database}{}",
            query.map(|q| format!("?{q}")).unwrap_or_default()
        )
    }

    fn dump(&self, target: &Path) -> Result<(), Error> {
        let (mut args, database, env) = self.client_args();
        args.extend(
            [
                "--single-transaction",
                "--routines",
                "--triggers",
                "--skip-lock-tables",
                "--no-tablespaces",
            ]
            .map(String::from),
        );
        args.push(format!("--result-file={}", target.display()));
        args.push(database);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let program = if run_client("mariadb-dump", &["--version"], &[])?.is_some() {
            "mariadb-dump"
        } else {
            "mysqldump"
        };
        run_client(program, &argv, &env)?
            .ok_or_else(|| {
                Error::Backup(
                    "mysqldump is not installed; put it on PATH, or turn require_backup off".into(),
                )
            })
            .map(|_| ())
    }

    fn load(&self, dump: &Path, database: &str) -> Result<(), Error> {
        let (mut args, _, env) = self.client_args();
        args.push(format!("--database={database}"));
        args.push(format!("--execute=SOURCE {}", dump.display()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let program = if run_client("mariadb", &["--version"], &[])?.is_some() {
            "mariadb"
        } else {
            "mysql"
        };
        run_client(program, &argv, &env)?
            .ok_or_else(|| Error::Backup("the mysql client is not installed".into()))
            .map(|_| ())
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
fn db_error(e: DieselError) -> DbError {
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

fn context(what: &str, e: DbError) -> Error {
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

impl Backup for MySql<'_> {
    fn identity(&mut self) -> Result<String, Error> {
        self.text(
            "SELECT CONCAT('mysql:', @@hostname, ':', @@port, '/', @@server_id, '/', DATABASE())",
        )
        .ok_or_else(|| Error::Backup("cannot read the database's identity".into()))
    }

    fn stem(&self) -> String {
        let (_, database, _) = self.client_args();
        if database.is_empty() {
            "mysql".into()
        } else {
            database
        }
    }

    fn extension(&self) -> &'static str {
        "mysql.sql"
    }

    fn default_dir(&self) -> Option<PathBuf> {
        crate::backup::user_data_dir()
    }

    fn write_backup(&mut self, target: &Path, _lock_timeout: Duration) -> Result<(), Error> {
        let partial = crate::backup::partial_path(target);
        drop(crate::backup::create_private_file(&partial)?);
        let result = self
            .dump(&partial)
            .and_then(|()| crate::backup::finish(&partial, target));
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    /// Not atomic (DDL commits implicitly): every table, view and routine is dropped, then the dump is
    /// replayed. The safety backup taken before a restore is what undoes a failed one.
    fn restore(&mut self, backup: &Path) -> Result<(), Error> {
        // Nothing is dropped unless the file is a complete dump.
        let text =
            std::fs::read(backup).map_err(|e| crate::backup::io_error("reading", backup, e))?;
        let head = String::from_utf8_lossy(&text[..text.len().min(400)]).into_owned();
        let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(200)..]).into_owned();
        if !(head.contains("-- MySQL dump") || head.contains("-- MariaDB dump"))
            || !tail.contains("-- Dump completed")
        {
            return Err(Error::Backup(format!(
                "{} is not a complete mysqldump file; the database is unchanged",
                backup.display()
            )));
        }
        let drops: Vec<String> = self
            .rows("SELECT CONCAT(IF(table_type = 'VIEW', 'DROP VIEW IF EXISTS `', 'DROP TABLE IF EXISTS `'), REPLACE(table_name, '`', '``'), '`') FROM information_schema.tables WHERE table_schema = DATABASE()")
            .map_err(|e| context("listing the tables to restore over", e))?
            .iter()
            .filter_map(|r| r.first()?.as_text())
            .collect();
        let reset = format!(
            "SET FOREIGN_KEY_CHECKS = 0; {}; SET FOREIGN_KEY_CHECKS = 1",
            drops.join("; ")
        );
        if !drops.is_empty() {
            self.execute(&reset)
                .map_err(|e| context("clearing the database before the restore", e))?;
        }
        let (_, database, _) = self.client_args();
        self.load(backup, &database).map_err(|e| Error::Backup(format!("restoring {} failed part way (MySQL cannot restore atomically); restore the safety backup: {e}", backup.display())))
    }
}

impl ScratchCopy for MySql<'_> {
    fn with_scratch_copy(
        &mut self,
        from: CopyFrom<'_>,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (_, database, _) = self.client_args();
        let scratch = format!("{}_rehearsal", &database[..database.len().min(54)]);
        let quoted = DIALECT.ident(&scratch);
        self.execute(&format!("DROP DATABASE IF EXISTS {quoted}; CREATE DATABASE {quoted}"))
            .map_err(|e| Error::Backup(format!("the rehearsal needs a scratch database and this user cannot create one ({e}); grant CREATE, or turn require_test_run off")))?;
        let result = (|| {
            let made_now =
                std::env::temp_dir().join(format!("migrator-scratch-{}.sql", std::process::id()));
            let dump = match from {
                CopyFrom::Backup(path) => Some(path.to_path_buf()),
                CopyFrom::Empty => None,
                CopyFrom::Current => {
                    let _ = std::fs::remove_file(&made_now);
                    drop(crate::backup::create_private_file(&made_now)?);
                    self.dump(&made_now)?;
                    Some(made_now.clone())
                }
            };
            if let Some(dump) = dump {
                let loaded = self.load(&dump, &scratch);
                let _ = std::fs::remove_file(&made_now);
                loaded?;
            }
            let url = self.url_for(&scratch);
            let mut conn = connect(&url).map_err(|e| {
                Error::Backup(format!(
                    "connecting to the scratch database: {}",
                    crate::redact::url_in(&e.to_string(), &url)
                ))
            })?;
            run(&mut MySql::new(&mut conn, url))
        })();
        if let Err(e) = self.execute(&format!("DROP DATABASE IF EXISTS {quoted}")) {
            warn!(error = %e, "the scratch database could not be dropped");
        }
        result
    }
}

/// Every object of the schema as `(kind, table, name, definition)`; columns carry their position, so a
/// column moved is a change.
const FINGERPRINT: &str = "
SELECT 'column', table_name, CONCAT(table_name, '.', column_name), CONCAT(column_type, IF(is_nullable = 'NO', ' NOT NULL', ''), IFNULL(CONCAT(' DEFAULT ', column_default), ''), IF(extra <> '', CONCAT(' ', extra), ''), ' #', ordinal_position)
  FROM information_schema.columns WHERE table_schema = DATABASE()
UNION ALL SELECT 'index', table_name, CONCAT(table_name, '.', index_name), CONCAT(IF(non_unique = 0, 'UNIQUE ', ''), GROUP_CONCAT(column_name ORDER BY seq_in_index))
  FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique
UNION ALL SELECT 'foreign key', table_name, CONCAT(table_name, '.', constraint_name), CONCAT(GROUP_CONCAT(column_name ORDER BY ordinal_position), ' -> ', referenced_table_name, '(', GROUP_CONCAT(referenced_column_name ORDER BY ordinal_position), ')')
  FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL GROUP BY table_name, constraint_name, referenced_table_name
UNION ALL SELECT 'check', table_name, CONCAT(table_name, '.', constraint_name), check_clause FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()
UNION ALL SELECT 'view', table_name, table_name, MD5(view_definition) FROM information_schema.views WHERE table_schema = DATABASE()
UNION ALL SELECT 'trigger', event_object_table, CONCAT(event_object_table, '.', trigger_name), CONCAT(action_timing, ' ', event_manipulation, ' ', MD5(action_statement))
  FROM information_schema.triggers WHERE trigger_schema = DATABASE()
UNION ALL SELECT 'routine', '', routine_name, CONCAT(routine_type, ' ', MD5(routine_definition)) FROM information_schema.routines WHERE routine_schema = DATABASE()";

impl Fingerprint for MySql<'_> {
    fn schema_fingerprint(
        &mut self,
        tables: Option<&[&str]>,
        exclude: &[&str],
    ) -> Result<Vec<SchemaObject>, Error> {
        let rows = self
            .rows(FINGERPRINT)
            .map_err(|e| context("reading the schema", e))?;
        let mut objects: Vec<SchemaObject> = rows
            .iter()
            .filter_map(|r| {
                let text = |i: usize| r.get(i).and_then(Value::as_text).unwrap_or_default();
                let table = text(1);
                let in_scope = tables.is_none_or(|t| {
                    table.is_empty() || t.iter().any(|x| x.eq_ignore_ascii_case(&table))
                });
                let excluded = exclude.iter().any(|x| x.eq_ignore_ascii_case(&table));
                (in_scope && !excluded).then(|| SchemaObject {
                    kind: text(0),
                    name: text(2),
                    definition: text(3),
                })
            })
            .collect();
        objects.sort();
        Ok(objects)
    }
}

impl Stats for MySql<'_> {
    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error> {
        let sql = format!(
            "SELECT table_rows, data_length, index_length FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = {}",
            DIALECT.literal(table)
        );
        let Some(row) = self
            .rows(&sql)
            .map_err(|e| context("reading a table's size", e))?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let cell = |i: usize| row.get(i).and_then(Value::as_i64).unwrap_or(0).max(0) as u64;
        let rows = if exact {
            self.count_rows(table, None)?
        } else {
            cell(0)
        };
        Ok(Some(TableStats {
            table: table.to_string(),
            rows,
            exact,
            table_bytes: cell(1),
            index_bytes: cell(2),
        }))
    }

    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        let Some(count) = super::rows_query(sql, EngineKind::MySql, "count(*)") else {
            return Ok(None);
        };
        match self.rows(&count) {
            Ok(rows) => Ok(rows
                .first()
                .and_then(|r| r.first()?.as_i64())
                .map(|n| n.max(0) as u64)),
            Err(e) if e.kind == DbErrorKind::MissingObject => Ok(None),
            Err(e) => Err(context("counting the rows a statement touches", e)),
        }
    }

    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        self.estimate_rows(sql)
    }

    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error> {
        let what = non_null.map_or_else(|| "*".to_string(), |c| DIALECT.ident(c));
        let sql = format!("SELECT count({what}) FROM {}", DIALECT.ident(table));
        let rows = self
            .rows(&sql)
            .map_err(|e| context(&format!("counting the rows of table {table}"), e))?;
        Ok(rows
            .first()
            .and_then(|r| r.first()?.as_i64())
            .unwrap_or(0)
            .max(0) as u64)
    }

    fn key_width(&mut self, _table: &str, _columns: &[&str]) -> Result<Option<f64>, Error> {
        Ok(None)
    }

    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error> {
        let started = Instant::now();
        self.execute(sql)
            .map_err(|e| context("running the calibration sample", e))?;
        Ok(started.elapsed())
    }
}
