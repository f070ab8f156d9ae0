//! Statement analysis as a whole: objects, locks, versions, parse failures, suppression.

use migrator_analyse::{analyse, Action, Dialect, Lock, ObjectKind, Options, Status, Work};

fn migration(header: &str, up: &str, down: &str) -> migrator_format::Migration {
    let text = format!(
        "{header}-- ============ UP MIGRATION ============\n{up}\n-- ============ DOWN MIGRATION ============\n{down}\n"
    );
    migrator_format::parse_file("20240115143022_issue_234_contact_enrichment.sql", &text).unwrap()
}

#[test]
fn spec_234_objects_and_locks() {
    let m = migration(
        "-- Issue #234: Advanced Contact Enrichment\n",
        "CREATE TABLE contact_enrichment (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE);\n\
         CREATE INDEX idx_e ON contact_enrichment(contact_id);\n\
         ALTER TABLE contacts ADD COLUMN enrichment_status TEXT DEFAULT 'pending';\n\
         UPDATE contacts SET enrichment_status = 'pending' WHERE enrichment_status IS NULL;",
        "ALTER TABLE contacts DROP COLUMN enrichment_status;\nDROP TABLE IF EXISTS contact_enrichment;",
    );
    let pg = analyse(&m, Options::new(Dialect::Postgres));
    let create = &pg.statements[0];
    assert_eq!(create.kind, "CREATE TABLE");
    assert!(create
        .objects
        .iter()
        .any(|o| o.object == ObjectKind::Table && o.action == Action::Create));
    assert!(create
        .objects
        .iter()
        .any(|o| o.object == ObjectKind::ForeignKey));
    let contacts = create
        .tables
        .iter()
        .find(|t| t.table == "contacts")
        .unwrap();
    assert_eq!(contacts.lock, Lock::ShareRowExclusive);
    // The index is on the new table: no finding, but the lock is still recorded.
    assert!(pg.statements[1].tables[0].new_table);
    let add = &pg.statements[2].tables[0];
    assert_eq!(
        (add.lock, add.work, add.brief),
        (Lock::AccessExclusive, Work::None, true)
    );
    assert!(add.blocks_reads);
    assert!(!pg.statements[3].live_checks.is_empty());
    let down_drop = &pg.statements[5];
    assert!(down_drop.destructive);
    let ids: Vec<_> = pg.findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&"backfill-in-ddl-transaction"), "{ids:?}");
    assert!(!ids.contains(&"pg-index-not-concurrent"), "{ids:?}");

    let lite = analyse(&m, Options::new(Dialect::Sqlite));
    assert!(lite
        .statements
        .iter()
        .flat_map(|s| &s.tables)
        .all(|t| t.lock == Lock::DatabaseWrite));
    assert_eq!(
        lite.statements[4].tables[0].work,
        Work::Rewrite,
        "SQLite DROP COLUMN rewrites"
    );
}

#[test]
fn pg_version_changes_the_verdict() {
    let m = migration("", "ALTER TABLE t ADD COLUMN c text DEFAULT 'x';", "");
    let v10 = analyse(
        &m,
        Options {
            dialect: Dialect::Postgres,
            pg_version: 10,
        },
    );
    assert_eq!(v10.statements[0].tables[0].work, Work::Rewrite);
    assert!(v10
        .findings
        .iter()
        .any(|f| f.id == "pg-add-column-default-rewrite"));
    let v15 = analyse(&m, Options::new(Dialect::Postgres));
    assert_eq!(v15.statements[0].tables[0].work, Work::None);
    assert!(v15.findings.is_empty());
}

#[test]
fn unreadable_statement_is_reported_with_reason_and_line() {
    let m = migration(
        "",
        "CREATE TABLE a (x int);\nALTER TABLE a FROBNICATE x;",
        "",
    );
    for d in [Dialect::Postgres, Dialect::Sqlite] {
        let a = analyse(&m, Options::new(d));
        assert_eq!(a.statements.len(), 2, "never skipped");
        let Status::NotAnalysed { reason } = &a.statements[1].status else {
            panic!("{:?}", a.statements[1].status)
        };
        assert!(!reason.is_empty());
        let f = a.findings.iter().find(|f| f.id == "not-analysed").unwrap();
        assert_eq!(f.line, 3);
        assert!(f.message.contains(reason.as_str()));
        assert!(a.failing(migrator_analyse::Severity::Error).count() >= 1);
    }
}

