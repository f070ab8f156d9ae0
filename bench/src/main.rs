//! migrator side by side with diesel_migrations 2.3 and refinery 0.10, in one run, on the same generated
//! sets of 10, 100 and 1000 migrations (each one small table with an index, and its DOWN), on SQLite files
//! with each library's defaults. Prints medians and ratios as a Markdown table.
//!
//! Run through `bash bench/run.sh` (it generates the sets first).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::{Connection as _, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use migrator::{embed_migrations, MigrationSet, Migrator, Sqlite};

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

fn ours_apply(set: &MigrationSet, path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let report = Migrator::new(set)
        .boot(&mut Sqlite::new(&conn))
        .expect("apply");
    assert_eq!(report.applied_versions().len(), set.len());
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

fn main() {
    let filter: Option<usize> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    let sizes = [
        Size {
            n: 10,
            ours: &OURS_10,
            diesel: || DIESEL_10,
            refinery: refinery_10::migrations::runner,
            apply_reps: 21,
        },
        Size {
            n: 100,
            ours: &OURS_100,
            diesel: || DIESEL_100,
            refinery: refinery_100::migrations::runner,
            apply_reps: 11,
        },
        Size {
            n: 1000,
            ours: &OURS_1000,
            diesel: || DIESEL_1000,
            refinery: refinery_1000::migrations::runner,
            apply_reps: 5,
        },
    ];
    let check_reps = 101;
    let mut scratch = Scratch {
        dir: tempfile::tempdir().expect("temp dir"),
        count: 0,
    };
    println!("| N | measure | migrator | diesel_migrations | refinery | migrator / diesel | migrator / refinery |");
    println!("|---|---|---|---|---|---|---|");
    for size in sizes.iter().filter(|s| filter.is_none_or(|f| f == s.n)) {
        let n = size.n;
        // (a) apply all to an empty database (open included).
        let mut ours = Vec::new();
        let mut diesel = Vec::new();
        let mut refinery = Vec::new();
        for _ in 0..size.apply_reps {
            let (a, b, c) = (scratch.file(), scratch.file(), scratch.file());
            let t = Instant::now();
            ours_apply(size.ours, &a);
            ours.push(t.elapsed());
            let t = Instant::now();
            diesel_apply((size.diesel)(), &b, n);
            diesel.push(t.elapsed());
            let t = Instant::now();
            refinery_apply(size.refinery, &c, n);
            refinery.push(t.elapsed());
        }
        let (o, d, r) = (median(ours), median(diesel), median(refinery));
        println!(
            "| {n} | apply all | {} | {} | {} | {} | {} |",
            ms(o),
            ms(d),
            ms(r),
            ratio(o, d),
            ratio(o, r)
        );

        // (b) the boot check with nothing pending, and (d) the floor: open + read schema_migrations.
        let (ours_db, diesel_db, refinery_db) = (scratch.file(), scratch.file(), scratch.file());
        ours_apply(size.ours, &ours_db);
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
        let (o, d, r, f) = (
            median(ours),
            median(diesel),
            median(refinery),
            median(floor),
        );
        println!(
            "| {n} | boot check, nothing pending | {} | {} | {} | {} | {} |",
            ms(o),
            ms(d),
            ms(r),
            ratio(o, d),
            ratio(o, r)
        );
        println!(
            "| {n} | floor: open + read schema_migrations | {} | | | migrator - floor: {} | |",
            ms(f),
            ms(o.saturating_sub(f))
        );

        // (c) roll everything back (refinery has no DOWN migrations).
        let (mut ours, mut diesel) = (Vec::new(), Vec::new());
        for _ in 0..size.apply_reps {
            let (a, b) = (scratch.file(), scratch.file());
            std::fs::copy(&ours_db, &a).expect("copy");
            std::fs::copy(&diesel_db, &b).expect("copy");
            let t = Instant::now();
            let conn = rusqlite::Connection::open(&a).expect("open");
            let report = Migrator::new(size.ours)
                .rollback_to(&mut Sqlite::new(&conn), 0)
                .expect("rollback");
            assert_eq!(report.steps.len(), n);
            drop(conn);
            ours.push(t.elapsed());
            let t = Instant::now();
            let mut conn = SqliteConnection::establish(&b.to_string_lossy()).expect("open");
            conn.revert_all_migrations((size.diesel)())
                .expect("rollback");
            drop(conn);
            diesel.push(t.elapsed());
        }
        let (o, d) = (median(ours), median(diesel));
        println!(
            "| {n} | roll back all | {} | {} | n/a | {} | |",
            ms(o),
            ms(d),
            ratio(o, d)
        );
    }
}
