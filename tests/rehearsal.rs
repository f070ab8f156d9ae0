//! The rehearsal on a scratch copy (`require_test_run`, on by default): before the real database is
//! touched, every pending UP, the health checks, every DOWN newest first (each must restore the schema from
//! before its UP) and the UPs again run on a throwaway copy. Each body runs on SQLite and on PostgreSQL.

use migrator::{Config, Error, HealthCheck, Migrator, RehearsalFinding, RehearsalPhase};
use migrator_tests::{both_engines, Db, Workspace};

both_engines!(
    a_down_that_does_not_restore_the_schema_stops_the_boot_with_the_objects_that_differ,
    an_up_that_fails_on_the_copys_data_stops_the_boot_before_production_is_touched,
    a_health_check_that_fails_on_the_copy_stops_the_boot,
    an_up_that_cannot_run_again_after_its_down_is_reported,
    a_passing_rehearsal_is_reported_and_then_the_migrations_are_applied,
    rehearsing_alone_reads_the_database_and_changes_nothing,
    one_rehearsal_reports_every_broken_down_in_order,
    the_whole_history_rehearses_from_an_empty_database,
    the_boot_keeps_what_the_up_did_not_what_the_rehearsal_left,
    a_finding_on_a_fresh_database_leaves_only_the_history_tables,
    a_fresh_database_with_schema_only_migrations_rehearses_the_downs_newest_first,
    broken_downs_found_newest_first_are_reported_as_migration_by_migration,
    an_up_that_fails_on_a_fresh_database_is_reported_as_on_a_copy,
);

/// A fresh database (no application table): on SQLite and PostgreSQL the boot rehearses inside the run's
/// own transaction, not on a copy. A DOWN that leaves its table behind is found as on a copy, the later
/// migration is still rehearsed, and nothing of the run stays but the (empty) history tables.
fn a_finding_on_a_fresh_database_leaves_only_the_history_tables(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "keeps",
        "CREATE TABLE kept (x INTEGER);",
        Some("SELECT 1;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "fine",
        "CREATE TABLE fine (x INTEGER);\nINSERT INTO fine (x) VALUES (1);",
        Some("DROP TABLE fine;"),
    );
    let (err, findings) = rehearsal_findings_of_a_boot(ws, db);
    assert_eq!(findings.len(), 1, "{err}");
    assert_eq!(findings[0].version, 20240101000000);
    assert_eq!(findings[0].phase, RehearsalPhase::Down);
    assert!(
        findings[0]
            .differences
            .iter()
            .any(|d| d.contains("kept") && d.contains("is left behind")),
        "{err}"
    );
    assert_eq!(db.fingerprint(), Vec::<String>::new(), "no table stays");
    assert_eq!(db.history(), Vec::new(), "no history row stays");
    assert_no_scratch_left(db);
}

