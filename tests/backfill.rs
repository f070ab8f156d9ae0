//! Backfill migrations on every engine: batches of key ranges, each its own transaction with its cursor;
//! the three boot settings (inline, background, deferred); `--migrate-backfill`; a failed batch that
//! resumes at its cursor once fixed; two runners taking turns; a stop between batches; the row limit;
//! and processes killed with SIGKILL at random points that resume to completion with every row updated
//! exactly once (a counter column), while an application session measures how long its writes waited.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migrator::backfill::{BackfillMode, Phase};
use migrator::render::thousands;
use migrator::{Config, Error, Migrator, Outcome};
use migrator_tests::items::{self, config, Probe, BACKFILL_UP};
use migrator_tests::timeline::{now_us, Kind, Timeline};
use migrator_tests::{all_engines, Db, OtherSession, Workspace};

use items::{three_migrations, AFTER, BACKFILL, FIRST as TABLE};

fn steps(report: &migrator::Report) -> Vec<(u64, Outcome)> {
    report
        .steps
        .iter()
        .map(|s| (s.version, s.outcome.clone()))
        .collect()
}

/// What an admin command prints.
fn admin(db: &Db, migrator: &Migrator<'_>, command: migrator::admin::AdminCommand) -> String {
    db.with_backend(|e| {
        let mut out = Vec::new();
        migrator::admin::run(migrator, e, &command, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    })
}

fn log_actions(db: &Db, version: u64) -> Vec<String> {
    db.rows(&format!(
        "SELECT action FROM schema_migrations_log WHERE version = {version} ORDER BY id"
    ))
}

fn inline_boot_runs_every_batch_then_what_follows(ws: &Workspace, db: &Db) {
    let (_, updated) = items::expected(5000);
    three_migrations(ws, db, 5000, "batch=300");
    let report = db
        .boot_with(&ws.set(), config(BackfillMode::Inline))
        .unwrap();
    assert_eq!(
        steps(&report),
        [(BACKFILL, Outcome::Backfilled), (AFTER, Outcome::Applied)]
    );
    let run = &report.backfills[0];
    assert_eq!((run.rows, run.rows_total), (updated, updated));
    assert_eq!(
        run.batches, 15,
        "4286 rows with gaps in ids up to 5000, 300 keys a batch"
    );
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    assert_eq!(
        db.count("SELECT count(*) FROM items WHERE label <> upper(label) AND kind <> 'skip'"),
        0
    );
    assert_eq!(
        db.history(),
        [
            (TABLE, "applied".to_string()),
            (BACKFILL, "applied".into()),
            (AFTER, "applied".into())
        ]
    );
    assert_eq!(log_actions(db, BACKFILL), ["backfill_started", "applied"]);
    let progress = db.rows("SELECT state, rows_done, batches, cursor_key, first_key, last_key FROM schema_migrations_backfill");
    assert_eq!(progress, [format!("done|{updated}|15|5000|1|5000")]);
    let text = migrator::render::report(&report, migrator::render::Style::Plain);
    assert!(
        text.contains(&format!(
            "Backfilled {BACKFILL} #17 items_backfill: {} rows in 15 batches",
            thousands(updated)
        )),
        "{text}"
    );
    // Nothing pending: the next boot does nothing.
    let again = db
        .boot_with(&ws.set(), config(BackfillMode::Inline))
        .unwrap();
    assert!(again.steps.is_empty(), "{:?}", again.steps);
}

fn background_boot_starts_it_and_the_host_runs_it(ws: &Workspace, db: &Db) {
    let (_, updated) = items::expected(3000);
    three_migrations(ws, db, 3000, "batch=250 pause=1ms");
    let set = ws.set();
    let migrator = Migrator::new(&set).with_config(config(BackfillMode::Background));
    let report = db.with_backend(|e| migrator.boot(e)).unwrap();
    assert_eq!(
        steps(&report),
        [
            (BACKFILL, Outcome::BackfillRunning),
            (AFTER, Outcome::HeldBack)
        ]
    );
    assert_eq!(report.waiting_versions(), [BACKFILL, AFTER]);
    assert_eq!(
        db.history().last(),
        Some(&(BACKFILL, "running".to_string()))
    );
    assert_eq!(items::counters(db), (0, 0, updated as i64));
    // Another replica booting meanwhile applies nothing and waits for the backfill without a lock.
    let replica = db.with_backend(|e| migrator.boot(e)).unwrap();
    assert_eq!(steps(&replica), steps(&report));
    let status = admin(db, &migrator, migrator::admin::AdminCommand::Status);
    assert!(status.contains(&format!("{BACKFILL}")), "{status}");
    assert!(
        status.contains("running  0 rows in 0 batches")
            && status.contains("not at its first batch yet"),
        "{status}"
    );
    // The host's background job: every batch reports its progress, then what waited is applied.
    let mut seen = Vec::new();
    let done = db
        .with_backend(|e| {
            migrator.backfill(e, &mut |p| seen.push((p.state.rows_done, p.state.phase)))
        })
        .unwrap();
    assert_eq!(
        steps(&done),
        [(BACKFILL, Outcome::Backfilled), (AFTER, Outcome::Applied)]
    );
    assert_eq!(seen.len(), 11 + 1, "11 batches and the end: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert_eq!(seen.last(), Some(&(updated, Phase::Done)));
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    let states = db.with_backend(|e| migrator.backfills(e)).unwrap();
    assert_eq!(
        (states[0].phase, states[0].rows_done),
        (Phase::Done, updated)
    );
    let history = admin(db, &migrator, migrator::admin::AdminCommand::History);
    assert!(
        history.contains(&format!(
            "{BACKFILL}   done     {} rows in 11 batches",
            thousands(updated)
        )),
        "{history}"
    );
}

fn deferred_boot_leaves_it_to_the_operator(ws: &Workspace, db: &Db) {
    let (_, updated) = items::expected(2000);
    three_migrations(ws, db, 2000, "batch=1000");
    let set = ws.set();
    let migrator = Migrator::new(&set).with_config(config(BackfillMode::Deferred));
    let report = db.with_backend(|e| migrator.boot(e)).unwrap();
    assert_eq!(
        steps(&report),
        [
            (BACKFILL, Outcome::BackfillDeferred),
            (AFTER, Outcome::HeldBack)
        ]
    );
    // Not started: no history row, no progress.
    assert_eq!(db.history().len(), 1);
    assert!(db
        .with_backend(|e| migrator.backfills(e))
        .unwrap()
        .is_empty());
    let command = migrator::admin::parse(["--migrate-backfill"])
        .unwrap()
        .unwrap();
    let out = admin(db, &migrator, command);
    assert!(out.contains(&format!("Backfilled {BACKFILL}")), "{out}");
    assert!(
        out.contains(&format!("{AFTER} #17    items_label_index")),
        "{out}"
    );
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    assert_eq!(db.history().len(), 3);
}

fn a_failed_batch_keeps_the_earlier_ones_and_resumes_once_fixed(ws: &Workspace, db: &Db) {
    items::prepare(ws, db, 4000);
    // Rows 2500.. are in the batch that fails: their divisor is 0.
    db.exec("UPDATE items SET divisor = 0 WHERE id = 2502");
    db.exec("ALTER TABLE items ADD COLUMN share INTEGER");
    let file = items::add_backfill(
        ws,
        BACKFILL,
        "batch=500",
        "UPDATE items SET n = n + 1, share = 1000 / divisor WHERE kind <> 'skip'",
    );
    if !db.is_postgres() {
        // SQLite and MariaDB divide by zero into NULL: make that a failure as PostgreSQL's error is.
        match db {
            Db::Sqlite(_) => db.exec("CREATE TRIGGER share_needed BEFORE UPDATE OF share ON items WHEN NEW.share IS NULL BEGIN SELECT RAISE(ABORT, 'share must not be NULL'); END"),
            _ => db.exec("ALTER TABLE items ADD CONSTRAINT share_needed CHECK (n = 0 OR share IS NOT NULL)"),
        }
    }
    let err = db
        .boot_with(&ws.set(), config(BackfillMode::Inline))
        .unwrap_err();
    let Error::Backfill(failure) = &err else {
        panic!("expected a backfill error, got {err}");
    };
    // Batches of 500 keys: the fifth, keys 2001 to 2500, holds id 2502.
    let (from, to) = (key_at(2000), key_at(2500));
    assert_eq!((failure.from, failure.to), (Some(from), Some(to)), "{err}");
    let message = err.to_string();
    for part in [
        format!("backfill {BACKFILL} ({file}) failed in the batch of items.id in ({from}, {to}], statement at line 5"),
        "UPDATE items SET n = n + 1, share = 1000 / divisor".to_string(),
        format!("{} said:", db.engine_name()),
        "the backfill resumes at the cursor".to_string(),
    ] {
        assert!(message.contains(&part), "{part:?} missing from:\n{message}");
    }
    assert_eq!(db.history().last(), Some(&(BACKFILL, "failed".to_string())));
    let (cursor, done) = items::check_cursor_agrees(db, "schema_migrations");
    assert_eq!(cursor, Some(from));
    let status = db.rows("SELECT state, error FROM schema_migrations_backfill");
    assert!(status[0].starts_with("failed|"), "{status:?}");
    // Fixed data: the next boot resumes at the cursor and completes; no row is done twice.
    db.exec("UPDATE items SET divisor = 1 WHERE id = 2502");
    let report = db
        .boot_with(&ws.set(), config(BackfillMode::Inline))
        .unwrap();
    let (_, updated) = items::expected(4000);
    assert_eq!(report.backfills[0].resumed_from, Some(from));
    assert_eq!(report.backfills[0].rows + done as u64, updated);
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    assert_eq!(
        log_actions(db, BACKFILL),
        [
            "backfill_started",
            "up_failed",
            "backfill_resumed",
            "applied"
        ]
    );
}

fn a_stop_between_batches_keeps_what_is_done(ws: &Workspace, db: &Db) {
    three_migrations(ws, db, 3000, "batch=200");
    let set = ws.set();
    let config = config(BackfillMode::Background);
    let stop = config.stop.clone();
    let migrator = Migrator::new(&set).with_config(config);
    db.with_backend(|e| migrator.boot(e)).unwrap();
    let mut batches = 0;
    let err = db
        .with_backend(|e| {
            migrator.backfill(e, &mut |_| {
                batches += 1;
                if batches == 3 {
                    stop.stop();
                }
            })
        })
        .unwrap_err();
    assert!(matches!(err, Error::Stopped(_)), "{err}");
    assert!(err.to_string().contains("resumes at its cursor"), "{err}");
    assert_eq!(
        items::check_cursor_agrees(db, "schema_migrations").0,
        Some(key_at(600))
    );
    assert_eq!(
        db.history().last(),
        Some(&(BACKFILL, "running".to_string()))
    );
    // A fresh run (a new process) finishes it.
    let report = db.boot_with(&set, config_inline()).unwrap();
    assert_eq!(report.backfills[0].resumed_from, Some(key_at(600)));
    let (_, updated) = items::expected(3000);
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
}

/// The `n`-th key of `items` (ids without the multiples of 7).
fn key_at(n: i64) -> i64 {
    (1..).filter(|i| i % 7 != 0).nth(n as usize - 1).unwrap()
}

fn config_inline() -> Config {
    config(BackfillMode::Inline)
}

fn two_runners_take_turns(ws: &Workspace, db: &Db) {
    three_migrations(ws, db, 6000, "batch=100");
    let set = ws.set();
    let migrator = Migrator::new(&set).with_config(config(BackfillMode::Background));
    db.with_backend(|e| migrator.boot(e)).unwrap();
    let reports: Vec<migrator::Report> = std::thread::scope(|scope| {
        let runners: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| db.with_backend(|e| migrator.backfill(e, &mut |_| {}))))
            .collect();
        runners
            .into_iter()
            .map(|r| r.join().unwrap().unwrap())
            .collect()
    });
    let (_, updated) = items::expected(6000);
    let rows: u64 = reports
        .iter()
        .flat_map(|r| &r.backfills)
        .map(|b| b.rows)
        .sum();
    assert_eq!(rows, updated, "the two runners' rows add up to the table's");
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    assert_eq!(db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied' AND version IN (20250302000000, 20250303000000)"), 2);
}

fn the_row_limit_points_to_the_backfill_form_and_lets_it_pass(ws: &Workspace, db: &Db) {
    items::prepare(ws, db, 3000);
    let limited = Config {
        max_rows_affected: Some(1000),
        ..config_inline()
    };
    ws.add(
        BACKFILL,
        Some(17),
        "one_pass",
        &format!("{BACKFILL_UP};"),
        None,
    );
    let err = db.boot_with(&ws.set(), limited.clone()).unwrap_err();
    assert!(matches!(err, Error::RowLimit { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("-- migrator:backfill table=<table> key=<integer key column> batch=1000"),
        "{err}"
    );
    ws.remove(&format!("{BACKFILL}_issue_17_one_pass.sql"));
    items::add_backfill(ws, BACKFILL, "batch=1000", BACKFILL_UP);
    let report = db.boot_with(&ws.set(), limited).unwrap();
    let (_, updated) = items::expected(3000);
    assert_eq!(report.backfills[0].rows, updated);
    assert!(updated > 1000);
}

/// An application transaction that holds a row of the first batch and then asks for a row the batch
/// already holds: the server breaks the deadlock by ending one of the two. Here it ends the batch
/// (PostgreSQL: the batch waited first and the application's session was given a long
/// `deadlock_timeout`, so the batch's check finds the cycle; MariaDB: the lighter transaction, and the
/// application's has updated a few thousand rows of another table). The batch is rolled back and
/// retried, not failed: the application's transaction goes on, and the backfill completes with every
/// row updated exactly once and nothing logged as failed.
mod a_batch_ended_to_break_a_deadlock_is_retried {
    use super::*;

    #[test]
    fn postgres() {
        let ws = Workspace::new();
        let Some(db) = Db::postgres() else { return };
        run(&ws, &db, "SELECT count(*) FROM pg_locks WHERE NOT granted");
    }

    #[test]
    fn mysql() {
        let ws = Workspace::new();
        let Some(db) = Db::mysql() else { return };
        run(
            &ws,
            &db,
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE info LIKE 'UPDATE items SET n = n + 1%' AND time_ms > 200",
        );
    }

    fn run(ws: &Workspace, db: &Db, lock_waits: &str) {
        three_migrations(ws, db, 4000, "batch=500");
        db.exec("CREATE TABLE ballast (id INTEGER PRIMARY KEY, x INTEGER NOT NULL)");
        db.exec("INSERT INTO ballast (id, x) SELECT id, 0 FROM items");
        let held = key_at(400);
        let app = OtherSession::open(db);
        if db.is_postgres() {
            app.run("SET deadlock_timeout = '60s'").unwrap();
        }
        app.run("BEGIN").unwrap();
        app.run("UPDATE ballast SET x = x + 1").unwrap();
        backfill_while_a_row_is_held(ws, db, &app, held, lock_waits, || {
            // The batch holds row 1 and waits for `held`; this waits for row 1: a deadlock.
            let asked = app.run("UPDATE items SET touched = touched + 1 WHERE id = 1");
            assert!(
                asked.is_ok(),
                "the application's transaction was ended instead of the batch: {asked:?}"
            );
        });
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM items WHERE touched = 1 AND id IN (1, {held})"
            )),
            2
        );
        assert_eq!(db.history().last(), Some(&(AFTER, "applied".to_string())));
    }
}

