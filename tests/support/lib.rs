//! Helpers for the integration tests: migration directories written on the fly, schema fingerprints and
//! data dumps of real SQLite files.

use std::path::{Path, PathBuf};

use migrator::MigrationSet;
use rusqlite::Connection;

/// A temporary directory holding a migration directory and a database file.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A fresh workspace with an empty `migrations/`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
        Self { dir }
    }

    /// The migration directory.
    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("app.db")
    }

    /// Opens (or creates) the database.
    pub fn open(&self) -> Connection {
        Connection::open(self.db_path()).expect("open db")
    }

    /// Writes a migration file in the spec's format and returns its file name.
    pub fn add(
        &self,
        version: u64,
        issue: Option<u32>,
        name: &str,
        up: &str,
        down: Option<&str>,
    ) -> String {
        let file = match issue {
            Some(i) => format!("{version}_issue_{i}_{name}.sql"),
            None => format!("{version}_{name}.sql"),
        };
        std::fs::write(
            self.migrations().join(&file),
            migration_text(issue, name, up, down),
        )
        .expect("write migration");
        file
    }

    /// Writes a file as given.
    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.migrations().join(file), text).expect("write migration");
    }

    /// Deletes a migration file.
    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.migrations().join(file)).expect("remove migration");
    }

    /// The set as the runtime reads it (the same parser the macro uses).
    pub fn set(&self) -> MigrationSet {
        MigrationSet::from_dir(&self.migrations()).expect("valid migration set")
    }

    /// The root of the workspace.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The text of a migration file in the spec's layout.
pub fn migration_text(issue: Option<u32>, name: &str, up: &str, down: Option<&str>) -> String {
    let mut text = String::new();
    if let Some(i) = issue {
        text.push_str(&format!("-- Issue #{i}: {name}\n"));
    }
    text.push_str("-- Generated: 2024-01-01 00:00:00\n-- Author: tests\n\n-- ============ UP MIGRATION ============\n");
    text.push_str(up);
    text.push('\n');
    if let Some(down) = down {
        text.push_str("\n-- ============ DOWN MIGRATION ============\n");
        text.push_str(down);
        text.push('\n');
    }
    text
}

/// A sorted list of the schema objects (type, name, table, SQL), without migrator's own tables: equal
/// fingerprints mean equal schemas.
pub fn fingerprint(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
             WHERE name NOT LIKE 'sqlite_%' AND tbl_name NOT LIKE 'schema_migrations%'
             ORDER BY type, name",
        )
        .expect("fingerprint query");
    stmt.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            normalise_sql(&r.get::<_, String>(3)?)
        ))
    })
    .expect("fingerprint rows")
    .collect::<Result<_, _>>()
    .expect("fingerprint values")
}

/// SQLite keeps DDL as written: white space is collapsed, and dropped around punctuation, so that
/// `ON t (x)` and `ON t(x)` compare equal.
fn normalise_sql(sql: &str) -> String {
    let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_is_punct = chars
            .get(i + 1)
            .is_some_and(|n| matches!(n, '(' | ')' | ','));
        let prev_is_punct = i > 0 && matches!(chars[i - 1], '(' | ')' | ',');
        if c == ' ' && (next_is_punct || prev_is_punct) {
            continue;
        }
        out.push(c);
    }
    out
}

/// Every row of every user table, as text, sorted: equal dumps mean no row was lost or changed.
pub fn data_dump(conn: &Connection) -> Vec<String> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("tables");
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("select");
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(columns);
                for i in 0..columns {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cells.push(format!("{v:?}"));
                }
                Ok(format!("{table}: {}", cells.join(", ")))
            })
            .expect("rows");
        for row in rows {
            out.push(row.expect("row"));
        }
    }
    out.sort();
    out
}

/// `(version, status)` of every history row.
pub fn history(conn: &Connection) -> Vec<(u64, String)> {
    conn.prepare("SELECT version, status FROM schema_migrations ORDER BY version")
        .expect("history")
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .expect("history")
        .collect::<Result<_, _>>()
        .expect("history")
}

pub mod items;
pub mod timeline;