/// A fresh database and migrations that only change the schema (the short path, `run/down_chain.rs`):
/// the UPs, the health checks, then every DOWN newest first, and no UP again; the run keeps what the UPs
/// built. MySQL cannot undo DDL, so it rehearses on a copy as before.
fn a_fresh_database_with_schema_only_migrations_rehearses_the_downs_newest_first(
    ws: &Workspace,
    db: &Db,
) {
    ws.add(
        20240101000000,
        Some(1),
        "accounts",
        &format!("CREATE TABLE accounts (id INTEGER PRIMARY KEY, email {} NOT NULL);\nCREATE UNIQUE INDEX accounts_email ON accounts (email);", db.key_text()),
        Some("DROP TABLE accounts;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "sessions",
        "CREATE TABLE sessions (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id));",
        Some("DROP TABLE sessions;"),
    );
    ws.add(
        20240103000000,
        Some(3),
        "nickname",
        "ALTER TABLE accounts ADD COLUMN nickname TEXT;",
        Some("ALTER TABLE accounts DROP COLUMN nickname;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions().len(), 3);
    let rehearsal = report.rehearsal.as_ref().expect("a rehearsal ran");
    let phases: Vec<(u64, RehearsalPhase)> = rehearsal
        .steps
        .iter()
        .map(|s| (s.version, s.phase))
        .collect();
    if db.is_mysql() {
        assert!(!rehearsal.down_chain && !rehearsal.in_place);
        return;
    }
    assert!(rehearsal.in_place && rehearsal.down_chain, "{phases:?}");
    assert_eq!(
        phases,
        vec![
            (20240101000000, RehearsalPhase::Up),
            (20240102000000, RehearsalPhase::Up),
            (20240103000000, RehearsalPhase::Up),
            (20240103000000, RehearsalPhase::HealthChecks),
            (20240103000000, RehearsalPhase::Down),
            (20240102000000, RehearsalPhase::Down),
            (20240101000000, RehearsalPhase::Down),
        ]
    );
    let shown = migrator::render::report(&report, migrator::render::Style::Plain);
    assert!(
        shown.contains("then the DOWNs newest first (3 restoring the schema)"),
        "{shown}"
    );
    let schema = db.fingerprint();
    assert!(
        schema.iter().any(|o| o.contains("nickname")),
        "the UPs' schema stays: {schema:?}"
    );
    assert_eq!(db.history().len(), 3);
    assert_eq!(db.count("SELECT count(*) FROM sessions"), 0);

    // A data migration is not schema-only: the general rehearsal (UP, DOWN, UP again in turn) runs.
    ws.add(
        20240104000000,
        Some(4),
        "seed",
        "INSERT INTO accounts (id, email) VALUES (1, 'a@example.com');",
        Some("DELETE FROM accounts WHERE id = 1;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    let rehearsal = report.rehearsal.as_ref().expect("a rehearsal ran");
    assert!(!rehearsal.down_chain);
    assert_eq!(db.count("SELECT count(*) FROM accounts"), 1);
}

/// A fresh database and schema-only migrations (the short path), the third of which fails: on
/// PostgreSQL the UPs run without a savepoint each, so the failure aborts the transaction and the UPs run
/// again from the start, a savepoint each. The finding is the one a copy gives (the failing statement, its
/// line, the database's message), and nothing of the run stays. Fixed, the next boot applies all three.
fn an_up_that_fails_on_a_fresh_database_is_reported_as_on_a_copy(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "accounts",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE accounts;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "sessions",
        "CREATE TABLE sessions (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE sessions;"),
    );
    ws.add(
        20240103000000,
        Some(3),
        "index",
        "CREATE TABLE tokens (id INTEGER PRIMARY KEY);\nCREATE INDEX tokens_owner ON tokens (owner_id);",
        Some("DROP TABLE tokens;"),
    );
    let (err, findings) = rehearsal_findings_of_a_boot(ws, db);
    assert_eq!(
        versions_and_steps(&findings),
        [(20240103000000, RehearsalPhase::Up)],
        "{err}"
    );
    let detail = &findings[0].detail;
    assert!(
        detail.contains("statement 2 of 2")
            && detail.contains("line 7")
            && detail.contains("owner_id"),
        "the failing statement, its line and the database's message: {detail}"
    );
    let Error::Rehearsal { place, .. } = &err else {
        unreachable!()
    };
    if !db.is_mysql() {
        assert_eq!(*place, "in the run's transaction", "{err}");
    }
    assert_eq!(db.fingerprint(), Vec::<String>::new(), "no table stays");
    assert_eq!(db.history(), Vec::new(), "no history row stays");
    assert_no_scratch_left(db);
    ws.add(
        20240103000000,
        Some(3),
        "index",
        "CREATE TABLE tokens (id INTEGER PRIMARY KEY, owner_id INTEGER);\nCREATE INDEX tokens_owner ON tokens (owner_id);",
        Some("DROP TABLE tokens;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions().len(), 3);
}

/// On the short path a broken DOWN stops the DOWNs newest first; the rehearsal then runs again migration
/// by migration, so the findings are the ones the general rehearsal reports: every broken DOWN, in order.
/// Nothing of the run stays.
fn broken_downs_found_newest_first_are_reported_as_migration_by_migration(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "leaves_x",
        "CREATE TABLE x (id INTEGER);",
        Some("DROP TABLE IF EXISTS not_x;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "fine",
        "CREATE TABLE y (id INTEGER);",
        Some("DROP TABLE y;"),
    );
    ws.add(
        20240103000000,
        Some(3),
        "leaves_z",
        "CREATE TABLE z (id INTEGER);\nCREATE INDEX z_id ON z (id);",
        Some(&format!("{};", db.drop_index("z_id", "z"))),
    );
    let (err, findings) = rehearsal_findings_of_a_boot(ws, db);
    let found = versions_and_steps(&findings);
    if db.is_mysql() {
        assert_eq!(found, [(20240101000000, RehearsalPhase::Down)], "{err}");
    } else {
        assert_eq!(
            found,
            [
                (20240101000000, RehearsalPhase::Down),
                (20240103000000, RehearsalPhase::Down)
            ],
            "{err}"
        );
        assert!(
            findings[0]
                .differences
                .iter()
                .any(|d| d.contains('x') && d.contains("left behind")),
            "{err}"
        );
        assert!(
            findings[1]
                .differences
                .iter()
                .any(|d| d.contains('z') && d.contains("left behind")),
            "{err}"
        );
    }
    assert_eq!(db.fingerprint(), Vec::<String>::new(), "no table stays");
    assert_eq!(db.history(), Vec::new(), "no history row stays");
    assert_no_scratch_left(db);
}

/// An UP that is not idempotent on data (it counts): the rehearsal runs it twice (UP, then UP again after
/// the DOWN), wherever it runs (a copy, or on SQLite the run's own transaction under a savepoint), yet the
/// database ends as one UP leaves it, and no scratch copy is left.
fn the_boot_keeps_what_the_up_did_not_what_the_rehearsal_left(ws: &Workspace, db: &Db) {
    base(ws, db);
    ws.add(
        20240102000000,
        Some(2),
        "bump",
        "ALTER TABLE t ADD COLUMN hits INTEGER NOT NULL DEFAULT 0;\nUPDATE t SET hits = hits + 1;\nUPDATE t SET code = concat(code, 'x');",
        Some("UPDATE t SET code = substr(code, 1, length(code) - 1);\nALTER TABLE t DROP COLUMN hits;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions(), vec![20240102000000]);
    let rehearsal = report.rehearsal.as_ref().expect("a rehearsal ran");
    assert!(rehearsal
        .steps
        .iter()
        .any(|s| s.phase == RehearsalPhase::UpAgain));
    // `base` made an application table: only SQLite's run is a transaction nobody else sees.
    let shown = migrator::render::report(&report, migrator::render::Style::Plain);
    assert_eq!(rehearsal.in_place, db.engine_name() == "SQLite", "{shown}");
    let where_it_ran = if rehearsal.in_place {
        "Rehearsed in the run's own transaction"
    } else {
        "Rehearsed on a scratch copy"
    };
    assert!(shown.contains(where_it_ran), "{shown}");
    assert_eq!(db.count("SELECT count(*) FROM t WHERE hits = 1"), 3);
    assert_eq!(
        db.count("SELECT count(*) FROM t WHERE code IN ('ax', 'bx')"),
        3
    );
    let history = db.history();
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(
        history.iter().all(|(_, status)| status == "applied"),
        "{history:?}"
    );
    assert_no_scratch_left(db);
}

/// Three pending migrations, two of them with broken DOWNs (one fails, one leaves a column behind): one
/// rehearsal lists both, in order, with a count. MySQL cannot undo DDL, so there the first one ends it.
fn one_rehearsal_reports_every_broken_down_in_order(ws: &Workspace, db: &Db) {
    base(ws, db);
    let before = state(db);
    ws.add(
        20240102000000,
        Some(2),
        "fails",
        "CREATE TABLE a (x INTEGER);",
        Some("DROP TABLE a;\nDROP TABLE not_there;"),
    );
    ws.add(
        20240103000000,
        Some(3),
        "fine",
        "CREATE TABLE b (x INTEGER);",
        Some("DROP TABLE b;"),
    );
    ws.add(
        20240104000000,
        Some(4),
        "leaves",
        "ALTER TABLE t ADD COLUMN note TEXT;",
        Some("SELECT 1;"),
    );
    let err = db
        .with_backend(|e| Migrator::new(&ws.set()).rehearse(e))
        .unwrap_err();
    let Error::Rehearsal {
        findings,
        rehearsed,
        place,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*rehearsed, 3);
    assert_eq!(
        *place, "on a scratch copy",
        "Migrator::rehearse never touches the database"
    );
    let found = versions_and_steps(findings);
    if db.is_mysql() {
        assert_eq!(found, [(20240102000000, RehearsalPhase::Down)], "{err}");
    } else {
        assert_eq!(
            found,
            [
                (20240102000000, RehearsalPhase::Down),
                (20240104000000, RehearsalPhase::Down)
            ],
            "{err}"
        );
        assert!(findings[0].detail.contains("not_there"), "{err}");
        assert!(
            findings[1]
                .differences
                .iter()
                .any(|d| d.contains("note") && d.contains("left behind")),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("found 2 problem(s) in 3 migration(s)"),
            "{err}"
        );
    }
    assert_eq!(state(db), before, "the database itself is untouched");
    assert_no_scratch_left(db);
}

/// `rehearse_all`: every migration of the set on an empty scratch database, whatever the database holds.
fn the_whole_history_rehearses_from_an_empty_database(ws: &Workspace, db: &Db) {
    base(ws, db);
    ws.add(
        20240102000000,
        Some(2),
        "b",
        "CREATE TABLE b (x INTEGER);",
        Some("DROP TABLE b;"),
    );
    let before = state(db);
    let rehearsal = db
        .with_backend(|e| Migrator::new(&ws.set()).rehearse_all(e))
        .unwrap();
    let ups: Vec<u64> = rehearsal
        .steps
        .iter()
        .filter(|s| s.phase == RehearsalPhase::Up)
        .map(|s| s.version)
        .collect();
    assert_eq!(
        ups,
        [20240101000000, 20240102000000],
        "the applied one too, from nothing"
    );
    assert_eq!(state(db), before);
    assert_no_scratch_left(db);
}

/// A table with rows, applied for real: the starting point of every body.
/// Boots under the spec's policy without the backup (the rehearsal is what is tested), expecting the
/// rehearsal to refuse: the error and its findings.
fn rehearsal_findings_of_a_boot(ws: &Workspace, db: &Db) -> (Error, Vec<RehearsalFinding>) {
    let err = db
        .boot_with(
            &ws.set(),
            Config {
                require_backup: false,
                ..Config::default()
            },
        )
        .unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("expected the rehearsal's findings, got {err}");
    };
    let findings = findings.clone();
    (err, findings)
}

/// Each finding's migration and step, in order: what the tests compare.
fn versions_and_steps(findings: &[RehearsalFinding]) -> Vec<(u64, RehearsalPhase)> {
    findings.iter().map(|f| (f.version, f.phase)).collect()
}

fn base(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "base",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT NOT NULL);\nINSERT INTO t (id, code) VALUES (1, 'a'), (2, 'a'), (3, 'b');",
        Some("DROP TABLE t;"),
    );
    db.boot(&ws.set()).unwrap();
}

/// The real database's schema, rows and history: what "untouched" compares.
fn state(db: &Db) -> (Vec<String>, Vec<String>, Vec<(u64, String)>) {
    (db.fingerprint(), db.data_dump(), db.history())
}

/// No scratch copy is left behind: no `<file>.rehearsal` beside an SQLite file, no `<db>_rehearsal`
/// database on the server.
fn assert_no_scratch_left(db: &Db) {
    match db {
        Db::Sqlite(path) => {
            let mut name = path.file_name().unwrap().to_os_string();
            name.push(".rehearsal");
            assert!(
                !path.with_file_name(name).exists(),
                "the scratch copy was removed"
            );
        }
        Db::Postgres(_) => assert_eq!(
            db.count("SELECT count(*) FROM pg_database WHERE datname = current_database() || '_rehearsal'"),
            0,
            "the scratch database was dropped"
        ),
        Db::MySql(_) => assert_eq!(
            db.count("SELECT count(*) FROM information_schema.schemata WHERE schema_name = CONCAT(DATABASE(), '_rehearsal')"),
            0,
            "the scratch database was dropped"
        ),
    }
}

fn a_down_that_does_not_restore_the_schema_stops_the_boot_with_the_objects_that_differ(
    ws: &Workspace,
    db: &Db,
) {
    base(ws, db);
    let before = state(db);
    let file = ws.add(
        20240102000000,
        Some(2),
        "note",
        &format!(
            "ALTER TABLE t ADD COLUMN note {};\nCREATE INDEX t_note ON t (note);",
            db.key_text()
        ),
        Some(&format!("{};", db.drop_index("t_note", "t"))),
    );
    let err = db.boot(&ws.set()).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(findings.len(), 1, "{err}");
    let RehearsalFinding {
        version,
        file: failed,
        phase,
        differences,
        ..
    } = &findings[0];
    assert_eq!(
        (*version, failed.as_str(), *phase),
        (20240102000000, file.as_str(), RehearsalPhase::Down)
    );
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(
        differences[0].starts_with("column ")
            && differences[0].contains("note")
            && differences[0].contains("left behind"),
        "{differences:?}"
    );
    let message = err.to_string();
    assert!(
        (message.contains("the real database was not touched")
            || message
                .contains("all of it was rolled back: the database is as it was before this run"))
            && message.contains("what to do"),
        "{message}"
    );
    assert_eq!(state(db), before, "production untouched");
    assert_no_scratch_left(db);
}

fn an_up_that_fails_on_the_copys_data_stops_the_boot_before_production_is_touched(
    ws: &Workspace,
    db: &Db,
) {
    base(ws, db);
    let before = state(db);
    // A unique index over data that has duplicates: the failure only shows on a copy with the data.
    ws.add(
        20240102000000,
        Some(2),
        "fine",
        "CREATE TABLE u (x INTEGER);",
        Some("DROP TABLE u;"),
    );
    ws.add(
        20240103000000,
        Some(3),
        "unique_code",
        "CREATE UNIQUE INDEX t_code ON t (code);",
        Some(&format!("{};", db.drop_index("t_code", "t"))),
    );
    let err = db.boot(&ws.set()).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("{err}")
    };
    let RehearsalFinding {
        version,
        phase,
        detail,
        ..
    } = &findings[0];
    assert_eq!((*version, *phase), (20240103000000, RehearsalPhase::Up));
    assert!(
        detail.contains("line 6") && detail.to_lowercase().contains("unique"),
        "the migration's error, with line and the database's message: {detail}"
    );
    assert_eq!(
        state(db),
        before,
        "not even the migration before it was applied"
    );
    assert_no_scratch_left(db);
}

fn a_health_check_that_fails_on_the_copy_stops_the_boot(ws: &Workspace, db: &Db) {
    base(ws, db);
    let before = state(db);
    ws.add(
        20240102000000,
        Some(2),
        "purge",
        "DELETE FROM t WHERE code = 'a';\nDELETE FROM t WHERE code = 'b';",
        Some("SELECT 1;"),
    );
    let config = Config {
        health_checks: vec![HealthCheck::new("t_has_rows", "SELECT count(*) > 0 FROM t")],
        ..Config::default()
    };
    let err = db.boot_with(&ws.set(), config).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("{err}")
    };
    let RehearsalFinding { phase, detail, .. } = &findings[0];
    assert_eq!(*phase, RehearsalPhase::HealthChecks);
    assert!(detail.contains("t_has_rows returned false"), "{detail}");
    assert_eq!(state(db), before, "the rows are all still there");
    assert_no_scratch_left(db);
}

fn an_up_that_cannot_run_again_after_its_down_is_reported(ws: &Workspace, db: &Db) {
    base(ws, db);
    let before = state(db);
    // The DOWN leaves the schema as it was but not the data: the UP trips over its own row.
    ws.add(
        20240102000000,
        Some(2),
        "seed",
        "INSERT INTO t (id, code) VALUES (100, 'seeded');",
        Some("SELECT 1;"),
    );
    let err = db.boot(&ws.set()).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("{err}")
    };
    let RehearsalFinding { phase, detail, .. } = &findings[0];
    assert_eq!(*phase, RehearsalPhase::UpAgain, "{err}");
    assert!(detail.contains("20240102000000"), "{detail}");
    assert_eq!(state(db), before);
    assert_no_scratch_left(db);
}

fn a_passing_rehearsal_is_reported_and_then_the_migrations_are_applied(ws: &Workspace, db: &Db) {
    base(ws, db);
    ws.add(
        20240102000000,
        Some(2),
        "label",
        "ALTER TABLE t ADD COLUMN label TEXT;\nCREATE INDEX t_label ON t (label);",
        Some(&format!(
            "{};\nALTER TABLE t DROP COLUMN label;",
            db.drop_index("t_label", "t")
        )),
    );
    ws.add(
        20240103000000,
        Some(3),
        "audit",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id), at TEXT);",
        Some("DROP TABLE audit;"),
    );
    ws.add(
        20240104000000,
        Some(4),
        "forever",
        "CREATE TABLE forever (x INTEGER);",
        None,
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions().len(), 3);
    let rehearsal = report.rehearsal.as_ref().expect("a rehearsal ran");
    let phases: Vec<(u64, RehearsalPhase)> = rehearsal
        .steps
        .iter()
        .map(|s| (s.version, s.phase))
        .collect();
    assert_eq!(
        phases,
        vec![
            (20240102000000, RehearsalPhase::Up),
            (20240102000000, RehearsalPhase::Down),
            (20240102000000, RehearsalPhase::UpAgain),
            (20240103000000, RehearsalPhase::Up),
            (20240103000000, RehearsalPhase::Down),
            (20240103000000, RehearsalPhase::UpAgain),
            (20240104000000, RehearsalPhase::Up),
            (20240104000000, RehearsalPhase::HealthChecks),
        ],
        "each migration UP, DOWN, UP again in turn; the newest has no DOWN, so its rollback was not rehearsed"
    );
    assert_eq!(rehearsal.unverified.len(), 1);
    assert!(rehearsal.unverified[0].contains("forever"));
    assert!(rehearsal.up_time(20240103000000).is_some());
    assert_eq!(db.count("SELECT count(*) FROM t"), 3);
    assert_no_scratch_left(db);

    // Two migrations with DOWNs: both rolled back on the copy and applied again.
    ws.add(
        20240105000000,
        Some(5),
        "tags",
        &format!("CREATE TABLE tags (name {} PRIMARY KEY);", db.key_text()),
        Some("DROP TABLE tags;"),
    );
    ws.add(
        20240106000000,
        Some(6),
        "tag_index",
        "CREATE INDEX t_code ON t (code);",
        Some(&format!("{};", db.drop_index("t_code", "t"))),
    );
    let report = db.boot(&ws.set()).unwrap();
    let phases: Vec<(u64, RehearsalPhase)> = report
        .rehearsal
        .expect("a rehearsal ran")
        .steps
        .iter()
        .map(|s| (s.version, s.phase))
        .collect();
    assert_eq!(
        phases,
        vec![
            (20240105000000, RehearsalPhase::Up),
            (20240105000000, RehearsalPhase::Down),
            (20240105000000, RehearsalPhase::UpAgain),
            (20240106000000, RehearsalPhase::Up),
            (20240106000000, RehearsalPhase::Down),
            (20240106000000, RehearsalPhase::UpAgain),
            (20240106000000, RehearsalPhase::HealthChecks),
        ]
    );
    assert_eq!(db.history().len(), 6);
}

