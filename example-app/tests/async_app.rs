//! The async example (`async-app`, feature `async`) as a process: 16 replicas started at once against
//! one PostgreSQL database (each a multi-threaded tokio runtime) all become healthy, each migration is
//! applied once, the backfill runs in the background (the replicas' tasks taking turns) and the migration
//! after it follows; on SQLite the service answers while its backfill runs; SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use migrator_tests::{Db, Workspace};

const APP: &str = env!("CARGO_BIN_EXE_async-app");
const VERSIONS: [u64; 4] = [
    20250101000000,
    20250102000000,
    20250103000000,
    20250104000000,
];

fn command(ws: &Workspace, url: &str) -> Command {
    let mut c = Command::new(APP);
    c.current_dir(ws.path())
        .env("TMPDIR", ws.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .args(["--database-url", url]);
    c
}

/// `seed N`: the schema up to the backfill (deferred) and N accounts.
fn seed(ws: &Workspace, url: &str, n: u64) {
    let out = command(ws, url)
        .args(["seed", &n.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A serving replica, the address it listens on, and its stderr.
struct Replica {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Replica {
    /// `GET /health`'s status; a replica that exited fails the test with its stderr.
    fn health(&mut self) -> u16 {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the replica exited ({status}):\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        get(&self.addr, "/health").0
    }
}

fn start(ws: &Workspace, url: &str, n: usize) -> Replica {
    let log = std::fs::File::create(ws.path().join(format!("replica-{n}.log"))).unwrap();
    let mut child = command(ws, url)
        .args(["--listen", "127.0.0.1:0", "--lock-wait", "120"])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first}"))
        .to_string();
    // Keep reading its output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Replica {
        child,
        addr,
        log: ws.path().join(format!("replica-{n}.log")),
    }
}

/// `(status, body)` of a GET.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut replica: Replica) {
    let pid = replica.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = replica.child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the service cleanly: {status}"
    );
}

fn applied_once(db: &Db) {
    for v in VERSIONS {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM schema_migrations_log WHERE version = {v} AND action = 'applied'"
            )),
            1,
            "migration {v} applied once"
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"),
        4
    );
}

#[test]
fn sixteen_replicas_start_at_once_on_postgresql() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    let url = db.url();
    seed(&ws, &url, 50_000);
    let started = Instant::now();
    let mut replicas: Vec<Replica> = (0..16).map(|n| start(&ws, &url, n)).collect();
    for r in &mut replicas {
        wait_for("healthy", Duration::from_secs(180), || r.health() == 200);
    }
    let healthy = started.elapsed();
    wait_for(
        "the index after the backfill",
        Duration::from_secs(180),
        || {
            db.count("SELECT count(*) FROM schema_migrations_log WHERE version = 20250104000000 AND action = 'applied'") == 1
        },
    );
    applied_once(&db);
    assert_eq!(
        db.count("SELECT count(*) FROM accounts WHERE email_normalized IS NULL OR email_normalized <> lower(trim(email))"),
        0
    );
    for r in &mut replicas {
        assert_eq!(r.health(), 200);
        let (status, body) = get(&r.addr, "/health");
        assert_eq!(status, 200, "{body}");
        let (status, body) = get(&r.addr, "/accounts/count");
        assert_eq!(
            (status, body.as_str()),
            (200, "{\"accounts\":50000,\"normalized\":50000}")
        );
    }
    let rows = db.count("SELECT rows_done FROM schema_migrations_backfill");
    assert_eq!(
        rows, 50_000,
        "the replicas' batches together updated each row once"
    );
    eprintln!(
        "16 replicas healthy after {:.1} s; backfill and index done after {:.1} s",
        healthy.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for r in replicas {
        stop(r);
    }
}

#[test]
fn sqlite_answers_while_it_backfills() {
    let ws = Workspace::new();
    let url = format!("sqlite:{}", ws.db_path().display());
    seed(&ws, &url, 300_000);
    let mut replica = start(&ws, &url, 0);
    wait_for("healthy", Duration::from_secs(60), || {
        replica.health() == 200
    });
    let (_, health) = get(&replica.addr, "/health");
    let (_, progress) = get(&replica.addr, "/backfill");
    let (status, count) = get(&replica.addr, "/accounts/count");
    assert_eq!(status, 200, "{count}");
    assert!(count.starts_with("{\"accounts\":300000,"), "{count}");
    wait_for("the backfill", Duration::from_secs(120), || {
        get(&replica.addr, "/backfill").1 == "{\"state\":\"done\"}"
    });
    let (_, count) = get(&replica.addr, "/accounts/count");
    assert_eq!(count, "{\"accounts\":300000,\"normalized\":300000}");
    let db = Db::sqlite(&ws);
    applied_once(&db);
    eprintln!("while backfilling: /health {health}, /backfill {progress}");
    stop(replica);
}
