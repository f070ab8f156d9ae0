//! The 1 GB backup benchmark (run through `bash bench/backup-1g.sh`, which generates the database):
//!
//! 1. `cp` of the database file (and `cp` followed by an fsync of the copy) against migrator's SQLite
//!    backup of it, with the file in the page cache (warm) and, when `/proc/sys/vm/drop_caches` is
//!    writable, after dropping the caches (cold): the backup of a rollback-journal database (the file
//!    copied in the kernel from SQLite's own descriptor, compared byte for byte and fsynced on one core
//!    while `quick_check` runs over the same snapshot on the other), of the
//!    same database in WAL mode (copy, then `quick_check` of the copy), and the sequential backup this
//!    replaced;
//! 2. the two parts alone: the backup API copy and `quick_check`;
//! 3. the whole boot that applies one small migration to the database, with and without `require_backup`
//!    and `require_test_run`.
//!
//! Every figure is the median of `--runs` runs (5 by default).
//!
//! Usage: `backup-1g DB [--runs N] [--work DIR] [--boots-only]` (DIR: where copies go, default beside DB;
//! `--boots-only`: the boots table alone). With `RUST_LOG=migrator=debug` the boots' events go to stderr,
//! timed and with their threads: where a boot's time goes (the backup threads beside the rehearsal).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use migrator::{Config, Engine, MigrationSet, Migrator, Sqlite};
use rusqlite::{Connection, OpenFlags};

/// The one small migration a boot applies.
const MIGRATION: &str = "\
-- Issue #900: Contact nicknames
-- ============ UP MIGRATION ============
ALTER TABLE contacts ADD COLUMN nickname TEXT;
CREATE TABLE contact_tags (contact_id INTEGER NOT NULL REFERENCES contacts(id), tag TEXT NOT NULL);
-- ============ DOWN MIGRATION ============
DROP TABLE contact_tags;
ALTER TABLE contacts DROP COLUMN nickname;
";

struct Args {
    db: PathBuf,
    runs: usize,
    work: PathBuf,
    /// `--boots-only`: only the boots table (the backup table and its cold runs skipped).
    boots_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut db = None;
    let mut runs = 5;
    let mut work = None;
    let mut boots_only = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--runs needs a positive number")?
            }
            "--work" => {
                work = Some(PathBuf::from(
                    args.next().ok_or("--work needs a directory")?,
                ))
            }
            "--boots-only" => boots_only = true,
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ => db = Some(PathBuf::from(arg)),
        }
    }
    let db = db.ok_or("usage: backup-1g DB [--runs N] [--work DIR] [--boots-only]")?;
    let work = work.unwrap_or_else(|| {
        db.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    Ok(Args {
        db,
        runs,
        work,
        boots_only,
    })
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The order in which `count` measures run over `runs` rounds: each round once over all of them, starting
/// one further than the round before, so that no measure always follows the same one.
fn taking_turns(runs: usize, count: usize) -> impl Iterator<Item = usize> {
    (0..runs).flat_map(move |round| (0..count).map(move |turn| (round + turn) % count))
}

/// The first and third quartiles of `samples`, as `a-b s`.
fn quartiles(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    format!(
        "{:.2}-{:.2} s",
        sorted[n / 4].as_secs_f64(),
        sorted[(3 * n / 4).min(n - 1)].as_secs_f64()
    )
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn speed(bytes: u64, d: Duration) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / d.as_secs_f64())
}

/// Writes dirty pages out and, when allowed (root, not a read-only /proc), drops the page cache.
fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Reads the file once so it is in the page cache.
fn warm(path: &Path) -> Result<(), String> {
    std::fs::read(path)
        .map(drop)
        .map_err(|e| format!("reading {}: {e}", path.display()))
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

fn cp(from: &Path, to: &Path) -> Result<(), String> {
    let status = Command::new("cp")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("cp failed: {status}"))
}

/// migrator's backup of the SQLite file at `db` into `target`.
fn migrator_backup(db: &Path, target: &Path) -> Result<(), String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    let mut engine = Sqlite::new(&conn);
    let backup = engine
        .backup()
        .ok_or("the SQLite engine offers no backups")?;
    backup
        .write_backup(target, std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())
}

/// The online backup API from a read-only connection to a new file, all pages in one step.
fn api_copy(db: &Path, target: &Path) -> Result<(), String> {
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let mut copy = Connection::open(target).map_err(|e| e.to_string())?;
    let backup = rusqlite::backup::Backup::new(&source, &mut copy).map_err(|e| e.to_string())?;
    loop {
        match backup.step(-1).map_err(|e| e.to_string())? {
            rusqlite::backup::StepResult::Done => return Ok(()),
            rusqlite::backup::StepResult::More => {}
            other => return Err(format!("backup step: {other:?}")),
        }
    }
}