fn rehearsing_alone_reads_the_database_and_changes_nothing(ws: &Workspace, db: &Db) {
    base(ws, db);
    ws.add(
        20240102000000,
        Some(2),
        "label",
        "ALTER TABLE t ADD COLUMN label TEXT;",
        Some("ALTER TABLE t DROP COLUMN label;"),
    );
    let before = state(db);
    let set = ws.set();
    let rehearsal = db
        .with_backend(|b| Migrator::new(&set).rehearse(b))
        .unwrap();
    assert_eq!(rehearsal.steps.len(), 4, "UP, health, DOWN, UP again");
    assert_eq!(state(db), before);
    assert_no_scratch_left(db);
}

#[test]
fn an_in_memory_sqlite_database_rehearses_in_memory() {
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        None,
        "t",
        "CREATE TABLE t (x INTEGER);",
        Some("SELECT 1;"),
    );
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let set = ws.set();
    let config = Config {
        require_backup: false,
        ..Config::default()
    };
    let err = Migrator::new(&set)
        .with_config(config)
        .boot(&mut migrator::Sqlite::new(&conn))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Rehearsal { findings, .. } if findings[0].phase == RehearsalPhase::Down && findings[0].differences.iter().any(|d| d.contains("table t is left behind"))),
        "{err}"
    );
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 2, "only the history tables exist");
}

