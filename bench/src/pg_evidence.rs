//! PostgreSQL beside the times: what applying a set costs the server, per tool and per migration, from
//! the server's own statistics, and paired runs of migrator against diesel_migrations.
//!
//! - **Counts** (one run per tool and database kind, with the server's statement log on, so not timed
//!   with the table's runs): round trips (every query the client sends and waits for: a simple `Query`
//!   message, or an extended-protocol `Execute`, as `log_min_duration_statement = 0` logs them) and the
//!   server time they took (the sum of the logged durations, `parse` and `bind` included); WAL bytes
//!   (`pg_current_wal_lsn()` before and after); WAL records, full-page images and commit records, read
//!   back with `pg_waldump` over that LSN range (exact: `pg_stat_wal`'s record and FPI counters are
//!   reported by each process up to a second late, so a `CREATE DATABASE` just before the run, which
//!   WAL-logs the template's pages as full-page images, lands in the run's figures); WAL writes and syncs
//!   (`pg_stat_wal`), and commits (`pg_stat_database.xact_commit`). Autovacuum is off for these runs, so
//!   that the WAL counted is the tool's (each run starts after a `CHECKPOINT`; the bgwriter's running-xacts
//!   record every 15 s is the only other writer; `checkpoint_timeout` is 1 h, so that no timed checkpoint
//!   recycles the segments `pg_waldump` reads), and `wal_writer_delay` is 10 s, so that the syncs
//!   counted are the ones the tool's commits ask for: with the default 200 ms the WAL writer also flushes
//!   the full WAL pages of a transaction still running on each round, which adds syncs in proportion to
//!   the run's wall time, whichever tool runs.
//! - **Where the WAL goes**: the same `pg_waldump` records summed per relation (named in the tool's
//!   database) and record kind; the tool's own tables row by row, the system catalogs (what the DDL
//!   writes, the same for every tool) and the records without a relation (commits, locks, file creations)
//!   as sums.
//! - **Pairs**: migrator and diesel_migrations apply the same set, each to a database created right before
//!   its run (then a `CHECKPOINT` and a `sync`) and dropped right after it, one right after the other, the
//!   order alternating from pair to pair; each pair gives a ratio, and the ratios' median and spread say
//!   more on a noisy machine than two medians taken apart.

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
    pub wal: Wal,
    pub wal_writes: f64,
    pub wal_syncs: f64,
    pub commits: f64,
}

/// The cumulative figures a run is measured between.
struct Snapshot {
    lsn_text: String,
    lsn: f64,
    writes: f64,
    syncs: f64,
    commits: f64,
    log_len: usize,
}