/// `PRAGMA quick_check` as the backend runs it (read-only connection, memory-mapped reads).
fn quick_check(db: &Path) -> Result<(), String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    conn.execute_batch("PRAGMA mmap_size = 2147418112")
        .map_err(|e| e.to_string())?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    (verdict == "ok").then_some(()).ok_or(verdict)
}

/// One boot of the one-migration set on `db` with `config`; checks that it applied the migration.
fn boot(set: &MigrationSet, db: &Path, config: Config) -> Result<(), String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    let report = Migrator::new(set)
        .with_config(config)
        .boot(&mut Sqlite::new(&conn))
        .map_err(|e| e.to_string())?;
    (report.steps.len() == 1)
        .then_some(())
        .ok_or_else(|| format!("expected one applied migration, got {:?}", report.steps))
}

/// `cp`, then an fsync of the copy (`sync FILE`): what a durable copy costs.
fn cp_fsync(from: &Path, to: &Path) -> Result<(), String> {
    cp(from, to)?;
    let status = Command::new("sync")
        .arg(to)
        .status()
        .map_err(|e| format!("sync: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("sync failed: {status}"))
}

/// A copy of `db` in WAL mode at `to` (the backend copies WAL databases with the online backup API).
fn wal_copy(db: &Path, to: &Path) -> Result<(), String> {
    remove(to);
    cp(db, to)?;
    let conn = Connection::open(to).map_err(|e| e.to_string())?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    (mode == "wal").then_some(()).ok_or(mode)
}

/// The backup table (one column per cache mode) and the ratios the target reads.
fn print_backup_table(modes: &[(&str, bool)], table: &[(&str, Vec<Duration>)], bytes: u64) {
    print!("\n| measure |");
    for (mode, _) in modes {
        print!(" {mode} cache |");
    }
    print!("\n|---|");
    for _ in modes {
        print!("---|");
    }
    println!();
    for (name, figures) in table {
        print!("| {name} |");
        for d in figures {
            print!(" {} ({}) |", secs(*d), speed(bytes, *d));
        }
        println!();
    }
    for (i, (mode, _)) in modes.iter().enumerate() {
        let ratio = |row: usize, base: usize| {
            table[row].1[i].as_secs_f64() / table[base].1[i].as_secs_f64()
        };
        println!(
            "{mode}: backup / cp = {:.2} (target: <= 2), backup / (cp + fsync) = {:.2}, WAL backup / cp = {:.2}, backup API + quick_check / cp = {:.2}, quick_check alone / cp = {:.2}",
            ratio(2, 0),
            ratio(2, 1),
            ratio(3, 0),
            ratio(4, 0),
            ratio(6, 0)
        );
    }
}

/// Boots applying one small migration to a fresh copy of `db` (the copy untimed), without safety, with
/// the backup, and with the spec's policy, taking turns.
fn boots(db: &Path, scratch: &Path, runs: usize) -> Result<(), String> {
    // Boots applying one small migration, on a fresh copy of the database each time (copy untimed).
    let migrations = scratch.join("migrations");
    std::fs::create_dir_all(&migrations).map_err(|e| e.to_string())?;
    std::fs::write(
        migrations.join("20260101000000_issue_900_contact_nicknames.sql"),
        MIGRATION,
    )
    .map_err(|e| e.to_string())?;
    let set = MigrationSet::from_dir(&migrations).map_err(|e| e.to_string())?;
    let work_db = scratch.join("work.db");
    let configs = [
        (
            "require_backup: false, require_test_run: false",
            false,
            false,
        ),
        ("require_backup: true, require_test_run: false", true, false),
        (
            "require_backup: true, require_test_run: true (the spec's policy)",
            true,
            true,
        ),
    ];
    println!("\n| boot applying 1 small migration to the database (warm cache) | median | quartiles | overhead |\n|---|---|---|---|");
    let fresh = || -> Result<(), String> {
        let _ = std::fs::remove_dir_all(scratch.join("work.db.backups"));
        // The fresh copy is written out first, so its write-back does not slow the boot's fsyncs.
        cp_fsync(db, &work_db)?;
        warm(&work_db)
    };
    // Round robin over the configurations, taking turns (the boot before leaves its own writes and
    // deletions behind).
    let mut samples = vec![Vec::with_capacity(runs); configs.len()];
    for which in taking_turns(runs, configs.len()) {
        let (_, backup_on, test_run) = configs[which];
        fresh()?;
        let config = Config {
            require_backup: backup_on,
            require_test_run: test_run,
            ..Config::default()
        };
        let start = Instant::now();
        boot(&set, &work_db, config)?;
        samples[which].push(start.elapsed());
    }
    let mut base = None;
    for ((name, _, _), samples) in configs.iter().zip(samples) {
        let quartiles = quartiles(&samples);
        let t = median(samples);
        let overhead = base.map_or_else(String::new, |b: Duration| {
            format!("+{}", secs(t.saturating_sub(b)))
        });
        base.get_or_insert(t);
        println!("| {name} | {} | {quartiles} | {overhead} |", secs(t));
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    let bytes = std::fs::metadata(&args.db)
        .map_err(|e| format!("{}: {e}", args.db.display()))?
        .len();
    std::fs::create_dir_all(&args.work).map_err(|e| format!("{}: {e}", args.work.display()))?;
    let scratch = tempfile::tempdir_in(&args.work).map_err(|e| e.to_string())?;
    let copy = scratch.path().join("copy.db");
    let backup = scratch.path().join("backup.sqlite");
    let wal_db = scratch.path().join("wal.db");
    let runs = args.runs;
    println!(
        "database: {} ({:.2} GB), {runs} runs per figure, medians",
        args.db.display(),
        bytes as f64 / 1e9
    );
    if args.boots_only {
        return boots(&args.db, scratch.path(), runs);
    }
    wal_copy(&args.db, &wal_db)?;

    let db = args.db.as_path();
    let cold_possible = drop_caches();
    let mut modes = vec![("warm", false)];
    if cold_possible {
        modes.push(("cold", true));
    } else {
        println!("(cannot write /proc/sys/vm/drop_caches: warm cache only)");
    }
    let mut table: Vec<(&str, Vec<Duration>)> = vec![
        ("`cp`", vec![]),
        ("`cp`, then fsync of the copy (`sync FILE`)", vec![]),
        ("migrator backup (rollback journal): in-kernel copy from SQLite's own descriptor (write-back started as it goes), compared byte for byte, fsync, on one core; quick_check of the same snapshot on the other", vec![]),
        ("migrator backup (WAL): backup API copy, then quick_check of the copy", vec![]),
        ("the backup before the file copy: backup API copy, then quick_check of the copy", vec![]),
        ("of which the backup API copy alone (SQLite syncs the copy)", vec![]),
        ("of which `PRAGMA quick_check` alone", vec![]),
    ];
    for (_, cold) in &modes {
        let cold = *cold;
        let prepare = |source: &Path, target: &Path| -> Result<(), String> {
            remove(target);
            if cold {
                drop_caches();
                Ok(())
            } else {
                // No dirty pages of an earlier measure are left to be written back during this one.
                let _ = Command::new("sync").status();
                warm(source)
            }
        };
        // Round robin: each run times every measure once, so a burst of load elsewhere on the machine
        // hits all of them alike instead of the one that happened to be running; the measures take turns.
        type Op<'a> = Box<dyn Fn() -> Result<(), String> + 'a>;
        let measures: Vec<(&Path, &Path, Op)> = vec![
            (db, &copy, Box::new(|| cp(db, &copy))),
            (db, &copy, Box::new(|| cp_fsync(db, &copy))),
            (db, &backup, Box::new(|| migrator_backup(db, &backup))),
            (
                &wal_db,
                &backup,
                Box::new(|| migrator_backup(&wal_db, &backup)),
            ),
            (
                db,
                &copy,
                Box::new(|| {
                    api_copy(db, &copy)?;
                    quick_check(&copy)
                }),
            ),
            (db, &copy, Box::new(|| api_copy(db, &copy))),
            (db, &copy, Box::new(|| quick_check(db))),
        ];
        let mut samples = vec![Vec::with_capacity(runs); measures.len()];
        for which in taking_turns(runs, measures.len()) {
            let (source, target, op) = &measures[which];
            prepare(source, target)?;
            let start = Instant::now();
            op()?;
            samples[which].push(start.elapsed());
        }
        let figures = samples.into_iter().map(median);
        for (row, figure) in table.iter_mut().zip(figures) {
            row.1.push(figure);
        }
    }
    remove(&copy);
    remove(&backup);

    print_backup_table(&modes, &table, bytes);

    boots(db, scratch.path(), runs)
}

fn main() -> ExitCode {
    // `RUST_LOG=migrator=debug`: the boots' events on stderr, timed from the start (where the time goes).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_thread_names(true)
            .with_writer(std::io::stderr)
            .init();
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
