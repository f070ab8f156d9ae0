//! The preview checks what will fail on the database in hand (issue #14): a unique index over duplicates,
//! `SET NOT NULL` over NULLs, a foreign key over orphans, a CHECK over rows it refuses, SQLite's `DROP
//! COLUMN` of an indexed column. Each on a real SQLite file and the throwaway PostgreSQL cluster, through
//! `--migrate-preview` (the admin entry point), text and JSON: an error with the query that shows the
//! offending rows, which the test runs; applying fails exactly then; once the data is clean the preview
//! says nothing and applying succeeds. An earlier statement that changes the rows first makes the check
//! undecided, not a false alarm. Live facts: function volatility from `pg_proc`; statements the parser
//! cannot read are counted, and a rehearsal has the database decide them.

use migrator::admin::{self, AdminCommand};
use migrator::{Config, MigrationSet, Migrator};
use migrator_tests::{sqlite_and_postgres, Db, Workspace};
use serde_json::Value;

sqlite_and_postgres!(
    unique_index_over_duplicates_fails_until_they_are_removed,
    a_statement_that_changes_the_rows_first_leaves_the_check_undecided,
);

fn no_backup() -> Config {
    Config {
        require_backup: false,
        ..Config::default()
    }
}

/// `teams (id, name)` with team 1, and `contacts (id, email, team_id)` with `rows`; no migration applied.
fn base(db: &Db, rows: &str) {
    db.exec(&format!(
        "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO teams (id, name) VALUES (1, 'one');
         CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, team_id INTEGER);
         INSERT INTO contacts (id, email, team_id) VALUES {rows};"
    ));
}

/// What `app --migrate-preview <issue>` prints, text or JSON.
fn preview(db: &Db, set: &MigrationSet, issue: u32, json: bool) -> String {
    preview_with(db, set, issue, (json, false), Config::default())
}

/// [`preview`] by a host configured with `config`; `rehearse`: `--rehearse` first.
fn preview_with(
    db: &Db,
    set: &MigrationSet,
    issue: u32,
    (json, rehearse): (bool, bool),
    config: Config,
) -> String {
    let mut out = Vec::new();
    db.with_backend(|b| {
        admin::run(
            &Migrator::new(set).with_config(config),
            b,
            &AdminCommand::Preview {
                issue: Some(issue),
                json,
                rehearse,
            },
            &mut out,
        )
    })
    .expect("preview");
    String::from_utf8(out).expect("UTF-8")
}

fn preview_json(db: &Db, set: &MigrationSet, issue: u32) -> Value {
    serde_json::from_str(&preview(db, set, issue, true)).expect("JSON")
}

/// The warnings of the preview's total with id `id`.
fn warnings<'v>(v: &'v Value, id: &str) -> Vec<&'v Value> {
    v["total"]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["id"] == id)
        .collect()
}

