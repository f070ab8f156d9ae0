//! Estimate accuracy: for each engine and each table size (10^4, 10^5, 10^6 rows), load a realistic
//! `orders` table, calibrate migrator's cost model on that database (`migrator::live::calibrate`), then for
//! each migration of the set estimate it (`migrator::live::estimate`, with the offline analyser's impact)
//! and apply it through the runtime (`Migrator::boot`), and compare the estimate with the duration the
//! runtime measured (the `execution_ms` it records). Prints one table (kind, engine, rows, estimated,
//! measured, ratio) and checks the rule: every estimate over 1 s within a factor of 2 of the measured time.
//!
//! Run: `bench/estimates/run.sh [--engine sqlite|postgres|both] [--sizes 10000,100000,1000000]`.
//! PostgreSQL is the bench's throwaway server at initdb defaults (`../src/pg.rs`).

#[path = "../../src/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::path::Path;
use std::time::{Duration, Instant};

use migrator::live::{self, analyse};
use migrator::{Config, Engine, EngineKind, MigrationSet, Migrator};

/// One migration of the set.
struct Case {
    kind: &'static str,
    up: &'static str,
    no_transaction: bool,
}

const fn case(kind: &'static str, up: &'static str) -> Case {
    Case {
        kind,
        up,
        no_transaction: false,
    }
}

/// Kinds both engines run the same way.
const BACKFILL: Case = case(
    "backfill update (half the rows)",
    "UPDATE orders SET note2 = 'n' || id WHERE id % 2 = 0;",
);
const DELETE: Case = case(
    "delete (a tenth of the rows)",
    "DELETE FROM orders WHERE id % 10 = 1;",
);
const DROP_COLUMN: Case = case("drop column", "ALTER TABLE orders DROP COLUMN priority;");
const DROP_INDEX: Case = case("drop index", "DROP INDEX orders_status_idx;");
const CREATE_INDEX: Case = case(
    "create index",
    "CREATE INDEX orders_status_idx ON orders (status);",
);

/// PostgreSQL: applied in this order to the same `orders` table.
const PG_CASES: &[Case] = &[
    case(
        "add column (nullable)",
        "ALTER TABLE orders ADD COLUMN note2 text;",
    ),
    case(
        "add column with constant default",
        "ALTER TABLE orders ADD COLUMN priority integer NOT NULL DEFAULT 0;",
    ),
    case(
        "add column with volatile default",
        "ALTER TABLE orders ADD COLUMN token double precision DEFAULT random();",
    ),
    CREATE_INDEX,
    Case {
        kind: "create index concurrently",
        up: "CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at);",
        no_transaction: true,
    },
    case(
        "change column type",
        "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    ),
    case(
        "set not null",
        "ALTER TABLE orders ALTER COLUMN customer SET NOT NULL;",
    ),
    case(
        "add foreign key",
        "ALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id);",
    ),
    BACKFILL,
    DELETE,
    DROP_COLUMN,
    DROP_INDEX,
];

/// SQLite: applied in this order to the same `orders` table.
const SQLITE_CASES: &[Case] = &[
    case(
        "add column (nullable)",
        "ALTER TABLE orders ADD COLUMN note2 TEXT;",
    ),
    case(
        "add column with constant default",
        "ALTER TABLE orders ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;",
    ),
    CREATE_INDEX,
    BACKFILL,
    DELETE,
    DROP_COLUMN,
    case(
        "rebuild: type change, NOT NULL, FK",
        "CREATE TABLE orders_new (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    status TEXT NOT NULL,
    amount REAL NOT NULL,
    customer TEXT NOT NULL,
    created_at TEXT NOT NULL,
    note2 TEXT
);
INSERT INTO orders_new (id, account_id, status, amount, customer, created_at, note2)
    SELECT id, account_id, status, amount, customer, created_at, note2 FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_status_idx ON orders (status);",
    ),
    case(
        "create index (timestamp)",
        "CREATE INDEX orders_created_idx ON orders (created_at);",
    ),
    DROP_INDEX,
];

struct Row {
    engine: &'static str,
    rows: u64,
    kind: &'static str,
    estimated: Duration,
    measured: Duration,
}

