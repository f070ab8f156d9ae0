//! `--migrate-preview`: the spec's #234 migration against a database holding 50,000 contacts, on SQLite
//! (the repo's migration) and PostgreSQL (the spec's file verbatim). Every section of the spec's example,
//! with figures from that database; the rollback plan's data loss counted after applying; JSON; plain
//! output; and a preview changes nothing.

use migrator::admin::{self, AdminCommand};
use migrator::preview::{self, Complexity, Preview, State, Target};
use migrator::render::Style;
use migrator::{Config, Error, MigrationSet, Migrator};
use migrator_tests::{sqlite_and_postgres, Db, Workspace};

sqlite_and_postgres!(
    spec_234_preview_shows_every_section_with_figures_from_the_database,
    rollback_plan_counts_what_the_down_would_destroy_after_applying,
    json_has_the_documented_fields,
    a_preview_changes_nothing,
    a_rehearsed_preview_shows_measured_times,
);

const REPO_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
const SPEC_PG_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../migrator/tool/tests/fixtures/spec-example-234.sql"
);
const FILE_234: &str = "20240115143022_issue_234_contact_enrichment.sql";
const CONTACTS: u64 = 50_000;

fn no_backup() -> Config {
    Config {
        require_backup: false,
        ..Config::default()
    }
}

/// The database as it is before #234: the base schema and 50,000 contacts. `ws.migrations()` then holds
/// the set whose only pending migration is #234 (SQLite: the repo's four files; PostgreSQL: the spec's
/// file, the base schema being created by hand as the spec's example assumes it exists), with the
/// `rollback/` and `docs/schema/` companions `migrator-tool generate` writes beside it.
fn before_234(ws: &Workspace, db: &Db) -> MigrationSet {
    if db.is_postgres() {
        db.exec(
            "CREATE FUNCTION update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
             CREATE TABLE contacts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
               email text, created_at timestamp NOT NULL DEFAULT now(),
               updated_at timestamp NOT NULL DEFAULT now());
             INSERT INTO contacts (name, email)
               SELECT 'contact ' || g, 'c' || g || '@example.com' FROM generate_series(1, 50000) g;
             ANALYZE contacts;",
        );
        let text = std::fs::read_to_string(SPEC_PG_FILE).expect("spec file");
        ws.write(FILE_234, &text);
    } else {
        for entry in std::fs::read_dir(REPO_MIGRATIONS).expect("repo migrations") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".sql") && name != FILE_234 {
                ws.write(&name, &std::fs::read_to_string(&path).expect("read"));
            }
        }
        db.boot_with(&ws.set(), no_backup()).expect("base schema");
        let mut conn = ws.open();
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare("INSERT INTO contacts (id, name, email) VALUES (?1, ?2, ?3)")
                .unwrap();
            for i in 0..CONTACTS {
                insert
                    .execute((
                        format!("c{i}"),
                        format!("contact {i}"),
                        format!("c{i}@example.com"),
                    ))
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        let text =
            std::fs::read_to_string(format!("{REPO_MIGRATIONS}/{FILE_234}")).expect("read 234");
        ws.write(FILE_234, &text);
    }
    std::fs::create_dir_all(ws.path().join("rollback")).unwrap();
    std::fs::write(
        ws.path().join("rollback/20240115143022_rollback.sql"),
        "-- rollback\n",
    )
    .unwrap();
    std::fs::create_dir_all(ws.path().join("docs/schema")).unwrap();
    std::fs::write(
        ws.path().join("docs/schema/contact_enrichment.md"),
        "# contact_enrichment\n",
    )
    .unwrap();
    ws.set()
}

fn preview_of(db: &Db, set: &MigrationSet, target: Target) -> Result<Preview, Error> {
    db.with_backend(|b| preview::preview(&Migrator::new(set), b, target))
}

/// What `app --migrate-preview <issue>` prints (through the admin entry point).
fn admin_text(db: &Db, set: &MigrationSet, issue: u32, json: bool) -> Result<String, Error> {
    let mut out = Vec::new();
    db.with_backend(|b| {
        admin::run(
            &Migrator::new(set),
            b,
            &AdminCommand::Preview {
                issue: Some(issue),
                json,
                rehearse: false,
            },
            &mut out,
        )
    })?;
    Ok(String::from_utf8(out).expect("UTF-8"))
}