/// The one `will-fail` error of the preview: its message, and the rows its query shows on `db`.
fn the_failure(db: &Db, v: &Value) -> (String, Vec<String>) {
    let found = warnings(v, "will-fail");
    assert_eq!(found.len(), 1, "one will-fail error in {v:#}");
    let w = found[0];
    assert_eq!(w["severity"], "error");
    let query = w["query"].as_str().expect("the query that shows the rows");
    let message = w["message"].as_str().expect("message").to_string();
    assert!(
        message.ends_with(&format!("see them with: {query}")),
        "{message}"
    );
    assert!(w["safe_alternative"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    (message, db.rows(query))
}

fn apply(db: &Db, set: &MigrationSet) -> Result<migrator::Report, migrator::Error> {
    db.boot_with(set, no_backup())
}

fn unique_index_over_duplicates_fails_until_they_are_removed(ws: &Workspace, db: &Db) {
    base(
        db,
        "(1, 'a@x.org', 1), (2, 'a@x.org', 1), (3, 'b@x.org', 1), (4, NULL, 1), (5, NULL, 1)",
    );
    ws.add(
        20240301000000,
        Some(7),
        "unique_email",
        "CREATE UNIQUE INDEX contacts_email_key ON contacts (email);",
        Some("DROP INDEX contacts_email_key;"),
    );
    let set = ws.set();
    let v = preview_json(db, &set, 7);
    let (message, rows) = the_failure(db, &v);
    assert!(
        message.starts_with(
            "the unique key contacts(email) will fail: 2 rows share a value with another row; see them with: SELECT"
        ),
        "{message}"
    );
    let mut ids: Vec<&str> = rows.iter().map(|r| r.split('|').next().unwrap()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["1", "2"],
        "the two rows sharing a@x.org (NULLs do not clash)"
    );
    let text = preview(db, &set, 7, false);
    assert!(
        text.contains("[error will-fail] line 6: the unique key contacts(email) will fail: 2 rows"),
        "{text}"
    );
    assert!(text.contains("safe alternative: remove or merge the duplicate rows first"));

    // The truth: applying fails, and leaves nothing.
    let schema = db.fingerprint();
    assert!(apply(db, &set).is_err(), "the index cannot be built");
    assert_eq!(db.fingerprint(), schema);

    // Clean data: the preview has nothing to say about it, and applying succeeds.
    db.exec("DELETE FROM contacts WHERE id = 2;");
    let v = preview_json(db, &set, 7);
    assert!(warnings(&v, "will-fail").is_empty(), "{v:#}");
    assert!(warnings(&v, "not-checked").is_empty(), "{v:#}");
    apply(db, &set).expect("applies on clean data");
}

fn a_statement_that_changes_the_rows_first_leaves_the_check_undecided(ws: &Workspace, db: &Db) {
    base(db, "(1, 'a@x.org', 1), (2, 'a@x.org', 1)");
    ws.add(
        20240301000000,
        Some(8),
        "dedupe_then_unique",
        "DELETE FROM contacts WHERE id = 2;\nCREATE UNIQUE INDEX contacts_email_key ON contacts (email);",
        Some("DROP INDEX contacts_email_key;"),
    );
    let set = ws.set();
    let v = preview_json(db, &set, 8);
    assert!(
        warnings(&v, "will-fail").is_empty(),
        "no false alarm: {v:#}"
    );
    let undecided = warnings(&v, "not-checked");
    assert_eq!(undecided.len(), 1, "{v:#}");
    let message = undecided[0]["message"].as_str().unwrap();
    assert!(
        message.contains(":6 changes contacts before it"),
        "names the statement that changes the rows: {message}"
    );
    assert_eq!(undecided[0]["severity"], "info");
    apply(db, &set).expect("the DELETE made the key unique");
}

#[test]
fn postgres_set_not_null_over_nulls_fails_until_they_are_filled() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    base(&db, "(1, 'a@x.org', 1), (2, NULL, 1), (3, NULL, NULL)");
    ws.add(
        20240301000000,
        Some(9),
        "email_required",
        "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL;",
        Some("ALTER TABLE contacts ALTER COLUMN email DROP NOT NULL;"),
    );
    let set = ws.set();
    let (message, rows) = the_failure(&db, &preview_json(&db, &set, 9));
    assert!(
        message.starts_with("SET NOT NULL on contacts.email will fail: 2 rows hold NULL; see them with: SELECT * FROM \"contacts\" WHERE \"email\" IS NULL LIMIT 20"),
        "{message}"
    );
    assert_eq!(rows, ["2|NULL|1", "3|NULL|NULL"]);
    assert!(apply(&db, &set).is_err());

    db.exec("UPDATE contacts SET email = 'unknown' WHERE email IS NULL;");
    assert!(warnings(&preview_json(&db, &set, 9), "will-fail").is_empty());
    apply(&db, &set).expect("no NULL left");
}

#[test]
fn postgres_foreign_key_over_orphans_and_check_over_bad_rows_fail_until_fixed() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    base(
        &db,
        "(1, 'a@x.org', 1), (2, 'b@x.org', 2), (3, 'c@x.org', NULL), (4, '', 1)",
    );
    ws.add(
        20240301000000,
        Some(10),
        "team_fk",
        "ALTER TABLE contacts ADD CONSTRAINT contacts_team_fk FOREIGN KEY (team_id) REFERENCES teams (id);",
        Some("ALTER TABLE contacts DROP CONSTRAINT contacts_team_fk;"),
    );
    ws.add(
        20240302000000,
        Some(11),
        "email_not_blank",
        "ALTER TABLE contacts ADD CONSTRAINT contacts_email_not_blank CHECK (email <> '');",
        Some("ALTER TABLE contacts DROP CONSTRAINT contacts_email_not_blank;"),
    );
    let set = ws.set();
    let (message, rows) = the_failure(&db, &preview_json(&db, &set, 10));
    assert!(
        message.starts_with(
            "the foreign key contacts(team_id) will fail: 1 rows reference no existing row"
        ),
        "{message}"
    );
    assert_eq!(
        rows,
        ["2|b@x.org|2"],
        "team 2 does not exist; a NULL team is no orphan"
    );
    let (message, rows) = the_failure(&db, &preview_json(&db, &set, 11));
    assert!(
        message.starts_with("the CHECK on contacts will fail: 1 rows violate it"),
        "{message}"
    );
    assert_eq!(rows, ["4||1"]);
    assert!(apply(&db, &set).is_err());

    db.exec("INSERT INTO teams (id, name) VALUES (2, 'two'); UPDATE contacts SET email = 'd@x.org' WHERE id = 4;");
    for issue in [10, 11] {
        let v = preview_json(&db, &set, issue);
        assert!(warnings(&v, "will-fail").is_empty(), "{v:#}");
    }
    apply(&db, &set).expect("no orphan, no blank email left");
}

