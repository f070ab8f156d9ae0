//! `pg-foreign-key-not-valid` (check 4): ADD FOREIGN KEY without NOT VALID scans the table under SHARE ROW
//! EXCLUSIVE on both tables. ADD COLUMN ... REFERENCES locks both tables too: an error when the column has a
//! default (every row is validated), a warning when it is empty.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::{Constraint, Op};

pub(crate) const RULE: Rule = Rule {
    id: "pg-foreign-key-not-valid",
    severity: Severity::Error,
    dialects: PG,
    summary: "FOREIGN KEY added to an existing table without NOT VALID: scan, writes blocked on both tables",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::AddColumn { table, column } = op {
            let Some(references) = &column.references else {
                continue;
            };
            if !ctx.existing(table) {
                continue;
            }
            let filled = column.default.as_ref().is_some_and(|d| !d.null);
            let hit = Hit::new(
                format!(
                    "ADD COLUMN {table}.{} REFERENCES {references} locks {references} against writes (SHARE ROW EXCLUSIVE) and {table} against everything (ACCESS EXCLUSIVE) while the key is {}",
                    column.name,
                    if filled { "validated over every row (the column has a default)" } else { "set up (the new column is empty, so the check is quick, but both locks queue behind running queries)" }
                ),
                format!("ADD COLUMN {} without REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ({}) REFERENCES {references} NOT VALID, and VALIDATE CONSTRAINT in a later migration", column.name, column.name),
            );
            out.push(if filled {
                hit
            } else {
                hit.severity(Severity::Warning)
            });
            continue;
        }
        if let Op::AddConstraint {
            table,
            constraint: Constraint::ForeignKey { references, .. },
            not_valid: false,
            ..
        } = op
        {
            if ctx.existing(table) {
                out.push(Hit::new(
                    format!("adding a foreign key to {table} validates every row while writes to {table} and {references} wait"),
                    "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later migration",
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
        fires(
            PG,
            "pg-foreign-key-not-valid",
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES contacts (id);",
        );
    }

    #[test]
    fn negative() {
        passes(PG, "pg-foreign-key-not-valid", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES contacts (id) NOT VALID;");
    }
}
