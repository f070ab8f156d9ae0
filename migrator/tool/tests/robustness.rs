//! No input panics: every prefix of the fixture and corpus bodies, and bodies with each line dropped,
//! either generate files that parse or fail with an error.

mod common;

use common::*;
use migrator_tool::{generate_issue, Dialect, RenderOptions, Schema};

fn check(schemas: &[(Dialect, Schema)], number: u32, body: &str) {
    let issue = issue(number, "Robustness", body);
    for (dialect, schema) in schemas {
        let options = RenderOptions {
            dialect: *dialect,
            version: 20240115143022,
            name: None,
            with_comments: true,
            schema: schema.clone(),
            schema_source: "the example app".into(),
        };
        if let Ok(g) = generate_issue(&issue, &options) {
            for f in &g.files {
                migrator_format::parse_file(&f.file_name, &f.text).unwrap();
            }
        }
    }
}

#[test]
fn prefixes_and_dropped_lines_never_panic() {
    let schemas: Vec<(Dialect, Schema)> = [Dialect::Sqlite, Dialect::Postgres]
        .into_iter()
        .map(|d| (d, example_schema(d, Some(234)).0))
        .collect();
    let mut bodies: Vec<String> = ["198.json", "212.json", "234.json"]
        .iter()
        .map(|f| fixture_issue(f).body)
        .collect();
    for name in [
        "03-deals-colon-intro-column-bullets",
        "02-companies-bold-intro-abbrev",
    ] {
        let path = fixtures().join(format!("../corpus/{name}.json"));
        bodies.push(
            migrator_tool::export::load_path(&path)
                .unwrap()
                .remove(0)
                .body,
        );
    }
    bodies.push(include_str!("corpus.rs").to_string());
    for body in &bodies {
        for (i, _) in body.char_indices().step_by(11) {
            check(&schemas, 1, &body[..i]);
        }
        let lines: Vec<&str> = body.lines().collect();
        for skip in 0..lines.len() {
            let mut l = lines.clone();
            l.remove(skip);
            check(&schemas, 2, &l.join("\n"));
        }
    }
}
