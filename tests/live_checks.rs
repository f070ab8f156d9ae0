//! The analyser's live checks on real databases: for each statement that can fail on the data in hand
//! (SET NOT NULL over NULLs, a unique key over duplicates, a foreign key over orphans, a CHECK over rows it
//! refuses, SQLite's DROP COLUMN of a column other schema objects use), the count query the analyser
//! emits counts exactly the offending rows (or objects), the show query lists them, and the statement
//! fails on the database exactly when the count is not 0. Run on a real SQLite file and on the throwaway
//! PostgreSQL cluster of `tests/support`.

use migrator_analyse::{analyse_all, Dialect, LiveCheck, LiveCheckKind, Options};
use migrator_tests::{both_engines, Db, Workspace};

both_engines!(
    unique_index_over_duplicates,
    partial_and_expression_unique_indexes,
);

fn migration(version: u64, up: &str) -> migrator_format::Migration {
    let text = format!("-- ============ UP MIGRATION ============\n{up}\n");
    migrator_format::parse_file(&format!("{version}_m.sql"), &text).expect("test migration")
}

/// The failure checks of the last statement of `up`, analysed after `before` (the schema's history).
fn checks(db: &Db, before: &str, up: &str) -> Vec<LiveCheck> {
    let dialect = if db.is_postgres() {
        Dialect::Postgres
    } else {
        Dialect::Sqlite
    };
    let mut set = Vec::new();
    if !before.is_empty() {
        set.push(migration(20240101000000, before));
    }
    set.push(migration(20240102000000, up));
    let analyses = analyse_all(&set, Options::new(dialect));
    let last = analyses.last().expect("analysis");
    last.statements
        .last()
        .expect("a statement")
        .live_checks
        .iter()
        .filter(|c| c.kind.fails_when_found())
        .cloned()
        .collect()
}

/// Runs `sql` in a transaction that is rolled back: `Err` with the database's message when it fails.
fn try_statement(db: &Db, sql: &str) -> Result<(), String> {
    match db {
        Db::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
            conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
            let result = conn.execute_batch(sql).map_err(|e| e.to_string());
            conn.execute_batch("ROLLBACK").map_err(|e| e.to_string())?;
            result
        }
        Db::Postgres(pg) => {
            use diesel::connection::SimpleConnection;
            let mut conn = pg.connect();
            conn.batch_execute("BEGIN").map_err(|e| e.to_string())?;
            let result = conn.batch_execute(sql).map_err(|e| e.to_string());
            conn.batch_execute("ROLLBACK").map_err(|e| e.to_string())?;
            result
        }
        Db::MySql(_) => unreachable!("the analyser reads no MySQL"),
    }
}

/// Runs every failure check of `statement` (after `history`) and asserts: the count is `expected` (0 or
/// more), the show query returns `min(count, 20)` rows, and the statement fails exactly when a check
/// found something. Returns the checks, for further assertions.
#[track_caller]
fn assert_checks(db: &Db, history: &str, statement: &str, kind: LiveCheckKind, expected: i64) {
    let found = checks(db, history, statement);
    let mine: Vec<&LiveCheck> = found.iter().filter(|c| c.kind == kind).collect();
    assert!(
        !mine.is_empty(),
        "{}: no {kind:?} check for {statement}: {found:?}",
        db.engine_name()
    );
    let mut total = 0;
    for check in &found {
        let count = db.count(&check.sql);
        let show = check
            .show_sql
            .as_deref()
            .expect("a failure check shows its rows");
        let shown = db.rows(show).len() as i64;
        assert_eq!(shown, count.min(20), "{}: {show}", db.engine_name());
        if check.kind == kind {
            assert_eq!(count, expected, "{}: {}", db.engine_name(), check.sql);
            if count > 0 {
                let message = check.failure_message(count as u64).expect("a message");
                assert!(message.contains(&check.table), "{message}");
                assert!(message.contains("see them with: SELECT"), "{message}");
            }
        }
        total += count;
    }
    let outcome = try_statement(db, statement);
    assert_eq!(
        outcome.is_err(),
        total > 0,
        "{}: {statement} -> {outcome:?} while the checks counted {total}",
        db.engine_name()
    );
}