/// The directory of the real migration histories of `scripts/corpora.tsv` (`target/corpora`, or
/// `CORPORA_DIR`), fetched once per test binary by `scripts/fetch-corpora.sh` (checksum-pinned, from the
/// registry); a failed fetch fails the test with the script's message.
pub fn corpora() -> PathBuf {
    static FETCHED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = std::process::Command::new("bash")
                .arg(root.join("scripts/fetch-corpora.sh"))
                .output()
                .expect("run scripts/fetch-corpora.sh");
            assert!(
                out.status.success(),
                "scripts/fetch-corpora.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::env::var_os("CORPORA_DIR")
                .map_or_else(|| root.join("target/corpora"), PathBuf::from)
        })
        .clone()
}
pub mod mysql;
pub mod pg;

/// The database of one test, on any engine: the bodies of the engine-independent tests take a `&Db`
/// and run once per engine (see [`both_engines!`]).
pub enum Db {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A fresh database in the shared PostgreSQL test cluster.
    Postgres(pg::PgDb),
    /// A fresh database on the shared MariaDB test server.
    MySql(mysql::MyDb),
}

/// What a test sees of a history row, a schema or a dump.
type Rows = Vec<String>;

impl Db {
    /// The SQLite file of a workspace.
    pub fn sqlite(ws: &Workspace) -> Db {
        Db::Sqlite(ws.db_path())
    }

    /// A fresh PostgreSQL database; `None` when PostgreSQL is not installed (the test is skipped).
    pub fn postgres() -> Option<Db> {
        pg::PgDb::fresh().map(Db::Postgres)
    }

    /// A fresh MariaDB database; `None` when MariaDB is not installed (the test is skipped).
    pub fn mysql() -> Option<Db> {
        mysql::MyDb::fresh().map(Db::MySql)
    }

