//! migrator side by side with diesel_migrations 2.3 and refinery 0.10, in one run, on the same generated
//! sets of 10, 100 and 1000 migrations (each one small table with an index, and its DOWN), on SQLite files
//! and on a local throwaway PostgreSQL server that the bench starts itself (server defaults, see `pg.rs`),
//! with each library's defaults. Prints medians and ratios as one Markdown table.
//!
//! Run through `bash bench/run.sh [--engine sqlite|postgres|both] [10|100|1000]` (it generates the sets
//! first). `--pg-log` is a scratch mode, not a measurement: it starts the server logging every statement
//! with its duration (`log_min_duration_statement=0`) and every connection, runs one apply per tool
//! (fresh and live), one boot with one pending, one boot check per tool and the floor, and prints what
//! the server saw.

mod pg;
mod pg_evidence;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::{Connection as _, PgConnection, RunQueryDsl as _, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use migrator::{
    embed_migrations, Config, MigrationSet, Migrator, Postgres, RollbackOptions, Sqlite,
};

static OURS_10: MigrationSet = embed_migrations!("sets/ours/10");
static OURS_100: MigrationSet = embed_migrations!("sets/ours/100");
static OURS_1000: MigrationSet = embed_migrations!("sets/ours/1000");
const DIESEL_10: EmbeddedMigrations = diesel_migrations::embed_migrations!("sets/diesel/10");
const DIESEL_100: EmbeddedMigrations = diesel_migrations::embed_migrations!("sets/diesel/100");
const DIESEL_1000: EmbeddedMigrations = diesel_migrations::embed_migrations!("sets/diesel/1000");
mod refinery_10 {
    refinery::embed_migrations!("sets/refinery/10");
}
mod refinery_100 {
    refinery::embed_migrations!("sets/refinery/100");
}
mod refinery_1000 {
    refinery::embed_migrations!("sets/refinery/1000");
}

struct Size {
    n: usize,
    ours: &'static MigrationSet,
    diesel: fn() -> EmbeddedMigrations,
    refinery: fn() -> refinery::Runner,
    apply_reps: usize,
    pg_apply_reps: usize,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.0} µs", ms * 1000.0)
    }
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
}

struct Scratch {
    dir: tempfile::TempDir,
    count: usize,
}

impl Scratch {
    fn file(&mut self) -> PathBuf {
        self.count += 1;
        self.dir.path().join(format!("db{}.sqlite", self.count))
    }
}

/// The work the peers do (apply or roll back, and record): no backup (a rollback takes one too when the
/// policy asks), no rehearsal.
fn like_the_peers() -> Config {
    Config {
        require_backup: false,
        require_test_run: false,
        ..Config::default()
    }
}

fn ours_apply(set: &MigrationSet, path: &Path, config: Config) {
    ours_boot(set, path, config, set.len());
}

/// One boot on the SQLite file `path`, which must apply `n` migrations.
fn ours_boot(set: &MigrationSet, path: &Path, config: Config, n: usize) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let report = Migrator::new(set)
        .with_config(config)
        .boot(&mut Sqlite::new(&conn))
        .expect("apply");
    assert_eq!(report.applied_versions().len(), n);
}

fn diesel_apply(set: EmbeddedMigrations, path: &Path, n: usize) {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open");
    let applied = conn.run_pending_migrations(set).expect("apply");
    assert_eq!(applied.len(), n);
}

fn refinery_apply(runner: fn() -> refinery::Runner, path: &Path, n: usize) {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let report = runner().run(&mut conn).expect("apply");
    assert_eq!(report.applied_migrations().len(), n);
}

fn ours_apply_pg(set: &MigrationSet, url: &str, config: Config) {
    ours_boot_pg(set, url, config, set.len());
}

/// One boot on the PostgreSQL database at `url`, which must apply `n` migrations.
fn ours_boot_pg(set: &MigrationSet, url: &str, config: Config, n: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let report = Migrator::new(set)
        .with_config(config)
        .boot(&mut Postgres::new(&mut conn, url))
        .expect("apply");
    assert_eq!(report.applied_versions().len(), n);
}

fn diesel_apply_pg(set: EmbeddedMigrations, url: &str, n: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let applied = conn.run_pending_migrations(set).expect("apply");
    assert_eq!(applied.len(), n);
}

fn ours_rollback_pg(set: &MigrationSet, url: &str, n: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let report = Migrator::new(set)
        .with_config(like_the_peers())
        .rollback_to(
            &mut Postgres::new(&mut conn, url),
            0,
            RollbackOptions::default(),
        )
        .expect("rollback");
    assert_eq!(report.steps.len(), n);
}

fn diesel_rollback_pg(set: EmbeddedMigrations, url: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    conn.revert_all_migrations(set).expect("rollback");
}

fn refinery_apply_pg(runner: fn() -> refinery::Runner, url: &str, n: usize) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let report = runner().run(&mut client).expect("apply");
    assert_eq!(report.applied_migrations().len(), n);
}

