//! What the snapshot tests share: compare a text with the file checked in under `tests/snapshots/`, or
//! rewrite the file when `UPDATE_SNAPSHOTS=1` (then read the diff before committing it).

use std::path::PathBuf;

/// The snapshot file `name` under `tests/snapshots/`.
pub fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Asserts `actual` equals the snapshot `name` exactly; with `UPDATE_SNAPSHOTS=1` writes it instead.
#[track_caller]
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {} differs from line {}:\n  expected: {:?}\n  actual:   {:?}\nrun with UPDATE_SNAPSHOTS=1 to rewrite it, then read the diff",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            actual.lines().nth(first).unwrap_or("<end>"),
        );
    }
}
