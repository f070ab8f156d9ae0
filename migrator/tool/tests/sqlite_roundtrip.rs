//! Every generated SQLite migration applies and rolls back on a real database file, leaving the schema
//! fingerprint equal to the start, and applies again after the rollback.

mod common;

use common::*;
use migrator_tool::Dialect;

fn round_trip(
    issue: &migrator_tool::Issue,
) -> (Fingerprint, Fingerprint, migrator_tool::Generated) {
    let dir = tempfile::tempdir().unwrap();
    let conn = base_db(dir.path());
    let start = fingerprint(&conn);
    let g = render(issue, Dialect::Sqlite).unwrap();
    migrator_format::parse_file(&g.file_name, &g.migration).unwrap();
    let up = section(&g.migration, "UP");
    let down = section(&g.migration, "DOWN");
    conn.execute_batch(&up)
        .unwrap_or_else(|e| panic!("UP failed: {e}\n{up}"));
    let applied: i64 = conn
        .query_row(
            "SELECT count(*) FROM schema_migrations WHERE version = '20240115143022'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(applied, 1);
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    conn.execute_batch(&down)
        .unwrap_or_else(|e| panic!("DOWN failed: {e}\n{down}"));
    let end = fingerprint(&conn);
    // Applies again after the rollback, and the rollback script does the same as the DOWN.
    conn.execute_batch(&up).unwrap();
    conn.execute_batch(&g.rollback).unwrap();
    assert_eq!(fingerprint(&conn), end);
    (start, end, g)
}

#[test]
fn spec_234_round_trips_and_backfills() {
    let issue = fixture_issue("234.json");
    let (start, end, g) = round_trip(&issue);
    assert_eq!(start, end);
    assert!(g.lossy.is_empty());
    // The backfill ran: existing contacts are `pending`.
    let dir = tempfile::tempdir().unwrap();
    let conn = base_db(dir.path());
    conn.execute_batch(&section(&g.migration, "UP")).unwrap();
    let pending: i64 = conn
        .query_row(
            "SELECT count(*) FROM contacts WHERE enrichment_status = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 2);
    // The CHECK is enforced, and the generated id default fills new rows.
    assert!(conn
        .execute("UPDATE contacts SET enrichment_status = 'bogus'", [])
        .is_err());
    conn.execute(
        "INSERT INTO contact_enrichment (contact_id, source, data) VALUES ('c1', 'clearbit', '{}')",
        [],
    )
    .unwrap();
    let id: String = conn
        .query_row("SELECT id FROM contact_enrichment", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id.len(), 32);
}

#[test]
fn fixture_212_round_trips() {
    let (start, end, _) = round_trip(&fixture_issue("212.json"));
    assert_eq!(start, end);
    let (start, end, _) = round_trip(&fixture_issue("212.rest.json"));
    assert_eq!(start, end);
}

#[test]
fn fixture_198_is_flagged_lossy_and_differs_only_by_the_dropped_index() {
    let (start, end, g) = round_trip(&fixture_issue("198.json"));
    assert_eq!(g.lossy.len(), 1);
    assert!(g
        .migration
        .contains("-- WARNING: lossy: index idx_activities_legacy_type"));
    assert!(g
        .breaking
        .iter()
        .any(|b| b.contains("idx_activities_legacy_type")));
    let missing: Vec<_> = start.iter().filter(|r| !end.contains(r)).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].1, "idx_activities_legacy_type");
    assert!(end.iter().all(|r| start.contains(r)));
}

pub const BULLETS: &str = "Users need verified e-mails and contacts get renamed phone fields.

## Data model changes

- Add column `email_verified` (BOOLEAN, not null, default false) to `users`
- Add `timezone` VARCHAR(64) default 'UTC' to users
- Add column `last_seen_at` to `users` (TIMESTAMP)
- Rename column `phone` to `phone_number` in `contacts`
- Add index on `activities` (`contact_id`, `created_at` DESC) where `deleted_at IS NULL`
- Add unique constraint on `users` (`email`)
- Make `contacts`.`external_id` unique
- Rename table `activities` to `activity_log`

## Acceptance criteria
- [ ] Add a verified badge to the profile page
";

#[test]
fn bullet_sentences_round_trip() {
    let issue = issue(301, "Verified e-mails", BULLETS);
    let (start, end, g) = round_trip(&issue);
    assert_eq!(start, end);
    assert_eq!(g.changes.len(), 8, "{:#?}", g.changes);
    assert!(g
        .migration
        .contains("UPDATE users\nSET email_verified = 0\nWHERE email_verified IS NULL;"));
    assert!(g
        .breaking
        .iter()
        .any(|b| b.contains("rename column contacts.phone")));
    assert!(g
        .breaking
        .iter()
        .any(|b| b.contains("rename table activities")));
    assert!(g.breaking.iter().any(|b| b.contains("uq_users_email")));
}

