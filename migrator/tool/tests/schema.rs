//! The schema loaders on real databases: the example application's migrations replayed on SQLite (the
//! repository's `migrations/`) and on PostgreSQL (their port in `tests/fixtures/example-app-postgres`), read
//! back from the catalog, and read again from the dumps of the same databases (`.schema` and
//! `pg_dump --schema-only`, `\restrict` lines, function bodies and all): every road gives the same schema.

use std::path::{Path, PathBuf};
use std::process::Command;

use migrator_tool::schema::{FkAction, Schema};
use migrator_tool::Dialect;

fn repo_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

fn pg_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example-app-postgres")
}

/// What both ports of the example app must agree on: tables, their columns, indexes and foreign keys.
fn shape(schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for t in schema.tables.values() {
        let columns: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        out.push(format!("{}({})", t.name, columns.join(", ")));
        for i in &t.indexes {
            let keys: Vec<String> = i
                .keys
                .iter()
                .map(|k| format!("{}{}", k.expr, if k.desc { " desc" } else { "" }))
                .collect();
            out.push(format!(
                "  index {} ({}) partial={}",
                i.name,
                keys.join(", "),
                i.predicate.is_some()
            ));
        }
        for f in &t.foreign_keys {
            out.push(format!(
                "  fk ({}) -> {}({}) on delete {}",
                f.columns.join(", "),
                f.ref_table,
                f.ref_columns.join(", "),
                f.on_delete.sql()
            ));
        }
        out.push(format!("  pk {:?}", t.primary_key_columns()));
        out.push(format!("  triggers {}", t.triggers.len()));
    }
    out
}

#[test]
fn the_example_app_replays_on_sqlite_and_its_schema_dump_reads_the_same() {
    let (schema, replay) = Schema::replay_sqlite(&repo_migrations()).unwrap();
    assert_eq!(replay.migrations, 4);
    let names: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "activities",
            "contact_enrichment",
            "contacts",
            "user_preferences",
            "users"
        ]
    );
    let contacts = schema.table("contacts").unwrap();
    let status = contacts.column("enrichment_status").unwrap();
    assert_eq!(status.data_type, "VARCHAR(20)");
    assert_eq!(status.default.as_deref(), Some("'pending'"));
    assert!(contacts
        .checks
        .iter()
        .any(|c| c.columns == ["enrichment_status"] && c.expr.contains("IN ('pending'")));
    assert_eq!(contacts.triggers[0].name, "update_contacts_timestamp");
    let activities = schema.table("Activities").unwrap();
    let owner = activities
        .indexes
        .iter()
        .find(|i| i.name == "idx_activities_owner")
        .unwrap();
    assert_eq!(owner.predicate.as_deref(), Some("deleted_at IS NULL"));
    assert_eq!(owner.columns, ["owner_id", "deleted_at"]);
    let feed = schema.index("idx_activities_contact_created").unwrap().1;
    assert!(feed.keys[1].desc && !feed.keys[0].desc);
    assert!(schema.index("idx_activities_legacy_type").is_none());
    let fk = &activities.foreign_keys[0];
    assert_eq!(
        (fk.columns.as_slice(), fk.ref_table.as_str(), fk.on_delete),
        (
            &["contact_id".to_string()][..],
            "contacts",
            FkAction::Cascade
        )
    );
    assert_eq!(schema.referencing("users").len(), 3);
    let prefs = schema.table("user_preferences").unwrap();
    assert_eq!(prefs.primary_key_columns(), ["user_id"]);
    assert!(prefs.is_unique_key(&["user_id".to_string()]));
    assert_eq!(prefs.checks.len(), 3);

    // The same database, dumped as `sqlite3 app.db .schema` prints it, reads the same.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let set = migrator::MigrationSet::from_dir(&repo_migrations()).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    migrator::Migrator::new(&set)
        .with_config(migrator::Config {
            require_backup: false,
            ..migrator::Config::default()
        })
        .boot(&mut migrator::Sqlite::new(&conn))
        .unwrap();
    let dump: String = if Command::new("sqlite3").arg("-version").output().is_ok() {
        let out = Command::new("sqlite3")
            .arg(&db)
            .arg(".schema")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    } else {
        // What `.schema` prints: every stored CREATE text with a `;`.
        let mut stmt = conn
            .prepare("SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL")
            .unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.join("\n")
    };
    let (mut from_dump, summary) = Schema::from_dump(&dump, Dialect::Sqlite, "app.schema").unwrap();
    assert!(summary.applied >= 12, "{summary:?}");
    // `.schema` also shows migrator's history tables; the loaders of a live database leave them out.
    from_dump.tables.remove("schema_migrations");
    from_dump.tables.remove("schema_migrations_log");
    let mut from_file = Schema::from_sqlite(&conn).unwrap();
    for t in from_file
        .tables
        .values_mut()
        .chain(from_dump.tables.values_mut())
    {
        t.sql = None;
    }
    let mut replayed = schema.clone();
    for t in replayed.tables.values_mut() {
        t.sql = None;
    }
    assert_eq!(from_dump, from_file);
    assert_eq!(from_file, replayed);
}

