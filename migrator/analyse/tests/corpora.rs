//! The analyser on real SQL: the migration histories that published crates ship (scripts/corpora.tsv,
//! fetched by scripts/fetch-corpora.sh into target/corpora/, checksum-pinned, never copied into this
//! repository), each analysed in version order as its tool would apply it. Every finding is checked in
//! as `tests/snapshots/corpora.txt`; the first findings of each rule were read by hand and judged in
//! `tests/snapshots/corpora-judged.md`. A change in what the analyser says about real code shows up here.
//!
//! The corpora are read in their tools' layouts directly (diesel `<version>_<name>/up.sql`, sqlx
//! `<version>_<desc>.sql` / `.up.sql`, refinery `V<n>__<name>.sql`), split with
//! `migrator_format::split_statements`. Without the corpora (no network) the test fails under `CI=true`
//! and says SKIPPED otherwise.

mod common;

use std::borrow::Cow;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use migrator_analyse::{analyse_all, Analysis, Dialect, Options, Status};
use migrator_format::{split_statements, Migration, Statement};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One line of scripts/corpora.tsv.
struct Corpus {
    name: String,
    krate: String,
    version: String,
    layout: String,
    engine: String,
}

fn corpora() -> Vec<Corpus> {
    let tsv = std::fs::read_to_string(root().join("scripts/corpora.tsv")).expect("corpora.tsv");
    tsv.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Corpus {
                name: f[0].into(),
                krate: f[1].into(),
                version: f[2].into(),
                layout: f[5].into(),
                engine: f[6].into(),
            }
        })
        .collect()
}

fn corpora_dir() -> PathBuf {
    std::env::var_os("CORPORA_DIR").map_or_else(|| root().join("target/corpora"), PathBuf::from)
}

/// Fetches the corpora when they are missing; `false` when they cannot be had.
fn ensure_fetched(list: &[Corpus]) -> bool {
    let dir = corpora_dir();
    if list
        .iter()
        .all(|c| dir.join(&c.name).join(".complete").exists())
    {
        return true;
    }
    let status = Command::new("bash")
        .arg(root().join("scripts/fetch-corpora.sh"))
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "scripts/fetch-corpora.sh failed and CI=true: the corpus test cannot run"
        );
        println!("SKIPPED: the corpora could not be fetched (scripts/fetch-corpora.sh)");
        return false;
    }
    true
}

