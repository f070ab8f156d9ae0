//! `rename-breaks-clients` (check 14): renaming a table or column breaks the application versions still
//! running against the old name. A table renamed away and created again under its name in the same section
//! (a rebuild) keeps its name for clients.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "rename-breaks-clients",
    severity: Severity::Warning,
    dialects: BOTH,
    summary: "rename of a table or column breaks running clients",
    check,
};

const ALTERNATIVE: &str = "expand/contract: add the new name (a new column with dual writes, or a view over the renamed table), move the clients, drop the old name later";

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        match op {
            Op::RenameTable { from, to }
                if ctx.existing(from) && !ctx.facts.recreated_after(from, ctx.index) =>
            {
                out.push(Hit::new(
                    format!("renaming table {from} to {to} breaks clients that still use {from}"),
                    ALTERNATIVE,
                ))
            }
            Op::RenameColumn { table, from, to } if ctx.existing(table) => out.push(Hit::new(
                format!("renaming {table}.{from} to {to} breaks clients that still use {from}"),
                ALTERNATIVE,
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for d in [PG, LITE] {
            fires(
                d,
                "rename-breaks-clients",
                "ALTER TABLE contacts RENAME TO people;",
            );
            fires(
                d,
                "rename-breaks-clients",
                "ALTER TABLE contacts RENAME COLUMN phone TO mobile;",
            );
        }
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            passes(
                d,
                "rename-breaks-clients",
                "CREATE TABLE new_t (a int);\nALTER TABLE new_t RENAME TO t2;",
            );
        }
    }
}