#[test]
fn a_sqlite_down_that_rebuilds_a_table_with_other_formatting_still_restores_the_schema() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    ws.add(
        20240101000000,
        None,
        "people",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER CHECK (age >= 0));",
        Some("DROP TABLE people;"),
    );
    db.boot(&ws.set()).unwrap();
    // The 12-step rebuild: the UP tightens a CHECK, the DOWN writes the original back in another style.
    ws.add(
        20240102000000,
        None,
        "adult_check",
        "CREATE TABLE people_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER CHECK (age >= 18));\nINSERT INTO people_new SELECT * FROM people;\nDROP TABLE people;\nALTER TABLE people_new RENAME TO people;",
        Some("CREATE TABLE \"people_old\" (\n  \"id\"   INTEGER PRIMARY KEY,\n  \"name\" TEXT    NOT NULL,\n  \"age\"  INTEGER CHECK(age>=0)\n);\nINSERT INTO people_old SELECT * FROM people;\nDROP TABLE people;\nALTER TABLE people_old RENAME TO people;"),
    );
    let config = Config {
        require_review: Vec::new(),
        ..Config::default()
    };
    let report = db.boot_with(&ws.set(), config).unwrap();
    assert_eq!(report.applied_versions(), vec![20240102000000]);
}

#[test]
fn a_down_that_leaves_an_object_outside_the_tables_it_names_is_caught_by_the_whole_schema_check() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    // The per-migration check looks at the tables a migration names (`a`); the view `v` is outside them,
    // and SQLite keeps a view whose table was dropped: the whole-schema comparison after every DOWN finds
    // it.
    ws.add(
        20240101000000,
        Some(1),
        "a_and_view",
        "CREATE TABLE a (x INTEGER);\nCREATE VIEW v AS SELECT x FROM a;",
        Some("DROP TABLE a;"),
    );
    let err = db.boot(&ws.set()).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("{err}")
    };
    let RehearsalFinding {
        phase, differences, ..
    } = &findings[0];
    assert_eq!(*phase, RehearsalPhase::Down);
    assert!(
        differences
            .iter()
            .any(|d| d.starts_with("view v is left behind")),
        "{differences:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_schema WHERE name IN ('a', 'v')"),
        0,
        "nothing was applied"
    );
}

