//! Helpers for the rule tests: a migration file from SQL, analysed, its finding ids.

use crate::model::{Analysis, Dialect, Options};

pub(crate) const PG: Dialect = Dialect::Postgres;
pub(crate) const LITE: Dialect = Dialect::Sqlite;

/// Analyses a file with `header` lines, the `up` SQL and an optional `down`.
pub(crate) fn analyse_file(
    dialect: Dialect,
    pg_version: u32,
    header: &str,
    up: &str,
    down: Option<&str>,
) -> Analysis {
    let mut text = format!("{header}-- ============ UP MIGRATION ============\n{up}\n");
    if let Some(down) = down {
        text.push_str(&format!(
            "-- ============ DOWN MIGRATION ============\n{down}\n"
        ));
    }
    let migration = migrator_format::parse_file("20240101000000_test.sql", &text)
        .unwrap_or_else(|e| panic!("test migration does not parse: {e}\n{text}"));
    crate::analyse(
        &migration,
        Options {
            dialect,
            pg_version,
        },
    )
}

/// Ids of the findings of an UP section.
pub(crate) fn ids(dialect: Dialect, up: &str) -> Vec<&'static str> {
    analyse_file(dialect, 15, "", up, None)
        .findings
        .iter()
        .map(|f| f.id)
        .collect()
}

/// Asserts `id` fires on `up`.
#[track_caller]
pub(crate) fn fires(dialect: Dialect, id: &str, up: &str) {
    let found = ids(dialect, up);
    assert!(
        found.contains(&id),
        "{id} should fire on {dialect:?}:\n{up}\nfound {found:?}"
    );
}

/// Asserts `id` does not fire on `up`.
#[track_caller]
pub(crate) fn passes(dialect: Dialect, id: &str, up: &str) {
    let found = ids(dialect, up);
    assert!(
        !found.contains(&id),
        "{id} should not fire on {dialect:?}:\n{up}\nfound {found:?}"
    );
}