/// Every `.sql` file under `dir`, recursively, as paths relative to `dir`, sorted.
fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read corpus dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "sql") {
                out.push(p.strip_prefix(dir).expect("inside").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The digits of a version prefix (`2019-02-26-002946` -> 20190226002946, `V12` -> 12).
fn version_of(prefix: &str) -> u64 {
    let digits: String = prefix.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// One migration's UP (and DOWN) files in a corpus: (version, UP path, DOWN path, no-transaction).
struct Files {
    version: u64,
    up: PathBuf,
    down: Option<PathBuf>,
    no_transaction: bool,
}

fn migrations_of(dir: &Path, layout: &str) -> Vec<Files> {
    let mut out = Vec::new();
    for rel in sql_files(dir) {
        let file = rel
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("")
            .to_string();
        let (version, down) = match layout {
            "diesel" if file == "up.sql" => {
                let parent = rel.parent().and_then(|p| p.to_str()).unwrap_or("");
                let prefix = parent.split('_').next().unwrap_or("");
                let down = rel.with_file_name("down.sql");
                let meta = std::fs::read_to_string(dir.join(rel.with_file_name("metadata.toml")))
                    .unwrap_or_default();
                let no_tx = meta.contains("run_in_transaction = false");
                out.push(Files {
                    version: version_of(prefix),
                    up: rel.clone(),
                    down: dir.join(&down).exists().then_some(down),
                    no_transaction: no_tx,
                });
                continue;
            }
            "sqlx" if !file.ends_with(".down.sql") => {
                let prefix = file.split('_').next().unwrap_or("");
                let down = file
                    .strip_suffix(".up.sql")
                    .map(|stem| rel.with_file_name(format!("{stem}.down.sql")));
                (version_of(prefix), down)
            }
            "refinery" if file.starts_with('V') || file.starts_with('U') => {
                let prefix = file.split("__").next().unwrap_or("");
                (version_of(prefix), None)
            }
            _ => continue,
        };
        let first = std::fs::read_to_string(dir.join(&rel)).unwrap_or_default();
        out.push(Files {
            version,
            no_transaction: first.trim_start().starts_with("-- no-transaction"),
            up: rel,
            down,
        });
    }
    out.sort_by_key(|f| f.version);
    out
}

/// A file's statements, without a wrapping BEGIN ... COMMIT (the tools run each migration in their own
/// transaction, as migrator does).
fn statements(path: &Path) -> Vec<Statement> {
    let text = std::fs::read_to_string(path).expect("read corpus file");
    let mut raw = split_statements(&text, 1).expect("corpus file splits");
    let word = |s: &str| {
        s.split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    if raw.first().is_some_and(|s| word(&s.sql) == "BEGIN")
        && raw
            .last()
            .is_some_and(|s| matches!(word(&s.sql).as_str(), "COMMIT" | "END"))
    {
        raw.pop();
        raw.remove(0);
    }
    raw.into_iter()
        .map(|s| Statement {
            sql: Cow::Owned(s.sql),
            line: s.line,
        })
        .collect()
}

fn migration(dir: &Path, f: &Files) -> Migration {
    let name = f.up.to_string_lossy().into_owned();
    Migration {
        version: f.version,
        name: Cow::Owned(name.clone()),
        issue: None,
        title: None,
        file_name: Cow::Owned(name),
        checksum: Cow::Borrowed(""),
        no_transaction: f.no_transaction,
        header: Default::default(),
        up: Cow::Owned(statements(&dir.join(&f.up))),
        down: f
            .down
            .as_ref()
            .map(|d| Cow::Owned(statements(&dir.join(d)))),
        tables: Cow::Owned(Vec::new()),
        allows: Cow::Owned(Vec::new()),
        layout: migrator_format::Layout::Native,
        original: None,
        backfill: None,
    }
}

fn render(c: &Corpus, analyses: &[Analysis], out: &mut String, totals: &mut Vec<(String, usize)>) {
    let statements: usize = analyses.iter().map(|a| a.statements.len()).sum();
    let count = |f: fn(&Status) -> bool| {
        analyses
            .iter()
            .flat_map(|a| &a.statements)
            .filter(|s| f(&s.status))
            .count()
    };
    let not_analysed = count(|s| matches!(s, Status::NotAnalysed { .. }));
    let not_understood = count(|s| matches!(s, Status::NotUnderstood { .. }));
    let _ = writeln!(
        out,
        "# {} ({} {}, {}, {}): {} migrations, {statements} statements ({not_analysed} not analysed, {not_understood} not understood)",
        c.name, c.krate, c.version, c.layout, c.engine, analyses.len()
    );
    for a in analyses {
        for f in &a.findings {
            let _ = writeln!(
                out,
                "{}/{}:{}: {}[{}]: {}",
                c.name,
                if f.section == migrator_analyse::Section::Down {
                    a.file
                        .replace("up.sql", "down.sql")
                        .replace(".up.sql", ".down.sql")
                } else {
                    a.file.clone()
                },
                f.line,
                f.severity,
                f.id,
                f.message
            );
            match totals.iter_mut().find(|(id, _)| id == f.id) {
                Some((_, n)) => *n += 1,
                None => totals.push((f.id.to_string(), 1)),
            }
        }
    }
}

#[test]
fn findings_on_the_registry_corpora() {
    let list = corpora();
    if !ensure_fetched(&list) {
        return;
    }
    let mut out = String::from(
        "# Findings of the analyser on the registry corpora (scripts/corpora.tsv), PostgreSQL 15 rules.\n# Judged by hand: tests/snapshots/corpora-judged.md. Rewrite with UPDATE_SNAPSHOTS=1.\n",
    );
    let mut totals = Vec::new();
    for c in &list {
        let dialect = match c.engine.as_str() {
            "postgres" => Dialect::Postgres,
            "sqlite" => Dialect::Sqlite,
            other => {
                let _ = writeln!(
                    out,
                    "# {} ({} {}, {}, {other}): not analysed, the analyser reads PostgreSQL and SQLite",
                    c.name, c.krate, c.version, c.layout
                );
                continue;
            }
        };
        let dir = corpora_dir().join(&c.name);
        let migrations: Vec<Migration> = migrations_of(&dir, &c.layout)
            .iter()
            .map(|f| migration(&dir, f))
            .collect();
        assert!(!migrations.is_empty(), "{}: no migration found", c.name);
        let analyses = analyse_all(&migrations, Options::new(dialect));
        render(c, &analyses, &mut out, &mut totals);
    }
    totals.sort();
    out.push_str("# Findings per rule:\n");
    for (id, n) in totals {
        let _ = writeln!(out, "#   {id}: {n}");
    }
    common::assert_snapshot("corpora.txt", &out);
}