fn pg_dump(url: &str) -> String {
    let candidates = std::iter::once(PathBuf::from("pg_dump")).chain(
        std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin/pg_dump")),
    );
    for program in candidates {
        if let Ok(out) = Command::new(&program)
            .args(["--schema-only", "--no-owner", "--dbname", url])
            .output()
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return String::from_utf8(out.stdout).unwrap();
        }
    }
    panic!("pg_dump not found");
}

#[test]
fn the_example_app_replays_on_postgres_and_its_pg_dump_reads_the_same() {
    let Some(migrator_tests::Db::Postgres(pg)) = migrator_tests::Db::postgres() else {
        return;
    };
    let (replayed, replay) = Schema::replay_postgres(&pg_migrations(), &pg.url).unwrap();
    assert_eq!(replay.migrations, 4);
    // The PostgreSQL port builds what the SQLite original builds.
    let (sqlite, _) = Schema::replay_sqlite(&repo_migrations()).unwrap();
    assert_eq!(shape(&replayed), shape(&sqlite));

    // Apply the port to the test database itself, read its catalog and its pg_dump.
    let set = migrator::MigrationSet::from_dir(&pg_migrations()).unwrap();
    let mut conn = pg.connect();
    migrator::Migrator::new(&set)
        .with_config(migrator::Config {
            require_backup: false,
            ..migrator::Config::default()
        })
        .boot(&mut migrator::Postgres::new(&mut conn, pg.url.clone()))
        .unwrap();
    let from_catalog = Schema::from_postgres(&mut conn).unwrap();
    assert_eq!(from_catalog, replayed);
    let dump = pg_dump(&pg.url);
    assert!(dump.contains("$$"), "a function body in the dump");
    let (mut from_dump, summary) =
        Schema::from_dump(&dump, Dialect::Postgres, "schema.sql").unwrap();
    from_dump.tables.remove("schema_migrations");
    from_dump.tables.remove("schema_migrations_log");
    assert!(summary.skipped > 0, "{summary:?}");
    assert_eq!(from_dump, from_catalog);

    let contacts = from_dump.table("public.contacts").unwrap();
    let check = &contacts.checks[0];
    assert_eq!(check.name.as_deref(), Some("chk_enrichment_status"));
    assert!(check.expr.contains("ANY"), "{}", check.expr);
    assert_eq!(check.columns, ["enrichment_status"]);
    let users = from_dump.table("users").unwrap();
    assert_eq!(
        users.primary_key.as_ref().unwrap().name.as_deref(),
        Some("users_pkey")
    );
    assert_eq!(users.uniques[0].name.as_deref(), Some("users_email_key"));
    assert!(users.column("id").unwrap().not_null);
    let activities = from_dump.table("activities").unwrap();
    assert!(activities
        .column("id")
        .unwrap()
        .default
        .as_deref()
        .unwrap()
        .starts_with("nextval("));
    assert_eq!(
        from_dump.table("contact_enrichment").unwrap().triggers[0].name,
        "update_contact_enrichment_timestamp"
    );
}