/// An inline boot of the backfill of [`three_migrations`] (4000 rows, batches of 500) while `app`, in its
/// open transaction, updates row `held` of the first batch: once the batch waits for that row (`lock_waits`
/// counts it), `meanwhile` runs, then `app` commits. The backfill must complete all the same: every row
/// updated exactly once, `held` touched once, nothing logged as failed.
fn backfill_while_a_row_is_held(
    ws: &Workspace,
    db: &Db,
    app: &OtherSession,
    held: i64,
    lock_waits: &str,
    meanwhile: impl FnOnce(),
) {
    app.run(&format!(
        "UPDATE items SET touched = touched + 1 WHERE id = {held}"
    ))
    .unwrap();
    let set = ws.set();
    std::thread::scope(|s| {
        let boot = s.spawn(|| db.boot_with(&set, config(BackfillMode::Inline)));
        OtherSession::wait_for(db, lock_waits, "the batch waiting for the held row");
        meanwhile();
        app.run("COMMIT").unwrap();
        let report = boot.join().unwrap().unwrap();
        assert_eq!(report.backfills.len(), 1, "{report:?}");
    });
    let (_, updated) = items::expected(4000);
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    assert_eq!(
        db.count(&format!("SELECT touched FROM items WHERE id = {held}")),
        1
    );
    assert_eq!(log_actions(db, BACKFILL), ["backfill_started", "applied"]);
}

