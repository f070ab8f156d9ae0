//! Real migration histories, as their projects publish them: `scripts/fetch-corpora.sh` downloads the crates
//! listed in `scripts/corpora.tsv` from the registry (checksum-pinned) into `target/corpora/`, and every
//! corpus is loaded here: count, order, the original tool's versions and checksums, no-transaction flags,
//! irreversible DOWNs, refused entries; then imported to native files and read back.
//!
//! The expected figures were established from the unpacked files with `ls`, `grep`, `sha384sum` and an
//! independent SipHash-1-3 (see each row); the loader is never asked for them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use migrator_format::{import::import, load_dir, DownKind, Layout, LoadedDir, Migration, Original};

/// What a corpus holds, from its files.
struct Expect {
    name: &'static str,
    layout: Layout,
    /// Migrations (SQL ones; refinery `.rs` migrations are refused and listed in `refused`).
    count: usize,
    /// The original tool's first and last version.
    first: &'static str,
    last: &'static str,
    /// Migrations (file names) whose DOWN is empty or comments only.
    irreversible: &'static [&'static str],
    /// Migrations with a DOWN of statements.
    reversible: usize,
    /// Entries refused by name (refinery Rust migrations).
    refused: &'static [&'static str],
}

const CORPORA: &[Expect] = &[
    Expect {
        // 233 directories `<version>_<name>` with up.sql and down.sql; one down.sql holds only a comment.
        name: "lemmy",
        layout: Layout::Diesel,
        count: 233,
        first: "00000000000000",
        last: "20250729152743",
        irreversible: &["2023-05-10-095739_force_enable_undetermined_language"],
        reversible: 232,
        refused: &[],
    },
    Expect {
        name: "fang-postgres",
        layout: Layout::Diesel,
        count: 2,
        first: "00000000000000",
        last: "20220820151615",
        irreversible: &[],
        reversible: 2,
        refused: &[],
    },
    Expect {
        name: "fang-sqlite",
        layout: Layout::Diesel,
        count: 1,
        first: "20230817102017",
        last: "20230817102017",
        irreversible: &[],
        reversible: 1,
        refused: &[],
    },
    Expect {
        name: "fang-mysql",
        layout: Layout::Diesel,
        count: 1,
        first: "20230817102017",
        last: "20230817102017",
        irreversible: &[],
        reversible: 1,
        refused: &[],
    },
    Expect {
        name: "atuin-server-postgres",
        layout: Layout::Sqlx,
        count: 20,
        first: "20210425153745",
        last: "20260127000000",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        name: "atuin-server-sqlite",
        layout: Layout::Sqlx,
        count: 7,
        first: "20231203124112",
        last: "20260127000000",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        name: "atuin-client",
        layout: Layout::Sqlx,
        count: 12,
        first: "20210422143411",
        last: "20260818000000",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        name: "apalis-postgres",
        layout: Layout::Sqlx,
        count: 23,
        first: "20220530084123",
        last: "20260902075949",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        name: "apalis-sqlite",
        layout: Layout::Sqlx,
        count: 11,
        first: "20220530084123",
        last: "20260804103122",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        name: "mostro",
        layout: Layout::Sqlx,
        count: 26,
        first: "20221222153301",
        last: "20261020130000",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        // Five .up.sql/.down.sql pairs; one down.sql holds only a comment.
        name: "sqlxmq",
        layout: Layout::Sqlx,
        count: 5,
        first: "20210316025847",
        last: "20220713122907",
        irreversible: &["20220713122907_fix-clear_all-keep-nil-message.up.sql"],
        reversible: 4,
        refused: &[],
    },
    Expect {
        name: "pg_task",
        layout: Layout::Sqlx,
        count: 5,
        first: "20230703122702",
        last: "20260529000000",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        name: "underway",
        layout: Layout::Sqlx,
        count: 6,
        first: "20240921151751",
        last: "20241126224448",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        // refinery's own test migrations: two SQL files in sub-directories, two Rust migrations.
        name: "refinery-tests",
        layout: Layout::Refinery,
        count: 2,
        first: "2",
        last: "3",
        irreversible: &[],
        reversible: 0,
        refused: &["V1-2/V1__initial.rs", "V4__add_year_to_motos_table.rs"],
    },
    Expect {
        // refinery's int8-versions tests: unversioned, 14-digit versions beyond i32.
        name: "refinery-int8",
        layout: Layout::Refinery,
        count: 2,
        first: "20240504090301",
        last: "20240504090322",
        irreversible: &[],
        reversible: 0,
        refused: &[
            "U20240504090241__initial.rs",
            "U20240504090343__add_year_to_motos_table.rs",
        ],
    },
    Expect {
        name: "pgorm",
        layout: Layout::Refinery,
        count: 2,
        first: "1",
        last: "2",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
    Expect {
        // V00__ and V01__: versions with leading zeros.
        name: "springtime-refinery",
        layout: Layout::Refinery,
        count: 2,
        first: "0",
        last: "1",
        irreversible: &[],
        reversible: 0,
        refused: &[],
    },
];

/// Known checksums of the original tools, computed outside migrator: `sha384sum` of the sqlx files, and
/// for refinery an independent SipHash-1-3 (keys 0, 0) over the bytes `std::hash::Hash` feeds it (name,
/// 0xff, the version's little-endian bytes, the file, 0xff).
const SQLX_SHA384: &[(&str, &str, &str)] = &[
    (
        "atuin-server-postgres",
        "20210425153745_create_history.sql",
        "7d3e1f3e9368f759ef915806a1287c0821f9ded72cd502d63b05080663ced17f2d7e9e96992b02c82368c724fb466b96",
    ),
    (
        "sqlxmq",
        "20210316025847_setup.up.sql",
        "eae3a10bb252495bb1a0fcaf8ed1168ee8c0d0614a7eae89e53456f36f59a567bdf831f1eaa01c0d5a732b0342664008",
    ),
    (
        "mostro",
        "20221222153301_orders.sql",
        "b544d6c3b0f6538aac83767b912890f1d9fc5defb83ab033be4a6fb5216b87f681354bab0b6eae83a2f66199494a27d0",
    ),
];
const REFINERY_SIPHASH: &[(&str, &str, Option<u64>, u64)] = &[
    (
        "refinery-tests",
        "V1-2/V2__add_cars_and_motos_table.sql",
        Some(15750824261375377119),
        4170119461217490642,
    ),
    (
        "pgorm",
        "V1__create_products.sql",
        Some(4585828182390751017),
        17911634108110065087,
    ),
    (
        "springtime-refinery",
        "V00__example_1.sql",
        Some(16908254667110607993),
        12928308712673310409,
    ),
    // Beyond i32: only an int8-versions build of refinery can hold it, so both fields carry that value.
    (
        "refinery-int8",
        "U20240504090301__add_cars_and_motos_table.sql",
        None,
        17914081703616864041,
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the fetch script once per test process (idempotent: corpora already unpacked are kept; the tests
/// of this file must not unpack at the same time) and returns the corpora directory.
fn corpora() -> PathBuf {
    static FETCHED: OnceLock<PathBuf> = OnceLock::new();
    FETCHED.get_or_init(fetch).clone()
}

fn fetch() -> PathBuf {
    let root = root();
    let output = Command::new("bash")
        .arg(root.join("scripts/fetch-corpora.sh"))
        .output()
        .expect("run scripts/fetch-corpora.sh");
    assert!(
        output.status.success(),
        "scripts/fetch-corpora.sh failed (the corpora come from the crates.io registry):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::env::var_os("CORPORA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/corpora"))
}

fn original_version(m: &Migration) -> String {
    m.original
        .as_ref()
        .map(Original::version_text)
        .unwrap_or_default()
}

/// A copy of a corpus without its refinery Rust migrations.
fn without_rust(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap();
            if path.is_dir() {
                std::fs::create_dir_all(copy.path().join(rel)).unwrap();
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "rs") {
                std::fs::copy(&path, copy.path().join(rel)).unwrap();
            }
        }
    }
    copy
}

fn load(dir: &Path, expect: &Expect) -> (LoadedDir, Option<tempfile::TempDir>) {
    if expect.refused.is_empty() {
        let loaded = load_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", expect.name));
        return (loaded, None);
    }
    let message = load_dir(dir).unwrap_err().to_string();
    for rel in expect.refused {
        assert!(
            message.contains(&format!(
                "{rel}:1: not a migration: a refinery Rust migration"
            )),
            "{}: {rel} in\n{message}",
            expect.name
        );
    }
    assert_eq!(message.lines().count(), expect.refused.len(), "{message}");
    let copy = without_rust(dir);
    let loaded = load_dir(copy.path()).unwrap_or_else(|e| panic!("{}: {e}", expect.name));
    (loaded, Some(copy))
}

/// The order the original tool applies them in: diesel by version string, sqlx and refinery by number.
fn in_tool_order(layout: Layout, migrations: &[Migration]) -> bool {
    migrations.windows(2).all(|w| {
        let (a, b) = (original_version(&w[0]), original_version(&w[1]));
        match layout {
            Layout::Diesel => a < b,
            _ => a.parse::<i64>().unwrap() < b.parse::<i64>().unwrap(),
        }
    }) && migrations.windows(2).all(|w| w[0].version < w[1].version)
}

#[test]
fn every_corpus_loads_in_its_tools_order_and_imports_back() {
    let dir = corpora();
    let listed = std::fs::read_to_string(root().join("scripts/corpora.tsv")).unwrap();
    let names: Vec<&str> = listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .collect();
    let mut total = 0;
    let started = Instant::now();
    for name in &names {
        let expect = CORPORA.iter().find(|e| e.name == *name).unwrap_or_else(|| {
            panic!("corpus {name} of scripts/corpora.tsv has no expectations here")
        });
        let src = dir.join(name);
        let (loaded, copy) = load(&src, expect);
        let src = copy.as_ref().map_or(src.as_path(), |c| c.path());
        let migrations = &loaded.migrations;
        assert_eq!(loaded.layout, expect.layout, "{name}");
        assert_eq!(migrations.len(), expect.count, "{name}");
        assert!(in_tool_order(expect.layout, migrations), "{name}");
        assert_eq!(original_version(&migrations[0]), expect.first, "{name}");
        assert_eq!(
            original_version(&migrations[migrations.len() - 1]),
            expect.last,
            "{name}"
        );
        assert!(
            migrations.iter().all(|m| !m.no_transaction),
            "{name}: none of these histories opts out of transactions"
        );
        let irreversible: Vec<&str> = migrations
            .iter()
            .filter(|m| m.down_kind() == DownKind::Irreversible)
            .map(|m| m.file_name.as_ref())
            .collect();
        assert_eq!(irreversible, expect.irreversible, "{name}");
        let reversible = migrations
            .iter()
            .filter(|m| m.down_kind() == DownKind::Statements)
            .count();
        assert_eq!(reversible, expect.reversible, "{name}");
        assert!(migrations.iter().all(|m| !m.up.is_empty()), "{name}");

        let files = import(src, &loaded).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let out = tempfile::tempdir().unwrap();
        for f in &files {
            std::fs::write(out.path().join(&f.rel_path), &f.text).unwrap();
        }
        let back = load_dir(out.path()).unwrap_or_else(|e| panic!("{name} imported: {e}"));
        assert_eq!(back.layout, Layout::Native);
        for (a, b) in migrations.iter().zip(back.iter()) {
            assert_eq!((a.version, &a.original), (b.version, &b.original), "{name}");
            assert_eq!(a.up.len(), b.up.len(), "{name} {}", a.file_name);
            assert_eq!(a.down_kind(), b.down_kind(), "{name} {}", a.file_name);
        }
        total += migrations.len();
    }
    assert_eq!(names.len(), CORPORA.len());
    println!(
        "{total} migrations of {} corpora loaded, imported and read back in {:.2} s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(total, 360);
}

#[test]
fn the_original_tools_checksums_match_known_values() {
    let dir = corpora();
    for (corpus, file, sha384) in SQLX_SHA384 {
        let loaded = load_dir(&dir.join(corpus)).unwrap();
        let m = loaded.iter().find(|m| m.file_name == *file).unwrap();
        match &m.original {
            Some(Original::Sqlx { checksum, .. }) => assert_eq!(checksum, sha384, "{file}"),
            other => panic!("{other:?}"),
        }
    }
    for (corpus, file, narrow, wide) in REFINERY_SIPHASH {
        let copy = without_rust(&dir.join(corpus));
        let loaded = load_dir(copy.path()).unwrap();
        let m = loaded.iter().find(|m| m.file_name == *file).unwrap();
        match &m.original {
            Some(Original::Refinery {
                checksum,
                checksum_int8,
                ..
            }) => {
                assert_eq!(*checksum, narrow.unwrap_or(*wide), "{file}");
                assert_eq!(checksum_int8, wide, "{file}");
            }
            other => panic!("{other:?}"),
        }
    }
}
