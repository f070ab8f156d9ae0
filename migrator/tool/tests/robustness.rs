//! No input panics: every prefix of the fixture bodies, and bodies with each line dropped, either
//! generate a file that parses or fail with an error.

mod common;

use common::*;
use migrator_tool::Dialect;

fn check(number: u32, body: &str) {
    let issue = issue(number, "Robustness", body);
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        if let Ok(g) = render(&issue, dialect) {
            migrator_format::parse_file(&g.file_name, &g.migration).unwrap();
        }
    }
}

#[test]
fn prefixes_and_dropped_lines_never_panic() {
    let mut bodies: Vec<String> = ["198.json", "212.json", "234.json"]
        .iter()
        .map(|f| fixture_issue(f).body)
        .collect();
    bodies.push(include_str!("sqlite_roundtrip.rs").to_string());
    for body in &bodies {
        for (i, _) in body.char_indices().step_by(7) {
            check(1, &body[..i]);
        }
        let lines: Vec<&str> = body.lines().collect();
        for skip in 0..lines.len() {
            let mut l = lines.clone();
            l.remove(skip);
            check(2, &l.join("\n"));
        }
    }
}