/// A server whose transactions are REPEATABLE READ by default (`default_transaction_isolation`, set by
/// some teams for their application): a batch that waited for a row an application transaction updated
/// ends with a serialization failure when that transaction commits (PostgreSQL 40001: the row changed
/// after the batch's snapshot). The batch is rolled back and retried with a new snapshot, not failed.
#[test]
fn on_repeatable_read_a_batch_that_lost_a_row_to_a_commit_is_retried() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    three_migrations(&ws, &db, 4000, "batch=500");
    db.exec("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L', current_database(), 'repeatable read'); END $$");
    let app = OtherSession::open(&db);
    app.run("BEGIN").unwrap();
    backfill_while_a_row_is_held(
        &ws,
        &db,
        &app,
        key_at(400),
        "SELECT count(*) FROM pg_locks WHERE NOT granted",
        || {},
    );
}

all_engines!(
    inline_boot_runs_every_batch_then_what_follows,
    background_boot_starts_it_and_the_host_runs_it,
    deferred_boot_leaves_it_to_the_operator,
    a_failed_batch_keeps_the_earlier_ones_and_resumes_once_fixed,
    a_stop_between_batches_keeps_what_is_done,
    two_runners_take_turns,
    the_row_limit_points_to_the_backfill_form_and_lets_it_pass,
);

