//! `pg-check-not-valid` (check 5): ADD CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::{Constraint, Op};

pub(crate) const RULE: Rule = Rule {
    id: "pg-check-not-valid",
    severity: Severity::Error,
    dialects: PG,
    summary: "CHECK added to an existing table without NOT VALID: full scan under ACCESS EXCLUSIVE",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::AddConstraint {
            table,
            constraint: Constraint::Check { .. },
            not_valid: false,
            ..
        } = op
        {
            if ctx.existing(table) {
                out.push(Hit::new(
                    format!("adding a CHECK to {table} scans every row while reads and writes wait (ACCESS EXCLUSIVE)"),
                    "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later migration",
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
            "pg-check-not-valid",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-check-not-valid",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
        );
    }
}
