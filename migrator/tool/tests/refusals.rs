//! What the generator refuses, with the part, line and reason, before anything is written: lines of a data
//! model it does not understand, references the schema does not have, engine limits, hostile names. And
//! what it accepts with a note (reserved words).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use migrator_tool::{Dialect, GenError};

fn refused(body: &str, dialect: Dialect) -> String {
    match render(&issue(900, "Refused", body), dialect) {
        Ok(g) => panic!("generated for {dialect:?}:\n{}", g.migration),
        Err(e) => e.to_string(),
    }
}

fn both(body: &str, expect: &[&str]) {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let e = refused(body, dialect);
        for x in expect {
            assert!(e.contains(x), "{dialect:?}: {x:?} not in:\n{e}");
        }
    }
}

#[test]
fn a_data_model_line_that_names_the_schema_and_is_not_understood_fails() {
    // Prose naming a column of the schema in code: a stated change, not read.
    both(
        "## Data model\n\n- Add column `nickname` (TEXT) to `users`\n\nAlso `users.email` should be checked for plus-addresses somehow.\n",
        &["issue #900: 1 part(s) of the data model could not be read", "body line 5", "names column users.email", "(in: Also `users.email` should"],
    );
    // Key vocabulary in a sentence that does not parse.
    both(
        "## Schema\n\n### New table `tags`\n| Column | Type |\n|---|---|\n| name | TEXT |\n| user_id | UUID |\n\nThe primary key is whatever makes tags unique per user, I guess.\n",
        &["body line 9", "primary key"],
    );
    // A Notes cell that speaks of keys but is not a constraint.
    both(
        "### Changes to `contacts`\n| Column | Type | Notes |\n|---|---|---|\n| region | TEXT | foreign key to the regions service |\n",
        &["body line 4", "the note", "speaks of keys"],
    );
    // In a comment: the part is named.
    let mut i = issue(
        901,
        "Comment",
        "## Data model\n- Add column `nickname` (TEXT) to `users`\n",
    );
    i.comments.push(migrator_tool::export::Comment {
        author: Some("dba".into()),
        body: "Follow-up:\n\n## Schema\n- Make `users`.`nickname` unique-ish\n".into(),
    });
    let e = render(&i, Dialect::Sqlite).unwrap_err().to_string();
    assert!(e.contains("comment 1 line 4"), "{e}");
}

#[test]
fn references_the_schema_does_not_have_are_refused() {
    let cases: &[(&str, &[&str])] = &[
        ("## Data model\n- Add column `x` (TEXT) to `accounts`\n", &["body line 2", "table accounts does not exist in the schema"]),
        ("## Data model\n- Drop column `fax` from `contacts`\n", &["column contacts.fax does not exist", "contacts has id, owner_id"]),
        ("## Data model\n- Rename `users`.`nick` to `nickname`\n", &["column users.nick does not exist"]),
        ("### New table `users`\n| Column | Type |\n|---|---|\n| id | TEXT |\n", &["table users already exists"]),
        ("### New table `x`\n| Column | Type | Constraints |\n|---|---|---|\n| id | TEXT | pk |\n| owner | TEXT | references users(email2) |\n", &["references users.email2, which does not exist"]),
        ("### New table `x`\n| Column | Type | Constraints |\n|---|---|---|\n| id | TEXT | pk |\n| owner | TEXT | references contacts(name) |\n", &["not the primary key or a UNIQUE key of contacts"]),
        ("### New table `x`\n| Column | Type | Constraints |\n|---|---|---|\n| id | TEXT | pk, check (idd > 0) |\n", &["names idd, which is not a column of x"]),
        ("## Data model\n- Drop table `users`\n", &["table users is referenced by", "contacts(owner_id)"]),
        ("## Data model\n- Drop column `id` from `contacts`\n", &["primary key"]),
        ("## Data model\n- Add column `verified` (BOOLEAN, not null) to `users`\n", &["users.verified is NOT NULL without a default", "fill it with an UPDATE"]),
        ("## Data model\n- Drop index `idx_nope`\n", &["index idx_nope does not exist in the schema"]),
        ("```sql\nUPDATE contacts SET name = upper(name);\n```\n", &["without WHERE rewrites every row"]),
    ];
    for (body, expect) in cases {
        both(body, expect);
    }
    // PostgreSQL compares the types of a foreign key (SQLite's affinities agree: UUID is TEXT there).
    let e = refused(
        "### New table `x`\n| Column | Type | Constraints |\n|---|---|---|\n| id | BIGINT | pk |\n| owner | INTEGER | references users(id) |\n",
        Dialect::Postgres,
    );
    assert!(
        e.contains("x.owner is INTEGER but references users.id of type UUID"),
        "{e}"
    );
}