fn ours_check_pg(set: &MigrationSet, url: &str, n: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let report = Migrator::new(set)
        .boot(&mut Postgres::new(&mut conn, url))
        .expect("check");
    assert_eq!(report.already_applied, n);
    assert!(report.applied_versions().is_empty());
}

fn diesel_check_pg(set: EmbeddedMigrations, url: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    assert!(conn.run_pending_migrations(set).expect("check").is_empty());
}

fn refinery_check_pg(runner: fn() -> refinery::Runner, url: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    assert!(runner()
        .run(&mut client)
        .expect("check")
        .applied_migrations()
        .is_empty());
}

#[derive(diesel::QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    version: i64,
}

/// The floor: what any boot check must do at least, with the connection type our backend takes (diesel's
/// `PgConnection`: the libpq handshake, then diesel's two session `SET`s), then one query reading the
/// history (one round trip: diesel sends an uncached query with `PQsendQueryParams`).
fn floor_pg(url: &str, n: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let rows = diesel::sql_query("SELECT * FROM schema_migrations")
        .load::<VersionRow>(&mut conn)
        .expect("read");
    assert_eq!(rows.len(), n);
    assert!(rows.iter().all(|r| r.version > 0));
}

#[derive(Clone, Copy, PartialEq)]
enum Engines {
    Sqlite,
    Postgres,
    Both,
}

struct Args {
    engines: Engines,
    filter: Option<usize>,
    pg_log: bool,
    pairs: usize,
    /// Only the PostgreSQL evidence (pairs and the server's counts), not the table.
    pg_evidence: bool,
    /// Only the policy row (the spec's policy against the bare apply), interleaved: SQLite unless
    /// `--engine postgres`, PostgreSQL with `--engine postgres|both`.
    policy_only: bool,
    /// Only the first use of the embedded set (its decoding), once: a process's start-up cost.
    first_use: bool,
    /// Only the one-pending boot, `pairs` paired runs per size (a quick check of one row): SQLite
    /// unless `--engine postgres`, PostgreSQL unless `--engine sqlite`.
    one_pending: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        engines: Engines::Both,
        filter: None,
        pg_log: false,
        pairs: 15,
        pg_evidence: false,
        policy_only: false,
        first_use: false,
        one_pending: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let engine = match a.strip_prefix("--engine=") {
            Some(e) => Some(e.to_string()),
            None if a == "--engine" => Some(it.next().unwrap_or_default()),
            None => None,
        };
        if let Some(e) = engine {
            args.engines = match e.as_str() {
                "sqlite" => Engines::Sqlite,
                "postgres" | "pg" => Engines::Postgres,
                "both" => Engines::Both,
                other => usage(&format!("unknown engine {other:?}")),
            };
        } else if a == "--pg-log" {
            args.pg_log = true;
        } else if a == "--pg-evidence" {
            args.pg_evidence = true;
            args.engines = Engines::Postgres;
        } else if a == "--policy-only" {
            args.policy_only = true;
        } else if a == "--first-use" {
            args.first_use = true;
        } else if a == "--one-pending" {
            args.one_pending = true;
        } else if a == "--pairs" {
            args.pairs = it
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| usage("--pairs needs a number (0: no paired runs)"));
        } else if let Ok(n) = a.parse() {
            args.filter = Some(n);
        } else {
            usage(&format!("unknown argument {a:?}"));
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: migrator-bench [--engine sqlite|postgres|both] [--pairs K] [--pg-evidence] [--pg-log] [--policy-only] [--first-use] [--one-pending] [10|100|1000]"
    );
    std::process::exit(2);
}

fn apply_row(
    engine: &str,
    n: usize,
    measure: &str,
    ours: Vec<Duration>,
    diesel: Vec<Duration>,
    refinery: Vec<Duration>,
) {
    let (o, d, r) = (median(ours), median(diesel), median(refinery));
    println!(
        "| {engine} | {n} | {measure} | {} | {} | {} | {} | {} |",
        ms(o),
        ms(d),
        ms(r),
        ratio(o, d),
        ratio(o, r)
    );
}

/// migrator with its defaults: a backup and a rehearsal on a copy (UP, DOWN, UP again) before applying.
fn defaults_row(engine: &str, n: usize, defaults: Vec<Duration>, plain: Duration) {
    let d = median(defaults);
    println!(
        "| {engine} | {n} | apply all, migrator defaults (backup + rehearsal) | {} | | | {:.1}x migrator without them | |",
        ms(d),
        d.as_secs_f64() / plain.as_secs_f64()
    );
}

fn check_rows(
    engine: &str,
    n: usize,
    ours: Vec<Duration>,
    diesel: Vec<Duration>,
    refinery: Vec<Duration>,
    floor: Vec<Duration>,
    open: &str,
) {
    let (o, d, r, f) = (
        median(ours),
        median(diesel),
        median(refinery),
        median(floor),
    );
    println!(
        "| {engine} | {n} | boot check, nothing pending | {} | {} | {} | {} | {} |",
        ms(o),
        ms(d),
        ms(r),
        ratio(o, d),
        ratio(o, r)
    );
    println!(
        "| {engine} | {n} | floor: {open} + read schema_migrations | {} | | | migrator - floor: {} | |",
        ms(f),
        ms(o.saturating_sub(f))
    );
}

