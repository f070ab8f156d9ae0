//! The ids a `-- migrator:allow <check-id> <reason>` may name.
//!
//! One list for the proc-macro, the runtime's `MigrationSet::from_dir` and the companion tool: they all
//! parse files with [`crate::parse_file`], which refuses an allow whose id is not here, so a typo is a
//! compile error instead of a suppression that silently suppresses nothing. The analyser
//! (`migrator-analyse`) has a test that its rule ids are exactly this list.

/// Every check id, sorted. The analyser's rule ids; the runtime's `max_rows_affected` refusal is allowed
/// with `update-delete-without-where`, one of them.
pub const CHECK_IDS: &[&str] = &[
    "backfill-in-ddl-transaction",
    "constraint-dropped",
    "destructive-operation",
    "down-data-loss",
    "foreign-key-without-index",
    "not-analysed",
    "not-understood",
    "pg-access-exclusive-held",
    "pg-add-column-default-rewrite",
    "pg-add-column-generated-rewrite",
    "pg-add-column-not-null-without-default",
    "pg-check-not-valid",
    "pg-column-type-rewrite",
    "pg-concurrently-in-transaction",
    "pg-constraint-builds-index",
    "pg-drop-index-not-concurrent",
    "pg-foreign-key-not-valid",
    "pg-index-not-concurrent",
    "pg-lock-table",
    "pg-refresh-materialized-view-not-concurrent",
    "pg-set-not-null",
    "pg-vacuum-full",
    "pg-validate-in-same-transaction",
    "pg-version-unsupported",
    "rename-breaks-clients",
    "sqlite-add-column-refused",
    "sqlite-foreign-keys-pragma-in-transaction",
    "sqlite-rebuild-without-foreign-key-check",
    "sqlite-table-rebuild-needed",
    "update-delete-without-where",
    "vacuum-in-transaction",
];

/// `true` when `id` is a known check id (exact, case-sensitive: ids are lower-case kebab-case).
pub fn is_known_check(id: &str) -> bool {
    CHECK_IDS.binary_search(&id).is_ok()
}

/// The known id closest to `id` (at most a third of its letters different), for "did you mean".
pub fn closest_check(id: &str) -> Option<&'static str> {
    let wanted = id.to_ascii_lowercase();
    CHECK_IDS
        .iter()
        .map(|known| (edit_distance(&wanted, known), *known))
        .filter(|(d, _)| *d <= wanted.len().max(3) / 3)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance over bytes (ids are ASCII; `id` is cut to 64 bytes, so this stays cheap).
fn edit_distance(a: &str, b: &str) -> usize {
    let a = &a.as_bytes()[..a.len().min(64)];
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique() {
        assert!(CHECK_IDS.windows(2).all(|w| w[0] < w[1]), "{CHECK_IDS:?}");
    }

    #[test]
    fn known_and_suggested() {
        assert!(is_known_check("pg-index-not-concurrent"));
        assert!(!is_known_check("pg-index-concurrently"));
        assert_eq!(
            closest_check("pg-index-not-concurent"),
            Some("pg-index-not-concurrent")
        );
        assert_eq!(closest_check("PG-SET-NOT-NULL"), Some("pg-set-not-null"));
        assert_eq!(closest_check("something-else-entirely"), None);
    }
}
