//! The benchmark's own throwaway PostgreSQL server: `initdb` into a temp dir, started as `nobody` when the
//! bench runs as root, listening only on a unix socket in that dir (on a free port number, which names the
//! socket file). The server keeps the defaults of `initdb` and `postgresql.conf` (fsync, synchronous_commit,
//! full_page_writes, shared_buffers ... untouched): only `port`, `unix_socket_directories` and
//! `listen_addresses` are set, plus whatever `extra` options the caller adds (`--pg-log`: statement logging
//! for a scratch run, never for the measured one). The server is stopped when the [`Server`] is dropped, and
//! by a watchdog process when the bench dies without dropping it (panic with abort, SIGKILL).
//!
//! Adapted from the tests' fixture (tests/support/pg.rs), which runs with `fsync=off`; the bench does not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};

pub struct Server {
    bin: PathBuf,
    user: Option<&'static str>,
    pub base: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    pub port: u16,
    /// What the server was started with, for the report.
    pub settings: String,
    admin: PgConnection,
    next_db: u32,
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run_as(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `/tmp/x` as the host part of a URL (libpq and rust-postgres read a percent-encoded path as a socket dir).
fn encode_path(p: &Path) -> String {
    p.to_string_lossy().replace('/', "%2F")
}

impl Server {
    pub fn start(extra: &[&str]) -> Result<Server, String> {
        let bin = find_bin_dir().ok_or(
            "PostgreSQL not found (no initdb under /usr/lib/postgresql/*/bin or on PATH; set PG_BIN)",
        )?;
        let user = is_root().then_some("nobody");
        let base = std::env::temp_dir().join(format!("migrator-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
        let data = base.join("data");
        let sock = base.join("sock");
        std::fs::create_dir(&sock).map_err(|e| e.to_string())?;
        if let Some(user) = user {
            let uid: u32 = String::from_utf8_lossy(
                &Command::new("id")
                    .args(["-u", user])
                    .output()
                    .map_err(|e| e.to_string())?
                    .stdout,
            )
            .trim()
            .parse()
            .map_err(|e| format!("uid of {user}: {e}"))?;
            std::os::unix::fs::chown(&base, Some(uid), None).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&sock, Some(uid), None).map_err(|e| e.to_string())?;
        }
        // --no-sync only skips initdb's final flush of the new cluster's files (setup, not measured); it
        // changes no server setting.
        let out = run_as(user, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port().map_err(|e| e.to_string())?;
        let mut options = format!("-p {port} -k {} -c listen_addresses=", sock.display());
        for o in extra {
            options.push_str(" -c ");
            options.push_str(o);
        }
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {runas}{pg_ctl} stop -D {data} -m immediate >/dev/null 2>&1; rm -rf {base}",
            pid = std::process::id(),
            runas = user.map(|u| format!("runuser -u {u} -- ")).unwrap_or_default(),
            pg_ctl = bin.join("pg_ctl").display(),
            data = data.display(),
            base = base.display(),
        );
        Command::new("sh")
            .args(["-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the watchdog: {e}"))?;
        let out = run_as(user, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(base.join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(base.join("log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl start failed: {}\n{log}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let admin_url = format!("postgres://postgres@{}:{port}/postgres", encode_path(&sock));
        let mut admin =
            PgConnection::establish(&admin_url).map_err(|e| format!("connecting: {e}"))?;
        let version = show(&mut admin, "server_version")?;
        let settings = [
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_level",
            "shared_buffers",
            "max_wal_size",
            "checkpoint_timeout",
        ]
        .iter()
        .map(|name| show(&mut admin, name).map(|v| format!("{name}={v}")))
        .collect::<Result<Vec<_>, _>>()?
        .join(", ");
        let settings = format!(
            "PostgreSQL {version}, initdb defaults ({settings}); set: listen_addresses='' (unix socket {} only), port={port}{}",
            sock.display(),
            extra.iter().map(|o| format!(", {o}")).collect::<String>()
        );
        Ok(Server {
            bin,
            user,
            base,
            data,
            sock,
            port,
            settings,
            admin,
            next_db: 0,
        })
    }

    /// The URL of a database of this server (over the unix socket).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@{}:{}/{db}",
            encode_path(&self.sock),
            self.port
        )
    }

    /// A new database (`CREATE DATABASE`, from `template1`, or from `template` when given); returns its
    /// name and URL.
    pub fn create_db(&mut self, template: Option<&str>) -> (String, String) {
        self.next_db += 1;
        let name = format!("{}{}", self.db_prefix(), self.next_db);
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        self.admin.batch_execute(&sql).expect("CREATE DATABASE");
        let url = self.url(&name);
        (name, url)
    }

    /// A template for "live" databases: one application table (`customers`, empty), so that a tool sees a
    /// database in use (migrator then commits each migration on its own, see `Engine::is_fresh`).
    pub fn live_template(&mut self) -> String {
        let (name, url) = self.create_db(None);
        let mut conn = PgConnection::establish(&url).expect("connect to the template");
        conn.batch_execute("CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT NOT NULL)")
            .expect("create the live template's table");
        name
    }

    /// Times `apply` on a database of its own, from the same state for every run: the database is created
    /// (from `template` when given) right before the run, then a `CHECKPOINT` and a `sync`, and dropped
    /// right after it. Creating the databases of several runs first and dropping them together made the
    /// first run after the drops about twice as slow as the next, whichever tool it was (see bench/README).
    pub fn timed_run(&mut self, template: Option<&str>, apply: impl FnOnce(&str)) -> Duration {
        let (name, url) = self.create_db(template);
        self.checkpoint();
        let started = Instant::now();
        apply(&url);
        let took = started.elapsed();
        self.drop_db(&name);
        took
    }

    /// Writes every dirty page and starts a fresh WAL segment stretch (`CHECKPOINT`), then flushes the
    /// operating system's dirty pages (`sync`), so that a timed run does not pay for the pages and WAL the
    /// previous run or a `CREATE DATABASE` left behind.
    pub fn checkpoint(&mut self) {
        self.admin.batch_execute("CHECKPOINT").expect("CHECKPOINT");
        let synced = Command::new("sync").status();
        assert!(matches!(synced, Ok(s) if s.success()), "sync: {synced:?}");
    }

    /// The text of one value (`SELECT ... AS v`, cast to text) read on the admin connection.
    pub fn text(&mut self, sql: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct Value {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        diesel::sql_query(format!("SELECT ({sql})::text AS v"))
            .get_result::<Value>(&mut self.admin)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .v
    }

    /// One number read on the admin connection.
    pub fn number(&mut self, sql: &str) -> f64 {
        let text = self.text(sql);
        text.parse()
            .unwrap_or_else(|e| panic!("{sql}: {text:?}: {e}"))
    }

    /// Runs SQL on the admin connection (connected to `postgres`).
    pub fn exec(&mut self, sql: &str) {
        self.admin
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Changes server settings with `ALTER SYSTEM` (`None`: back to the default) and reloads them.
    pub fn settings(&mut self, settings: &[(&str, Option<&str>)]) {
        for (name, value) in settings {
            match value {
                Some(v) => self.exec(&format!("ALTER SYSTEM SET {name} = '{v}'")),
                None => self.exec(&format!("ALTER SYSTEM RESET {name}")),
            }
        }
        self.exec("SELECT pg_reload_conf()");
        // The postmaster signals every process; give them a moment to read the file.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    /// Waits until no session is connected to `db` (a closed connection's backend exits, and reports its
    /// statistics, a moment after the client is gone).
    pub fn wait_disconnected(&mut self, db: &str) {
        let started = std::time::Instant::now();
        while self.number(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"
        )) > 0.0
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "sessions of {db} did not end"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Drops a database of this run.
    pub fn drop_db(&mut self, name: &str) {
        self.admin
            .batch_execute(&format!("DROP DATABASE {name}"))
            .expect("DROP DATABASE");
    }

    /// Every database of this run is named `<prefix><n>`.
    fn db_prefix(&self) -> String {
        format!("migrator_bench_{}_", std::process::id())
    }

    /// The server's WAL directory and its `pg_waldump`.
    pub fn waldump(&self) -> (PathBuf, PathBuf) {
        (self.data.join("pg_wal"), self.bin.join("pg_waldump"))
    }

    /// The server log (statements, with `--pg-log`).
    pub fn log_path(&self) -> PathBuf {
        self.base.join("log")
    }
}

fn show(conn: &mut PgConnection, name: &str) -> Result<String, String> {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    diesel::sql_query(format!("SELECT current_setting('{name}') AS v"))
        .get_result::<Setting>(conn)
        .map(|s| s.v)
        .map_err(|e| format!("reading {name}: {e}"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = run_as(self.user, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.base);
        // Our side's default `require_backup` takes a pg_dump before each apply, into
        // `$TMPDIR/migrator-backups/<database>-...`: remove the ones of this run's databases.
        let backups = std::env::temp_dir().join("migrator-backups");
        let prefix = self.db_prefix();
        for entry in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&backups); // only when empty
    }
}