/// Issue #12's migration dropping `contacts.email` with `up`, reviewed (the policy asks a review of a
/// DROP COLUMN) and without a DOWN.
fn reviewed_drop(ws: &Workspace, up: &str) {
    let text = migrator_tests::migration_text(Some(12), "drop_email", up, None);
    ws.write(
        "20240301000000_issue_12_drop_email.sql",
        &text.replacen('\n', "\n-- Reviewed-by: tests\n", 1),
    );
}

#[test]
fn sqlite_drop_column_of_an_indexed_column_fails_until_the_index_goes() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    base(&db, "(1, 'a@x.org', 1)");
    db.exec("CREATE INDEX contacts_email_idx ON contacts (email);");
    reviewed_drop(&ws, "ALTER TABLE contacts DROP COLUMN email;");
    let set = ws.set();
    let (message, rows) = the_failure(&db, &preview_json(&db, &set, 12));
    assert!(
        message.starts_with(
            "SQLite refuses DROP COLUMN contacts.email: 1 schema objects use the column"
        ),
        "{message}"
    );
    assert_eq!(rows, ["index|contacts_email_idx"]);
    let err = apply(&db, &set).expect_err("SQLite refuses the drop");
    assert!(err.to_string().contains("contacts_email_idx"), "{err}");

    // The index dropped first, in the same migration: nothing stops the drop.
    reviewed_drop(
        &ws,
        "DROP INDEX contacts_email_idx;\nALTER TABLE contacts DROP COLUMN email;",
    );
    let set = ws.set();
    let v = preview_json(&db, &set, 12);
    assert!(warnings(&v, "will-fail").is_empty(), "{v:#}");
    apply(&db, &set).expect("the index went first");
}

