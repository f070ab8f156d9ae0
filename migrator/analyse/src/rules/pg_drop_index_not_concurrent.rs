//! `pg-drop-index-not-concurrent` (check 2): DROP INDEX and REINDEX without CONCURRENTLY take ACCESS
//! EXCLUSIVE.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-drop-index-not-concurrent",
    severity: Severity::Warning,
    dialects: PG,
    summary: "DROP INDEX / REINDEX without CONCURRENTLY take ACCESS EXCLUSIVE",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        match op {
            Op::DropIndex {
                names,
                tables,
                concurrently: false,
            } => {
                let on: Vec<&str> = tables.iter().flatten().map(String::as_str).collect();
                if !on.is_empty() && on.iter().all(|t| !ctx.existing(t)) {
                    continue;
                }
                let table = if on.is_empty() {
                    "its table".to_string()
                } else {
                    on.join(", ")
                };
                out.push(Hit::new(
                    format!(
                        "DROP INDEX {} takes ACCESS EXCLUSIVE on {table}: reads and writes wait",
                        names.join(", ")
                    ),
                    "DROP INDEX CONCURRENTLY in a `-- migrator:no-transaction` migration",
                ))
            }
            Op::Reindex {
                what,
                name,
                concurrently: false,
                ..
            } => {
                let target = format!("{} {name}", what.to_uppercase());
                let alternative = if ctx.opts.pg_version >= 12 {
                    "REINDEX ... CONCURRENTLY in a `-- migrator:no-transaction` migration"
                } else {
                    "before PostgreSQL 12: CREATE INDEX CONCURRENTLY a new index, then DROP INDEX CONCURRENTLY the old one"
                };
                out.push(Hit::new(
                    format!("REINDEX {target} blocks writes (and reads through the index) while it rebuilds"),
                    alternative,
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(PG, "pg-drop-index-not-concurrent", "DROP INDEX idx_a;");
        fires(PG, "pg-drop-index-not-concurrent", "REINDEX INDEX idx_a;");
    }

    #[test]
    fn negative() {
        let header = "-- migrator:no-transaction\n";
        for sql in [
            "DROP INDEX CONCURRENTLY idx_a;",
            "REINDEX INDEX CONCURRENTLY idx_a;",
        ] {
            let a = analyse_file(PG, 15, header, sql, None);
            assert!(
                a.findings
                    .iter()
                    .all(|f| f.id != "pg-drop-index-not-concurrent"),
                "{sql}"
            );
        }
        passes(LITE, "pg-drop-index-not-concurrent", "DROP INDEX idx_a;");
    }
}