fn spec_234_preview_shows_every_section_with_figures_from_the_database(ws: &Workspace, db: &Db) {
    let set = before_234(ws, db);
    let p = preview_of(db, &set, Target::Issue(234)).unwrap();
    let text = preview::render_text(&p, Style::Fancy);
    println!("{text}"); // shown with --nocapture
    for expected in [
        "🔍 Migration Preview for Issue #234\n",
        "\n📊 Schema Changes:\n  NEW TABLES:\n    - contact_enrichment (10 columns, 3 indexes)\n  \n",
        "  MODIFIED TABLES:\n    - contacts (+3 columns)\n  \n",
        "  CONSTRAINTS:\n    - FK: contact_enrichment.contact_id → contacts.id\n",
        "    - CHECK: enrichment_status values\n",
        "    - CHECK: confidence_score range\n",
        "\n⏱️  Performance Impact:\n  - Estimated Duration: ",
        "  - Lock Required: Yes (",
        "  - Lock Duration: ~",
        "  - Affected Rows: 50,000",
        "  - Space Required: ~",
        "\n⚠️  Warnings:\n",
        "[warning backfill-in-ddl-transaction]",
        "\n✅ Rollback Plan:\n  - Rollback Duration: ",
        "  - Data Loss Risk: None\n",
        "  - Complexity: Low (",
        "\n📁 Generated Files:\n  - migrations/20240115143022_issue_234_contact_enrichment.sql\n  - rollback/20240115143022_rollback.sql\n  - docs/schema/contact_enrichment.md\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The figures are this database's: 50,000 contacts, a calibrated (nonzero) time, a nonzero space.
    assert_eq!(p.migrations.len(), 1);
    assert_eq!(p.migrations[0].state, State::Pending);
    let perf = &p.total.performance;
    assert_eq!(perf.affected_rows, CONTACTS, "{text}");
    assert!(perf.estimated_duration_ms > 0.0, "{perf:?}");
    assert!(perf.space_bytes > 0, "{perf:?}");
    assert!(p.database.starts_with(db.engine_name()), "{}", p.database);
    if db.is_postgres() {
        // The spec's own words for the ALTER: a brief ACCESS EXCLUSIVE lock on contacts.
        assert!(
            text.contains("Brief lock on contacts table during ALTER TABLE"),
            "{text}"
        );
        assert!(
            text.contains("ALTER TABLE on contacts: ACCESS EXCLUSIVE"),
            "{text}"
        );
        // The CHECK added to the populated table scans it: the finding with its alternative.
        assert!(text.contains("[error pg-check-not-valid]"), "{text}");
    } else {
        assert!(
            text.contains("SQLite's write lock for the whole migration"),
            "{text}"
        );
    }
    // The admin flag prints the same layout.
    let printed = admin_text(db, &set, 234, false).unwrap();
    assert!(printed.contains("Affected Rows: 50,000"), "{printed}");
}

fn rollback_plan_counts_what_the_down_would_destroy_after_applying(ws: &Workspace, db: &Db) {
    let set = before_234(ws, db);
    db.boot_with(&set, no_backup()).expect("apply #234");
    db.exec(
        "INSERT INTO contact_enrichment (contact_id, source, data)
         SELECT id, 'clearbit', '{}' FROM contacts ORDER BY id LIMIT 1234",
    );
    let p = preview_of(db, &set, Target::Issue(234)).unwrap();
    assert_eq!(p.migrations[0].state, State::Applied);
    let loss = &p.total.rollback.data_loss;
    let table = loss
        .iter()
        .find(|d| d.name == "contact_enrichment")
        .unwrap_or_else(|| panic!("{loss:?}"));
    assert_eq!((table.object.as_str(), table.rows), ("table", 1234));
    // The UPDATE set every contact's status: dropping the column loses 50,000 values.
    let status = loss
        .iter()
        .find(|d| d.name == "contacts.enrichment_status")
        .unwrap_or_else(|| panic!("{loss:?}"));
    assert_eq!(status.rows, CONTACTS);
    assert!(
        !loss.iter().any(|d| d.name == "contacts.last_enriched_at"),
        "a column holding only NULLs loses nothing: {loss:?}"
    );
    let text = preview::render_text(&p, Style::Fancy);
    assert!(
        text.contains("drops table contact_enrichment: 1,234 rows would be lost"),
        "{text}"
    );
    assert!(
        text.contains(
            "drops column contacts.enrichment_status: 50,000 non-NULL values would be lost"
        ),
        "{text}"
    );
}

fn json_has_the_documented_fields(ws: &Workspace, db: &Db) {
    let set = before_234(ws, db);
    let json = admin_text(db, &set, 234, true).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["target"], serde_json::json!({ "issue": 234 }));
    assert!(v["database"]
        .as_str()
        .unwrap()
        .starts_with(db.engine_name()));
    assert!(v["calibration_ms"].as_f64().unwrap() > 0.0);
    let m = &v["migrations"][0];
    assert_eq!(m["version"], 20240115143022u64);
    assert_eq!(m["file"], FILE_234);
    assert_eq!(m["issue"], 234);
    assert_eq!(m["state"], "pending");
    for section in [
        "schema_changes",
        "performance",
        "warnings",
        "rollback",
        "generated_files",
    ] {
        assert!(!m[section].is_null(), "{section} in {m}");
        assert!(!v["total"][section].is_null(), "total.{section}");
    }
    let changes = &v["total"]["schema_changes"];
    assert_eq!(
        changes["new_tables"][0],
        serde_json::json!({ "name": "contact_enrichment", "columns": 10, "indexes": 3 })
    );
    assert_eq!(changes["modified_tables"][0]["name"], "contacts");
    assert_eq!(
        changes["modified_tables"][0]["added_columns"],
        serde_json::json!(["enrichment_status", "last_enriched_at", "enrichment_score"])
    );
    assert!(changes["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "FK"
            && c["description"] == "contact_enrichment.contact_id → contacts.id"));
    let perf = &v["total"]["performance"];
    assert_eq!(perf["affected_rows"], CONTACTS);
    for field in [
        "estimated_duration_ms",
        "measured",
        "locks",
        "lock_duration_ms",
        "space_bytes",
        "downtime",
    ] {
        assert!(!perf[field].is_null(), "performance.{field}");
    }
    let warning = v["total"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "backfill-in-ddl-transaction")
        .expect("the backfill finding");
    assert_eq!(warning["severity"], "warning");
    assert!(warning["line"].as_u64().unwrap() > 0);
    assert!(warning["safe_alternative"]
        .as_str()
        .unwrap()
        .contains("batches"));
    assert!(warning["suppressed"].is_null());
    let rollback = &v["total"]["rollback"];
    assert_eq!(rollback["available"], true);
    assert_eq!(rollback["complexity"], "low");
    assert_eq!(rollback["data_loss"], serde_json::json!([]));
}