fn wide_table(columns: usize) -> String {
    let mut body =
        String::from("### New table `wide`\n| Column | Type |\n|---|---|\n| id | INTEGER |\n");
    for n in 1..columns {
        body.push_str(&format!("| c{n} | TEXT |\n"));
    }
    body
}

#[test]
fn engine_limits_are_checked_at_generation() {
    let e = refused(&wide_table(30_000), Dialect::Sqlite);
    assert!(
        e.contains("table wide would have 30000 columns; SQLite allows 2000 per table"),
        "{e}"
    );
    let e = refused(&wide_table(1601), Dialect::Postgres);
    assert!(e.contains("1601 columns; PostgreSQL allows 1600"), "{e}");
    // 1601 is fine for SQLite: the limit is per engine.
    render(&issue(902, "Wide", &wide_table(1601)), Dialect::Sqlite).unwrap();
    // Adding to an existing table counts its columns.
    let long = "a".repeat(64);
    both(
        &format!("## Data model\n- Add column `{long}` (TEXT) to `users`\n"),
        &["body line 2", "longer than 63 characters"],
    );
}

#[test]
fn reserved_words_are_quoted_per_engine_and_noted() {
    let body = "### New table `audit`\n| Column | Type |\n|---|---|\n| id | BIGSERIAL |\n| user | TEXT |\n| order | INTEGER |\n";
    let g = render(&issue(903, "Audit", body), Dialect::Postgres).unwrap();
    assert!(
        g.migration.contains("\"user\" TEXT") && g.migration.contains("\"order\" INTEGER"),
        "{}",
        g.migration
    );
    assert!(
        g.notes
            .iter()
            .any(|n| n.contains("`user` is a reserved word in PostgreSQL")),
        "{:?}",
        g.notes
    );
    let g = render(&issue(903, "Audit", body), Dialect::Sqlite).unwrap();
    // SQLite takes `user` as a name; `order` it does not.
    assert!(
        g.migration.contains("    user TEXT") && g.migration.contains("\"order\" INTEGER"),
        "{}",
        g.migration
    );
    assert!(
        !g.notes.iter().any(|n| n.contains("`user`")),
        "{:?}",
        g.notes
    );
}

fn tool(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files under `dir`, recursively.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_command_writes_nothing_when_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_example(&d.join("migrations"), Dialect::Sqlite, None);
    let cases = [
        ("wide", wide_table(30_000)),
        ("unread", "## Data model\n- Add column `nickname` (TEXT) to `users`\n\n`users.email` gets a check later.\n".to_string()),
        ("hostile", "### Changes to `users`\n\n| Column | Type |\n|---|---|\n| x\"; DROP TABLE users; -- | TEXT |\n".to_string()),
        ("hostile-default", "## Data model\n- Add column `x` (TEXT, default (SELECT password FROM users)) to `users`\n".to_string()),
    ];
    for (name, body) in cases {
        let export = d.join(format!("{name}.json"));
        std::fs::write(
            &export,
            serde_json::json!({"number": 910, "title": name, "body": body}).to_string(),
        )
        .unwrap();
        let before = files(d);
        let (code, out, err) = tool(d, &["generate", "--export", export.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(err.contains("body line"), "{name}: {err}");
        assert_eq!(files(d), before, "{name}: nothing is written");
    }
    // A refusal is a [`GenError`] whose kind decides the exit code.
    let e = render(&issue(911, "Wide", &wide_table(2001)), Dialect::Sqlite).unwrap_err();
    assert!(matches!(e, GenError::Unsupported { .. }), "{e:?}");
}