fn unique_index_over_duplicates(_: &Workspace, db: &Db) {
    db.exec(
        "CREATE TABLE contacts (id integer PRIMARY KEY, email text, org integer);
         INSERT INTO contacts VALUES (1, 'a@x', 1), (2, 'a@x', 1), (3, 'a@x', 2), (4, 'b@x', 2), (5, NULL, 3), (6, NULL, 3);",
    );
    let history = "CREATE TABLE contacts (id integer PRIMARY KEY, email text, org integer);";
    // Three rows share 'a@x'; NULLs never conflict.
    assert_checks(
        db,
        history,
        "CREATE UNIQUE INDEX contacts_email ON contacts (email)",
        LiveCheckKind::Duplicates,
        3,
    );
    // (email, org): only rows 1 and 2 collide.
    assert_checks(
        db,
        history,
        "CREATE UNIQUE INDEX contacts_email_org ON contacts (email, org)",
        LiveCheckKind::Duplicates,
        2,
    );
    db.exec("DELETE FROM contacts WHERE id IN (2, 3)");
    assert_checks(
        db,
        history,
        "CREATE UNIQUE INDEX contacts_email ON contacts (email)",
        LiveCheckKind::Duplicates,
        0,
    );
}

fn partial_and_expression_unique_indexes(_: &Workspace, db: &Db) {
    db.exec(
        "CREATE TABLE users (id integer PRIMARY KEY, email text, active integer);
         INSERT INTO users VALUES (1, 'Ann@x', 1), (2, 'ann@x', 0), (3, 'bob@x', 1), (4, 'BOB@x', 1);",
    );
    let history = "CREATE TABLE users (id integer PRIMARY KEY, email text, active integer);";
    // lower(email): both pairs collide.
    assert_checks(
        db,
        history,
        "CREATE UNIQUE INDEX users_email_lower ON users (lower(email))",
        LiveCheckKind::Duplicates,
        4,
    );
    // Only active users: the Bob pair.
    assert_checks(
        db,
        history,
        "CREATE UNIQUE INDEX users_email_active ON users (lower(email)) WHERE active = 1",
        LiveCheckKind::Duplicates,
        2,
    );
}

fn postgres() -> Option<Db> {
    Db::postgres()
}

#[test]
fn postgres_set_not_null_over_nulls() {
    let Some(db) = postgres() else { return };
    db.exec("CREATE TABLE contacts (id bigint PRIMARY KEY, email text); INSERT INTO contacts VALUES (1, 'a'), (2, NULL), (3, NULL);");
    let history = "CREATE TABLE contacts (id bigint PRIMARY KEY, email text);";
    assert_checks(
        &db,
        history,
        "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL",
        LiveCheckKind::Nulls,
        2,
    );
    db.exec("UPDATE contacts SET email = 'x' WHERE email IS NULL");
    assert_checks(
        &db,
        history,
        "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL",
        LiveCheckKind::Nulls,
        0,
    );
}

#[test]
fn postgres_keys_over_duplicates_and_nulls() {
    let Some(db) = postgres() else { return };
    db.exec("CREATE TABLE tags (name text, slug text); INSERT INTO tags VALUES ('a', 'a'), ('a', 'b'), (NULL, 'c'), ('d', 'd');");
    let history = "CREATE TABLE tags (name text, slug text);";
    assert_checks(
        &db,
        history,
        "ALTER TABLE tags ADD CONSTRAINT tags_name_key UNIQUE (name)",
        LiveCheckKind::Duplicates,
        2,
    );
    // A primary key fails over the duplicates and over the NULL.
    assert_checks(
        &db,
        history,
        "ALTER TABLE tags ADD PRIMARY KEY (name)",
        LiveCheckKind::Nulls,
        1,
    );
    db.exec("DELETE FROM tags WHERE slug IN ('b', 'c')");
    assert_checks(
        &db,
        history,
        "ALTER TABLE tags ADD PRIMARY KEY (name)",
        LiveCheckKind::Duplicates,
        0,
    );
}

