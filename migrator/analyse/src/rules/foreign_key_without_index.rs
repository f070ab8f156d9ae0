//! `foreign-key-without-index` (check 21): a foreign key whose referencing columns no index leads with (the
//! migration's own indexes and keys, and those of the earlier migrations): deletes and updates on the
//! parent scan the child.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::Severity;
use crate::ops::{Constraint, Op};

pub(crate) const RULE: Rule = Rule {
    id: "foreign-key-without-index",
    severity: Severity::Warning,
    dialects: BOTH,
    summary: "foreign key without an index on the referencing columns (slow parent deletes)",
    check,
};

/// The foreign keys this statement adds: (table, columns, referenced table).
fn foreign_keys(op: &Op) -> Vec<(String, Vec<String>, String)> {
    match op {
        Op::CreateTable {
            table,
            columns,
            constraints,
            ..
        } => {
            let mut out: Vec<_> = columns
                .iter()
                .filter_map(|c| {
                    c.references
                        .as_ref()
                        .map(|r| (table.clone(), vec![c.name.clone()], r.clone()))
                })
                .collect();
            for (_, c) in constraints {
                if let Constraint::ForeignKey {
                    columns,
                    references,
                    ..
                } = c
                {
                    out.push((table.clone(), columns.clone(), references.clone()));
                }
            }
            out
        }
        Op::AddColumn { table, column } => column
            .references
            .iter()
            .map(|r| (table.clone(), vec![column.name.clone()], r.clone()))
            .collect(),
        Op::AddConstraint {
            table,
            constraint:
                Constraint::ForeignKey {
                    columns,
                    references,
                    ..
                },
            ..
        } => {
            vec![(table.clone(), columns.clone(), references.clone())]
        }
        _ => Vec::new(),
    }
}

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        for (table, cols, references) in foreign_keys(op) {
            let indexed = ctx
                .scope
                .table(&table)
                .is_some_and(|t| t.index_leads_with(&cols));
            if !indexed {
                let c = cols.join(", ");
                out.push(Hit::new(
                    format!("the foreign key {table}({c}) -> {references} has no index on {table}({c}): every delete or key update on {references} scans {table}"),
                    format!("CREATE INDEX{} ON {table} ({c})", if ctx.pg() { " CONCURRENTLY" } else { "" }),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for d in [PG, LITE] {
            fires(d, "foreign-key-without-index", "CREATE TABLE e (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id));");
        }
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            passes(d, "foreign-key-without-index", "CREATE TABLE e (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id));\nCREATE INDEX e_c ON e (contact_id);");
        }
    }
}
