//! The generator's corpus: issue exports in the styles people write them (`tests/fixtures/corpus/*.json`),
//! each with its expected migrations checked in (`tests/fixtures/corpus/expected/<case>/<engine>/`). On
//! SQLite and on PostgreSQL, every case is generated against the example application's schema (the
//! repository's `migrations/`, and their PostgreSQL port) with rows in it, and must:
//!
//! - generate the expected files exactly, each passing the lint at warning level;
//! - apply through a boot with the default policy, whose rehearsal runs UP, DOWN (schema compared) and UP
//!   again on a scratch copy first (a reviewer's `-- Reviewed-by:` is added where the file asks for one);
//! - roll back by issue to a schema identical to the one before, and apply again to the same schema.
//!
//! `UPDATE_EXPECT=1 cargo test -p migrator-tool --test corpus` rewrites the expected files.

use std::path::{Path, PathBuf};

use migrator::{Config, Migrator, RollbackOptions};
use migrator_tests::{Db, Workspace};
use migrator_tool::{generate_issue, Dialect, Generated, Issue, RenderOptions, Schema};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn base_migrations(dialect: Dialect) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match dialect {
        Dialect::Sqlite => root.join("../../migrations"),
        Dialect::Postgres => root.join("tests/fixtures/example-app-postgres"),
    }
}

/// Rows in every table of the example app, so NOT NULL, UNIQUE and rebuilds meet data.
const SEED: &str = "
INSERT INTO users (id, email, display_name) VALUES
  ('00000000-0000-0000-0000-000000000001', 'ada@example.com', 'Ada'),
  ('00000000-0000-0000-0000-000000000002', 'bob@example.com', 'Bob'),
  ('00000000-0000-0000-0000-000000000003', 'cy@example.com', 'Cy');
INSERT INTO contacts (id, owner_id, name, email) VALUES
  ('00000000-0000-0000-0000-000000000011', '00000000-0000-0000-0000-000000000001', 'Carol', 'carol@example.com'),
  ('00000000-0000-0000-0000-000000000012', '00000000-0000-0000-0000-000000000002', 'Dan', NULL),
  ('00000000-0000-0000-0000-000000000013', NULL, 'Eve', 'eve@example.com'),
  ('00000000-0000-0000-0000-000000000014', '00000000-0000-0000-0000-000000000001', 'Finn', 'finn@example.com');
INSERT INTO activities (contact_id, owner_id, type, note) VALUES
  ('00000000-0000-0000-0000-000000000011', '00000000-0000-0000-0000-000000000001', 'call', 'first call'),
  ('00000000-0000-0000-0000-000000000012', '00000000-0000-0000-0000-000000000002', 'mail', NULL),
  ('00000000-0000-0000-0000-000000000011', '00000000-0000-0000-0000-000000000001', 'meeting', 'demo');
INSERT INTO user_preferences (user_id, theme, language) VALUES
  ('00000000-0000-0000-0000-000000000001', 'light', 'en'),
  ('00000000-0000-0000-0000-000000000002', 'dark', 'de');
INSERT INTO contact_enrichment (contact_id, source, data, confidence_score) VALUES
  ('00000000-0000-0000-0000-000000000011', 'clearbit', '{}', 0.5);
";

fn cases() -> Vec<(String, Issue)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let issue = migrator_tool::export::load_path(&p)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .remove(0);
            (name, issue)
        })
        .collect()
}

/// The schema as compared: the runtime's fingerprint (what the rehearsal compares: columns with their
/// full types, constraints, indexes, triggers, ...), plus on SQLite the text SQLite keeps of every object
/// (without the double quotes its RENAME adds).
/// PostgreSQL CHECK texts are read without their casts and parentheses: PostgreSQL re-reads a CHECK when
/// its column's type changes, and a `pg_dump` + restore (the rehearsal's copy) does the same, so
/// `x IN ('a')` on a varchar may print as `x::text = ANY (ARRAY[('a'::varchar)::text])` instead of
/// `ANY ((ARRAY['a'::varchar])::text[])`: the same constraint.
fn schema_of(db: &Db) -> Vec<String> {
    let mut rows: Vec<String> = db
        .with_backend(|b| {
            b.fingerprint()
                .expect("the engine reads fingerprints")
                .schema_fingerprint(None, &["schema_migrations", "schema_migrations_log"])
        })
        .expect("fingerprint")
        .into_iter()
        .map(|o| {
            if o.kind == "constraint" && o.definition.starts_with("CHECK") {
                format!("{} {}: {}", o.kind, o.name, without_casts(&o.definition))
            } else {
                o.to_string()
            }
        })
        .collect();
    if !db.is_postgres() {
        // SQLite's text of each object; its RENAME writes the names it rewrites in double quotes.
        rows.extend(db.fingerprint().into_iter().map(|r| r.replace('"', "")));
    }
    // The order of `sqlite_schema` follows creation; a rebuilt table comes later, the same schema.
    rows.sort();
    rows
}

