//! A throwaway MariaDB server for the tests: `mariadb-install-db` into a temp dir, `mariadbd` on a free
//! TCP port on 127.0.0.1 and a unix socket in the temp dir; one server per test binary (started on first
//! use), a fresh database per test, reached as a user with a password (so redaction is tested for real).
//! A watchdog stops the server and removes its files as soon as the test process is gone.
//!
//! Without MariaDB (or MySQL) binaries the tests that need it print `SKIPPED` and pass, except with
//! `CI=true`, where they fail.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

#[cfg(feature = "mysql")]
use diesel::connection::SimpleConnection;
#[cfg(feature = "mysql")]
use diesel::{Connection, MysqlConnection};

/// The test user's password: the tests check it never shows up in output.
pub const PASSWORD: &str = "t3st-s3cret";

/// A running server.
pub struct Server {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Where its data, socket and log live.
    pub base: PathBuf,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

#[cfg(feature = "mysql")]
fn find(program: &[&str]) -> Option<PathBuf> {
    use std::path::Path;
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for name in program {
        for dir in dirs
            .iter()
            .map(PathBuf::as_path)
            .chain([Path::new("/usr/sbin"), Path::new("/usr/bin")])
        {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

#[cfg(feature = "mysql")]
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(not(feature = "mysql"))]
fn start() -> Result<Server, String> {
    Err("MariaDB not found: these tests were built without the `mysql` feature (scripts/test.sh builds them with it)".to_string())
}

#[cfg(feature = "mysql")]
fn start() -> Result<Server, String> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let server = find(&["mariadbd", "mysqld"])
        .ok_or("MariaDB not found (no mariadbd or mysqld on PATH or in /usr/sbin)")?;
    let install = find(&["mariadb-install-db", "mysql_install_db"])
        .ok_or("MariaDB not found (no mariadb-install-db)")?;
    let base = std::env::temp_dir().join(format!("migrator-mariadb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
    let data = base.join("data");
    let out = Command::new(&install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("running mariadb-install-db: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port().map_err(|e| e.to_string())?;
    let socket = base.join("sock");
    let child = Command::new(&server)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--port={port}"))
        .arg(format!("--pid-file={}", base.join("pid").display()))
        .arg(format!("--log-error={}", base.join("log").display()))
        .args([
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--max-connections=300",
            "--innodb-buffer-pool-size=64M",
            "--max-recursive-iterations=100000000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting mariadbd: {e}"))?;
    // The watchdog: stops the server and removes its files when this process is gone.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill -9 {server} 2>/dev/null; sleep 0.5; rm -rf {base}",
        pid = std::process::id(),
        server = child.id(),
        base = base.display(),
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the watchdog: {e}"))?;
    let root = format!("mysql://root@127.0.0.1:{port}/mysql");
    let started = Instant::now();
    let mut conn = loop {
        match MysqlConnection::establish(&root) {
            Ok(conn) => break conn,
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => {
                let log = std::fs::read_to_string(base.join("log")).unwrap_or_default();
                return Err(format!("mariadbd did not accept connections: {e}\n{log}"));
            }
        }
    };
    conn.batch_execute(&format!(
        "CREATE USER 'migrator'@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL PRIVILEGES ON *.* TO 'migrator'@'%' WITH GRANT OPTION;"
    ))
    .map_err(|e| format!("creating the test user: {e}"))?;
    Ok(Server { port, base })
}

/// The shared server, started on first use; `None` (after a loud message) when MariaDB is not installed,
/// a panic under `CI=true` or when it is installed but does not start.
pub fn server() -> Option<&'static Server> {
    match SERVER.get_or_init(start) {
        Ok(server) => Some(server),
        Err(e)
            if e.starts_with("MariaDB not found")
                && std::env::var("CI").as_deref() != Ok("true") =>
        {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {e} ***\n");
            None
        }
        Err(e) => panic!("the MariaDB test server did not start: {e}"),
    }
}

#[cfg(feature = "mysql")]
fn create_database(admin: &str, name: &str) {
    let mut conn = MysqlConnection::establish(admin).expect("connect to the test server");
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
}

#[cfg(not(feature = "mysql"))]
fn create_database(_: &str, _: &str) {
    unreachable!("no server starts without the mysql feature")
}

/// A fresh database on the shared server.
pub struct MyDb {
    /// `mysql://migrator:PASSWORD@127.0.0.1:PORT/t_N`
    pub url: String,
    /// `t_N`
    pub name: String,
}

impl MyDb {
    /// A new empty database, or `None` when MariaDB is not available (see [`server`]).
    pub fn fresh() -> Option<MyDb> {
        let server = server()?;
        let name = format!("t_{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let admin = format!("mysql://root@127.0.0.1:{}/mysql", server.port);
        create_database(&admin, &name);
        Some(MyDb {
            url: format!(
                "mysql://migrator:{PASSWORD}@127.0.0.1:{}/{name}",
                server.port
            ),
            name,
        })
    }

    /// A new connection to this database.
    #[cfg(feature = "mysql")]
    pub fn connect(&self) -> MysqlConnection {
        MysqlConnection::establish(&self.url).expect("connect to the test database")
    }
}