fn rollback_row(engine: &str, n: usize, ours: Vec<Duration>, diesel: Vec<Duration>) {
    let (o, d) = (median(ours), median(diesel));
    println!(
        "| {engine} | {n} | roll back all | {} | {} | n/a | {} | |",
        ms(o),
        ms(d),
        ratio(o, d)
    );
}

/// The first use of each embedded set in this process: `embed_migrations!` bakes a set in as one string that
/// is decoded then (the boot-check rows reuse the decoded set, as a process does after its first boot).
/// Run it in fresh processes: `for i in $(seq 11); do migrator-bench --first-use 1000; done`.
fn first_use(sizes: &[&Size]) {
    for size in sizes {
        let started = Instant::now();
        let n = size.ours.len();
        let elapsed = started.elapsed();
        println!(
            "embedded set of {n}: first use (decoding) {:.1} us",
            elapsed.as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let args = parse_args();
    let sizes = [
        Size {
            n: 10,
            ours: &OURS_10,
            diesel: || DIESEL_10,
            refinery: refinery_10::migrations::runner,
            apply_reps: 21,
            pg_apply_reps: 21,
        },
        Size {
            n: 100,
            ours: &OURS_100,
            diesel: || DIESEL_100,
            refinery: refinery_100::migrations::runner,
            apply_reps: 11,
            pg_apply_reps: 11,
        },
        Size {
            n: 1000,
            ours: &OURS_1000,
            diesel: || DIESEL_1000,
            refinery: refinery_1000::migrations::runner,
            apply_reps: 5,
            pg_apply_reps: 5,
        },
    ];
    let sizes: Vec<&Size> = sizes
        .iter()
        .filter(|s| args.filter.is_none_or(|f| f == s.n))
        .collect();
    if args.first_use {
        first_use(&sizes);
        return;
    }
    if args.pg_log {
        pg_log(&sizes);
        return;
    }
    if args.one_pending && args.engines != Engines::Postgres {
        for size in &sizes {
            sqlite_one_pending_pairs(size, args.pairs);
        }
        if args.engines == Engines::Sqlite {
            return;
        }
    }
    if args.policy_only && args.engines != Engines::Postgres {
        for size in &sizes {
            sqlite_policy(size);
        }
    }
    if args.policy_only && args.engines == Engines::Sqlite {
        return;
    }
    let mut server = match args.engines {
        Engines::Sqlite => None,
        // The evidence alone also reads the server time per statement from pg_stat_statements (which
        // must be preloaded); the table's runs keep the server's defaults.
        _ => match pg::Server::start(if args.pg_evidence {
            &["shared_preload_libraries=pg_stat_statements"]
        } else {
            &[]
        }) {
            Ok(server) => Some(server),
            Err(e) => {
                eprintln!("cannot start the PostgreSQL server: {e}");
                std::process::exit(1);
            }
        },
    };
    if let (Some(server), true) = (&mut server, args.one_pending) {
        let live = server.live_template();
        for size in &sizes {
            pg_one_pending_pairs(server, size, &live, args.pairs);
        }
        return;
    }
    if let (Some(server), true) = (&mut server, args.policy_only) {
        for size in &sizes {
            if args.pg_evidence {
                pg_policy_evidence(server, size);
            } else {
                pg_policy(server, size);
            }
        }
        return;
    }
    if let Some(server) = &server {
        println!("PostgreSQL: {}", server.settings);
        if !args.pg_evidence {
            println!("SQLite: files in a temp dir, each library's defaults.");
            println!("migrator applies like the peers (no backup, no rehearsal: `require_backup` and `require_test_run` off); the `defaults` rows add both.");
            println!();
        }
    }
    if !args.pg_evidence {
        println!("| engine | N | measure | migrator | diesel_migrations | refinery | migrator / diesel | migrator / refinery |");
        println!("|---|---|---|---|---|---|---|---|");
    }
    if args.engines != Engines::Postgres {
        for size in &sizes {
            sqlite(size);
        }
    }
    let live = server.as_mut().map(|server| server.live_template());
    if let (Some(server), Some(live), false) = (&mut server, &live, args.pg_evidence) {
        for size in &sizes {
            postgres(server, size, live);
        }
    }
    if server.is_some() && !args.pg_evidence {
        println!();
        println!(
            "PostgreSQL: every apply and roll-back rep on a new database (CREATE DATABASE from template1 for a fresh one, from a template holding one empty application table for a live one, or a copy of an applied one for roll back; not timed); times include connecting (ours: the lock connection too when something is pending). Medians of {} reps (apply, roll back; N = {}), {PG_CHECK_REPS} (boot check, floor).",
            sizes
                .iter()
                .map(|s| s.pg_apply_reps.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            sizes
                .iter()
                .map(|s| s.n.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
        );
    }
    if let (Some(server), Some(live), Some(largest)) = (&mut server, &live, sizes.last()) {
        pg_evidence(server, largest, live, args.pairs);
    }
}

const PG_CHECK_REPS: usize = 51;

/// `pairs` SQLite applies of the whole set to new files, each pair a bare apply and one with the spec's
/// policy, the order alternating so that neither is always first after the other's writes: the times
/// (bare, policy).
fn sqlite_policy_pairs(
    size: &Size,
    scratch: &mut Scratch,
    pairs: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut plain, mut policy) = (Vec::new(), Vec::new());
    for rep in 0..pairs {
        let (a, b) = (scratch.file(), scratch.file());
        for policy_turn in [rep % 2 == 1, rep % 2 == 0] {
            let t = Instant::now();
            if policy_turn {
                ours_apply(size.ours, &b, Config::default());
                policy.push(t.elapsed());
            } else {
                ours_apply(size.ours, &a, like_the_peers());
                plain.push(t.elapsed());
            }
        }
    }
    (plain, policy)
}

/// `--policy-only`: SQLite, the spec's policy against the bare apply, interleaved (7 pairs): the quick
/// check of the policy row (`--engine postgres|both` adds [`pg_policy`]).
fn sqlite_policy(size: &Size) {
    let mut scratch = Scratch {
        dir: tempfile::tempdir().expect("temp dir"),
        count: 0,
    };
    let (plain, policy) = sqlite_policy_pairs(size, &mut scratch, 7);
    let (plain, policy) = (median(plain), median(policy));
    println!(
        "SQLite N = {}: apply {} ms, with the spec's policy {} ms: {:.2}x (medians of 7, interleaved)",
        size.n,
        plain.as_millis(),
        policy.as_millis(),
        policy.as_secs_f64() / plain.as_secs_f64()
    );
}

/// `--policy-only` on PostgreSQL: the spec's policy against the bare apply on fresh databases (each run
/// on a database of its own, see [`pg::Server::timed_run`]), interleaved (7 pairs, the order
/// alternating); each pair's times on stderr.
fn pg_policy(server: &mut pg::Server, size: &Size) {
    let (mut plain, mut policy) = (Vec::new(), Vec::new());
    for rep in 0..7 {
        for policy_turn in [rep % 2 == 1, rep % 2 == 0] {
            if policy_turn {
                policy.push(
                    server.timed_run(None, |url| ours_apply_pg(size.ours, url, Config::default())),
                );
            } else {
                plain.push(
                    server.timed_run(None, |url| ours_apply_pg(size.ours, url, like_the_peers())),
                );
            }
        }
        if let (Some(a), Some(p)) = (plain.last(), policy.last()) {
            eprintln!(
                "pair {rep}: apply {} ms, policy {} ms",
                a.as_millis(),
                p.as_millis()
            );
        }
    }
    let (plain, policy) = (median(plain), median(policy));
    println!(
        "PostgreSQL N = {} (fresh databases): apply {} ms, with the spec's policy {} ms: {:.2}x (medians of 7, interleaved)",
        size.n,
        plain.as_millis(),
        policy.as_millis(),
        policy.as_secs_f64() / plain.as_secs_f64()
    );
}

/// `--policy-only --pg-evidence`: what the spec's policy costs the server beside the bare apply, on a
/// fresh database (one counted run each: round trips, WAL, server time per statement kind).
fn pg_policy_evidence(server: &mut pg::Server, size: &Size) {
    let plain = |url: &str| ours_apply_pg(size.ours, url, like_the_peers());
    let policy = |url: &str| ours_apply_pg(size.ours, url, Config::default());
    pg_evidence::evidence(
        server,
        size.n,
        "one apply",
        &[
            ("migrator", "fresh", None, &plain),
            ("migrator, the spec's policy", "fresh", None, &policy),
        ],
    );
}

/// The SQL that forgets the last of `n` applied migrations (the bench sets' migration k creates table
/// `t_k`): its table dropped and its history row deleted, so that a boot has exactly one pending.
fn forget_last_sql(n: usize, history: &str) -> String {
    format!(
        "DROP TABLE t_{n:04}; DELETE FROM {history} WHERE version = (SELECT max(version) FROM {history})"
    )
}

/// The history tables of the three tools, in the order (migrator, diesel_migrations, refinery).
const HISTORIES: [&str; 3] = [
    "schema_migrations",
    "__diesel_schema_migrations",
    "refinery_schema_history",
];

/// One boot of `tool` (0 migrator, 1 diesel_migrations, 2 refinery) on a SQLite file with one pending.
fn sqlite_one_pending(size: &Size, tool: usize, path: &Path) {
    match tool {
        0 => ours_boot(size.ours, path, like_the_peers(), 1),
        1 => diesel_apply((size.diesel)(), path, 1),
        _ => refinery_apply(size.refinery, path, 1),
    }
}

/// `--one-pending` on SQLite: `pairs` boots with one pending of migrator and diesel_migrations, each on
/// a copy made right before its pair (not timed), one right after the other, the order alternating.
fn sqlite_one_pending_pairs(size: &Size, pairs: usize) {
    let n = size.n;
    let mut scratch = Scratch {
        dir: tempfile::tempdir().expect("temp dir"),
        count: 0,
    };
    let applied = [scratch.file(), scratch.file()];
    ours_apply(size.ours, &applied[0], like_the_peers());
    diesel_apply((size.diesel)(), &applied[1], n);
    for (path, history) in applied.iter().zip(HISTORIES) {
        rusqlite::Connection::open(path)
            .and_then(|c| c.execute_batch(&forget_last_sql(n, history)))
            .expect("forget the last migration");
    }
    println!();
    println!("SQLite, N = {n}, apply one pending (the others applied): paired runs of migrator and diesel_migrations (each on a copy of its tool's database made right before the pair, not timed; one right after the other, the order alternating)");
    println!();
    println!("| database | pairs | migrator (median) | diesel_migrations (median) | ratio, median of the pairs | min | 25% | 75% | max | pairs where migrator was faster |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut times = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let copies = [scratch.file(), scratch.file()];
        for (from, to) in applied.iter().zip(&copies) {
            std::fs::copy(from, to).expect("copy");
        }
        let (o, t) = pg_evidence::in_turn(pair, |tool| {
            let t = Instant::now();
            sqlite_one_pending(size, tool, &copies[tool]);
            t.elapsed()
        });
        for copy in &copies {
            let _ = std::fs::remove_file(copy);
        }
        times.push((o, t));
    }
    if !times.is_empty() {
        pg_evidence::paired_row("one pending", &times);
    }
}

/// One boot of `tool` on a PostgreSQL database with one pending.
fn pg_one_pending(size: &Size, tool: usize, url: &str) {
    match tool {
        0 => ours_boot_pg(size.ours, url, like_the_peers(), 1),
        1 => diesel_apply_pg((size.diesel)(), url, 1),
        _ => refinery_apply_pg(size.refinery, url, 1),
    }
}

fn sqlite(size: &Size) {
    let check_reps = 101;
    let mut scratch = Scratch {
        dir: tempfile::tempdir().expect("temp dir"),
        count: 0,
    };
    let n = size.n;
    // (a) apply all to an empty database (open included).
    let mut ours = Vec::new();
    let mut diesel = Vec::new();
    let mut refinery = Vec::new();
    for _ in 0..size.apply_reps {
        let (a, b, c) = (scratch.file(), scratch.file(), scratch.file());
        let t = Instant::now();
        ours_apply(size.ours, &a, like_the_peers());
        ours.push(t.elapsed());
        let t = Instant::now();
        diesel_apply((size.diesel)(), &b, n);
        diesel.push(t.elapsed());
        let t = Instant::now();
        refinery_apply(size.refinery, &c, n);
        refinery.push(t.elapsed());
    }
    apply_row("SQLite", n, "apply all", ours, diesel, refinery);
    // The policy's price against the bare apply measured in the same pairs, the order alternating (as
    // `--policy-only`): measured after the three tools' applies instead, the bare apply's median came
    // from other conditions (each rep right after another tool's writes).
    let (plain, defaults) = sqlite_policy_pairs(size, &mut scratch, size.apply_reps.min(5));
    defaults_row("SQLite", n, defaults, median(plain));

    // (b) the boot check with nothing pending, and (d) the floor: open + read schema_migrations.
    let (ours_db, diesel_db, refinery_db) = (scratch.file(), scratch.file(), scratch.file());
    ours_apply(size.ours, &ours_db, like_the_peers());
    diesel_apply((size.diesel)(), &diesel_db, n);
    refinery_apply(size.refinery, &refinery_db, n);
    let (mut ours, mut diesel, mut refinery, mut floor) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..check_reps {
        let t = Instant::now();
        let conn = rusqlite::Connection::open(&ours_db).expect("open");
        let report = Migrator::new(size.ours)
            .boot(&mut Sqlite::new(&conn))
            .expect("check");
        assert_eq!(report.already_applied, n);
        drop(conn);
        ours.push(t.elapsed());

        let t = Instant::now();
        let mut conn = SqliteConnection::establish(&diesel_db.to_string_lossy()).expect("open");
        assert!(conn
            .run_pending_migrations((size.diesel)())
            .expect("check")
            .is_empty());
        drop(conn);
        diesel.push(t.elapsed());

        let t = Instant::now();
        let mut conn = rusqlite::Connection::open(&refinery_db).expect("open");
        assert!((size.refinery)()
            .run(&mut conn)
            .expect("check")
            .applied_migrations()
            .is_empty());
        drop(conn);
        refinery.push(t.elapsed());

        let t = Instant::now();
        let conn = rusqlite::Connection::open(&ours_db).expect("open");
        let mut stmt = conn
            .prepare("SELECT * FROM schema_migrations")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .expect("query")
            .count();
        assert_eq!(rows, n);
        drop(stmt);
        drop(conn);
        floor.push(t.elapsed());
    }
    check_rows("SQLite", n, ours, diesel, refinery, floor, "open");

    // (c) roll everything back (refinery has no DOWN migrations), each rep on a copy of the applied
    // database made right before the run (not timed), the tools taking turns at going first.
    let (mut ours, mut diesel) = (Vec::new(), Vec::new());
    for rep in 0..size.apply_reps {
        for tool in [rep % 2, 1 - rep % 2] {
            let copy = scratch.file();
            if tool == 0 {
                std::fs::copy(&ours_db, &copy).expect("copy");
                let t = Instant::now();
                let conn = rusqlite::Connection::open(&copy).expect("open");
                let report = Migrator::new(size.ours)
                    .with_config(like_the_peers())
                    .rollback_to(&mut Sqlite::new(&conn), 0, RollbackOptions::default())
                    .expect("rollback");
                assert_eq!(report.steps.len(), n);
                drop(conn);
                ours.push(t.elapsed());
            } else {
                std::fs::copy(&diesel_db, &copy).expect("copy");
                let t = Instant::now();
                let mut conn = SqliteConnection::establish(&copy.to_string_lossy()).expect("open");
                conn.revert_all_migrations((size.diesel)())
                    .expect("rollback");
                drop(conn);
                diesel.push(t.elapsed());
            }
        }
    }
    rollback_row("SQLite", n, ours, diesel);

    // (e) the everyday boot: one pending migration on a database holding the others, each rep on a copy
    // made right before it (not timed), the tools taking turns at going first.
    let applied = [&ours_db, &diesel_db, &refinery_db];
    let mut took: [Vec<Duration>; 3] = Default::default();
    for rep in 0..size.apply_reps {
        for tool in (0..3).map(|k| (k + rep) % 3) {
            let copy = scratch.file();
            std::fs::copy(applied[tool], &copy).expect("copy");
            rusqlite::Connection::open(&copy)
                .and_then(|c| c.execute_batch(&forget_last_sql(n, HISTORIES[tool])))
                .expect("forget the last migration");
            let t = Instant::now();
            sqlite_one_pending(size, tool, &copy);
            took[tool].push(t.elapsed());
        }
    }
    let [ours, diesel, refinery] = took;
    apply_row(
        "SQLite",
        n,
        "apply one pending (the others applied)",
        ours,
        diesel,
        refinery,
    );
}

fn postgres(server: &mut pg::Server, size: &Size, live: &str) {
    let n = size.n;
    // (a) apply all to an empty database (connecting included): a fresh one (migrator applies the run as
    // one transaction there) and a live one, holding an application table (a transaction per migration).
    let plain = pg_apply(server, size, None, "apply all, fresh database");
    pg_apply(
        server,
        size,
        Some(live),
        "apply all, live database (migrator: a transaction per migration)",
    );
    let mut defaults = Vec::new();
    for _ in 0..size.pg_apply_reps.min(3) {
        let (db, url) = server.create_db(None);
        let t = Instant::now();
        ours_apply_pg(size.ours, &url, Config::default());
        defaults.push(t.elapsed());
        server.drop_db(&db);
    }
    defaults_row("PostgreSQL", n, defaults, plain);

    // (b) the boot check with nothing pending (connecting included), and (d) the floor.
    let (ours_db, ours_url) = server.create_db(None);
    let (diesel_db, diesel_url) = server.create_db(None);
    let (refinery_db, refinery_url) = server.create_db(None);
    ours_apply_pg(size.ours, &ours_url, like_the_peers());
    diesel_apply_pg((size.diesel)(), &diesel_url, n);
    refinery_apply_pg(size.refinery, &refinery_url, n);
    let (mut ours, mut diesel, mut refinery, mut floor) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PG_CHECK_REPS {
        let t = Instant::now();
        ours_check_pg(size.ours, &ours_url, n);
        ours.push(t.elapsed());
        let t = Instant::now();
        diesel_check_pg((size.diesel)(), &diesel_url);
        diesel.push(t.elapsed());
        let t = Instant::now();
        refinery_check_pg(size.refinery, &refinery_url);
        refinery.push(t.elapsed());
        let t = Instant::now();
        floor_pg(&ours_url, n);
        floor.push(t.elapsed());
    }
    check_rows("PostgreSQL", n, ours, diesel, refinery, floor, "connect");

    // (c) roll everything back (refinery has no DOWN migrations), each rep on a copy of the applied database
    // made right before the run (`Server::timed_run`), the tools taking turns at going first.
    let (mut ours, mut diesel) = (Vec::new(), Vec::new());
    for rep in 0..size.pg_apply_reps {
        for tool in [rep % 2, 1 - rep % 2] {
            if tool == 0 {
                ours.push(
                    server.timed_run(Some(&ours_db), |url| ours_rollback_pg(size.ours, url, n)),
                );
            } else {
                diesel.push(server.timed_run(Some(&diesel_db), |url| {
                    diesel_rollback_pg((size.diesel)(), url)
                }));
            }
        }
    }
    rollback_row("PostgreSQL", n, ours, diesel);

    // (e) the everyday boot: one pending migration on a database holding the others, each rep on a copy
    // made right before it (`Server::timed_run`), the tools taking turns at going first.
    let mut templates = Vec::new();
    for (tool, applied) in [&ours_db, &diesel_db, &refinery_db].into_iter().enumerate() {
        let (db, url) = server.create_db(Some(applied));
        diesel::connection::SimpleConnection::batch_execute(
            &mut PgConnection::establish(&url).expect("connect"),
            &forget_last_sql(n, HISTORIES[tool]),
        )
        .expect("forget the last migration");
        server.wait_disconnected(&db);
        templates.push(db);
    }
    let mut took: [Vec<Duration>; 3] = Default::default();
    for rep in 0..size.pg_apply_reps {
        for tool in (0..3).map(|k| (k + rep) % 3) {
            took[tool].push(server.timed_run(Some(&templates[tool]), |url| {
                pg_one_pending(size, tool, url)
            }));
        }
    }
    let [ours, diesel, refinery] = took;
    apply_row(
        "PostgreSQL",
        n,
        "apply one pending (the others applied)",
        ours,
        diesel,
        refinery,
    );
    for db in templates
        .into_iter()
        .chain([ours_db, diesel_db, refinery_db])
    {
        server.drop_db(&db);
    }
}

/// The apply row of one database kind (a new database from `template` for each rep); returns migrator's
/// median.
fn pg_apply(
    server: &mut pg::Server,
    size: &Size,
    template: Option<&str>,
    measure: &str,
) -> Duration {
    let n = size.n;
    let (mut ours, mut diesel, mut refinery) = (Vec::new(), Vec::new(), Vec::new());
    // The tools take turns at going first, each on a database of its own created right before its run
    // (`Server::timed_run`).
    for rep in 0..size.pg_apply_reps {
        for tool in (0..3).map(|k| (k + rep) % 3) {
            let took = server.timed_run(template, |url| match tool {
                0 => ours_apply_pg(size.ours, url, like_the_peers()),
                1 => diesel_apply_pg((size.diesel)(), url, n),
                _ => refinery_apply_pg(size.refinery, url, n),
            });
            [&mut ours, &mut diesel, &mut refinery][tool].push(took);
        }
    }
    let plain = median(ours.clone());
    apply_row("PostgreSQL", n, measure, ours, diesel, refinery);
    plain
}

/// The paired runs and the server's counts for the largest size.
fn pg_evidence(server: &mut pg::Server, size: &Size, live: &str, pairs: usize) {
    let n = size.n;
    let ours = |url: &str| ours_apply_pg(size.ours, url, like_the_peers());
    let diesel = |url: &str| diesel_apply_pg((size.diesel)(), url, n);
    let refinery = |url: &str| refinery_apply_pg(size.refinery, url, n);
    pg_evidence::paired_header(n, "apply all");
    pg_evidence::paired(
        server,
        "live (migrator: a transaction per migration)",
        pairs,
        [Some(live), Some(live)],
        &ours,
        &diesel,
    );
    pg_evidence::paired(
        server,
        "fresh (migrator: one transaction)",
        pairs,
        [None, None],
        &ours,
        &diesel,
    );
    // Roll back all: each run on a copy of a database the tool applied the set to (a live one).
    let (ours_applied, url) = server.create_db(Some(live));
    ours(&url);
    server.wait_disconnected(&ours_applied);
    let (diesel_applied, url) = server.create_db(Some(live));
    diesel(&url);
    server.wait_disconnected(&diesel_applied);
    let ours_back = |url: &str| ours_rollback_pg(size.ours, url, n);
    let diesel_back = |url: &str| diesel_rollback_pg((size.diesel)(), url);
    pg_evidence::paired_header(n, "roll back all");
    pg_evidence::paired(
        server,
        "applied, live",
        pairs,
        [Some(&ours_applied), Some(&diesel_applied)],
        &ours_back,
        &diesel_back,
    );
    pg_one_pending_pairs(server, size, live, pairs);
    pg_evidence::evidence(
        server,
        n,
        "one apply",
        &[
            ("migrator", "live", Some(live), &ours),
            ("diesel_migrations", "live", Some(live), &diesel),
            ("refinery", "live", Some(live), &refinery),
            ("migrator", "fresh", None, &ours),
            ("diesel_migrations", "fresh", None, &diesel),
            ("refinery", "fresh", None, &refinery),
        ],
    );
    pg_evidence::evidence(
        server,
        n,
        "one roll back of everything",
        &[
            ("migrator", "applied", Some(&ours_applied), &ours_back),
            (
                "diesel_migrations",
                "applied",
                Some(&diesel_applied),
                &diesel_back,
            ),
        ],
    );
    for db in [ours_applied, diesel_applied] {
        server.drop_db(&db);
    }
}

/// Paired runs of the everyday boot, one pending migration on a live database holding the others
/// applied (migrator's short run against diesel_migrations), each on a copy made right before it.
fn pg_one_pending_pairs(server: &mut pg::Server, size: &Size, live: &str, pairs: usize) {
    let n = size.n;
    let mut templates = Vec::new();
    for (tool, history) in HISTORIES.iter().take(2).enumerate() {
        let (db, url) = server.create_db(Some(live));
        match tool {
            0 => ours_apply_pg(size.ours, &url, like_the_peers()),
            _ => diesel_apply_pg((size.diesel)(), &url, n),
        }
        diesel::connection::SimpleConnection::batch_execute(
            &mut PgConnection::establish(&url).expect("connect"),
            &forget_last_sql(n, history),
        )
        .expect("forget the last migration");
        server.wait_disconnected(&db);
        templates.push(db);
    }
    pg_evidence::paired_header(n, "apply one pending (the others applied)");
    pg_evidence::paired(
        server,
        "live, one pending",
        pairs,
        [Some(&templates[0]), Some(&templates[1])],
        &|url: &str| pg_one_pending(size, 0, url),
        &|url: &str| pg_one_pending(size, 1, url),
    );
    for db in templates {
        server.drop_db(&db);
    }
}

/// Scratch mode (`--pg-log`): what each tool's applies, its boot with one pending, its boot check
/// (nothing pending) and the floor send to the server, from its statement log with durations
/// (`log_min_duration_statement=0`, `log_connections=on`, `log_disconnections=on`).
fn pg_log(sizes: &[&Size]) {
    let mut server = pg::Server::start(&[
        "log_min_duration_statement=0",
        "log_connections=on",
        "log_disconnections=on",
        "log_line_prefix='%m [%p] '",
    ])
    .unwrap_or_else(|e| {
        eprintln!("cannot start the PostgreSQL server: {e}");
        std::process::exit(1);
    });
    println!("PostgreSQL: {}", server.settings);
    let log = server.log_path();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    // Runs each, then prints what the server logged meanwhile under `title: tool (time taken)`.
    let show = |title: &str, runs: &[(&str, &dyn Fn())]| {
        for (tool, run) in runs {
            std::thread::sleep(Duration::from_millis(300));
            let before = read().len();
            let t = Instant::now();
            run();
            let took = t.elapsed();
            std::thread::sleep(Duration::from_millis(300));
            println!("\n## {title}: {tool} ({took:?})\n");
            for line in read()[before..].lines() {
                let line: String = line.chars().take(200).collect();
                println!("    {line}");
            }
        }
    };
    for size in sizes {
        let n = size.n;
        let (_, ours_url) = server.create_db(None);
        let (_, diesel_url) = server.create_db(None);
        let (_, refinery_url) = server.create_db(None);
        let live = server.live_template();
        let (_, ours_live) = server.create_db(Some(&live));
        let (_, diesel_live) = server.create_db(Some(&live));
        show(
            &format!("N = {n}, apply all"),
            &[
                ("migrator, fresh", &|| {
                    ours_apply_pg(size.ours, &ours_url, like_the_peers())
                }),
                ("diesel_migrations, fresh", &|| {
                    diesel_apply_pg((size.diesel)(), &diesel_url, n)
                }),
                ("migrator, live", &|| {
                    ours_apply_pg(size.ours, &ours_live, like_the_peers())
                }),
                ("diesel_migrations, live", &|| {
                    diesel_apply_pg((size.diesel)(), &diesel_live, n)
                }),
            ],
        );
        for (url, history) in [(&ours_live, HISTORIES[0]), (&diesel_live, HISTORIES[1])] {
            diesel::connection::SimpleConnection::batch_execute(
                &mut PgConnection::establish(url).expect("connect"),
                &forget_last_sql(n, history),
            )
            .expect("forget the last migration");
        }
        show(
            &format!("N = {n}, one pending"),
            &[
                ("migrator", &|| pg_one_pending(size, 0, &ours_live)),
                ("diesel_migrations", &|| {
                    pg_one_pending(size, 1, &diesel_live)
                }),
            ],
        );
        refinery_apply_pg(size.refinery, &refinery_url, n);
        show(
            &format!("N = {n}, boot check, nothing pending"),
            &[
                ("migrator", &|| ours_check_pg(size.ours, &ours_url, n)),
                ("diesel_migrations", &|| {
                    diesel_check_pg((size.diesel)(), &diesel_url)
                }),
                ("refinery", &|| {
                    refinery_check_pg(size.refinery, &refinery_url)
                }),
                ("floor", &|| floor_pg(&ours_url, n)),
            ],
        );
    }
}