fn snapshot(server: &mut Server, db: &str) -> Snapshot {
    Snapshot {
        lsn_text: server.text("pg_current_wal_lsn()"),
        lsn: server.number("pg_current_wal_lsn() - '0/0'"),
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
fn count(
    server: &mut Server,
    template: Option<&str>,
    apply: Apply,
    label: &str,
    n: usize,
) -> Counts {
    let (db, url) = server.create_db(template);
    server.checkpoint();
    let statements = server
        .text("current_setting('shared_preload_libraries')")
        .contains("pg_stat_statements");
    if statements {
        server.exec(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()",
        );
    }
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
    // BENCH_KEEP_LOG=DIR keeps each counted run's statement log (DIR/<label>.log), to see where the
    // server time went statement by statement.
    if let Ok(dir) = std::env::var("BENCH_KEEP_LOG") {
        let _ = std::fs::write(
            format!("{dir}/{}.log", label.replace([' ', ',', '\''], "_")),
            log.as_bytes(),
        );
    }
    let mut wal = wal_breakdown(server, &url, label, n, &before.lsn_text, &after.lsn_text);
    if statements {
        wal.table.push_str(&statement_kinds(server, &db, label, n));
    }
    server.drop_db(&db);
    Counts {
        wall,
        round_trips,
        server: server_time,
        wal_bytes: after.lsn - before.lsn,
        wal,
        wal_writes: after.writes - before.writes,
        wal_syncs: after.syncs - before.syncs,
        commits: after.commits - before.commits,
    }
}

/// The counts of each `(tool, database kind, template, run)` for a set of `n`, as a Markdown table; `what`
/// names the work (an apply, a roll back of everything).
pub fn evidence(
    server: &mut Server,
    n: usize,
    what: &str,
    runs: &[(&str, &str, Option<&str>, Apply)],
) {
    server.settings(&[
        ("log_min_duration_statement", Some("0")),
        ("log_line_prefix", Some("%m [%p] %d ")),
        ("autovacuum", Some("off")),
        ("wal_writer_delay", Some("10s")),
        // No timed checkpoint in the middle of a run: it could recycle the segments pg_waldump reads.
        ("checkpoint_timeout", Some("1h")),
    ]);
    println!();
    println!("PostgreSQL, N = {n}: what {what} costs the server, per migration (one run each, statement log on, autovacuum off, wal_writer_delay 10 s; times here include the logging; WAL records, full-page images and commit records from pg_waldump)");
    println!();
    println!("| tool | database | wall | round trips | server time | client + wire | WAL bytes | WAL records | full-page images | commit records | WAL writes | WAL syncs | commits |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut breakdowns = Vec::new();
    let per = |x: f64| x / n as f64;
    for (tool, kind, template, apply) in runs {
        let label = format!("{tool}, {kind}");
        let c = count(server, *template, *apply, &label, n);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {tool} | {kind} | {:.0} ms | {:.2} | {:.3} ms | {:.3} ms | {:.0} | {:.1} | {:.2} | {:.3} | {:.2} | {:.3} | {:.3} |",
            ms(c.wall),
            per(c.round_trips as f64),
            per(ms(c.server)),
            per(ms(c.wall.saturating_sub(c.server))),
            per(c.wal_bytes),
            per(c.wal.records as f64),
            per(c.wal.fpi as f64),
            per(c.wal.commits as f64),
            per(c.wal_writes),
            per(c.wal_syncs),
            per(c.commits),
        );
        breakdowns.push(c.wal.table);
    }
    for table in breakdowns {
        print!("{table}");
    }
    server.settings(&[
        ("log_min_duration_statement", None),
        ("log_line_prefix", None),
        ("autovacuum", None),
        ("wal_writer_delay", None),
        ("checkpoint_timeout", None),
    ]);
}

/// `pairs` paired runs of `ours` and `theirs`, each on a database of its own (from `templates`, ours then
/// theirs, see [`Server::timed_run`]), the order alternating; prints one Markdown row, and each pair's
/// times on stderr.
pub fn paired(
    server: &mut Server,
    label: &str,
    pairs: usize,
    templates: [Option<&str>; 2],
    ours: Apply,
    theirs: Apply,
) {
    if pairs == 0 {
        return;
    }
    let mut times = Vec::with_capacity(pairs);
    for pair in 0..pairs {
        let (o, t) = in_turn(pair, |tool| {
            server.timed_run(templates[tool], [ours, theirs][tool])
        });
        eprintln!(
            "{label}, pair {}: migrator {:.0} ms, diesel_migrations {:.0} ms",
            pair + 1,
            o.as_secs_f64() * 1000.0,
            t.as_secs_f64() * 1000.0
        );
        times.push((o, t));
    }
    paired_row(label, &times);
}

/// One pair's times, (migrator, diesel_migrations), from `one(0)` and `one(1)`: migrator first in even
/// pairs, diesel_migrations first in odd ones.
pub fn in_turn(pair: usize, mut one: impl FnMut(usize) -> Duration) -> (Duration, Duration) {
    if pair.is_multiple_of(2) {
        let o = one(0);
        (o, one(1))
    } else {
        let t = one(1);
        (one(0), t)
    }
}

/// The Markdown row of `times`, (migrator, diesel_migrations) per pair: each tool's median, the median
/// of the pairs' ratios with its spread, and how many pairs migrator won.
pub fn paired_row(label: &str, times: &[(Duration, Duration)]) {
    let pairs = times.len();
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
        "| {label} | {pairs} | {} | {} | **{:.2}** | {:.2} | {:.2} | {:.2} | {:.2} | {below} of {pairs} |",
        milliseconds(median(times.iter().map(|t| t.0).collect())),
        milliseconds(median(times.iter().map(|t| t.1).collect())),
        quantile(0.5),
        quantile(0.0),
        quantile(0.25),
        quantile(0.75),
        quantile(1.0),
    );
}

/// A median as the table shows it: whole milliseconds from 100 ms, two decimals below.
fn milliseconds(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// The header of [`paired`]'s rows.
pub fn paired_header(n: usize, what: &str) {
    println!();
    println!("PostgreSQL, N = {n}, {what}: paired runs of migrator and diesel_migrations (each on a database created right before its run, after a CHECKPOINT and a sync, and dropped right after it; one right after the other, the order alternating)");
    println!();
    println!("| database | pairs | migrator (median) | diesel_migrations (median) | ratio, median of the pairs | min | 25% | 75% | max | pairs where migrator was faster |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
}

/// What one relation's WAL records of one kind add up to.
#[derive(Default)]
struct Tally {
    records: u64,
    bytes: u64,
    fpi: u64,
}

/// A run's WAL as `pg_waldump` reads it back.
#[derive(Default)]
pub struct Wal {
    pub records: u64,
    pub fpi: u64,
    /// `Transaction COMMIT` records: the commits that wrote WAL (each one a flush the client waits for).
    pub commits: u64,
    /// Where the bytes went, per migration, as Markdown.
    pub table: String,
}

/// The run's WAL from `pg_waldump` between `from` and `to`, summed per relation (named in the tool's
/// database at `url`) and record kind, per migration. A record counts on the relation of its first block
/// reference, its full-page images on the relations of theirs.
fn wal_breakdown(
    server: &mut Server,
    url: &str,
    label: &str,
    n: usize,
    from: &str,
    to: &str,
) -> Wal {
    use std::collections::BTreeMap;
    let (dir, waldump) = server.waldump();
    let out = match std::process::Command::new(&waldump)
        .arg("-p")
        .arg(&dir)
        .args(["-s", from, "-e", to])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            eprintln!(
                "pg_waldump {from}..{to} failed (the counts of {label} are incomplete): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Err(e) => {
            eprintln!("{}: {e}", waldump.display());
            return Wal::default();
        }
    };
    let mut wal = Wal::default();
    let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("rmgr: ") else {
            continue;
        };
        let rmgr = rest.split_whitespace().next().unwrap_or("?");
        let total = rest
            .split_once("len (rec/tot):")
            .and_then(|(_, r)| r.split_once(','))
            .and_then(|(lens, _)| lens.split('/').nth(1))
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let desc = rest.split_once("desc: ").map_or("", |(_, d)| d);
        let kind = format!("{rmgr} {}", desc.split_whitespace().next().unwrap_or(""));
        wal.records += 1;
        if kind == "Transaction COMMIT" {
            wal.commits += 1;
        }
        let blocks: Vec<(String, bool)> = desc
            .split("blkref #")
            .skip(1)
            .map(|b| {
                let rel = b
                    .split_once("rel ")
                    .map_or("-", |(_, r)| r.split_whitespace().next().unwrap_or("-"));
                (rel.to_string(), b.contains(" FPW"))
            })
            .collect();
        let first = blocks
            .first()
            .map_or_else(|| "-".to_string(), |b| b.0.clone());
        let t = tallies.entry((first, kind.clone())).or_default();
        t.records += 1;
        t.bytes += total;
        for (rel, _) in blocks.iter().filter(|b| b.1) {
            wal.fpi += 1;
            tallies.entry((rel.clone(), kind.clone())).or_default().fpi += 1;
        }
    }
    let names = relation_names(url, tallies.keys().map(|k| k.0.as_str()));
    // The tool's own relations row by row; the catalogs and the records without a relation summed.
    let mut rows: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for ((rel, kind), t) in tallies {
        let name = names.get(&rel).cloned().unwrap_or(rel);
        let key = if name == "-" {
            (
                "no relation (commits, locks, file creations)".to_string(),
                String::new(),
            )
        } else if name.starts_with("pg_") || name.contains('/') {
            ("system catalogs (the DDL)".to_string(), String::new())
        } else {
            // The set's own tables and indexes (t_0001, idx_t_0001_name, ...) as one row per shape.
            let shape: String = name
                .chars()
                .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                .collect();
            (shape, kind)
        };
        let r = rows.entry(key).or_default();
        r.records += t.records;
        r.bytes += t.bytes;
        r.fpi += t.fpi;
    }
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.bytes));
    let per = |x: u64| x as f64 / n as f64;
    let mut table = format!(
        "\nWhere the WAL of {label} went, N = {n}, per migration (pg_waldump {from}..{to})\n\n| relation | record | records | bytes | full-page images |\n|---|---|---|---|---|\n"
    );
    for ((name, kind), t) in rows {
        table.push_str(&format!(
            "| {name} | {kind} | {:.2} | {:.1} | {:.2} |\n",
            per(t.records),
            per(t.bytes),
            per(t.fpi)
        ));
    }
    wal.table = table;
    wal
}

