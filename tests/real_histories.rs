//! Real migration histories, as a team that switches would bring them (issue: "a team with hundreds of
//! diesel, sqlx or refinery migrations switches in one step"). The histories are the ones published crates
//! ship (`scripts/corpora.tsv`, fetched from the registry by `scripts/fetch-corpora.sh`); for each:
//!
//! - **import** into migrator's format (`migrator_format::import`), then **apply on a fresh database with
//!   the default policy** (backup, rehearsal on a copy, review gate, row limit): imported migrations are
//!   history, so the gates let them through and the whole history comes up;
//! - **adopt** a database the original tool migrated: diesel's own `diesel_migrations` runs the diesel
//!   histories on PostgreSQL; for sqlx and refinery (whose crates are not built here) the tool's history
//!   table is written as the tool writes it, with the checksums it computes. The boot then adopts: nothing
//!   re-runs, the schema does not change;
//! - **rehearse everything** (`rehearse_all`: every UP, DOWN and UP again from an empty database) and
//!   count the DOWNs that fail or do not restore the schema;
//! - **roll back as far as the DOWNs allow**, newest first, one at a time.
//!
//! The figures are printed as a table row (`cargo test --test real_histories -- --nocapture`), the table the
//! README shows.

use std::path::{Path, PathBuf};
use std::time::Instant;

use migrator::{Config, Error, MigrationSet, Migrator, RollbackOptions, RollbackTarget};
use migrator_format::Original;
use migrator_tests::{Db, Workspace};

fn corpora() -> PathBuf {
    static FETCHED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = std::process::Command::new("bash")
                .arg(root.join("scripts/fetch-corpora.sh"))
                .output()
                .expect("run scripts/fetch-corpora.sh");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::env::var_os("CORPORA_DIR")
                .map_or_else(|| root.join("target/corpora"), PathBuf::from)
        })
        .clone()
}

/// The corpus imported into migrator's format in `out`.
fn imported(name: &str, out: &Path) -> MigrationSet {
    let src = corpora().join(name);
    let loaded = migrator_format::load_dir(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
    let files =
        migrator_format::import::import(&src, &loaded).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    for f in &files {
        let path = out.join(&f.rel_path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the engine's directory");
        }
        std::fs::write(path, &f.text).expect("write imported file");
    }
    MigrationSet::from_dir(out).unwrap_or_else(|e| panic!("{name} imported: {e}"))
}

/// The default policy, with backups written into the test's temp dir.
fn default_policy(ws: &Workspace) -> Config {
    Config {
        backup_dir: Some(ws.path().join("backups")),
        ..Config::default()
    }
}

/// Quick applies for the other steps (no backup, no rehearsal, no gates).
fn plain() -> Config {
    Config {
        require_review: Vec::new(),
        require_backup: false,
        require_test_run: false,
        max_rows_affected: None,
        ..Config::default()
    }
}

/// One project's figures.
#[derive(Debug, Default)]
struct Row {
    name: String,
    layout: &'static str,
    engine: &'static str,
    migrations: usize,
    applied: usize,
    apply_s: f64,
    adopted: usize,
    original_s: Option<f64>,
    findings: usize,
    rehearse_s: f64,
    rollback_reach: usize,
    rollback_stop: Option<String>,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "| {} | {} | {} | {} | {} in {:.1} s | {} | {} | {} in {:.1} s | {} |",
            self.name,
            self.layout,
            self.engine,
            self.migrations,
            self.applied,
            self.apply_s,
            self.adopted,
            self.original_s
                .map_or("-".to_string(), |s| format!("{s:.1} s")),
            self.findings,
            self.rehearse_s,
            self.rollback_reach
        )
    }
}

/// Import, apply with the default policy on a fresh database, rehearse everything, roll back as far as
/// the DOWNs allow.
fn import_apply_rehearse_roll_back(name: &str, db: &Db, ws: &Workspace, row: &mut Row) {
    let set = imported(name, &ws.migrations());
    row.migrations = set.len();
    let started = Instant::now();
    let report = db
        .boot_with(&set, default_policy(ws))
        .unwrap_or_else(|e| panic!("{name}: the imported history under the default policy: {e}"));
    row.apply_s = started.elapsed().as_secs_f64();
    row.applied = report.applied_versions().len();
    assert_eq!(row.applied, set.len(), "{name}: every migration applied");
    let started = Instant::now();
    row.findings =
        match db.with_backend(|e| Migrator::new(&set).with_config(plain()).rehearse_all(e)) {
            Ok(_) => 0,
            Err(Error::Rehearsal { findings, .. }) => {
                for f in &findings {
                    println!(
                        "    {name}: rehearsal: {}",
                        f.to_string().lines().next().unwrap_or_default()
                    );
                }
                findings.len()
            }
            Err(e) => panic!("{name}: rehearse_all: {e}"),
        };
    row.rehearse_s = started.elapsed().as_secs_f64();
    let migrator = Migrator::new(&set).with_config(plain());
    let yes = RollbackOptions {
        yes: true,
        ..Default::default()
    };
    loop {
        match db.with_backend(|e| migrator.rollback(e, &RollbackTarget::Last(1), &yes)) {
            Ok(report) if report.with_outcome(migrator::Outcome::RolledBack).count() == 1 => {
                row.rollback_reach += 1
            }
            Ok(_) => break,
            Err(e) => {
                row.rollback_stop =
                    Some(e.to_string().lines().next().unwrap_or_default().to_string());
                break;
            }
        }
    }
}