#[test]
fn allowed_findings_are_kept_marked_and_do_not_fail() {
    let m = migration(
        "-- migrator:allow pg-index-not-concurrent table has 20 rows\n",
        "CREATE INDEX idx ON small (a);",
        "",
    );
    let a = analyse(&m, Options::new(Dialect::Postgres));
    let f = a
        .findings
        .iter()
        .find(|f| f.id == "pg-index-not-concurrent")
        .unwrap();
    assert_eq!(f.suppressed.as_deref(), Some("table has 20 rows"));
    assert_eq!(a.failing(migrator_analyse::Severity::Info).count(), 0);
}

#[test]
fn every_rule_has_a_unique_kebab_case_id() {
    let rules = migrator_analyse::rule_catalog();
    let mut ids: Vec<_> = rules.iter().map(|r| r.id).collect();
    assert!(ids
        .iter()
        .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), rules.len());
}

/// New tables list their columns and CHECKs (inline and table-level), described for people, so the
/// preview can count columns and say what each CHECK guards.
#[test]
fn new_table_columns_and_check_descriptions() {
    let m = migration(
        "",
        "CREATE TABLE e (id INT PRIMARY KEY, c INT REFERENCES contacts(id), d INT, score DECIMAL(3,2) CHECK (score >= 0 AND score <= 1), \
         n INT CHECK (n BETWEEN 1 AND 9), data TEXT CHECK (json_valid(data)), \
         CONSTRAINT kind_ok CHECK (kind IN ('a', 'b')), FOREIGN KEY (d) REFERENCES deals);\n\
         ALTER TABLE contacts ADD CONSTRAINT chk_status CHECK (status IN ('pending', 'failed'));\n\
         ALTER TABLE contacts ADD COLUMN level INT CHECK (level > 0);",
        "",
    );
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        let a = analyse(&m, Options::new(dialect));
        let create = &a.statements[0].objects;
        let columns: Vec<_> = create
            .iter()
            .filter(|o| o.object == ObjectKind::Column)
            .map(|o| (o.name.as_str(), o.detail.as_deref()))
            .collect();
        assert_eq!(columns.len(), 6, "{columns:?}");
        assert_eq!(columns[3], ("e.score", Some("decimal(3,2)")));
        let fks: Vec<_> = create
            .iter()
            .filter(|o| o.object == ObjectKind::ForeignKey)
            .map(|o| (o.name.as_str(), o.detail.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            fks,
            [
                ("e.c", "references contacts(id)"),
                ("e_fkey", "(d) references deals")
            ]
        );
        let checks: Vec<_> = a
            .statements
            .iter()
            .flat_map(|s| &s.objects)
            .filter(|o| o.object == ObjectKind::Constraint)
            .filter_map(|o| o.detail.as_deref())
            .collect();
        assert_eq!(
            checks,
            [
                "check score range",
                "check n range",
                "check json_valid(data)",
                "check kind values",
                "check status values",
                "check level range"
            ],
            "{dialect:?}"
        );
    }
}

#[test]
fn default_functions_names_what_defaults_call_and_the_catalog_decides_their_volatility() {
    let m = migration(
        "",
        "ALTER TABLE contacts ADD COLUMN team integer DEFAULT app.default_team();\n\
         CREATE TABLE notes (id bigint PRIMARY KEY, body text DEFAULT lower('X'), at timestamptz DEFAULT now());\n\
         ALTER TABLE contacts ADD COLUMN score integer DEFAULT 0;",
        "ALTER TABLE contacts DROP COLUMN team;",
    );
    assert_eq!(
        migrator_analyse::default_functions(&m, Dialect::Postgres),
        ["default_team", "lower", "now"]
    );
    let rewrite = |catalog: &mut migrator_analyse::Catalog| {
        migrator_analyse::analyse_in(&m, Options::new(Dialect::Postgres), catalog)
            .findings
            .iter()
            .filter(|f| f.id == "pg-add-column-default-rewrite")
            .count()
    };
    // Offline, an unknown function is volatile; the live catalog's STABLE decides otherwise.
    assert_eq!(rewrite(&mut migrator_analyse::Catalog::new()), 1);
    let mut live = migrator_analyse::Catalog::new();
    live.set_function_volatility("default_team", migrator_analyse::Volatility::Stable);
    assert_eq!(rewrite(&mut live), 0);
}