/// The spec's policy (backup, rehearsal on a scratch copy) with a backfill: the rehearsal runs its UPDATE
/// whole on the copy, the real database gets batches.
#[test]
fn the_spec_policy_rehearses_a_backfill_and_applies_it_in_batches() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    three_migrations(&ws, &db, 2000, "batch=400");
    let report = db.boot(&ws.set()).unwrap();
    assert!(report.backup.is_some() && report.rehearsal.is_some());
    assert_eq!(report.backfills[0].batches, 5);
    let (_, updated) = items::expected(2000);
    assert_eq!(items::counters(&db), (updated as i64, 0, 0));
}

/// On SQLite a `pause=` shorter than a batch's hold of the write lock is raised to it: between two
/// batches the backfill sleeps at least as long as the batch before held the lock (with `pause=0ms` it
/// took the lock again at once and an application writer, polling in its busy handler, starved).
#[test]
fn on_sqlite_a_pause_shorter_than_the_batch_is_raised_to_it() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    three_migrations(&ws, &db, 20_000, "batch=500 pause=0ms");
    let set = ws.set();
    let migrator = Migrator::new(&set).with_config(config(BackfillMode::Background));
    db.with_backend(|e| migrator.boot(e)).unwrap();
    // (when the progress was reported, how long the batch held the lock), batch by batch.
    let mut batches = Vec::new();
    db.with_backend(|e| {
        migrator.backfill(e, &mut |p| {
            if p.state.phase == Phase::Running {
                batches.push((Instant::now(), p.last_batch));
            }
        })
    })
    .unwrap();
    assert!(batches.len() > 30, "{} batches", batches.len());
    // From one report to the next: the pause after batch k, then batch k + 1.
    let (mut between, mut least) = (Duration::ZERO, Duration::ZERO);
    for w in batches.windows(2) {
        between += w[1].0 - w[0].0;
        least += w[0].1 + w[1].1;
    }
    assert!(
        between >= least,
        "{between:?} between the batches, at least {least:?} expected"
    );
}

