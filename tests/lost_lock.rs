//! Exactly once when the migration lock is lost (issue: "PostgreSQL applies migrations twice"). Two real
//! processes boot one PostgreSQL database with 12 migrations that each add 1 to a counter; while the first
//! migrates, its lock connection is killed (`pg_terminate_backend`), or the database gets
//! `idle_session_timeout = '1s'`, with the second one waiting for the lock. Whatever happens, the counter
//! ends at exactly 12, every migration is applied once in history and in the log, both processes exit
//! cleanly, and the one that stops early says why. 20 rounds of each.
//!
//! The two processes are this test binary run again with `LOST_LOCK_CHILD` set: a child boots and prints
//! its outcome.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use migrator::{Config, Migrator};
use migrator_tests::{pg::PgDb, Db, Workspace};

const MIGRATIONS: u64 = 12;
const ROUNDS: usize = 20;

/// The child: boots the directory in `LOST_LOCK_DIR` on `LOST_LOCK_URL` and exits 0 (applied or nothing
/// to do) or 1 (stopped, with the error on stderr).
#[test]
fn child() {
    let (Ok(dir), Ok(url)) = (
        std::env::var("LOST_LOCK_DIR"),
        std::env::var("LOST_LOCK_URL"),
    ) else {
        return;
    };
    let set = migrator::MigrationSet::from_dir(std::path::Path::new(&dir)).expect("migrations");
    let config = Config {
        require_backup: false,
        require_test_run: false,
        lock_wait: Duration::from_secs(60),
        ..Config::default()
    };
    let mut db =
        migrator::connect::Database::open(&url, migrator::connect::Create::No).expect("connect");
    let outcome = db.with_engine(|engine| Migrator::new(&set).with_config(config).boot(engine));
    match outcome {
        Ok(report) => {
            println!("applied {}", report.applied_versions().len());
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn spawn(ws: &Workspace, url: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env("LOST_LOCK_DIR", ws.migrations())
        .env("LOST_LOCK_URL", url)
        .env("RUST_LOG", "migrator=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child")
}

fn counter_set(ws: &Workspace) {
    for i in 0..MIGRATIONS {
        let version = 20240101000000 + i;
        ws.add(
            version,
            Some(1),
            &format!("step_{i}"),
            "UPDATE counter SET c = c + 1;\nSELECT pg_sleep(0.1);",
            Some("UPDATE counter SET c = c - 1;"),
        );
    }
}

/// Waits until `sql` returns a positive count (at most 20 s).
fn wait_for(db: &Db, sql: &str) {
    let started = Instant::now();
    while db.count(sql) <= 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for: {sql}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn finish(child: Child) -> Ended {
    let out = child.wait_with_output().expect("wait");
    Ended {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Both processes exited cleanly: 0, or 1 with an error that says the lock was lost or another process
/// did the work; never a panic or a signal.
fn check_exits(round: usize, ended: &[Ended]) {
    for e in ended {
        let clean = match e.code {
            Some(0) => true,
            Some(1) => {
                e.stderr.contains("the migration lock was lost")
                    || e.stderr
                        .contains("by another process while this one was about to")
            }
            _ => false,
        };
        assert!(
            clean,
            "round {round}: a process did not end cleanly: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            e.code, e.stdout, e.stderr
        );
    }
}

fn check_database(round: usize, db: &Db, ended: &[Ended]) {
    let summary = || {
        ended
            .iter()
            .map(|e| {
                format!(
                    "exit {:?}: {}{}",
                    e.code,
                    e.stdout,
                    e.stderr
                        .lines()
                        .filter(|l| l.contains("error"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert_eq!(
        db.count("SELECT c FROM counter"),
        MIGRATIONS as i64,
        "round {round}: counter\n{}",
        summary()
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"),
        MIGRATIONS as i64,
        "round {round}: history"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
        MIGRATIONS as i64,
        "round {round}: the log has one applied event per migration\n{}",
        summary()
    );
    assert_eq!(
        db.count(
            "SELECT count(DISTINCT version) FROM schema_migrations_log WHERE action = 'applied'"
        ),
        MIGRATIONS as i64,
        "round {round}: log and history agree"
    );
}

fn fresh() -> Option<(Workspace, PgDb, Db)> {
    let pg = PgDb::fresh()?;
    let db = Db::Postgres(PgDb {
        url: pg.url.clone(),
        name: pg.name.clone(),
    });
    let ws = Workspace::new();
    counter_set(&ws);
    db.exec("CREATE TABLE counter (c INTEGER NOT NULL); INSERT INTO counter VALUES (0);");
    Some((ws, pg, db))
}

#[test]
fn a_killed_lock_connection_never_applies_a_migration_twice() {
    let mut lost = 0;
    for round in 0..ROUNDS {
        let Some((ws, pg, db)) = fresh() else { return };
        let first = spawn(&ws, &pg.url);
        wait_for(&db, "SELECT c FROM counter");
        let second = spawn(&ws, &pg.url);
        // The second waits for the lock: its lock connection polls.
        wait_for(&db, "SELECT count(*) - 1 FROM pg_stat_activity WHERE application_name = 'migrator lock' AND datname = current_database()");
        // The session lock's connection (not the migrating one, which holds a transaction-level lock).
        db.exec(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'migrator lock'
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        );
        let ended = [finish(first), finish(second)];
        check_exits(round, &ended);
        check_database(round, &db, &ended);
        if ended[0].stderr.contains("the migration lock was lost") {
            lost += 1;
        }
    }
    // The kill landed while the first process was migrating in most rounds (it stops, the second
    // finishes); a round where the first was already done proves less, so they must be the exception.
    eprintln!("the first process lost its lock mid-run in {lost} of {ROUNDS} rounds");
    assert!(
        lost >= ROUNDS / 2,
        "the lock was lost mid-run in only {lost} of {ROUNDS} rounds"
    );
}

#[test]
fn idle_session_timeout_never_applies_a_migration_twice() {
    for round in 0..ROUNDS {
        let Some((ws, pg, db)) = fresh() else { return };
        db.exec(&format!(
            "ALTER DATABASE {} SET idle_session_timeout = '1s'",
            pg.name
        ));
        let first = spawn(&ws, &pg.url);
        wait_for(&db, "SELECT c FROM counter");
        let second = spawn(&ws, &pg.url);
        let ended = [finish(first), finish(second)];
        check_exits(round, &ended);
        check_database(round, &db, &ended);
        // The heartbeat kept the lock: nothing was lost, so both finished without an error.
        assert!(
            ended.iter().all(|e| e.code == Some(0)),
            "round {round}: {}",
            ended.iter().map(|e| e.stderr.clone()).collect::<String>()
        );
    }
}
