//! PostgreSQL beside the times: what applying a set costs the server, per tool and per migration, from
//! the server's own statistics, and paired runs of migrator against diesel_migrations.
//!
//! - **Counts** (one run per tool and database kind, with the server's statement log on, so not timed
//!   with the table's runs): round trips (every query the client sends and waits for: a simple `Query`
//!   message, or an extended-protocol `Execute`, as `log_min_duration_statement = 0` logs them) and the
//!   server time they took (the sum of the logged durations, `parse` and `bind` included); WAL bytes
//!   (`pg_current_wal_lsn()` before and after), WAL records, full-page images, writes and syncs
//!   (`pg_stat_wal`), and commits (`pg_stat_database.xact_commit`). Autovacuum is off for these runs, so
//!   that the WAL counted is the tool's (each run starts after a `CHECKPOINT`; the bgwriter's running-xacts
//!   record every 15 s is the only other writer).
//! - **Pairs**: migrator and diesel_migrations apply the same set, each to a new database after a
//!   `CHECKPOINT`, one right after the other, the order alternating from pair to pair; each pair gives a
//!   ratio, and the ratios' median and spread say more on a noisy machine than two medians taken apart.

use std::time::{Duration, Instant};

use crate::pg::Server;

/// A tool applying a set to the database at a URL.
pub type Apply<'a> = &'a dyn Fn(&str);

/// What one run cost the server.
pub struct Counts {
    pub wall: Duration,
    pub round_trips: u64,
    pub server: Duration,
    pub wal_bytes: f64,
    pub wal_records: f64,
    pub wal_fpi: f64,
    pub wal_writes: f64,
    pub wal_syncs: f64,
    pub commits: f64,
}

/// The cumulative figures a run is measured between.
struct Snapshot {
    lsn: f64,
    records: f64,
    fpi: f64,
    writes: f64,
    syncs: f64,
    commits: f64,
    log_len: usize,
}

fn snapshot(server: &mut Server, db: &str) -> Snapshot {
    Snapshot {
        lsn: server.number("pg_current_wal_lsn() - '0/0'"),
        records: server.number("(SELECT wal_records FROM pg_stat_wal)"),
        fpi: server.number("(SELECT wal_fpi FROM pg_stat_wal)"),
        writes: server.number("(SELECT wal_write FROM pg_stat_wal)"),
        syncs: server.number("(SELECT wal_sync FROM pg_stat_wal)"),
        commits: server.number(&format!(
            "(SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}')"
        )),
        log_len: std::fs::read(server.log_path()).map_or(0, |l| l.len()),
    }
}

/// Round trips and their server time from the statement log lines of `db`.
fn from_log(log: &str, db: &str) -> (u64, Duration) {
    let marker = format!("] {db} LOG:  duration: ");
    let mut round_trips = 0;
    let mut server = 0.0;
    for line in log.lines() {
        let Some((_, rest)) = line.split_once(&marker) else {
            continue;
        };
        let Some((ms, what)) = rest.split_once(" ms  ") else {
            continue;
        };
        server += ms.parse::<f64>().unwrap_or(0.0);
        if what.starts_with("statement:") || what.starts_with("execute") {
            round_trips += 1;
        }
    }
    (round_trips, Duration::from_secs_f64(server / 1000.0))
}

/// Runs `apply` once on a new database (from `template`) with the statement log on, and counts.
fn count(server: &mut Server, template: Option<&str>, apply: Apply) -> Counts {
    let (db, url) = server.create_db(template);
    server.checkpoint();
    let before = snapshot(server, &db);
    let started = Instant::now();
    apply(&url);
    let wall = started.elapsed();
    server.wait_disconnected(&db);
    // The walwriter reports its own WAL statistics on its next round (wal_writer_delay, 200 ms).
    std::thread::sleep(Duration::from_millis(700));
    let after = snapshot(server, &db);
    let log = std::fs::read(server.log_path()).unwrap_or_default();
    let log = String::from_utf8_lossy(log.get(before.log_len..).unwrap_or_default());
    let (round_trips, server_time) = from_log(&log, &db);
    server.drop_db(&db);
    Counts {
        wall,
        round_trips,
        server: server_time,
        wal_bytes: after.lsn - before.lsn,
        wal_records: after.records - before.records,
        wal_fpi: after.fpi - before.fpi,
        wal_writes: after.writes - before.writes,
        wal_syncs: after.syncs - before.syncs,
        commits: after.commits - before.commits,
    }
}