#[test]
fn postgres_function_volatility_comes_from_the_server() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    base(&db, "(1, 'a@x.org', 1)");
    db.exec(
        "CREATE FUNCTION default_team() RETURNS integer LANGUAGE sql STABLE AS 'SELECT 1';
         CREATE FUNCTION next_score() RETURNS integer LANGUAGE sql AS 'SELECT 7';",
    );
    ws.add(
        20240301000000,
        Some(13),
        "stable_default",
        "ALTER TABLE contacts ADD COLUMN home_team integer DEFAULT default_team();",
        Some("ALTER TABLE contacts DROP COLUMN home_team;"),
    );
    ws.add(
        20240302000000,
        Some(14),
        "volatile_default",
        "ALTER TABLE contacts ADD COLUMN score integer DEFAULT next_score();",
        Some("ALTER TABLE contacts DROP COLUMN score;"),
    );
    let set = ws.set();
    let rewrite = |issue: u32| {
        warnings(
            &preview_json(&db, &set, issue),
            "pg-add-column-default-rewrite",
        )
        .iter()
        .map(|w| w["message"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
    };
    // Offline, neither function is known: both count as volatile.
    for m in set.migrations() {
        let offline = migrator_analyse::analyse(
            m,
            migrator_analyse::Options::new(migrator_analyse::Dialect::Postgres),
        );
        assert!(
            offline
                .findings
                .iter()
                .any(|f| f.id == "pg-add-column-default-rewrite"),
            "{}",
            m.file_name
        );
    }
    // Live, pg_proc says default_team() is STABLE (evaluated once: no rewrite) and next_score() VOLATILE.
    assert_eq!(rewrite(13), Vec::<String>::new());
    let volatile = rewrite(14);
    assert_eq!(volatile.len(), 1, "{volatile:?}");
    assert!(
        volatile[0].contains("next_score is VOLATILE"),
        "{volatile:?}"
    );
}

#[test]
fn postgres_statements_the_parser_cannot_read_are_counted_and_the_rehearsal_decides() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    base(&db, "(1, 'a@x.org', 1)");
    ws.add(
        20240301000000,
        Some(15),
        "statistics",
        "CREATE STATISTICS contacts_team_email (dependencies) ON team_id, email FROM contacts;",
        Some("DROP STATISTICS contacts_team_email;"),
    );
    let set = ws.set();
    let v = preview_json(&db, &set, 15);
    assert_eq!(v["total"]["not_understood"], 2, "{v:#}");
    assert_eq!(v["total"]["rollback"]["complexity"], "high");
    let text = preview(&db, &set, 15, false);
    assert!(
        text.contains("  - 2 statements the analyser cannot read: their locks and work may be more than shown here"),
        "{text}"
    );

    let rehearsed = preview_with(&db, &set, 15, (true, true), Config::default());
    let v: Value = serde_json::from_str(&rehearsed).expect("JSON");
    let gaps = warnings(&v, "not-understood");
    assert_eq!(gaps.len(), 2, "{v:#}");
    for w in gaps {
        assert!(
            w["message"]
                .as_str()
                .unwrap()
                .contains("the database accepts it"),
            "{w}"
        );
    }
}

#[test]
fn postgres_a_check_that_runs_past_the_statement_timeout_is_not_decided() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    base(
        &db,
        "(1, 'a@x.org', 1), (2, 'b@x.org', 1), (3, 'c@x.org', 1)",
    );
    db.exec(
        "CREATE FUNCTION slow_ok(i integer) RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(0.5) IS NOT NULL';",
    );
    ws.add(
        20240301000000,
        Some(16),
        "slow_check",
        "ALTER TABLE contacts ADD CONSTRAINT contacts_slow CHECK (slow_ok(id));",
        Some("ALTER TABLE contacts DROP CONSTRAINT contacts_slow;"),
    );
    let set = ws.set();
    let config = Config {
        statement_timeout: Some(std::time::Duration::from_millis(200)),
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let v: Value =
        serde_json::from_str(&preview_with(&db, &set, 16, (true, false), config)).expect("JSON");
    assert!(warnings(&v, "will-fail").is_empty(), "{v:#}");
    let undecided = warnings(&v, "not-checked");
    assert_eq!(undecided.len(), 1, "{v:#}");
    assert!(
        undecided[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("not checked: the query took longer than 200 ms"),
        "{v:#}"
    );
    // The check stopped at the timeout instead of scanning for 1.5 s; the connection is usable after.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(db.count("SELECT count(*) FROM contacts"), 3);
}
