//! Crash safety: the example app is killed with SIGKILL at 50 random points of a boot that backs up,
//! rehearses and applies four migrations to a database of 100,000 rows, on SQLite and on PostgreSQL. After
//! each kill: every migration is applied completely or not at all and history agrees with the schema, no
//! row is lost or changed (count and checksum), and the next boot completes.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use migrator_tests::{migration_text, Db, Workspace};

const APP: &str = env!("CARGO_BIN_EXE_example-app");
const ROWS: i64 = 100_000;
const POINTS: usize = 50;

/// The seed, applied before the crashes: 100,000 contacts (the same SQL on both engines).
const SEED: (u64, &str, &str) = (
    20240101000000,
    "20240101000000_issue_1_contacts.sql",
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)\nINSERT INTO contacts (id, name, email) SELECT i, 'name ' || i, 'user' || i || '@example.com' FROM n;",
);

/// The four migrations the crashing boots apply: version, file, UP, DOWN, and a query that counts what is
/// wrong when the migration is applied (0 when it is complete).
const PENDING: [(u64, &str, &str, &str, &str); 4] = [
    (
        20240102000000,
        "20240102000000_issue_2_score.sql",
        "ALTER TABLE contacts ADD COLUMN score INTEGER NOT NULL DEFAULT 0;\nUPDATE contacts SET score = id % 100;",
        "ALTER TABLE contacts DROP COLUMN score;",
        "SELECT count(*) FROM contacts WHERE score <> id % 100",
    ),
    (
        20240103000000,
        "20240103000000_issue_3_email_index.sql",
        "CREATE INDEX idx_contacts_email ON contacts (email);",
        "DROP INDEX idx_contacts_email;",
        "SELECT 0",
    ),
    (
        20240104000000,
        "20240104000000_issue_4_archive.sql",
        "CREATE TABLE contacts_archive (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO contacts_archive (id, name) SELECT id, name FROM contacts WHERE id % 10 = 0;",
        "DROP TABLE contacts_archive;",
        "SELECT 10000 - count(*) FROM contacts_archive",
    ),
    (
        20240105000000,
        "20240105000000_issue_5_vip.sql",
        "ALTER TABLE contacts ADD COLUMN vip INTEGER;\nUPDATE contacts SET vip = 1 WHERE score > 90;",
        "ALTER TABLE contacts DROP COLUMN vip;",
        "SELECT count(*) FROM contacts WHERE (score > 90 AND vip IS NULL) OR (score <= 90 AND vip IS NOT NULL)",
    ),
];

/// The phases of a boot, as its `tracing` output shows them. `Backup`: the backup's copy is being
/// written; on SQLite it runs beside the start of the rehearsal (the run's commit waits for the whole
/// backup), so a kill while the copy is under way counts as `Backup` whatever else the boot was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Start,
    Backup,
    Rehearsal,
    Apply,
    Done,
}

/// The line that ends the backup's copy: SQLite's copying thread logs it once the copy is written,
/// compared and synced; an engine that backs up before the run says "backup taken".
fn ends_the_copy(line: &str) -> bool {
    line.contains("backup copy written") || line.contains("backup taken")
}

/// The phase a boot was in when its log stopped.
fn phase_of(log: &str) -> Phase {
    let mut phase = Phase::Start;
    let mut copying = false;
    for line in log.lines() {
        if line.contains("lock taken") && phase == Phase::Start {
            copying = true;
        }
        if ends_the_copy(line) {
            copying = false;
        }
        phase = if line.contains("health checks passed") || line.contains("Applied ") {
            Phase::Done
        } else if line.contains("rehearsal passed") {
            Phase::Apply
        } else if line.contains("migrator.rehearse") || line.contains("backup taken") {
            Phase::Rehearsal.max(phase)
        } else if line.contains("lock taken") {
            Phase::Backup.max(phase)
        } else {
            phase
        };
    }
    if copying {
        Phase::Backup
    } else {
        phase
    }
}

fn write_set(dir: &Path, pending: bool) {
    let mut files = vec![(SEED.1, migration_text(Some(1), "contacts", SEED.2, None))];
    if pending {
        for (_, file, up, down, _) in PENDING {
            files.push((file, migration_text(None, file, up, Some(down))));
        }
    }
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write migration");
    }
}

