//! Round trip of the generator through the embedded runtime: every migration `migrator-tool` writes from
//! the issue exports applies at boot and rolls back by issue on SQLite and on PostgreSQL, leaving the
//! schema fingerprint equal to the one before it.

use migrator::{Migrator, RollbackOptions};
use migrator_tests::{sqlite_and_postgres, Db, Workspace};
use migrator_tool::{generate_issue, Dialect, RenderOptions, Schema};

// The generator writes SQLite and PostgreSQL (it has no MySQL dialect yet): the two engines it targets.
sqlite_and_postgres!(every_fixture_export_applies_and_rolls_back_through_the_runtime);

const PG_BASE: &str = "CREATE TABLE users (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT NOW());
CREATE TABLE contacts (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), owner_id UUID REFERENCES users(id) ON DELETE SET NULL, name TEXT NOT NULL, email TEXT, created_at TIMESTAMP NOT NULL DEFAULT NOW(), updated_at TIMESTAMP NOT NULL DEFAULT NOW());
CREATE TABLE activities (id BIGSERIAL PRIMARY KEY, contact_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE, owner_id UUID REFERENCES users(id), type TEXT NOT NULL, note TEXT, created_at TIMESTAMP NOT NULL DEFAULT NOW(), deleted_at TIMESTAMP);
CREATE INDEX idx_activities_legacy_type ON activities(type);";

fn fixture(file: &str) -> migrator_tool::Issue {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrator/tool/tests/fixtures/issue-exports")
        .join(file);
    migrator_tool::export::load_path(&path)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

fn every_fixture_export_applies_and_rolls_back_through_the_runtime(ws: &Workspace, db: &Db) {
    // The example application's base schema, in the engine's dialect.
    let (dialect, base_sql) = if db.is_postgres() {
        (Dialect::Postgres, PG_BASE.to_string())
    } else {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../migrations/20240108113021_issue_187_crm_base_schema.sql"),
        )
        .unwrap();
        let up = text
            .split("-- ============ UP MIGRATION")
            .nth(1)
            .unwrap()
            .split("-- ============ DOWN MIGRATION")
            .next()
            .unwrap();
        let up: String = up
            .lines()
            .skip(1)
            .filter(|l| !matches!(l.trim(), "BEGIN;" | "COMMIT;"))
            .collect::<Vec<_>>()
            .join("\n");
        (
            Dialect::Sqlite,
            up.split("INSERT INTO schema_migrations")
                .next()
                .unwrap()
                .to_string(),
        )
    };
    ws.add(
        20240101000000,
        Some(187),
        "base",
        &base_sql,
        Some("DROP TABLE activities;\nDROP TABLE contacts;\nDROP TABLE users;"),
    );
    db.boot(&ws.set()).unwrap();
    let mut base_sql = base_sql;
    let (mut base, _) = Schema::from_dump(&base_sql, dialect, "base").unwrap();

    for (index, file) in ["198.json", "212.json", "234.json"].into_iter().enumerate() {
        let issue = fixture(file);
        let options = RenderOptions {
            dialect,
            version: 20240201000000 + index as u64 * 100,
            name: None,
            with_comments: false,
            schema: base.clone(),
            schema_source: "the base migration".into(),
        };
        let generated = generate_issue(&issue, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
        let before = db.fingerprint();
        for f in &generated.files {
            ws.write(&f.file_name, &f.text);
        }
        let set = ws.set();
        let report = db.boot(&set).unwrap_or_else(|e| {
            panic!(
                "{file} ({}):\n{e}\n{}",
                db.engine_name(),
                generated.migration
            )
        });
        let versions: Vec<u64> = generated.files.iter().map(|f| f.version).collect();
        assert_eq!(report.applied_versions(), versions, "{file}");
        assert_ne!(db.fingerprint(), before, "{file} changed nothing");
        let migrator = Migrator::new(&set);
        db.with_backend(|b| {
            migrator.rollback_issue(b, generated.issue, RollbackOptions::default())
        })
        .unwrap_or_else(|e| panic!("{file} rollback ({}):\n{e}", db.engine_name()));
        assert_eq!(
            db.fingerprint(),
            before,
            "{file}: the DOWN does not restore the schema on {}",
            db.engine_name()
        );
        // Apply it again (operator's reapply) so the next issue builds on it, as in production.
        db.with_backend(|b| migrator.reapply_issue(b, generated.issue))
            .unwrap();
        base = {
            let text = generated.files.iter().fold(base_sql.clone(), |acc, f| {
                format!(
                    "{acc}\n{}",
                    f.text
                        .split("-- ============ UP MIGRATION ============")
                        .nth(1)
                        .unwrap()
                        .split("-- ============ DOWN MIGRATION")
                        .next()
                        .unwrap()
                )
            });
            base_sql = text;
            Schema::from_dump(&base_sql, dialect, "base").unwrap().0
        };
    }
}
