//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temp dir, a unix socket in a temp dir, a
//! free TCP port on 127.0.0.1, `fsync=off`, run as `nobody` when the tests run as root. One cluster per
//! test binary (started on first use), a fresh database per test. A watchdog process stops the cluster
//! (`pg_ctl stop -m immediate`) and removes its directory as soon as the test process is gone, however it
//! ended (normal exit, panic, SIGKILL); statics are never dropped, so that is the only reliable hook.
//!
//! Without PostgreSQL binaries the tests that need it print `SKIPPED: PostgreSQL not found` and pass,
//! except with `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// A running cluster.
pub struct Cluster {
    /// The server's TCP port on 127.0.0.1.
    pub port: u16,
    /// Where the data directory, socket and log live.
    pub base: PathBuf,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

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

/// Runs a cluster binary, as `nobody` when we are root.
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

fn start() -> Result<Cluster, String> {
    let bin = find_bin_dir().ok_or(
        "PostgreSQL not found (no initdb under /usr/lib/postgresql/*/bin or on PATH; set PG_BIN)",
    )?;
    let user = is_root().then_some("nobody");
    let base = std::env::temp_dir().join(format!("migrator-pg-{}", std::process::id()));
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
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        // The temp dir itself must be traversable by that user (it is /tmp, 1777, on most systems).
    }
    let out = run_as(user, &bin.join("initdb"))
        .args(["-D"])
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
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB -c log_line_prefix=db=%d:",
        sock.display()
    );
    // The watchdog: stops the cluster and removes its files when this process is gone.
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
    Ok(Cluster { port, base })
}

/// The shared cluster, started on first use; `None` (after a loud message) when PostgreSQL is not
/// installed, a panic under `CI=true` or when it is installed but does not start.
pub fn cluster() -> Option<&'static Cluster> {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => Some(cluster),
        Err(e)
            if e.starts_with("PostgreSQL not found")
                && std::env::var("CI").as_deref() != Ok("true") =>
        {
            // Written to the real stderr: the test harness captures eprintln! of passing tests.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {e} ***\n");
            None
        }
        Err(e) => panic!("the PostgreSQL test cluster did not start: {e}"),
    }
}

/// A fresh database in the shared cluster.
pub struct PgDb {
    /// `postgres://postgres@127.0.0.1:PORT/t_N`
    pub url: String,
    /// `t_N`
    pub name: String,
}

impl PgDb {
    /// A new empty database, or `None` when PostgreSQL is not available (see [`cluster`]).
    pub fn fresh() -> Option<PgDb> {
        let cluster = cluster()?;
        let name = format!("t_{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let admin_url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
        let mut admin = PgConnection::establish(&admin_url).expect("connect to the test cluster");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        Some(PgDb {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port),
            name,
        })
    }

    /// The warnings and errors the server logged for this database (its log's lines prefixed
    /// `db=NAME:`), such as "there is already a transaction in progress".
    pub fn server_messages(&self) -> Vec<String> {
        let Some(cluster) = cluster() else {
            return Vec::new();
        };
        let prefix = format!("db={}:", self.name);
        std::fs::read_to_string(cluster.base.join("log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .filter(|line| line.starts_with("WARNING") || line.starts_with("ERROR"))
            .map(str::to_string)
            .collect()
    }

    /// A new connection to this database.
    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }
}