/// `text` without `::type` casts, parentheses and spaces.
fn without_casts(text: &str) -> String {
    const TYPE_WORDS: &[&str] = &["varying", "precision", "with", "without", "time", "zone"];
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("::") {
        out.push_str(&rest[..at]);
        let mut after = &rest[at + 2..];
        loop {
            let word_end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '[' || c == ']'))
                .unwrap_or(after.len());
            after = &after[word_end..];
            let next = after.trim_start();
            match TYPE_WORDS.iter().find(|w| next.starts_with(*w)) {
                Some(_) => after = next,
                None => break,
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out.chars()
        .filter(|c| !matches!(c, '(' | ')' | ' '))
        .collect()
}

/// The default policy, with the backups of the boot in the case's own directory: the PostgreSQL
/// rehearsal then restores its copy from that backup (without one it dumps to a file named after the
/// process, which two rehearsals of one process at once would share).
fn config(ws: &Workspace) -> Config {
    Config {
        backup_dir: Some(ws.path().join("backups")),
        ..Config::default()
    }
}

/// The example app's schema with rows, and the schema as the generator sees it.
fn base(ws: &Workspace, db: &Db, dialect: Dialect) -> (Schema, String) {
    for entry in std::fs::read_dir(base_migrations(dialect)).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            continue;
        }
        std::fs::copy(&p, ws.migrations().join(p.file_name().unwrap())).unwrap();
    }
    // The example app itself needs no rehearsal here; the case's migrations get one.
    let plain = Config {
        require_test_run: false,
        require_backup: false,
        ..config(ws)
    };
    db.boot_with(&ws.set(), plain)
        .expect("boot the example app");
    db.exec(SEED);
    match db {
        Db::Sqlite(_) => {
            let (schema, replay) = Schema::replay_sqlite(&ws.migrations()).unwrap();
            (
                schema,
                format!(
                    "replayed migrations/ ({} migrations) on {}",
                    replay.migrations, replay.engine
                ),
            )
        }
        Db::Postgres(pg) => (
            Schema::from_postgres(&mut pg.connect()).unwrap(),
            "read from the test database".to_string(),
        ),
        other => panic!("the generator writes no {} dialect", other.engine_name()),
    }
}

/// Compares the generated files with the expected ones (or writes them with `UPDATE_EXPECT=1`).
fn expect(case: &str, engine: &str, g: &Generated) -> Result<(), String> {
    let dir = corpus().join("expected").join(case).join(engine);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in &g.files {
            std::fs::write(dir.join(&f.file_name), &f.text).unwrap();
        }
        return Ok(());
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| {
            format!(
                "{}: {e} (run with UPDATE_EXPECT=1 to write it)",
                dir.display()
            )
        })?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let generated: Vec<String> = g.files.iter().map(|f| f.file_name.clone()).collect();
    if names != generated {
        return Err(format!(
            "files: expected {names:?}, generated {generated:?}"
        ));
    }
    for f in &g.files {
        let want = std::fs::read_to_string(dir.join(&f.file_name)).unwrap();
        if want != f.text {
            return Err(format!(
                "{} differs from the expected file:\n{}",
                f.file_name,
                migrator_tool::write::diff(&want, &f.text)
            ));
        }
    }
    Ok(())
}

/// A reviewer's mark where the file asks for one (the default policy refuses the file without it).
fn reviewed(text: &str) -> String {
    if text.contains("-- Review required:") {
        text.replacen(
            "-- Author: migrator-tool\n",
            "-- Author: migrator-tool\n-- Reviewed-by: corpus-test\n",
            1,
        )
    } else {
        text.to_string()
    }
}