    /// `SQLite`, `PostgreSQL` or `MySQL`, as the runtime names it in messages.
    pub fn engine_name(&self) -> &'static str {
        self.kind().name()
    }

    /// The engine.
    pub fn kind(&self) -> migrator::EngineKind {
        match self {
            Db::Sqlite(_) => migrator::EngineKind::Sqlite,
            Db::Postgres(_) => migrator::EngineKind::Postgres,
            Db::MySql(_) => migrator::EngineKind::MySql,
        }
    }

    /// `true` for MySQL/MariaDB.
    pub fn is_mysql(&self) -> bool {
        matches!(self, Db::MySql(_))
    }

    /// The database's URL (`sqlite:PATH` for SQLite).
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite:{}", path.display()),
            Db::Postgres(db) => db.url.clone(),
            Db::MySql(db) => db.url.clone(),
        }
    }

    /// `true` for PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// `true` for SQLite.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, Db::Sqlite(_))
    }

    /// Runs `f` with a backend over a new connection.
    pub fn with_backend<R>(&self, f: impl FnOnce(&mut dyn migrator::Engine) -> R) -> R {
        match self {
            Db::Sqlite(path) => {
                let conn = Connection::open(path).expect("open db");
                let mut backend = migrator::Sqlite::new(&conn);
                f(&mut backend)
            }
            Db::Postgres(db) => {
                let mut conn = db.connect();
                let mut backend = migrator::Postgres::new(&mut conn, db.url.clone());
                f(&mut backend)
            }
            #[cfg(feature = "mysql")]
            Db::MySql(db) => {
                let mut conn = db.connect();
                let mut backend = migrator::MySql::new(&mut conn, db.url.clone());
                f(&mut backend)
            }
            #[cfg(not(feature = "mysql"))]
            Db::MySql(_) => unreachable!("no MariaDB database exists without the mysql feature"),
        }
    }

    /// Boots `set` with `config`.
    pub fn boot_with(
        &self,
        set: &MigrationSet,
        config: migrator::Config,
    ) -> Result<migrator::Report, migrator::Error> {
        self.with_backend(|b| migrator::Migrator::new(set).with_config(config).boot(b))
    }

    /// Boots `set` with the default configuration.
    pub fn boot(&self, set: &MigrationSet) -> Result<migrator::Report, migrator::Error> {
        self.boot_with(set, migrator::Config::default())
    }

    /// Runs SQL (several statements allowed).
    pub fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite(path) => Connection::open(path)
                .expect("open db")
                .execute_batch(sql)
                .expect("exec"),
            Db::Postgres(db) => {
                use diesel::connection::SimpleConnection;
                db.connect().batch_execute(sql).expect("exec")
            }
            Db::MySql(_) => self.with_backend(|engine| engine.execute(sql).expect("exec")),
        }
    }

    /// The rows of a query as text, one string per row, columns joined with `|` (NULL as `NULL`).
    pub fn rows(&self, sql: &str) -> Rows {
        match self {
            Db::Sqlite(path) => {
                let conn = Connection::open(path).expect("open db");
                let mut stmt = conn.prepare(sql).expect("prepare");
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    let mut cells = Vec::new();
                    for i in 0..n {
                        cells.push(match r.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Null => "NULL".to_string(),
                            rusqlite::types::Value::Integer(v) => v.to_string(),
                            rusqlite::types::Value::Real(v) => v.to_string(),
                            rusqlite::types::Value::Text(v) => v,
                            rusqlite::types::Value::Blob(v) => format!("{v:?}"),
                        });
                    }
                    Ok(cells.join("|"))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
            }
            Db::Postgres(db) => {
                // Every row as text through a row-to-json conversion: no per-type decoding needed.
                #[derive(diesel::QueryableByName)]
                struct J {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    j: String,
                }
                use diesel::RunQueryDsl;
                let wrapped = format!(
                    "SELECT (SELECT string_agg(coalesce(value, 'NULL'), '|' ORDER BY ordinality) FROM json_each_text(row_to_json(q)) WITH ORDINALITY) AS j FROM ({sql}) q"
                );
                diesel::sql_query(wrapped)
                    .load::<J>(&mut db.connect())
                    .expect("query")
                    .into_iter()
                    .map(|r| r.j)
                    .collect()
            }
            Db::MySql(_) => self.with_backend(|engine| {
                engine
                    .query(sql)
                    .expect("query")
                    .into_iter()
                    .map(|row| {
                        row.iter()
                            .map(|v| v.as_text().unwrap_or_else(|| "NULL".to_string()))
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect()
            }),
        }
    }

    /// The single integer a query returns.
    pub fn count(&self, sql: &str) -> i64 {
        self.rows(sql)
            .first()
            .expect("a row")
            .parse()
            .expect("an integer")
    }

    /// `(version, status)` of every history row.
    pub fn history(&self) -> Vec<(u64, String)> {
        self.rows("SELECT version, status FROM schema_migrations ORDER BY version")
            .into_iter()
            .map(|r| {
                let (v, s) = r.split_once('|').expect("two columns");
                (v.parse().expect("version"), s.to_string())
            })
            .collect()
    }

    /// The schema, sorted, without migrator's own tables: equal fingerprints mean equal schemas.
    pub fn fingerprint(&self) -> Rows {
        match self {
            Db::Sqlite(path) => fingerprint(&Connection::open(path).expect("open db")),
            Db::Postgres(_) => {
                let mut rows = self.rows(
                    "SELECT 'column', table_name::text, column_name::text, data_type::text, is_nullable::text, coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'schema_migrations%'
                     UNION ALL SELECT 'index', tablename::text, indexname::text, indexdef, '', '' FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'schema_migrations%'
                     UNION ALL SELECT 'constraint', conrelid::regclass::text, conname::text, pg_get_constraintdef(oid), '', '' FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'schema_migrations%'
                     UNION ALL SELECT 'other', relkind::text, relname::text, '', '', '' FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind NOT IN ('r', 'i') AND relname NOT LIKE 'schema_migrations%'
                     UNION ALL SELECT 'trigger', tgrelid::regclass::text, tgname::text, pg_get_triggerdef(oid), '', '' FROM pg_trigger WHERE NOT tgisinternal
                     UNION ALL SELECT 'function', proname::text, pg_get_function_identity_arguments(oid), md5(prosrc), '', '' FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
                );
                rows.sort();
                rows
            }
            Db::MySql(_) => {
                let mut rows = self.with_backend(|engine| {
                    engine
                        .fingerprint()
                        .expect("fingerprints")
                        .schema_fingerprint(
                            None,
                            &["schema_migrations", "schema_migrations_log"],
                            true,
                        )
                        .expect("schema")
                        .into_iter()
                        .map(|o| o.to_string())
                        .collect::<Vec<_>>()
                });
                rows.sort();
                rows
            }
        }
    }

    /// Every row of every user table (migrator's own excluded), sorted.
    pub fn data_dump(&self) -> Rows {
        let tables = match self {
            Db::Sqlite(_) => self.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'schema_migrations%' ORDER BY name"),
            Db::Postgres(_) => self.rows("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'schema_migrations%' ORDER BY 1"),
            Db::MySql(_) => self.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'schema_migrations%' ORDER BY 1"),
        };
        let mut out = Vec::new();
        for t in tables {
            let quoted = if self.is_mysql() {
                format!("`{t}`")
            } else {
                format!("\"{t}\"")
            };
            for row in self.rows(&format!("SELECT * FROM {quoted}")) {
                out.push(format!("{t}: {row}"));
            }
        }
        out.sort();
        out
    }

    /// `DROP INDEX` in this engine's words (MySQL names the table).
    pub fn drop_index(&self, index: &str, table: &str) -> String {
        match self {
            Db::MySql(_) => format!("DROP INDEX {index} ON {table}"),
            _ => format!("DROP INDEX {index}"),
        }
    }

    /// A text type that can be a key in this engine (MySQL cannot index an unbounded `TEXT`).
    pub fn key_text(&self) -> &'static str {
        match self {
            Db::MySql(_) => "VARCHAR(191)",
            _ => "TEXT",
        }
    }

    /// The database's message for a missing table.
    pub fn no_such_table(&self, table: &str) -> String {
        match self {
            Db::Sqlite(_) => format!("no such table: {table}"),
            Db::Postgres(_) => format!("relation \"{table}\" does not exist"),
            Db::MySql(db) => format!("Table '{}.{table}' doesn't exist", db.name),
        }
    }
}