/// The history rows, `None` while the history table does not exist (the PostgreSQL setup has none: a
/// preview must not create it).
fn history(db: &Db) -> Option<Vec<(u64, String)>> {
    let exists = if db.is_postgres() {
        "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'"
    } else {
        "SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'"
    };
    (db.count(exists) > 0).then(|| db.history())
}

fn a_preview_changes_nothing(ws: &Workspace, db: &Db) {
    let set = before_234(ws, db);
    let (schema, history) = (db.fingerprint(), history(db));
    assert_eq!(history.is_some(), !db.is_postgres());
    let contacts = db.count("SELECT count(*) FROM contacts");
    for target in [Target::Issue(234), Target::Pending] {
        preview_of(db, &set, target).unwrap();
    }
    // An unknown issue fails before anything is read beyond the history.
    preview_of(db, &set, Target::Issue(999)).unwrap_err();
    assert_eq!(db.fingerprint(), schema);
    assert_eq!(self::history(db), history);
    assert_eq!(db.count("SELECT count(*) FROM contacts"), contacts);
}

#[test]
fn plain_output_has_no_emoji_and_the_same_sections() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    let set = before_234(&ws, &db);
    let p = preview_of(&db, &set, Target::Issue(234)).unwrap();
    let text = preview::render_text(&p, Style::Plain);
    assert!(text.is_ascii(), "{text}");
    for heading in [
        "Migration Preview for Issue #234\n",
        "\nSchema Changes:\n",
        "\nPerformance Impact:\n",
        "\nWarnings:\n",
        "\nRollback Plan:\n",
        "\nGenerated Files:\n",
        "FK: contact_enrichment.contact_id -> contacts.id",
    ] {
        assert!(text.contains(heading), "missing {heading:?} in\n{text}");
    }
}

#[test]
fn pending_previews_what_the_next_boot_applies() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    let set = before_234(&ws, &db);
    let p = preview_of(&db, &set, Target::Pending).unwrap();
    let files: Vec<_> = p.migrations.iter().map(|m| m.file.as_str()).collect();
    assert_eq!(files, [FILE_234]);
    db.boot_with(&set, no_backup()).unwrap();
    let p = preview_of(&db, &set, Target::Pending).unwrap();
    assert!(p.migrations.is_empty());
    assert!(preview::render_text(&p, Style::Plain).contains("Nothing pending"));
}

#[test]
fn an_unknown_issue_is_an_error_naming_the_known_ones() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    let set = before_234(&ws, &db);
    let err = preview_of(&db, &set, Target::Issue(999)).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::NoSuchIssue { issue: 999, .. }),
        "{message}"
    );
    assert!(message.contains("#187, #198, #212, #234"), "{message}");
    let code =
        db.with_backend(|b| admin::main(&Migrator::new(&set), b, ["--migrate-preview", "999"]));
    assert_eq!(code, Some(1));
}

/// An SQLite database with the applied migration #1: a table `t (id, x)` holding `values`.
fn sqlite_base(values: &str) -> (Workspace, Db) {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    ws.add(
        20240101000000,
        Some(1),
        "base",
        &format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);\nINSERT INTO t (x) VALUES {values};"
        ),
        Some("DROP TABLE t;"),
    );
    db.boot_with(&ws.set(), no_backup()).unwrap();
    (ws, db)
}

