//! The spec's #234 export produces a migration equivalent to the spec's example file: same tables, columns,
//! constraints, indexes and data step (the trigger aside: the base schema has no trigger function).

mod common;

use std::collections::BTreeSet;

use common::*;
use migrator_tool::model::{Change, Column, TableConstraint};
use migrator_tool::sql::{lex, split, statement};
use migrator_tool::Dialect;

#[derive(Default, Debug, PartialEq, Eq)]
struct Shape {
    tables: BTreeSet<(String, String)>,
    added: BTreeSet<(String, String)>,
    checks: BTreeSet<(String, String)>,
    indexes: BTreeSet<String>,
    updates: BTreeSet<String>,
}

fn column(c: &Column) -> String {
    let d = Dialect::Postgres;
    format!(
        "{} {} pk={} nn={} uq={} default={:?} fk={:?} checks={:?}",
        c.name,
        migrator_tool::render::type_sql(&c.ty, d),
        c.primary_key,
        c.not_null,
        c.unique,
        c.default.as_ref().map(|e| e.render(d)),
        c.references.as_ref().map(|f| (
            f.table.to_string(),
            f.columns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            f.on_delete
        )),
        c.checks
            .iter()
            .map(|(_, e)| e.render(d))
            .collect::<Vec<_>>()
    )
}

fn shape(statements: &[String]) -> Shape {
    let mut s = Shape::default();
    for sql in statements {
        let words = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let upper = words.to_ascii_uppercase();
        if upper.starts_with("UPDATE") {
            s.updates.insert(words);
            continue;
        }
        if upper.starts_with("CREATE TRIGGER")
            || upper.starts_with("INSERT")
            || upper.starts_with("DELETE")
        {
            continue;
        }
        let toks = lex(sql, true).unwrap();
        for st in split(&toks) {
            for c in statement(st).unwrap_or_else(|e| panic!("{sql}: {e:?}")) {
                match c {
                    Change::CreateTable { table, columns, .. } => {
                        for c in &columns {
                            s.tables.insert((table.to_string(), column(c)));
                        }
                    }
                    Change::AddColumn { table, column: c } => {
                        s.added.insert((table.to_string(), column(&c)));
                    }
                    Change::AddConstraint { table, constraint } => match constraint.constraint {
                        TableConstraint::Check(e) => {
                            s.checks
                                .insert((table.to_string(), e.render(Dialect::Postgres)));
                        }
                        other => panic!("unexpected {other:?}"),
                    },
                    Change::CreateIndex(i) => {
                        let keys: Vec<String> = i
                            .keys
                            .iter()
                            .map(|k| format!("{}{}", k.column, if k.desc { " desc" } else { "" }))
                            .collect();
                        s.indexes.insert(format!(
                            "{} ({}) unique={} where={:?}",
                            i.table,
                            keys.join(", "),
                            i.unique,
                            i.predicate.map(|p| p.render(Dialect::Postgres))
                        ));
                    }
                    other => panic!("unexpected change {other:?}"),
                }
            }
        }
    }
    s
}

/// The UP statements of the spec's example file (the first ```sql block of the spec, kept as a fixture).
fn spec_up() -> Vec<String> {
    let path = fixtures().join("../spec-example-234.sql");
    let block = &std::fs::read_to_string(path).unwrap();
    let up = section(block, "UP");
    let toks = lex(&up, true).unwrap();
    split(&toks)
        .into_iter()
        .map(|st| {
            // Re-join the tokens of one statement as text (each token separated by a space).
            st.iter()
                .map(|t| match t.kind {
                    migrator_tool::sql::TokKind::Str => format!("'{}'", t.text.replace('\'', "''")),
                    _ => t.text.clone(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|s| !matches!(s.to_ascii_uppercase().as_str(), "BEGIN" | "COMMIT"))
        .collect()
}

#[test]
fn spec_234_is_equivalent_to_the_spec_example() {
    let g = render(&fixture_issue("234.json"), Dialect::Postgres).unwrap();
    let parsed = migrator_format::parse_file(&g.file_name, &g.migration).unwrap();
    let ours: Vec<String> = parsed.up.iter().map(|s| s.sql.to_string()).collect();
    let ours = shape(&ours);
    let spec = shape(&spec_up());
    assert_eq!(ours.tables, spec.tables);
    assert_eq!(ours.added, spec.added);
    assert_eq!(ours.checks, spec.checks);
    assert_eq!(ours.indexes, spec.indexes);
    assert_eq!(ours.updates, spec.updates);
    assert_eq!(spec.tables.len(), 10);
    assert_eq!(spec.indexes.len(), 3);
    // The header carries the spec's fields.
    assert_eq!(parsed.issue, Some(234));
    assert_eq!(parsed.title.as_deref(), Some("Advanced Contact Enrichment"));
    assert_eq!(parsed.header.author.as_deref(), Some("migrator-tool"));
    assert_eq!(
        parsed.header.generated.as_deref(),
        Some("2024-01-15 14:30:22")
    );
    assert!(
        parsed.header.downtime_required.is_some() && parsed.header.estimated_duration.is_some()
    );
    assert_eq!(
        parsed.tables.iter().map(|t| t.as_ref()).collect::<Vec<_>>(),
        ["contact_enrichment", "contacts"]
    );
    // The DOWN drops exactly what the UP created, in reverse order.
    let down: Vec<String> = parsed
        .down
        .unwrap()
        .iter()
        .map(|s| s.sql.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        down.first().map(String::as_str),
        Some("ALTER TABLE contacts DROP CONSTRAINT IF EXISTS chk_contacts_enrichment_status")
    );
    assert_eq!(
        down.last().map(String::as_str),
        Some("DROP TABLE IF EXISTS contact_enrichment")
    );
}

#[test]
fn every_fixture_and_dialect_parses_with_the_format_crate() {
    for file in ["198.json", "212.json", "212.rest.json", "234.json"] {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let g = render(&fixture_issue(file), dialect).unwrap();
            let m = migrator_format::parse_file(&g.file_name, &g.migration).unwrap();
            assert!(m.has_down(), "{file} {dialect:?}");
            assert_eq!(m.no_transaction, g.no_transaction);
            assert_eq!(m.header.author.as_deref(), Some("migrator-tool"));
            // Deterministic: the same input renders the same bytes.
            assert_eq!(
                render(&fixture_issue(file), dialect).unwrap().migration,
                g.migration
            );
        }
    }
}