/// What the original tool would have written in its history table, for a set loaded in its layout.
fn write_peer_history(db: &Db, set: &MigrationSet) {
    let kind = db.kind();
    for m in set.migrations() {
        let sql = match &m.original {
            Some(Original::Sqlx { version, checksum }) => {
                let bytes = match kind {
                    migrator::EngineKind::Postgres => format!("decode('{checksum}', 'hex')"),
                    _ => format!("X'{checksum}'"),
                };
                format!(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({version}, 'x', TRUE, {bytes}, 1)"
                )
            }
            Some(Original::Refinery { version, name, checksum, .. }) => format!(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES ({version}, '{name}', 'now', '{checksum}')"
            ),
            Some(Original::Diesel { version }) => {
                format!("INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')")
            }
            None => continue,
        };
        db.exec(&sql);
    }
}

const PEER_TABLES: &str = "
CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP, success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS refinery_schema_history (version INT PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255));
CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY, run_on TIMESTAMP);";

/// A database the original tool migrated, then booted with the set in the tool's own layout: adopted,
/// nothing re-run, the schema unchanged. diesel histories on PostgreSQL are run by diesel_migrations itself.
fn adopt_what_the_original_tool_applied(name: &str, db: &Db, row: &mut Row) {
    let dir = corpora().join(name);
    let set = MigrationSet::from_dir(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    let diesel_on_pg =
        matches!(db, Db::Postgres(_)) && set.layout() == migrator_format::Layout::Diesel;
    if diesel_on_pg {
        use diesel_migrations::MigrationHarness;
        let Db::Postgres(pg) = db else { unreachable!() };
        let mut conn = pg.connect();
        let migrations =
            diesel_migrations::FileBasedMigrations::from_path(&dir).expect("diesel reads it");
        let started = Instant::now();
        conn.run_pending_migrations(migrations)
            .unwrap_or_else(|e| panic!("{name}: diesel: {e}"));
        row.original_s = Some(started.elapsed().as_secs_f64());
    } else {
        // The original tool creates its history table first, then runs the migrations.
        let ddl = if db.is_postgres() {
            PEER_TABLES.to_string()
        } else {
            PEER_TABLES.replace("BYTEA", "BLOB")
        };
        db.exec(&ddl);
        db.boot_with(&set, plain())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        write_peer_history(db, &set);
        db.exec("DROP TABLE schema_migrations; DROP TABLE schema_migrations_log;");
    }
    let schema = db.fingerprint();
    let report = db
        .boot_with(&set, plain())
        .unwrap_or_else(|e| panic!("{name}: adopting: {e}"));
    assert!(
        report.applied_versions().is_empty(),
        "{name}: nothing re-run"
    );
    row.adopted = report.adopted.len();
    assert_eq!(row.adopted, set.len(), "{name}: every migration adopted");
    assert_eq!(
        db.fingerprint(),
        schema,
        "{name}: the schema is what the original tool built"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'adopted'"),
        set.len() as i64
    );
}

fn project(name: &str, layout: &'static str, db: impl Fn() -> Option<Db>, rows: &mut Vec<Row>) {
    if std::env::var("REAL_HISTORIES").is_ok_and(|only| !only.split(',').any(|n| n == name)) {
        return;
    }
    let ws = Workspace::new();
    let Some(fresh) = db() else { return };
    if name == "underway" {
        // underway's first migration copies sqlx's own history table (`LIKE public._sqlx_migrations`):
        // it only runs where sqlx created that table first. The rehearsal finds this before the real
        // database is touched; a team switching on a fresh database creates the table, as here.
        fresh.exec(PEER_TABLES.lines().nth(1).unwrap_or_default());
    }
    let mut row = Row {
        name: name.to_string(),
        layout,
        engine: fresh.engine_name(),
        ..Row::default()
    };
    import_apply_rehearse_roll_back(name, &fresh, &ws, &mut row);
    let Some(original) = db() else { return };
    adopt_what_the_original_tool_applied(name, &original, &mut row);
    println!("{row}");
    if let Some(stop) = &row.rollback_stop {
        println!("    {name}: rollback stops: {stop}");
    }
    rows.push(row);
}

fn sqlite_db() -> impl Fn() -> Option<Db> {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let n = std::sync::atomic::AtomicU32::new(0);
    move || {
        let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(Db::Sqlite(dir.join(format!("db{k}.sqlite"))))
    }
}

#[test]
fn postgresql_histories_switch_in_one_step() {
    let mut rows = Vec::new();
    for (name, layout) in [
        ("lemmy", "diesel"),
        ("fang-postgres", "diesel"),
        ("atuin-server-postgres", "sqlx"),
        ("apalis-postgres", "sqlx"),
        ("sqlxmq", "sqlx"),
        ("pg_task", "sqlx"),
        ("underway", "sqlx"),
        ("pgorm", "refinery"),
    ] {
        project(name, layout, Db::postgres, &mut rows);
    }
    let total: usize = rows.iter().map(|r| r.migrations).sum();
    println!("PostgreSQL: {total} migrations in {} projects", rows.len());
}

#[test]
fn sqlite_histories_switch_in_one_step() {
    let mut rows = Vec::new();
    for (name, layout) in [
        ("fang-sqlite", "diesel"),
        ("atuin-server-sqlite", "sqlx"),
        ("atuin-client", "sqlx"),
        ("apalis-sqlite", "sqlx"),
        ("mostro", "sqlx"),
        ("springtime-refinery", "refinery"),
    ] {
        project(name, layout, sqlite_db(), &mut rows);
    }
    assert!(rows.len() >= 6);
}