// ---------------------------------------------------------------------------------------------------
// Killed with SIGKILL at random points, on every engine.

const WORKER_URL: &str = "MIGRATOR_BACKFILL_WORKER_URL";
const WORKER_DIR: &str = "MIGRATOR_BACKFILL_WORKER_DIR";

/// The child process of the kill tests: runs the backfill (`Migrator::backfill`, as a host's background
/// job does) and prints its progress after each batch, and the runtime's tracing events (each batch
/// with the time it held its locks) with the wall-clock instant in µs (`T <µs> ...`). Does nothing
/// without the tests' environment.
#[test]
#[ignore = "the child process of the kill tests; runs only with their environment"]
fn worker() {
    let (Ok(url), Ok(dir)) = (std::env::var(WORKER_URL), std::env::var(WORKER_DIR)) else {
        return;
    };
    tracing_subscriber::fmt()
        .with_timer(UnixMicros)
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "migrator=info,migrator::backfill=debug",
        ))
        .init();
    let set = migrator::MigrationSet::from_dir(std::path::Path::new(&dir)).unwrap();
    let migrator = Migrator::new(&set).with_config(config(BackfillMode::Background));
    let mut database =
        migrator::connect::Database::open(&url, migrator::connect::Create::No).unwrap();
    let mut out = std::io::stdout().lock();
    database
        .with_engine(|e| {
            migrator.backfill(e, &mut |p| {
                let _ = writeln!(
                    out,
                    "PROGRESS {} {}",
                    p.state.rows_done,
                    p.last_batch.as_micros()
                );
                let _ = out.flush();
            })
        })
        .unwrap();
    let _ = writeln!(out, "FINISHED");
}