/// The counts of each `(tool, database kind, template, apply)` for a set of `n`, as a Markdown table.
pub fn evidence(server: &mut Server, n: usize, runs: &[(&str, &str, Option<&str>, Apply)]) {
    server.settings(&[
        ("log_min_duration_statement", Some("0")),
        ("log_line_prefix", Some("%m [%p] %d ")),
        ("autovacuum", Some("off")),
    ]);
    println!();
    println!("PostgreSQL, N = {n}: what one apply costs the server, per migration (one run each, statement log on, autovacuum off; times here include the logging)");
    println!();
    println!("| tool | database | wall | round trips | server time | client + wire | WAL bytes | WAL records | full-page images | WAL writes | WAL syncs | commits |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let per = |x: f64| x / n as f64;
    for (tool, kind, template, apply) in runs {
        let c = count(server, *template, *apply);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {tool} | {kind} | {:.0} ms | {:.2} | {:.3} ms | {:.3} ms | {:.0} | {:.1} | {:.2} | {:.2} | {:.3} | {:.3} |",
            ms(c.wall),
            per(c.round_trips as f64),
            per(ms(c.server)),
            per(ms(c.wall.saturating_sub(c.server))),
            per(c.wal_bytes),
            per(c.wal_records),
            per(c.wal_fpi),
            per(c.wal_writes),
            per(c.wal_syncs),
            per(c.commits),
        );
    }
    server.settings(&[
        ("log_min_duration_statement", None),
        ("log_line_prefix", None),
        ("autovacuum", None),
    ]);
}

/// `pairs` paired runs of `ours` and `theirs`, each on a new database (from `template`) after a
/// `CHECKPOINT`, the order alternating; prints one Markdown row.
pub fn paired(
    server: &mut Server,
    label: &str,
    pairs: usize,
    template: Option<&str>,
    ours: Apply,
    theirs: Apply,
) {
    let mut times = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (a, a_url) = server.create_db(template);
        let (b, b_url) = server.create_db(template);
        let mut one = |apply: Apply, url: &str| {
            server.checkpoint();
            let started = Instant::now();
            apply(url);
            started.elapsed()
        };
        let (o, t) = if pair % 2 == 0 {
            let o = one(ours, &a_url);
            (o, one(theirs, &b_url))
        } else {
            let t = one(theirs, &b_url);
            (one(ours, &a_url), t)
        };
        times.push((o, t));
        server.drop_db(&a);
        server.drop_db(&b);
    }
    let mut ratios: Vec<f64> = times
        .iter()
        .map(|(o, t)| o.as_secs_f64() / t.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let quantile = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let below = ratios.iter().filter(|r| **r < 1.0).count();
    println!(
        "| {label} | {pairs} | {:.0} ms | {:.0} ms | **{:.2}** | {:.2} | {:.2} | {:.2} | {:.2} | {below} of {pairs} |",
        median(times.iter().map(|t| t.0).collect()).as_secs_f64() * 1000.0,
        median(times.iter().map(|t| t.1).collect()).as_secs_f64() * 1000.0,
        quantile(0.5),
        quantile(0.0),
        quantile(0.25),
        quantile(0.75),
        quantile(1.0),
    );
}

/// The header of [`paired`]'s rows.
pub fn paired_header(n: usize) {
    println!();
    println!("PostgreSQL, N = {n}: paired runs of migrator and diesel_migrations (each on a new database after a CHECKPOINT, one right after the other, the order alternating)");
    println!();
    println!("| database | pairs | migrator (median) | diesel_migrations (median) | ratio, median of the pairs | min | 25% | 75% | max | pairs where migrator was faster |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
}
