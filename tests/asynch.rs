//! The async API (feature `tokio`) on real databases: the boot runs on the blocking pool while the
//! runtime's own thread keeps going; a dropped boot future stops at the next migration and the next boot
//! completes with every migration applied once and no lock left behind; a background backfill stopped or
//! dropped between batches resumes exactly once; 16 boots at once on a multi-threaded runtime; admin
//! actions; an SQLite connection the host shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migrator::asynch::{AsyncMigrator, Url};
use migrator::backfill::BackfillMode;
use migrator::{Error, MigrationSet, Migrator, Outcome};
use migrator_tests::items::{self, config};
use migrator_tests::{Db, Workspace};

/// A set the async API can hold (`'static`), loaded from the workspace.
fn leaked(ws: &Workspace) -> &'static MigrationSet {
    Box::leak(Box::new(ws.set()))
}

fn async_migrator(ws: &Workspace, mode: BackfillMode) -> AsyncMigrator {
    AsyncMigrator::new(Migrator::new(leaked(ws)).with_config(config(mode)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const SLOW: u64 = 5;
const SLOW_ROWS: i64 = 600_000;
const FIRST_SLOW: u64 = 20250401000001;

/// Five migrations; the second fills a table of 600,000 rows (it takes a while), the others are quick.
/// Each creates and fills a table of its own: one applied twice would fail or show twice the rows.
fn slow_migrations(ws: &Workspace, db: &Db) {
    slow_migrations_from(ws, db, FIRST_SLOW);
}

/// [`slow_migrations`] with versions from `first` on (a test that watches the boot's events for its own
/// versions uses versions no other test of this binary runs).
fn slow_migrations_from(ws: &Workspace, db: &Db, first: u64) {
    for i in 1..=SLOW {
        let rows = if i == 2 { SLOW_ROWS } else { 10 };
        let fill = match db {
            Db::Postgres(_) => format!(
                "INSERT INTO step_{i} (id, v) SELECT g, g % 97 FROM generate_series(1, {rows}) AS g"
            ),
            _ => format!(
                "INSERT INTO step_{i} (id, v) WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) SELECT n, n % 97 FROM g"
            ),
        };
        ws.add(
            first + i - 1,
            Some(17),
            &format!("step_{i}"),
            &format!(
                "CREATE TABLE step_{i} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);\n{fill};"
            ),
            Some(&format!("DROP TABLE step_{i};")),
        );
    }
}

fn applied_once(db: &Db, versions: impl IntoIterator<Item = u64>) {
    for v in versions {
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM schema_migrations_log WHERE version = {v} AND action = 'applied'"
            )),
            1,
            "migration {v} applied once"
        );
    }
}

/// Ticks every 5 ms on the runtime until stopped: the longest gap between ticks says whether something
/// blocked the runtime's thread.
async fn ticker(stop: Arc<AtomicBool>) -> (Duration, u32) {
    let (mut longest, mut ticks, mut last) = (Duration::ZERO, 0u32, Instant::now());
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        longest = longest.max(last.elapsed());
        last = Instant::now();
        ticks += 1;
    }
    (longest, ticks)
}

#[test]
fn the_boot_leaves_the_runtime_thread_free() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    slow_migrations(&ws, &db);
    let migrator = async_migrator(&ws, BackfillMode::Inline);
    // One thread for the whole runtime: a boot run on it would stall the ticker for its duration.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (booted, took, (longest_gap, ticks)) = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let ticks = tokio::spawn(ticker(stop.clone()));
        let started = Instant::now();
        let booted = migrator.boot(Url::new(db.url())).await;
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        (booted, took, ticks.await.unwrap())
    });
    let booted = booted.unwrap();
    assert_eq!(booted.report.applied_versions().len(), SLOW as usize);
    assert!(took > Duration::from_millis(150), "the boot took {took:?}");
    assert!(
        longest_gap < Duration::from_millis(100),
        "the runtime's only thread was blocked for {longest_gap:?} during a boot of {took:?} ({ticks} ticks)"
    );
    eprintln!(
        "boot {took:?}; the runtime thread ticked {ticks} times, longest gap {longest_gap:?}"
    );
}