/// On a database that holds rows (SQLite), a migration whose DOWN the rows cannot change has its DOWN and
/// UP again rehearsed on a copy of the schema without rows, not on the tables: the report says so, and the
/// UP stays applied with every row. What the rehearsal finds is what it finds in place: a DOWN that fails
/// on the schema (an index on the dropped column) and one that leaves a column behind are found on the
/// copy; a DOWN the rows can refuse (a `NOT NULL` column without a default, refused only when the table
/// holds rows) is rehearsed on the tables and found there, where an empty copy would have let it pass.
#[test]
fn sqlite_downs_the_rows_cannot_change_are_rehearsed_on_a_copy_of_the_schema() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    base(&ws, &db);
    ws.add(
        20240102000000,
        Some(2),
        "nickname",
        "ALTER TABLE t ADD COLUMN nickname TEXT;",
        Some("ALTER TABLE t DROP COLUMN nickname;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions(), vec![20240102000000]);
    let rehearsal = report.rehearsal.as_ref().expect("a rehearsal ran");
    assert_eq!(rehearsal.on_schema_copy, 1);
    let phases: Vec<RehearsalPhase> = rehearsal.steps.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [
            RehearsalPhase::Up,
            RehearsalPhase::Down,
            RehearsalPhase::UpAgain,
            RehearsalPhase::HealthChecks
        ]
    );
    let shown = migrator::render::report(&report, migrator::render::Style::Plain);
    assert!(
        shown.contains("the DOWN and UP again of 1 on a copy of the schema without rows"),
        "{shown}"
    );
    assert_eq!(db.count("SELECT count(*) FROM t WHERE nickname IS NULL"), 3);

    ws.add(
        20240103000000,
        Some(3),
        "tag",
        "ALTER TABLE t ADD COLUMN tag TEXT;\nCREATE INDEX t_tag ON t (tag);",
        Some("ALTER TABLE t DROP COLUMN tag;"),
    );
    ws.add(
        20240104000000,
        Some(4),
        "two_columns",
        "ALTER TABLE t ADD COLUMN a TEXT;\nALTER TABLE t ADD COLUMN b TEXT;",
        Some("ALTER TABLE t DROP COLUMN a;"),
    );
    ws.add(
        20240105000000,
        Some(5),
        "drop_code",
        "ALTER TABLE t DROP COLUMN code;",
        Some("ALTER TABLE t ADD COLUMN code TEXT NOT NULL;"),
    );
    let before = state(&db);
    let config = Config {
        require_backup: false,
        require_review: Vec::new(),
        ..Config::default()
    };
    let err = db.boot_with(&ws.set(), config).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("expected the rehearsal's findings, got {err}");
    };
    let found = versions_and_steps(findings);
    assert_eq!(
        found,
        [
            (20240103000000, RehearsalPhase::Down),
            (20240104000000, RehearsalPhase::Down),
            (20240105000000, RehearsalPhase::Down)
        ],
        "{findings:#?}"
    );
    assert!(findings[0].detail.contains("t_tag"), "{}", findings[0]);
    assert!(
        findings[1].differences.iter().any(|d| d.contains("t.b")),
        "{}",
        findings[1]
    );
    assert!(
        findings[2]
            .detail
            .contains("NOT NULL column with default value NULL"),
        "{}",
        findings[2]
    );
    assert_eq!(state(&db), before, "the database is as it was");
    assert_no_scratch_left(&db);
}