/// The names of relations given as `spcNode/dbNode/relNode` (`pg_filenode_relation` in the database at
/// `url`; shared catalogs live in `pg_global`, 1664). Unknown ones (dropped since) keep their numbers.
fn relation_names<'a>(
    url: &str,
    rels: impl Iterator<Item = &'a str>,
) -> std::collections::BTreeMap<String, String> {
    use diesel::{Connection as _, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Named {
        #[diesel(sql_type = diesel::sql_types::Text)]
        rel: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let values = rels
        .filter_map(|r| {
            let mut p = r.split('/');
            let (spc, _, node) = (p.next()?, p.next()?, p.next()?);
            let spc = if spc == "1664" { "1664" } else { "0" };
            node.parse::<u32>().ok()?;
            Some(format!("('{r}', {spc}::oid, {node}::oid)"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    if values.is_empty() {
        return Default::default();
    }
    diesel::PgConnection::establish(url)
        .ok()
        .and_then(|mut c| {
            diesel::sql_query(format!(
                "SELECT rel, coalesce(pg_filenode_relation(spc, node)::text, rel) AS name FROM (VALUES {values}) v(rel, spc, node)"
            ))
            .load::<Named>(&mut c)
            .ok()
        })
        .map(|rows| rows.into_iter().map(|r| (r.rel, r.name)).collect())
        .unwrap_or_default()
}

/// The server's time per kind of statement in `db` (`pg_stat_statements`, which counts each statement of
/// a multi-statement query on its own), per migration, as Markdown.
fn statement_kinds(server: &mut Server, db: &str, label: &str, n: usize) -> String {
    // The kind: the first two words (CREATE TABLE, INSERT INTO, ...), a CTE by what it writes.
    let rows = server.text(&format!(
        "(SELECT coalesce(string_agg(format('| %s | %s | %s | %s |', kind, round(calls::numeric / {n}, 2), round((exec + plan)::numeric / {n}, 3), round(exec::numeric / {n}, 3)), E'\\n' ORDER BY exec + plan DESC), '')
          FROM (SELECT CASE WHEN query ~* '^\\s*WITH' THEN 'WITH (the guarded claim)'
                            WHEN query ~* '^\\s*(SET|SELECT (pg_advisory|set_config))' THEN 'timeouts / advisory xact lock'
                            ELSE upper(substring(query FROM '^\\s*(\\w+(\\s+\\w+)?)')) END AS kind,
                       sum(calls) AS calls, sum(total_exec_time) AS exec, sum(total_plan_time) AS plan
                FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{db}')
                GROUP BY 1) k)"
    ));
    format!(
        "\nServer time per statement kind, {label}, N = {n}, per migration (pg_stat_statements)\n\n| statement | calls | ms (plan + execute) | ms (execute) |\n|---|---|---|---|\n{rows}\n"
    )
}