struct Args {
    sqlite: bool,
    postgres: bool,
    sizes: Vec<u64>,
    repeat: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sqlite: true,
        postgres: true,
        sizes: vec![10_000, 100_000, 1_000_000],
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--engine" => match it.next().as_deref() {
                Some("sqlite") => args.postgres = false,
                Some("postgres") => args.sqlite = false,
                Some("both") => {}
                other => return Err(format!("--engine sqlite|postgres|both, not {other:?}")),
            },
            "--sizes" => {
                let list = it
                    .next()
                    .ok_or("--sizes needs a list such as 10000,100000")?;
                args.sizes = list
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<u64>()
                            .map_err(|e| format!("--sizes {s}: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--repeat" => {
                args.repeat = it
                    .next()
                    .and_then(|r| r.parse().ok())
                    .filter(|&r: &usize| r > 0)
                    .ok_or("--repeat needs a positive number")?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; see the file's doc comment"
                ))
            }
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for round in 0..args.repeat {
        eprintln!("round {} of {}", round + 1, args.repeat);
        if args.sqlite {
            for &n in &args.sizes {
                let dir = tempfile::tempdir().expect("temp dir");
                let db = dir.path().join("bench.db");
                let conn = rusqlite::Connection::open(&db).expect("open SQLite");
                load_sqlite(&conn, n);
                let mut backend = migrator::Sqlite::new(&conn);
                let version = backend.server_version().expect("version");
                run_engine(
                    &mut backend,
                    SQLITE_CASES,
                    analyse::Options::new(analyse::Dialect::Sqlite),
                    dir.path(),
                    n,
                    &mut rows,
                    &mut notes,
                    &version,
                    round,
                );
            }
        }
        if args.postgres {
            let mut server = match pg::Server::start(&[]) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: PostgreSQL: {e}");
                    std::process::exit(1);
                }
            };
            if round == 0 {
                notes.push(server.settings.clone());
            }
            for &n in &args.sizes {
                let (name, url) = server.create_db(None);
                {
                    use diesel::Connection;
                    let mut conn = diesel::PgConnection::establish(&url).expect("connect");
                    load_postgres(&mut conn, n);
                    let mut backend = migrator::Postgres::new(&mut conn, url.clone());
                    let version = backend.server_version().expect("version");
                    let major = version
                        .trim_start_matches("PostgreSQL ")
                        .split('.')
                        .next()
                        .and_then(|m| m.parse().ok())
                        .unwrap_or(analyse::DEFAULT_PG_VERSION);
                    let dir = tempfile::tempdir().expect("temp dir");
                    run_engine(
                        &mut backend,
                        PG_CASES,
                        analyse::Options {
                            dialect: analyse::Dialect::Postgres,
                            pg_version: major,
                        },
                        dir.path(),
                        n,
                        &mut rows,
                        &mut notes,
                        &version,
                        round,
                    );
                }
                server.drop_db(&name);
            }
        }
    }
    let rows = medians(rows, args.repeat);
    let failures = print_table(&rows);
    for n in &notes {
        println!("- {n}");
    }
    println!(
        "- whole run: {:.0} s (loading, calibrating, estimating and applying)",
        started.elapsed().as_secs_f64()
    );
    if failures > 0 {
        println!("RULE MISSED: {failures} estimate(s) over 1 s not within 2x of the measured time");
        std::process::exit(1);
    }
    println!("RULE MET: every estimate over 1 s is within 2x of the measured time");
}

/// Writes the cases as migration files under `dir/migrations` and loads them.
fn write_set(dir: &Path, cases: &[Case]) -> MigrationSet {
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).expect("migrations dir");
    for (i, c) in cases.iter().enumerate() {
        let version = 20250101000000 + i as u64;
        let slug: String = c
            .kind
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() {
                    ch.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let text = format!(
            "-- Issue #{}: {}\n-- Reviewed-by: bench\n{}\n-- ============ UP MIGRATION ============\n{}\n",
            i + 1,
            c.kind,
            if c.no_transaction { "-- migrator:no-transaction" } else { "" },
            c.up
        );
        std::fs::write(
            migrations.join(format!("{version}_issue_{}_{slug}.sql", i + 1)),
            text,
        )
        .expect("write migration");
    }
    MigrationSet::from_dir(&migrations).expect("load migrations")
}

#[allow(clippy::too_many_arguments)]
fn run_engine(
    backend: &mut dyn Engine,
    cases: &[Case],
    options: analyse::Options,
    dir: &Path,
    n: u64,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
    version: &str,
    round: usize,
) {
    let engine = match backend.dialect().kind {
        EngineKind::Sqlite => "SQLite",
        EngineKind::Postgres => "PostgreSQL",
        EngineKind::MySql => "MySQL",
    };
    let set = write_set(dir, cases);
    let calibration = live::calibrate(backend).expect("calibrate");
    let cost = |c: &live::Cost| {
        format!(
            "{:.2} ms + {:.0} ns/row",
            c.fixed.as_secs_f64() * 1e3,
            c.ns_per_row
        )
    };
    notes.push(format!(
        "round {}, {version}, {n} rows: calibrated in {:.0} ms, largest sample {} rows of {:.0} bytes; metadata {:.2} ms; scan {}; index {} ({:.0}-byte key), {} ({:.0}-byte key); concurrent index {}; foreign key {}; rewrite {}; copy {}; drop {}; update {}; delete {}",
        round + 1,
        calibration.took.as_secs_f64() * 1e3,
        calibration.rows,
        calibration.row_bytes,
        calibration.metadata.as_secs_f64() * 1e3,
        cost(&calibration.scan),
        cost(&calibration.index),
        calibration.index_key_bytes,
        cost(&calibration.index_narrow),
        calibration.index_narrow_key_bytes,
        cost(&calibration.concurrent_index),
        cost(&calibration.foreign_key),
        cost(&calibration.rewrite),
        cost(&calibration.copy),
        cost(&calibration.drop),
        cost(&calibration.update),
        cost(&calibration.delete),
    ));
    let config = Config {
        require_backup: false,
        require_test_run: false,
        max_rows_affected: None,
        lock_timeout: Duration::from_secs(600),
        ..Config::default()
    };
    for (i, c) in cases.iter().enumerate() {
        let migration = &set.migrations()[i];
        let analysis = analyse::analyse(migration, options);
        let estimate =
            live::estimate(backend, migration, &analysis, &calibration).expect("estimate");
        let upto = MigrationSet::from_migrations(set.migrations()[..=i].to_vec()).expect("set");
        let report = Migrator::new(&upto)
            .with_config(config.clone())
            .boot(backend)
            .unwrap_or_else(|e| panic!("{engine} {n} rows, {}: {e}", c.kind));
        let step = report
            .steps
            .iter()
            .find(|s| s.version == migration.version)
            .expect("the migration was applied");
        eprintln!(
            "{engine:<10} {n:>8} {:<36} estimated {:>8.3} s measured {:>8.3} s",
            c.kind,
            estimate.up_total.as_secs_f64(),
            step.duration.as_secs_f64()
        );
        rows.push(Row {
            engine,
            rows: n,
            kind: c.kind,
            estimated: estimate.up_total,
            measured: step.duration,
        });
    }
}