pub const TABLES: &str = "## Schema

### Table: audit_events (new)

| Name | Data Type | Nullable | Default | Notes | Owner |
|------|-----------|----------|---------|-------|-------|
| id | BIGSERIAL | no | | primary key | platform |
| actor_id | UUID | yes | | references users(id) on delete set null | |
| payload | JSONB | no | '{}'::jsonb | | |
| kind | TEXT | no | | one of ('login', 'logout') | |
| created_at | TIMESTAMPTZ | no | now() | used by the retention job | |

#### Indexes
- `actor_id`, `created_at` desc
- `kind` where `kind = 'login'`

### `contacts` changes

| type | COLUMN | constraints |
|---|---|---|
| INTEGER | score | not null, default 0, check (score >= 0) |
| TIMESTAMP | touched_at | default now() |
";

#[test]
fn column_tables_in_any_order_round_trip() {
    let issue = issue(302, "Audit events", TABLES);
    let (start, end, g) = round_trip(&issue);
    assert_eq!(start, end);
    assert!(
        g.migration.contains("id INTEGER PRIMARY KEY,"),
        "{}",
        g.migration
    );
    assert!(g.migration.contains("payload TEXT NOT NULL DEFAULT '{}'"));
    assert!(g.migration.contains("CHECK (kind IN ('login', 'logout'))"));
    assert!(g
        .migration
        .contains("created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"));
    assert!(g.migration.contains("CREATE INDEX idx_audit_events_actor_id_created_at ON audit_events (actor_id, created_at DESC)"));
    // SQLite cannot add a column with a non-constant default: backfill plus a note, never silently.
    assert!(g
        .migration
        .contains("ALTER TABLE contacts ADD COLUMN touched_at TIMESTAMP;"));
    assert!(g.migration.contains("SET touched_at = CURRENT_TIMESTAMP"));
    assert_eq!(g.notes.len(), 1);
    assert!(g
        .ignored
        .iter()
        .any(|i| i.reason.contains("prose") && i.line == 11));
}

#[test]
fn lossy_changes_are_flagged_with_warnings() {
    let issue = issue(
        303,
        "Cleanup",
        "## Data model\n- Drop column `legacy_score` from `contacts`\n- Drop table `activities`\n",
    );
    let g = render(&issue, Dialect::Sqlite).unwrap();
    assert_eq!(g.lossy.len(), 2);
    assert_eq!(g.breaking.len(), 2);
    assert!(g
        .migration
        .contains("-- WARNING: lossy: column contacts.legacy_score"));
    assert!(g.migration.contains("-- Lossy rollback: 2"));
    assert!(g.rollback.contains("WARNING: lossy rollback"));
    let dir = tempfile::tempdir().unwrap();
    let conn = base_db(dir.path());
    conn.execute_batch(&section(&g.migration, "UP")).unwrap();
    conn.execute_batch(&section(&g.migration, "DOWN")).unwrap();
}

#[test]
fn with_the_base_schema_the_dropped_index_comes_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let conn = base_db(dir.path());
    let start = fingerprint(&conn);
    let g = render_with(
        &fixture_issue("198.json"),
        Dialect::Sqlite,
        Some(BASE_SCHEMA),
    )
    .unwrap();
    assert!(g.lossy.is_empty(), "{:?}", g.lossy);
    assert!(g
        .migration
        .contains("CREATE INDEX idx_activities_legacy_type ON activities (type);"));
    conn.execute_batch(&section(&g.migration, "UP")).unwrap();
    assert_ne!(fingerprint(&conn), start);
    conn.execute_batch(&section(&g.migration, "DOWN")).unwrap();
    assert_eq!(fingerprint(&conn), start);
}

#[test]
fn with_the_base_schema_dropped_columns_and_tables_are_recreated_empty() {
    let issue = issue(
        304,
        "Cleanup",
        "## Data model\n- Drop column `legacy_score` from `contacts`\n- Drop table `activities`\n",
    );
    let g = render_with(&issue, Dialect::Sqlite, Some(BASE_SCHEMA)).unwrap();
    assert_eq!(g.lossy.len(), 2);
    assert!(g.lossy.iter().all(|l| l.contains("from the base schema")));
    let dir = tempfile::tempdir().unwrap();
    let conn = base_db(dir.path());
    conn.execute_batch(&section(&g.migration, "UP")).unwrap();
    conn.execute_batch(&section(&g.migration, "DOWN")).unwrap();
    conn.execute(
        "INSERT INTO activities (contact_id, type) VALUES ('c1', 'mail')",
        [],
    )
    .unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM contacts WHERE legacy_score IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2);
    let idx: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'idx_activities_legacy_type'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 1);
}
