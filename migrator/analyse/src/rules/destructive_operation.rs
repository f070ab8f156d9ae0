//! `destructive-operation` (check 13): DROP TABLE / DROP COLUMN / DROP SCHEMA / TRUNCATE in the UP destroy
//! data. The live preview sizes the loss with the statement's row-count query. The old copy dropped by a
//! table rebuild (renamed away and created again, or replaced by a rename) is not a loss.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::{Section, Severity};
use crate::ops::{ObjectTypeName, Op};

pub(crate) const RULE: Rule = Rule {
    id: "destructive-operation",
    severity: Severity::Error,
    dialects: BOTH,
    summary: "DROP TABLE / DROP COLUMN / DROP SCHEMA / TRUNCATE of existing data in the UP",
    check,
};

const ALTERNATIVE: &str = "take a backup first and get a review (`-- Reviewed-by:`); prefer expand/contract: stop using it, drop it in a later release";

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if ctx.section != Section::Up {
        return;
    }
    for op in ctx.ops {
        let what = match op {
            Op::Drop {
                kind: ObjectTypeName::Table,
                names,
                ..
            } => {
                let old: Vec<&str> = names
                    .iter()
                    .filter(|n| ctx.existing(n) && !ctx.facts.rebuild_drop(n, ctx.index))
                    .map(String::as_str)
                    .collect();
                if old.is_empty() {
                    continue;
                }
                format!("DROP TABLE {} destroys its rows", old.join(", "))
            }
            Op::Drop {
                kind: kind @ (ObjectTypeName::Schema | ObjectTypeName::Database),
                names,
                ..
            } => {
                format!(
                    "DROP {} {} destroys everything in it",
                    if *kind == ObjectTypeName::Schema {
                        "SCHEMA"
                    } else {
                        "DATABASE"
                    },
                    names.join(", ")
                )
            }
            Op::DropColumn { table, column } if ctx.existing(table) => {
                format!("DROP COLUMN {table}.{column} destroys its values and breaks clients still reading it")
            }
            Op::Truncate { tables } => format!("TRUNCATE {} destroys every row", tables.join(", ")),
            _ => continue,
        };
        out.push(Hit::new(what, ALTERNATIVE));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for d in [PG, LITE] {
            fires(d, "destructive-operation", "DROP TABLE contacts;");
            fires(
                d,
                "destructive-operation",
                "ALTER TABLE contacts DROP COLUMN phone;",
            );
        }
        fires(PG, "destructive-operation", "TRUNCATE contacts;");
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            passes(
                d,
                "destructive-operation",
                "CREATE TABLE t (a int);\nDROP TABLE t;",
            );
            let a = analyse_file(d, 15, "", "CREATE TABLE t (a int);", Some("DROP TABLE t;"));
            assert!(a.findings.iter().all(|f| f.id != "destructive-operation"));
        }
    }
}