#[test]
fn no_down_and_allowed_findings_are_shown() {
    let (ws, db) = sqlite_base("('a'), ('b')");
    ws.write(
        "20240102000000_issue_2_backfill.sql",
        "-- Issue #2: backfill\n-- migrator:allow backfill-in-ddl-transaction small table, reviewed\n\
         -- ============ UP MIGRATION ============\n\
         ALTER TABLE t ADD COLUMN y TEXT;\nUPDATE t SET y = x;\n",
    );
    let set = ws.set();
    let p = preview_of(&db, &set, Target::Issue(2)).unwrap();
    let r = &p.total.rollback;
    assert!(!r.available);
    assert_eq!(r.complexity, Complexity::High);
    let text = preview::render_text(&p, Style::Plain);
    assert!(text.contains("no DOWN: cannot be rolled back"), "{text}");
    assert!(
        text.contains("[allowed: small table, reviewed; warning backfill-in-ddl-transaction]"),
        "{text}"
    );
    assert!(text.contains("Affected Rows: 2\n"), "{text}");
}

fn a_rehearsed_preview_shows_measured_times(ws: &Workspace, db: &Db) {
    let set = before_234(ws, db);
    let (schema, history) = (db.fingerprint(), self::history(db));
    let p = db
        .with_backend(|b| preview::preview_with(&Migrator::new(&set), b, Target::Issue(234), true))
        .unwrap();
    let (perf, rollback) = (&p.total.performance, &p.total.rollback);
    assert!(perf.measured && rollback.measured, "{perf:?} {rollback:?}");
    assert!(perf.estimated_duration_ms > 0.0 && rollback.duration_ms > 0.0);
    let text = preview::render_text(&p, Style::Plain);
    assert!(text.contains("(measured)\n  - Lock Required"), "{text}");
    assert!(text.contains("Rollback Duration: "), "{text}");
    // The rehearsal ran on a copy: this database is as it was.
    assert_eq!(db.fingerprint(), schema);
    assert_eq!(self::history(db), history);
}

#[test]
fn several_pending_migrations_are_listed_and_summed() {
    let (ws, db) = sqlite_base("('a'), ('b'), ('c')");
    ws.add(
        20240102000000,
        Some(2),
        "y",
        "ALTER TABLE t ADD COLUMN y TEXT;\nUPDATE t SET y = x;",
        Some("ALTER TABLE t DROP COLUMN y;"),
    );
    ws.add(
        20240103000000,
        Some(3),
        "u",
        "CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id));\nDELETE FROM t WHERE x = 'c';",
        Some("DROP TABLE u;"),
    );
    let set = ws.set();
    let p = preview_of(&db, &set, Target::Pending).unwrap();
    assert_eq!(p.migrations.len(), 2);
    let sum: f64 = p
        .migrations
        .iter()
        .map(|m| m.sections.performance.estimated_duration_ms)
        .sum();
    assert!((p.total.performance.estimated_duration_ms - sum).abs() < 1e-6);
    assert_eq!(p.total.schema_changes.new_tables[0].name, "u");
    assert_eq!(
        p.total.schema_changes.modified_tables[0].added_columns,
        ["y"]
    );
    assert!(
        p.total.schema_changes.dropped.is_empty(),
        "a DELETE is not a schema drop"
    );
    let text = preview::render_text(&p, Style::Plain);
    assert!(
        text.contains("  - 20240102000000_issue_2_y.sql (pending)\n"),
        "{text}"
    );
    assert!(
        text.contains("  - 20240103000000_issue_3_u.sql (pending)\n"),
        "{text}"
    );
    assert!(
        text.contains("backfill-in-ddl-transaction] 20240102000000_issue_2_y.sql:"),
        "{text}"
    );
    assert!(text.contains("FK: u.t_id -> t.id"), "{text}");
}

#[test]
fn over_a_set_a_table_created_earlier_in_it_is_new_with_the_later_changes() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    for entry in std::fs::read_dir(REPO_MIGRATIONS).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue; // the postgres/ and mysql/ variants
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        ws.write(&name, &std::fs::read_to_string(&path).unwrap());
    }
    let p = preview_of(&db, &ws.set(), Target::Pending).unwrap();
    assert_eq!(p.migrations.len(), 4);
    let changes = &p.total.schema_changes;
    assert!(changes.modified_tables.is_empty(), "{changes:?}");
    let contacts = changes
        .new_tables
        .iter()
        .find(|t| t.name == "contacts")
        .unwrap();
    // 6 columns from #187, 3 more from #234.
    assert_eq!(contacts.columns, 9, "{changes:?}");
}
