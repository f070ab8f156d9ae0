//! `pg-foreign-key-not-valid` (check 4): ADD FOREIGN KEY without NOT VALID scans the table under SHARE ROW
//! EXCLUSIVE on both tables.

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