/// Declares `#[test] fn sqlite()`, `#[test] fn postgres()` and `#[test] fn mysql()` in a module named after a
/// test body `fn body(ws: &Workspace, db: &Db)`: one body, every engine. A server test passes with a loud
/// `SKIPPED` message when its server is not installed (and fails under `CI=true`).
#[macro_export]
macro_rules! both_engines {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[test]
            fn sqlite() {
                let ws = $crate::Workspace::new();
                let db = $crate::Db::sqlite(&ws);
                super::$body(&ws, &db);
            }
            #[test]
            fn postgres() {
                let ws = $crate::Workspace::new();
                let Some(db) = $crate::Db::postgres() else { return };
                super::$body(&ws, &db);
            }
            #[test]
            fn mysql() {
                let ws = $crate::Workspace::new();
                let Some(db) = $crate::Db::mysql() else { return };
                super::$body(&ws, &db);
            }
        }
    )*};
}

/// Like [`both_engines!`] for SQLite and PostgreSQL only: what the preview and its cost model do, which
/// MySQL does not have (the analyser reads no MySQL dialect).
#[macro_export]
macro_rules! sqlite_and_postgres {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[test]
            fn sqlite() {
                let ws = $crate::Workspace::new();
                let db = $crate::Db::sqlite(&ws);
                super::$body(&ws, &db);
            }
            #[test]
            fn postgres() {
                let ws = $crate::Workspace::new();
                let Some(db) = $crate::Db::postgres() else { return };
                super::$body(&ws, &db);
            }
        }
    )*};
}

/// [`both_engines!`] by the name it deserves now: every engine.
pub use both_engines as all_engines;

/// Another session on a server database (an application's, holding locks while a test runs migrator): a
/// connection of its own on a thread of its own, running one statement at a time when asked.
pub struct OtherSession {
    ask: std::sync::mpsc::Sender<String>,
    answer: std::sync::mpsc::Receiver<Result<(), String>>,
}

impl OtherSession {
    /// Connects to `db` (PostgreSQL or MariaDB).
    pub fn open(db: &Db) -> OtherSession {
        let (ask, asked) = std::sync::mpsc::channel::<String>();
        let (answer, answers) = std::sync::mpsc::channel();
        let url = db.url();
        std::thread::spawn(move || {
            let mut database =
                migrator::connect::Database::open(&url, migrator::connect::Create::No)
                    .expect("the other session's connection");
            database.with_engine(|engine| {
                for sql in asked {
                    let _ = answer.send(engine.execute(&sql).map_err(|e| e.to_string()));
                }
            });
        });
        OtherSession {
            ask,
            answer: answers,
        }
    }

    /// Polls `sql` (a count) on `db` every 20 ms until it is not 0; panics after 30 s, saying that `what`
    /// never happened.
    pub fn wait_for(db: &Db, sql: &str, what: &str) {
        let started = std::time::Instant::now();
        while db.count(sql) == 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{what} never happened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs `sql` and waits for it: the database's error as text.
    pub fn run(&self, sql: &str) -> Result<(), String> {
        self.ask
            .send(sql.to_string())
            .expect("the session's thread");
        self.answer.recv().expect("the session's answer")
    }
}