/// The worker's tracing timestamps: `T` and the microseconds since the epoch.
struct UnixMicros;

impl tracing_subscriber::fmt::time::FormatTime for UnixMicros {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "T {}", now_us())
    }
}

/// One child run: `Some(rows)` when it was killed after `kill_at` rows were done (plus a random
/// delay of up to a few milliseconds, so kills land anywhere in a batch), `None` when it finished.
/// Its start-up, batches, log lines and kill go on `timeline`.
fn child(
    db: &Db,
    ws: &Workspace,
    kill_at: Option<u64>,
    rng: &mut u64,
    timeline: &mut Timeline,
) -> Option<u64> {
    let spawned = now_us();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_URL, db.url())
        .env(WORKER_DIR, ws.migrations())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its stderr (a panic's message) is kept for the failure message; read aside so it never blocks.
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut started = false;
    for line in stdout.lines() {
        let line = line.unwrap();
        if timeline.child_line(&line) {
            if let (false, Some(first)) = (started, timeline.last_batch_start()) {
                started = first >= spawned;
                if started {
                    timeline.push(spawned, first, Kind::Startup);
                }
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("PROGRESS ") else {
            continue;
        };
        let rows: u64 = rest.split(' ').next().unwrap().parse().unwrap();
        if kill_at.is_some_and(|at| rows >= at) {
            std::thread::sleep(Duration::from_micros(next(rng) % 4000));
            let kill = now_us();
            child.kill().unwrap();
            child.wait().unwrap();
            timeline.push(kill, now_us(), Kind::Kill);
            return Some(rows);
        }
    }
    let status = child.wait().unwrap();
    if !started {
        timeline.push(spawned, now_us(), Kind::Startup);
    }
    let stderr = stderr.join().unwrap_or_default();
    assert!(status.success(), "the worker failed: {status}\n{stderr}");
    None
}

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// Seeds `up_to` rows, then runs the backfill in child processes killed at `kills` random points, the
/// last child finishing it; checks after every kill that the data agrees with the cursor, and at the end
/// that every row was updated exactly once. Prints the figures.
fn killed_at_random_points(ws: &Workspace, db: &Db, up_to: u64, kills: usize, settings: &str) {
    killed_at_points(ws, db, up_to, settings, |rng, updated| {
        (0..kills).map(|_| next(rng) % updated).collect()
    });
}

/// Without transactional DDL (MySQL) a kill can land inside the migration after the backfill (its
/// `CREATE INDEX`), which stays recorded `running`: the next run refuses it, since it cannot know what the
/// statement left. Checks that refusal, then does what it tells an operator: finishes the index by hand
/// if the kill left none, and marks the migration applied.
fn finish_an_interrupted_index_by_hand(db: &Db, set: &migrator::MigrationSet) {
    if !db.history().contains(&(AFTER, "running".to_string())) {
        return;
    }
    assert!(
        db.is_mysql(),
        "only a migration without a transaction is left running"
    );
    let err = db
        .boot_with(set, config(BackfillMode::Background))
        .unwrap_err();
    assert!(
        matches!(&err, migrator::Error::Validation(problems) if problems.iter().any(|p| matches!(p,
            migrator::ValidationProblem::Interrupted { version, .. } if *version == AFTER))),
        "{err}"
    );
    let indexes = db.count(
        "SELECT count(*) FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND table_name = 'items' AND index_name = 'items_label'",
    );
    eprintln!(
        "killed inside the index migration; the index is there: {}",
        indexes > 0
    );
    if indexes == 0 {
        db.exec("CREATE INDEX items_label ON items (label)");
    }
    db.with_backend(|engine| {
        Migrator::new(set)
            .with_config(config(BackfillMode::Background))
            .mark(engine, AFTER, migrator::Status::Applied, false)
    })
    .unwrap();
}

/// [`killed_at_random_points`] with the kill points (rows done) chosen by `points(rng, rows to update)`.
fn killed_at_points(
    ws: &Workspace,
    db: &Db,
    up_to: u64,
    settings: &str,
    points: impl FnOnce(&mut u64, u64) -> Vec<u64>,
) {
    three_migrations(ws, db, up_to, settings);
    let (rows, updated) = items::expected(up_to);
    let set = ws.set();
    // Started by a boot, as a host in background mode does; the children run it.
    db.boot_with(&set, config(BackfillMode::Background))
        .unwrap();
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill points seed {rng}");
    let mut points = points(&mut rng, updated);
    points.sort();
    let kills = points.len();
    let probe = Probe::start(db, up_to);
    let started = Instant::now();
    let mut timeline = Timeline::default();
    let mut killed_at = Vec::new();
    for point in points {
        let at = child(db, ws, Some(point.max(1)), &mut rng, &mut timeline)
            .unwrap_or_else(|| panic!("the backfill finished before its kill at {point} rows"));
        let checked = now_us();
        finish_an_interrupted_index_by_hand(db, &set);
        let (cursor, done) = items::check_cursor_agrees(db, "schema_migrations");
        let backfill_applied = db.history().contains(&(BACKFILL, "applied".to_string()));
        timeline.push(checked, now_us(), Kind::Check);
        killed_at.push((at, cursor, done, backfill_applied));
    }
    assert!(child(db, ws, None, &mut rng, &mut timeline).is_none());
    let took = started.elapsed();
    let waits = probe.finish();
    assert_eq!(
        items::counters(db),
        (updated as i64, 0, 0),
        "every row exactly once"
    );
    assert_eq!(
        db.history(),
        [
            (TABLE, "applied".to_string()),
            (BACKFILL, "applied".into()),
            (AFTER, "applied".into())
        ]
    );
    let resumed = db.count(&format!(
        "SELECT count(*) FROM schema_migrations_log WHERE version = {BACKFILL} AND action = 'backfill_resumed'"
    ));
    // A kill after the backfill was recorded applied (the migration after it not yet applied) leaves
    // nothing to resume. A kill after the last batch with rows but before the empty batch that finds no
    // key left and records it applied does: the next run resumes (and logs it) to finish it.
    let unfinished = killed_at.iter().filter(|k| !k.3).count();
    assert!(
        killed_at.iter().all(|k| !k.3 || k.2 as u64 == updated),
        "the backfill recorded applied with rows left: {killed_at:?}"
    );
    assert_eq!(
        resumed as usize, unfinished,
        "one resume after each of the {unfinished} kills before the end: {killed_at:?}"
    );
    eprintln!(
        "{}: {rows} rows ({updated} updated), {kills} SIGKILLs at rows done {:?}; all resumed ({resumed} resumes); total {:.1} s; longest batch {:.1} ms; application session: {waits}",
        db.engine_name(),
        killed_at.iter().map(|k| k.2).collect::<Vec<_>>(),
        took.as_secs_f64(),
        timeline.longest_batch_us() as f64 / 1000.0
    );
    eprint!("{}", timeline.explain(&waits));
}

fn killed_five_times(ws: &Workspace, db: &Db) {
    killed_at_random_points(ws, db, 100_000, 5, "batch=1000");
}

all_engines!(killed_five_times);

/// Killed as the last batch with rows reports its progress: the backfill is not recorded applied until a
/// batch finds no key left, so the next run resumes it (and logs the resume) and finishes it, nothing
/// updated twice.
fn killed_after_its_last_batch(ws: &Workspace, db: &Db) {
    killed_at_points(ws, db, 10_000, "batch=1000", |_, updated| vec![updated]);
}

all_engines!(killed_after_its_last_batch);

/// The measurement of the issue: 1,000,000 rows, 20 SIGKILLs (`cargo test --test backfill -- --ignored
/// measure_ --nocapture`).
mod measure_killed_twenty_times {
    use super::*;

    fn run(db: &Db, ws: &Workspace) {
        killed_at_random_points(ws, db, 1_000_000, 20, "batch=1000");
    }

    #[test]
    #[ignore = "a measurement: 1,000,000 rows, 20 kills"]
    fn sqlite() {
        let ws = Workspace::new();
        run(&Db::sqlite(&ws), &ws);
    }

    #[test]
    #[ignore = "a measurement: 1,000,000 rows, 20 kills"]
    fn postgres() {
        let ws = Workspace::new();
        let Some(db) = Db::postgres() else { return };
        run(&db, &ws);
    }

    #[test]
    #[ignore = "a measurement: 1,000,000 rows, 20 kills"]
    fn mysql() {
        let ws = Workspace::new();
        let Some(db) = Db::mysql() else { return };
        run(&db, &ws);
    }
}

// ---------------------------------------------------------------------------------------------------
// The benchmark: one big UPDATE against backfills, and what an application session waited meanwhile.

/// One measured way of updating every row: `(label, rows per second, the application's waits)`.
fn measure_one(db: &Db, ws: &Workspace, up_to: u64, settings: Option<&str>) -> (f64, items::Waits) {
    items::prepare(ws, db, up_to);
    match settings {
        Some(settings) => {
            items::add_backfill(ws, BACKFILL, settings, BACKFILL_UP);
        }
        None => ws.write(
            &format!("{BACKFILL}_issue_17_one_update.sql"),
            &format!("-- Issue #17: one update\n-- migrator:allow update-delete-without-where the benchmark's one pass\n-- ============ UP MIGRATION ============\n{BACKFILL_UP};\n"),
        ),
    }
    let probe = Probe::start(db, up_to);
    std::thread::sleep(Duration::from_millis(200));
    let report = db.boot_with(&ws.set(), config_inline()).unwrap();
    let waits = probe.finish();
    let (rows, took) = match report.backfills.first() {
        Some(run) => (run.rows, run.took),
        None => (items::expected(up_to).1, report.steps[0].duration),
    };
    (rows as f64 / took.as_secs_f64(), waits)
}

fn measure_against_one_update(db_for: &dyn Fn(&Workspace) -> Option<Db>) {
    let up_to: u64 = std::env::var("BACKFILL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let ways: [(&str, Option<&str>); 5] = [
        ("one UPDATE, one transaction", None),
        ("backfill batch=1000", Some("batch=1000 pause=0ms")),
        ("backfill batch=1000 (default pause)", Some("batch=1000")),
        ("backfill batch=10000", Some("batch=10000 pause=0ms")),
        ("backfill target=50ms", Some("batch=1000 target=50ms")),
    ];
    for (label, settings) in ways {
        let ws = Workspace::new();
        let Some(db) = db_for(&ws) else { return };
        let (rate, waits) = measure_one(&db, &ws, up_to, settings);
        eprintln!(
            "| {} | {label} | {} | {:.0} | {:.1} | {:.1} | {} |",
            db.engine_name(),
            items::expected(up_to).0,
            rate,
            waits.max.as_secs_f64() * 1000.0,
            waits.p99.as_secs_f64() * 1000.0,
            waits.queries
        );
    }
}

/// Rows per second and the application's longest wait: one UPDATE against backfills
/// (`cargo test --test backfill -- --ignored measure_against --nocapture`; `BACKFILL_BENCH_ROWS` rows,
/// 1,000,000 by default).
mod measure_against_one_update {
    use super::*;

    #[test]
    #[ignore = "a measurement"]
    fn sqlite() {
        measure_against_one_update(&|ws| Some(Db::sqlite(ws)));
    }

    #[test]
    #[ignore = "a measurement"]
    fn postgres() {
        measure_against_one_update(&|_| Db::postgres());
    }

    #[test]
    #[ignore = "a measurement"]
    fn mysql() {
        measure_against_one_update(&|_| Db::mysql());
    }
}

/// The async example's migrations, embedded: the macro carries the backfill directive exactly as the
/// run-time parser reads it.
static ASYNC_EXAMPLE: migrator::MigrationSet =
    migrator::embed_migrations!("../example-app/migrations-async");

#[test]
fn the_macro_embeds_the_backfill_directive_as_the_parser_reads_it() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-app/migrations-async");
    let loaded = migrator::MigrationSet::from_dir(&dir).unwrap();
    assert_eq!(ASYNC_EXAMPLE.migrations(), loaded.migrations());
    let backfill = ASYNC_EXAMPLE
        .migrations()
        .iter()
        .find_map(|m| m.backfill.as_ref())
        .expect("the example has a backfill");
    assert_eq!(
        (
            backfill.table.as_ref(),
            backfill.key.as_ref(),
            backfill.batch,
            backfill.pause
        ),
        ("accounts", "id", 2000, None)
    );
    assert_eq!(backfill.target, Some(Duration::from_millis(100)));
}