fn boot(dir: &Path, target: &[String]) -> Command {
    let mut command = Command::new(APP);
    command
        .args(target)
        .arg("--migrations-dir")
        .arg(dir)
        .arg("--lock-wait")
        .arg("120")
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "migrator=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// One engine's database under test.
trait Copies {
    /// A fresh copy of the seeded database: the app's arguments and a handle for checks.
    fn copy(&self, i: usize) -> (Vec<String>, Db);
    /// Removes a copy and what booting it left (backups).
    fn remove(&self, db: Db);
    /// Waits until the database has finished what the killed process sent it. A PostgreSQL server goes on
    /// with a statement (a `COMMIT` included) after its client died, so a check made at once could read
    /// history before that commit and the schema after it.
    fn settle(&self, _db: &Db) {}
}

struct SqliteCopies {
    seed: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Copies for SqliteCopies {
    fn copy(&self, i: usize) -> (Vec<String>, Db) {
        let path = self.dir.path().join(format!("crash_{i}.db"));
        std::fs::copy(&self.seed, &path).expect("copy the seeded database");
        (
            vec!["--db".into(), path.to_string_lossy().into_owned()],
            Db::Sqlite(path),
        )
    }
    fn remove(&self, db: Db) {
        if let Db::Sqlite(path) = db {
            let _ = std::fs::remove_file(&path);
            let mut backups = path.file_name().unwrap_or_default().to_os_string();
            backups.push(".backups");
            let _ = std::fs::remove_dir_all(path.with_file_name(backups));
        }
    }
}

struct PostgresCopies {
    seed: migrator_tests::pg::PgDb,
}

impl PostgresCopies {
    /// The cluster's `postgres` database (a database cannot be copied or dropped from a session connected
    /// to it).
    fn admin_db(&self) -> Db {
        let url = self
            .seed
            .url
            .replace(&format!("/{}", self.seed.name), "/postgres");
        Db::Postgres(migrator_tests::pg::PgDb {
            url,
            name: "postgres".into(),
        })
    }

    /// Runs SQL connected to the cluster's `postgres` database.
    fn admin(&self, sql: &str) {
        self.admin_db().exec(sql);
    }
}

impl Copies for PostgresCopies {
    fn copy(&self, i: usize) -> (Vec<String>, Db) {
        let name = format!("{}_crash_{i}", self.seed.name);
        self.admin(&format!(
            "CREATE DATABASE {name} TEMPLATE {}",
            self.seed.name
        ));
        let url = self
            .seed
            .url
            .replace(&format!("/{}", self.seed.name), &format!("/{name}"));
        (
            vec!["--database-url".into(), url.clone()],
            Db::Postgres(migrator_tests::pg::PgDb { url, name }),
        )
    }
    fn settle(&self, db: &Db) {
        let Db::Postgres(pg) = db else { return };
        let admin = self.admin_db();
        let sessions = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname IN ('{0}', '{0}_rehearsal')",
            pg.name
        );
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while admin.count(&sessions) > 0 {
            assert!(
                Instant::now() < deadline,
                "the killed boot's sessions on {} did not end within 60 s",
                pg.name
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    fn remove(&self, db: Db) {
        if let Db::Postgres(pg) = db {
            self.admin(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name));
            self.admin(&format!(
                "DROP DATABASE IF EXISTS {}_rehearsal WITH (FORCE)",
                pg.name
            ));
            let backups = std::env::temp_dir().join("migrator-backups");
            for entry in std::fs::read_dir(&backups).into_iter().flatten().flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", pg.name))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// The original columns of every row, reduced to a checksum computed by the engine or, for SQLite, here.
fn data_checksum(db: &Db) -> String {
    match db {
        Db::Sqlite(path) => {
            use std::hash::{Hash, Hasher};
            let conn = rusqlite_open(path);
            let mut stmt = conn
                .prepare("SELECT id, name, email FROM contacts ORDER BY id")
                .expect("prepare");
            let mut rows = stmt.query([]).expect("query");
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            let mut count = 0i64;
            while let Some(row) = rows.next().expect("row") {
                let id: i64 = row.get(0).expect("id");
                let name: String = row.get(1).expect("name");
                let email: String = row.get(2).expect("email");
                (id, name, email).hash(&mut hasher);
                count += 1;
            }
            format!("{count}:{:016x}", hasher.finish())
        }
        Db::Postgres(_) => db.rows("SELECT count(*)::text || ':' || md5(string_agg(id::text || '|' || name || '|' || email, E'\\n' ORDER BY id)) FROM contacts").concat(),
        Db::MySql(_) => db.rows("SELECT CONCAT(count(*), ':', MD5(GROUP_CONCAT(CONCAT(id, '|', name, '|', email) ORDER BY id SEPARATOR '\\n'))) FROM contacts").concat(),
    }
}

fn rusqlite_open(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open db")
}

/// Whether a migration's objects exist.
fn present(db: &Db, version: u64) -> bool {
    let sql = match (db.is_postgres(), version) {
        (false, 20240102000000) => "SELECT count(*) FROM pragma_table_info('contacts') WHERE name = 'score'",
        (false, 20240103000000) => "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'idx_contacts_email'",
        (false, 20240104000000) => "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'contacts_archive'",
        (false, _) => "SELECT count(*) FROM pragma_table_info('contacts') WHERE name = 'vip'",
        (true, 20240102000000) => "SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'score'",
        (true, 20240103000000) => "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_contacts_email'",
        (true, 20240104000000) => "SELECT count(*) FROM pg_tables WHERE tablename = 'contacts_archive'",
        (true, _) => "SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'vip'",
    };
    db.count(sql) == 1
}

/// Applied versions in history (an empty set before the history tables exist).
fn applied(db: &Db) -> BTreeSet<u64> {
    let exists = if db.is_postgres() {
        "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'"
    } else {
        "SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'"
    };
    if db.count(exists) == 0 {
        return BTreeSet::new();
    }
    db.history()
        .into_iter()
        .filter(|(_, status)| status == "applied")
        .map(|(version, _)| version)
        .collect()
}

/// Every migration is either complete and recorded as applied, or absent and not recorded; no row lost.
fn assert_consistent(db: &Db, seed_checksum: &str, when: &str) {
    let applied = applied(db);
    assert!(applied.contains(&SEED.0), "{when}: the seed stays applied");
    for (version, file, _, _, wrong) in PENDING {
        let exists = present(db, version);
        assert_eq!(
            exists,
            applied.contains(&version),
            "{when}: {file}: objects present = {exists}, history says applied = {}",
            applied.contains(&version)
        );
        if exists {
            assert_eq!(db.count(wrong), 0, "{when}: {file} is only partly applied");
        }
    }
    assert_eq!(db.count("SELECT count(*) FROM contacts"), ROWS, "{when}");
    assert_eq!(data_checksum(db), seed_checksum, "{when}: rows changed");
}

/// Boots to completion and returns when, after the start, the backup, the rehearsal and the apply began
/// and when the boot was done (seconds), read from its log as it is written.
/// When each phase starts in one boot to completion, in seconds: backup, rehearsal, apply, done, and
/// when the backup's copy is written (it may be after the rehearsal started).
fn phase_starts(dir: &Path, target: &[String]) -> [f64; 5] {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = boot(dir, target).spawn().expect("boot");
    let stderr = child.stderr.take().expect("stderr");
    let mut marks = [None; 5];
    let mut log = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("log line");
        let at = started.elapsed().as_secs_f64();
        let phase = phase_of(&line);
        let slot = match phase {
            Phase::Backup => Some(0),
            Phase::Rehearsal => Some(1),
            Phase::Apply => Some(2),
            Phase::Done => Some(3),
            Phase::Start => None,
        };
        if let Some(slot) = slot {
            marks[slot].get_or_insert(at);
        }
        if ends_the_copy(&line) {
            marks[4].get_or_insert(at);
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{log}");
    let done = started.elapsed().as_secs_f64();
    let get = |k: usize| marks[k].unwrap_or_else(|| panic!("phase {k} not seen in:\n{log}"));
    [get(0), get(1), get(2), marks[3].unwrap_or(done), get(4)]
}

fn crash_at_fifty_points(copies: &dyn Copies, seeded: &Db) {
    let pending = tempfile::tempdir().expect("temp dir");
    write_set(pending.path(), true);
    let seed_checksum = data_checksum(seeded);
    assert!(seed_checksum.starts_with("100000:"), "{seed_checksum}");

    // Three boots to completion: when each phase starts on this machine (medians).
    let mut timings: Vec<[f64; 5]> = (0..3)
        .map(|run| {
            let (target, db) = copies.copy(usize::MAX - run);
            let timing = phase_starts(pending.path(), &target);
            assert_eq!(applied(&db).len(), 5);
            copies.remove(db);
            timing
        })
        .collect();
    let mut median = |k: usize| {
        timings.sort_by(|a, b| a[k].total_cmp(&b[k]));
        timings[1][k]
    };
    let [backup, rehearsal, apply, done, copied] =
        [median(0), median(1), median(2), median(3), median(4)];
    // A fifth of the points in each phase's window (the backup is short: from the lock until its copy is
    // written, which on SQLite overlaps the rehearsal's start), the rest over the whole boot; each at a
    // random place in its slice of its window.
    let windows: Vec<(f64, f64)> = (0..POINTS)
        .map(|i| match i % 5 {
            0 => (backup, copied.max(backup)),
            1 => (rehearsal, apply),
            2 => (apply, done),
            _ => (0.0, done),
        })
        .collect();

    let mut rng = Instant::now().elapsed().as_nanos() as u64 | 1;
    let seed = rng;
    let mut random_in = |(from, to): (f64, f64)| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::time::Duration::from_secs_f64(
            from + (to - from) * ((rng >> 11) as f64 / (1u64 << 53) as f64),
        )
    };
    let run = KillRun {
        copies,
        pending: pending.path(),
        seed_checksum: &seed_checksum,
        seed,
    };
    let mut hits = std::collections::BTreeMap::new();
    for (i, window) in windows.into_iter().enumerate() {
        let phase = run.kill_and_check(i, random_in(window));
        *hits.entry(phase).or_insert(0) += 1;
    }
    // A noisy machine can shift a short phase away from where the timing boots saw it: a phase no kill
    // landed in gets up to ten more, each in that phase's window, before the test calls it missed.
    let phase_windows = [
        (Phase::Backup, (backup, copied.max(backup))),
        (Phase::Rehearsal, (rehearsal, apply)),
        (Phase::Apply, (apply, done)),
    ];
    let mut extra = POINTS;
    for (phase, window) in phase_windows {
        for _ in 0..10 {
            if hits.get(&phase).is_some_and(|n| *n > 0) {
                break;
            }
            let landed = run.kill_and_check(extra, random_in(window));
            *hits.entry(landed).or_insert(0) += 1;
            extra += 1;
        }
    }
    eprintln!(
        "{extra} kills; phases start at {backup:.3} s (backup, its copy written at {copied:.3} s), {rehearsal:.3} s (rehearsal), {apply:.3} s (apply), done at {done:.3} s; kills by phase: {hits:?}"
    );
    for (phase, _) in phase_windows {
        assert!(
            hits.get(&phase).is_some_and(|n| *n > 0),
            "no kill landed in the {phase:?} phase: {hits:?}"
        );
    }
}

/// What each kill of [`crash_at_fifty_points`] needs: the copies to boot, the pending set, the seed's data
/// checksum, and the random seed (printed so that a failure can be retraced).
struct KillRun<'a> {
    copies: &'a dyn Copies,
    pending: &'a Path,
    seed_checksum: &'a str,
    seed: u64,
}

impl KillRun<'_> {
    /// Boots a fresh copy, kills it (SIGKILL) `at` after the start, checks that nothing is half done,
    /// boots again to completion and checks again; returns the phase the kill landed in.
    fn kill_and_check(&self, i: usize, at: std::time::Duration) -> Phase {
        let (target, db) = self.copies.copy(i);
        let mut child = boot(self.pending, &target).spawn().expect("boot");
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let killed = child.wait_with_output().expect("wait");
        self.copies.settle(&db);
        let phase = phase_of(&String::from_utf8_lossy(&killed.stderr));
        let when = format!("point {i} ({at:?}, {phase:?}, rng seed {})", self.seed);
        assert_consistent(
            &db,
            self.seed_checksum,
            &format!("after the kill at {when}"),
        );

        let next = boot(self.pending, &target).output().expect("boot");
        assert!(
            next.status.success(),
            "the boot after the kill at {when} failed:\n{}",
            String::from_utf8_lossy(&next.stderr)
        );
        assert_eq!(applied(&db).len(), 5, "after the next boot ({when})");
        assert_consistent(
            &db,
            self.seed_checksum,
            &format!("after the boot that followed {when}"),
        );
        self.copies.remove(db);
        phase
    }
}

#[test]
fn sqlite_boots_killed_at_fifty_points_lose_nothing_and_the_next_boot_completes() {
    let ws = Workspace::new();
    let seed_dir = tempfile::tempdir().expect("temp dir");
    write_set(seed_dir.path(), false);
    let seeded = Db::sqlite(&ws);
    let Db::Sqlite(seed) = &seeded else {
        unreachable!()
    };
    let out = boot(
        seed_dir.path(),
        &["--db".into(), seed.to_string_lossy().into_owned()],
    )
    .output()
    .expect("seed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copies = SqliteCopies {
        seed: seed.clone(),
        dir: tempfile::tempdir().expect("temp dir"),
    };
    crash_at_fifty_points(&copies, &seeded);
}

#[test]
fn postgres_boots_killed_at_fifty_points_lose_nothing_and_the_next_boot_completes() {
    let Some(seeded) = Db::postgres() else { return };
    let Db::Postgres(pg) = &seeded else {
        unreachable!()
    };
    let seed_dir = tempfile::tempdir().expect("temp dir");
    write_set(seed_dir.path(), false);
    let out = boot(seed_dir.path(), &["--database-url".into(), pg.url.clone()])
        .output()
        .expect("seed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copies = PostgresCopies {
        seed: migrator_tests::pg::PgDb {
            url: pg.url.clone(),
            name: pg.name.clone(),
        },
    };
    crash_at_fifty_points(&copies, &seeded);
}