#[test]
fn postgres_foreign_keys_over_orphans() {
    let Some(db) = postgres() else { return };
    let history = "CREATE TABLE orgs (id bigint PRIMARY KEY);\nCREATE TABLE contacts (id bigint PRIMARY KEY, org_id bigint);";
    db.exec(history);
    db.exec("INSERT INTO orgs VALUES (1), (2); INSERT INTO contacts VALUES (1, 1), (2, 3), (3, 4), (4, NULL);");
    // The referenced columns written, or left to the parent's primary key (known from the history).
    assert_checks(&db, history, "ALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id)", LiveCheckKind::Orphans, 2);
    assert_checks(
        &db,
        history,
        "ALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs",
        LiveCheckKind::Orphans,
        2,
    );
    // NOT VALID in one migration, VALIDATE in the next: the validation is what fails.
    db.exec("ALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID");
    let with_fk = format!("{history}\nALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;");
    assert_checks(
        &db,
        &with_fk,
        "ALTER TABLE contacts VALIDATE CONSTRAINT contacts_org_fk",
        LiveCheckKind::Orphans,
        2,
    );
    db.exec("INSERT INTO orgs VALUES (3), (4)");
    assert_checks(
        &db,
        &with_fk,
        "ALTER TABLE contacts VALIDATE CONSTRAINT contacts_org_fk",
        LiveCheckKind::Orphans,
        0,
    );
}

#[test]
fn postgres_checks_over_rows_they_refuse() {
    let Some(db) = postgres() else { return };
    let history = "CREATE TABLE scores (id bigint PRIMARY KEY, score integer);";
    db.exec(history);
    db.exec("INSERT INTO scores VALUES (1, 5), (2, -1), (3, 101), (4, NULL);");
    // NULL passes a CHECK; -1 and 101 do not.
    assert_checks(
        &db,
        history,
        "ALTER TABLE scores ADD CONSTRAINT score_range CHECK (score BETWEEN 0 AND 100)",
        LiveCheckKind::CheckViolations,
        2,
    );
    db.exec(
        "ALTER TABLE scores ADD CONSTRAINT score_range CHECK (score BETWEEN 0 AND 100) NOT VALID",
    );
    let with_check = format!("{history}\nALTER TABLE scores ADD CONSTRAINT score_range CHECK (score BETWEEN 0 AND 100) NOT VALID;");
    assert_checks(
        &db,
        &with_check,
        "ALTER TABLE scores VALIDATE CONSTRAINT score_range",
        LiveCheckKind::CheckViolations,
        2,
    );
}

/// SQLite refuses `DROP COLUMN` of a column other schema objects use; the check lists them.
#[test]
fn sqlite_drop_column_blockers() {
    for (schema, blockers) in [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT)", 0),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT); CREATE INDEX ti ON t (c)", 1),
        // The key and its own index.
        ("CREATE TABLE t (c TEXT PRIMARY KEY, d TEXT)", 2),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT UNIQUE, d TEXT)", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT); CREATE INDEX te ON t (lower(c))", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT); CREATE INDEX tp ON t (d) WHERE c IS NOT NULL", 1),
        ("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER REFERENCES p (id), d TEXT)", 0),
        ("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER, d TEXT, FOREIGN KEY (c) REFERENCES p (id))", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT GENERATED ALWAYS AS (upper(c)) VIRTUAL)", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER, d INTEGER CHECK (d > c))", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c INTEGER, d INTEGER, CHECK (c > 0))", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT); CREATE VIEW v AS SELECT c FROM t", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT); CREATE TABLE log (x TEXT); CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.c); END", 1),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT, d TEXT); CREATE TABLE u (c TEXT); CREATE VIEW v AS SELECT c FROM u", 0),
    ] {
        let ws = Workspace::new();
        let db = Db::sqlite(&ws);
        db.exec(schema);
        db.exec("INSERT INTO t (c) VALUES (NULL)");
        let found = checks(&db, "", "ALTER TABLE t DROP COLUMN c");
        let check = found
            .iter()
            .find(|c| c.kind == LiveCheckKind::SqliteDropColumnBlocked)
            .expect("a DROP COLUMN check");
        let count = db.count(&check.sql);
        assert_eq!(count, blockers, "{schema}: {:?}", db.rows(check.show_sql.as_deref().unwrap_or("")));
        let outcome = try_statement(&db, "ALTER TABLE t DROP COLUMN c");
        assert_eq!(outcome.is_err(), count > 0, "{schema}: {outcome:?}");
    }
}