/// The versions of the `migrating` events the boots of this test binary have emitted, from any thread
/// (the boots run on tokio's blocking pool): a test waits for its own migration to start instead of
/// guessing how long the ones before it take on this machine.
mod started {
    use std::sync::{Mutex, OnceLock};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    static STARTED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    struct Migrating;

    #[derive(Default)]
    struct Fields {
        version: Option<u64>,
        migrating: bool,
    }

    impl Visit for Fields {
        fn record_u64(&mut self, field: &Field, value: u64) {
            if field.name() == "version" {
                self.version = Some(value);
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.migrating = format!("{value:?}") == "migrating";
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Migrating {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            if let (true, Some(version)) = (fields.migrating, fields.version) {
                STARTED.lock().unwrap().push(version);
            }
        }
    }

    /// Installs the recorder (once per test binary).
    pub fn watch() {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Migrating))
                .expect("no other global subscriber in this test binary");
        });
    }

    /// Whether a boot has started applying `version`.
    pub fn has(version: u64) -> bool {
        STARTED.lock().unwrap().contains(&version)
    }
}

/// Drops the boot's future while the long migration runs, then boots again: the first boot stopped at
/// the next migration (it left a strict subset applied, committed), the second applied the rest, each
/// exactly once, and no migration lock is left. The future is dropped once the boot has started the
/// long migration (its `migrating` event), whatever the machine's speed; the versions are this test's
/// own per engine, so that no other boot of the binary is taken for this one.
fn a_dropped_boot_stops_at_a_migration_boundary(ws: &Workspace, db: &Db) {
    let first = if db.is_postgres() {
        FIRST_SLOW + 200
    } else {
        FIRST_SLOW + 100
    };
    slow_migrations_from(ws, db, first);
    started::watch();
    let migrator = async_migrator(ws, BackfillMode::Inline);
    let runtime = runtime();
    let second = runtime.block_on(async {
        let mut first_boot = Box::pin(migrator.boot(Url::new(db.url())));
        let waited = Instant::now();
        while !started::has(first + 1) {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "the first boot never started its second migration"
            );
            let poll = tokio::time::timeout(Duration::from_millis(1), &mut first_boot).await;
            assert!(
                poll.is_err(),
                "the first boot ended before its second migration started: {:?}",
                poll.map(|r| r.map(|b| b.report.applied_versions()))
            );
        }
        // Dropped inside the long migration.
        drop(first_boot);
        migrator.boot(Url::new(db.url())).await.unwrap()
    });
    let by_second = second.report.applied_versions();
    assert!(
        !by_second.is_empty() && by_second.len() < SLOW as usize,
        "the first boot stopped part way: the second applied {by_second:?}"
    );
    assert!(!by_second.contains(&first), "{by_second:?}");
    applied_once(db, first..first + SLOW);
    assert_eq!(db.count("SELECT count(*) FROM step_2"), SLOW_ROWS);
    let stopped = db.count(&format!(
        "SELECT count(*) FROM schema_migrations_log WHERE version IN ({}) AND action = 'applied'",
        (first..first + SLOW)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    assert_eq!(stopped, SLOW as i64);
    if db.is_postgres() {
        assert_eq!(
            db.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            0,
            "no advisory lock left"
        );
    }
}

use items::{AFTER, BACKFILL, FIRST as TABLE};

/// A background backfill stopped between batches, then one dropped, then one run to its end: every row
/// updated once, the migration after it applied by the last.
fn a_background_backfill_stops_and_resumes(ws: &Workspace, db: &Db) {
    items::three_migrations(ws, db, 20_000, "batch=200 pause=2ms");
    let migrator = async_migrator(ws, BackfillMode::Background);
    let runtime = runtime();
    runtime.block_on(async {
        let booted = migrator.boot(Url::new(db.url())).await.unwrap();
        let steps: Vec<_> = booted
            .report
            .steps
            .iter()
            .map(|s| s.outcome.clone())
            .collect();
        assert_eq!(steps, [Outcome::BackfillRunning, Outcome::HeldBack]);
        let task = booted.backfill.expect("a background backfill");
        while task.progress().is_none_or(|p| p.state.batches < 5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stopped = task.stop().await.unwrap_err();
        assert!(matches!(stopped, Error::Stopped(_)), "{stopped}");
        let (cursor, _) = items::check_cursor_agrees(db, "schema_migrations");
        assert!(cursor.is_some());
        // Dropped while it runs: it stops at its next batch; a new run takes over at the cursor.
        let task = migrator.spawn_backfill(Url::new(db.url()));
        while task.progress().is_none_or(|p| p.state.batches < 20) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(task);
        let report = migrator
            .spawn_backfill(Url::new(db.url()))
            .wait()
            .await
            .unwrap();
        assert!(report.applied_versions().contains(&AFTER), "{report:?}");
    });
    let (_, updated) = items::expected(20_000);
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    applied_once(db, [BACKFILL, AFTER]);
    assert!(
        db.count(&format!("SELECT count(*) FROM schema_migrations_log WHERE version = {BACKFILL} AND action = 'backfill_resumed'")) >= 2
    );
}

/// Admin actions from async code: status and the history, as the host's flags print them.
fn admin_actions(ws: &Workspace, db: &Db) {
    slow_migrations(ws, db);
    let migrator = async_migrator(ws, BackfillMode::Inline);
    runtime().block_on(async {
        let status = migrator
            .admin(Url::new(db.url()), migrator::admin::AdminCommand::Status)
            .await
            .unwrap();
        assert!(status.contains("0 applied, 5 pending"), "{status}");
        migrator.boot(Url::new(db.url())).await.unwrap();
        let history = migrator
            .admin(Url::new(db.url()), migrator::admin::AdminCommand::History)
            .await
            .unwrap();
        assert!(
            history.contains("Total: 5 migrations (5 active, 0 rolled back)"),
            "{history}"
        );
        let code = migrator
            .admin_main(Url::new(db.url()), ["--migrate-status"])
            .await;
        assert_eq!(code, Some(0));
        assert_eq!(
            migrator
                .admin_main(Url::new(db.url()), ["--port", "80"])
                .await,
            None
        );
    });
}

migrator_tests::sqlite_and_postgres!(
    a_dropped_boot_stops_at_a_migration_boundary,
    a_background_backfill_stops_and_resumes,
    admin_actions,
);

/// 16 boots at once on a multi-threaded runtime against one PostgreSQL database, in background mode:
/// one applies the schema and starts the backfill, every boot's backfill task joins in (taking turns
/// batch by batch), the migration after it is applied once.
#[test]
fn sixteen_concurrent_boots_on_a_multi_threaded_runtime() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    items::three_migrations(&ws, &db, 30_000, "batch=500");
    let migrator = async_migrator(&ws, BackfillMode::Background);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .unwrap();
    let reports = runtime.block_on(async {
        let boots: Vec<_> = (0..16)
            .map(|_| {
                let migrator = migrator.clone();
                let url = Url::new(db.url());
                tokio::spawn(async move {
                    let booted = migrator.boot(url).await?;
                    match booted.backfill {
                        Some(task) => task.wait().await,
                        None => Ok(booted.report),
                    }
                })
            })
            .collect();
        let mut reports = Vec::new();
        for boot in boots {
            reports.push(boot.await.unwrap().unwrap());
        }
        reports
    });
    let (_, updated) = items::expected(30_000);
    assert_eq!(items::counters(&db), (updated as i64, 0, 0));
    applied_once(&db, [TABLE, BACKFILL, AFTER]);
    let rows: u64 = reports
        .iter()
        .flat_map(|r| &r.backfills)
        .map(|b| b.rows)
        .sum();
    assert_eq!(rows, updated, "the tasks' batches add up to the table");
    assert_eq!(
        db.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        0
    );
}

/// The host's own SQLite connection, shared behind a mutex.
#[test]
fn a_shared_sqlite_connection() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    slow_migrations(&ws, &db);
    let conn = Arc::new(Mutex::new(
        rusqlite::Connection::open(ws.db_path()).unwrap(),
    ));
    let migrator = async_migrator(&ws, BackfillMode::Inline);
    let booted = runtime().block_on(migrator.boot(conn.clone())).unwrap();
    assert_eq!(booted.report.applied_versions().len(), SLOW as usize);
    let count: i64 = conn
        .lock()
        .unwrap()
        .query_row("SELECT count(*) FROM step_2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, SLOW_ROWS);
}