fn one(
    case: &str,
    issue: &Issue,
    db: &Db,
    ws: &Workspace,
    dialect: Dialect,
) -> Result<usize, String> {
    let (schema, schema_source) = base(ws, db, dialect);
    let options = RenderOptions {
        dialect,
        version: 20240301000000,
        name: None,
        with_comments: true,
        schema,
        schema_source,
    };
    let g = generate_issue(issue, &options).map_err(|e| format!("generate: {e}"))?;
    let engine = dialect.name();
    expect(case, engine, &g)?;
    for f in &g.files {
        let parsed =
            migrator_format::parse_file(&f.file_name, &f.text).map_err(|e| e.to_string())?;
        let a =
            migrator_analyse::analyse(&parsed, migrator_analyse::Options::new(dialect.analyse()));
        let failing: Vec<String> = a
            .failing(migrator_analyse::Severity::Warning)
            .map(|x| format!("{}: {}", x.id, x.message))
            .collect();
        if !failing.is_empty() {
            return Err(format!("{} fails its lint: {failing:?}", f.file_name));
        }
        ws.write(&f.file_name, &reviewed(&f.text));
    }
    let before = schema_of(db);
    let set = ws.set();
    let report = db
        .boot_with(&set, config(ws))
        .map_err(|e| format!("boot (rehearsal, then apply):\n{e}"))?;
    if report.applied_versions().len() != g.files.len() {
        return Err(format!("applied {:?}", report.applied_versions()));
    }
    let after = schema_of(db);
    if after == before {
        return Err("the migration changed nothing".into());
    }
    let migrator = Migrator::new(&set).with_config(config(ws));
    db.with_backend(|b| {
        migrator.rollback_issue(
            b,
            issue.number,
            RollbackOptions {
                yes: true,
                ..Default::default()
            },
        )
    })
    .map_err(|e| format!("rollback: {e}"))?;
    let rolled_back = schema_of(db);
    if rolled_back != before {
        let count = |rows: &[String], r: &String| rows.iter().filter(|x| *x == r).count();
        let gone: Vec<&String> = before
            .iter()
            .filter(|r| count(&rolled_back, r) < count(&before, r))
            .collect();
        let extra: Vec<&String> = rolled_back
            .iter()
            .filter(|r| count(&before, r) < count(&rolled_back, r))
            .collect();
        return Err(format!(
            "the rollback does not restore the schema: missing {gone:#?}, left {extra:#?}"
        ));
    }
    db.with_backend(|b| migrator.reapply_issue(b, issue.number))
        .map_err(|e| format!("re-apply: {e}"))?;
    if schema_of(db) != after {
        return Err("re-applying gives another schema".into());
    }
    Ok(g.files.len())
}

fn run(dialect: Dialect) {
    if dialect == Dialect::Postgres && Db::postgres().is_none() {
        return;
    }
    let all = cases();
    let only = std::env::var("CORPUS_CASE").ok();
    let todo: Vec<&(String, Issue)> = all
        .iter()
        .filter(|(case, _)| only.as_ref().is_none_or(|o| case.contains(o.as_str())))
        .collect();
    // The cases wait on the database more than they compute: four at a time.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((case, issue)) = todo.get(n) else {
                    break;
                };
                let ws = Workspace::new();
                let db = match dialect {
                    Dialect::Sqlite => Db::sqlite(&ws),
                    Dialect::Postgres => Db::postgres().expect("PostgreSQL"),
                };
                let result = one(case, issue, &db, &ws, dialect)
                    .map_err(|e| format!("{case} ({}): {e}", dialect.name()));
                results.lock().unwrap().push(result);
            });
        }
    });
    let results = results.into_inner().unwrap();
    let files: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        todo.len(),
        failures.join("\n\n")
    );
    assert!(
        all.len() >= 30 || only.is_some(),
        "the corpus holds {} cases",
        all.len()
    );
    eprintln!(
        "{} cases, {files} migration files, on {}",
        todo.len(),
        dialect.name()
    );
}

#[test]
fn every_case_generates_applies_rehearses_rolls_back_and_reapplies_on_sqlite() {
    run(Dialect::Sqlite);
}

#[test]
fn every_case_generates_applies_rehearses_rolls_back_and_reapplies_on_postgres() {
    run(Dialect::Postgres);
}
