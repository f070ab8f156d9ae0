//! Analysis speed: 1,000 generated migration files, linted offline. Ignored by default (it times a release
//! build): `cargo test --release -p migrator-analyse --test speed -- --ignored --nocapture`.

use std::time::Instant;

use migrator_analyse::{lint_dir, Dialect, Options};

fn migration(i: usize) -> String {
    format!(
        "-- Issue #{i}: generated\n\
         -- ============ UP MIGRATION ============\n\
         CREATE TABLE t{i} (id BIGINT PRIMARY KEY, contact_id BIGINT REFERENCES contacts(id), name TEXT NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);\n\
         CREATE INDEX idx_t{i}_contact ON t{i} (contact_id);\n\
         ALTER TABLE contacts ADD COLUMN c{i} TEXT DEFAULT 'pending';\n\
         CREATE INDEX idx_contacts_c{i} ON contacts (c{i});\n\
         UPDATE contacts SET c{i} = 'x' WHERE c{i} IS NULL;\n\
         ALTER TABLE contacts ALTER COLUMN c{i} SET NOT NULL;\n\
         -- ============ DOWN MIGRATION ============\n\
         ALTER TABLE contacts DROP COLUMN c{i};\n\
         DROP TABLE t{i};\n"
    )
}

#[test]
#[ignore = "timing: run in release with --ignored"]
fn lint_1000_files_under_a_second() {
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..1000 {
        let name = format!(
            "20240101{:02}{:02}{:02}_issue_{}_gen_{i}.sql",
            i / 3600,
            (i / 60) % 60,
            i % 60,
            i + 1
        );
        std::fs::write(dir.path().join(name), migration(i + 1)).expect("write");
    }
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        let start = Instant::now();
        let analyses = lint_dir(dir.path(), Options::new(dialect)).expect("lint");
        let elapsed = start.elapsed();
        let statements: usize = analyses.iter().map(|a| a.statements.len()).sum();
        let findings: usize = analyses.iter().map(|a| a.findings.len()).sum();
        println!(
            "{dialect:?}: {} files, {statements} statements, {findings} findings in {elapsed:?}",
            analyses.len()
        );
        assert_eq!(analyses.len(), 1000);
        assert!(elapsed.as_secs_f64() < 1.0, "{elapsed:?}");
    }
}