/// One row per (engine, rows, kind): the median estimate and the median measurement of the rounds.
fn medians(rows: Vec<Row>, rounds: usize) -> Vec<Row> {
    let per_round = rows.len() / rounds.max(1);
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    (0..per_round)
        .map(|i| {
            let same: Vec<&Row> = rows.iter().skip(i).step_by(per_round).collect();
            Row {
                engine: same[0].engine,
                rows: same[0].rows,
                kind: same[0].kind,
                estimated: median(same.iter().map(|r| r.estimated).collect()),
                measured: median(same.iter().map(|r| r.measured).collect()),
            }
        })
        .collect()
}

/// Prints the table; returns how many rows break the rule.
fn print_table(rows: &[Row]) -> usize {
    println!("| kind | engine | rows | estimated | measured | ratio | rule |");
    println!("|---|---|---:|---:|---:|---:|---|");
    let mut failures = 0;
    for r in rows {
        let ratio = r.estimated.as_secs_f64() / r.measured.as_secs_f64().max(1e-6);
        let over = r.estimated >= Duration::from_secs(1) || r.measured >= Duration::from_secs(1);
        let ok = (0.5..=2.0).contains(&ratio);
        let rule = if r.estimated >= Duration::from_secs(1) {
            if ok {
                "ok"
            } else {
                failures += 1;
                "MISSED"
            }
        } else if over && !ok {
            "(measured > 1 s, outside 2x)"
        } else {
            ""
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {} |",
            r.kind,
            r.engine,
            r.rows,
            secs(r.estimated),
            secs(r.measured),
            ratio,
            rule
        );
    }
    failures
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

/// `accounts` (1,000 rows) and `orders` (`n` rows: an account, a status, an amount, a customer name, a
/// timestamp, about 90 bytes a row).
fn load_sqlite(conn: &rusqlite::Connection, n: u64) {
    conn.execute_batch(&format!(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1000)
         INSERT INTO accounts SELECT i, 'account ' || i FROM g;
         CREATE TABLE orders (
             id INTEGER PRIMARY KEY,
             account_id INTEGER NOT NULL,
             status TEXT NOT NULL,
             amount INTEGER NOT NULL,
             customer TEXT,
             created_at TEXT NOT NULL
         );
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})
         INSERT INTO orders
         SELECT i, i % 1000 + 1,
                CASE i % 4 WHEN 0 THEN 'pending' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped' ELSE 'cancelled' END,
                (i * 37) % 100000,
                'customer ' || (i * 7919 % 50000) || ' ' || substr(hex(randomblob(8)), 1, 12),
                datetime('2024-01-01', '+' || (i * 13 % 31536000) || ' seconds')
         FROM g;
         ANALYZE;"
    ))
    .expect("load SQLite");
}

fn load_postgres(conn: &mut diesel::PgConnection, n: u64) {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&format!(
        "CREATE TABLE accounts (id integer PRIMARY KEY, name text NOT NULL);
         INSERT INTO accounts SELECT i, 'account ' || i FROM generate_series(1, 1000) AS i;
         CREATE TABLE orders (
             id bigint PRIMARY KEY,
             account_id integer NOT NULL,
             status text NOT NULL,
             amount integer NOT NULL,
             customer text,
             created_at timestamptz NOT NULL
         );
         INSERT INTO orders
         SELECT i, i % 1000 + 1,
                (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[i % 4 + 1],
                (i * 37) % 100000,
                'customer ' || (i * 7919 % 50000) || ' ' || left(md5(i::text), 12),
                timestamptz '2024-01-01' + (i * 13 % 31536000) * interval '1 second'
         FROM generate_series(1::bigint, {n}) AS i;"
    ))
    .expect("load PostgreSQL");
    conn.batch_execute("VACUUM ANALYZE accounts")
        .expect("vacuum");
    conn.batch_execute("VACUUM ANALYZE orders").expect("vacuum");
}