/// The commonest DOWN drops the table its UP created: that table is empty when the DOWN runs, so its
/// drop goes to the copy of the schema with the rest of the DOWN (here a `DROP COLUMN`, which in place
/// rewrites every row of `t`). A table the UP may have found already there (`IF NOT EXISTS`) is dropped
/// in place, and so is a DOWN that only drops the new table (nothing to gain: it is empty). On the copy,
/// a DOWN that drops the new table but not the view the UP made on it is found.
#[test]
fn sqlite_a_down_that_drops_the_table_its_up_created_is_rehearsed_on_the_copy() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    base(&ws, &db);
    ws.add(
        20240102000000,
        Some(2),
        "tags",
        "ALTER TABLE t ADD COLUMN nickname TEXT;\nCREATE TABLE tags (t_id INTEGER NOT NULL REFERENCES t (id), tag TEXT NOT NULL);\nCREATE INDEX tags_t ON tags (t_id);",
        Some("DROP TABLE tags;\nALTER TABLE t DROP COLUMN nickname;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions(), vec![20240102000000]);
    assert_eq!(report.rehearsal.as_ref().map(|r| r.on_schema_copy), Some(1));
    assert_eq!(db.count("SELECT count(*) FROM t WHERE nickname IS NULL"), 3);

    ws.add(
        20240103000000,
        Some(3),
        "notes",
        "CREATE TABLE IF NOT EXISTS notes (body TEXT);\nALTER TABLE t ADD COLUMN note TEXT;",
        Some("DROP TABLE notes;\nALTER TABLE t DROP COLUMN note;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions(), vec![20240103000000]);
    assert_eq!(
        report.rehearsal.as_ref().map(|r| r.on_schema_copy),
        Some(0),
        "a table that may have been there before the UP is dropped in place"
    );

    ws.add(
        20240104000000,
        Some(4),
        "plain",
        "CREATE TABLE plain (x INTEGER);",
        Some("DROP TABLE plain;"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions(), vec![20240104000000]);
    assert_eq!(report.rehearsal.as_ref().map(|r| r.on_schema_copy), Some(0));

    ws.add(
        20240105000000,
        Some(5),
        "labels",
        "ALTER TABLE t ADD COLUMN label TEXT;\nCREATE TABLE labels (name TEXT);\nCREATE VIEW label_names AS SELECT name FROM labels;",
        Some("DROP TABLE labels;\nALTER TABLE t DROP COLUMN label;"),
    );
    let before = state(&db);
    let err = db.boot(&ws.set()).unwrap_err();
    let Error::Rehearsal { findings, .. } = &err else {
        panic!("expected the rehearsal's findings, got {err}");
    };
    assert_eq!(
        versions_and_steps(findings),
        [(20240105000000, RehearsalPhase::Down)]
    );
    // SQLite checks the schema after an ALTER: the view left on the dropped table fails the DROP COLUMN.
    assert!(
        findings[0]
            .detail
            .contains("error in view label_names: no such table: main.labels"),
        "{}",
        findings[0]
    );
    assert_eq!(state(&db), before, "the database is as it was");
    assert_no_scratch_left(&db);
}

/// The short path runs the DOWNs on an in-memory copy of the database's pages (SQLite), which lacks what
/// the host registered on its own connection. A DOWN that needs the host's function (it creates an index
/// on an expression calling it) fails on the copy only: the DOWNs then run in place, where it succeeds,
/// and the boot applies with no finding.
#[test]
fn a_down_that_needs_the_hosts_function_is_not_a_finding() {
    use rusqlite::functions::FunctionFlags;
    const INDEX: &str = "CREATE INDEX people_shout ON people (host_upper(name));";
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        Some(1),
        "people",
        &format!("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);\n{INDEX}"),
        Some("DROP TABLE people;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "no_shout_index",
        "DROP INDEX people_shout;",
        Some(INDEX),
    );
    // The premise: without the host's function, the DOWN fails.
    let bare = rusqlite::Connection::open_in_memory().unwrap();
    bare.execute_batch("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let refused = bare.execute_batch(INDEX).unwrap_err();
    assert!(refused.to_string().contains("host_upper"), "{refused}");

    let set = ws.set();
    let conn = ws.open();
    conn.create_scalar_function(
        "host_upper",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<String>(0)?.to_uppercase()),
    )
    .unwrap();
    let report = Migrator::new(&set)
        .boot(&mut migrator::Sqlite::new(&conn))
        .unwrap();
    assert_eq!(
        report.applied_versions(),
        vec![20240101000000, 20240102000000]
    );
    let rehearsal = report.rehearsal.as_ref().expect("a rehearsal ran");
    assert!(
        rehearsal.down_chain && rehearsal.findings.is_empty(),
        "{rehearsal:?}"
    );
    let downs = rehearsal
        .steps
        .iter()
        .filter(|s| s.phase == RehearsalPhase::Down)
        .count();
    assert_eq!(
        downs, 2,
        "each DOWN once, from the run in place: {rehearsal:?}"
    );
}
