//! `pg-validate-in-same-transaction` (check 6): NOT VALID then VALIDATE in one transaction holds the first
//! lock through the scan, which defeats NOT VALID.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-validate-in-same-transaction",
    severity: Severity::Warning,
    dialects: PG,
    summary: "a constraint added NOT VALID and validated in the same transaction",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if !ctx.in_transaction() {
        return;
    }
    for op in ctx.ops {
        if let Op::ValidateConstraint { table, name, .. } = op {
            if ctx.facts.added_not_valid_before(name, ctx.index) {
                out.push(Hit::new(
                    format!("{name} on {table} is added NOT VALID and validated in the same transaction: the ADD's lock is held through the scan"),
                    "move VALIDATE CONSTRAINT to a later migration",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    const ADD: &str = "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;";

    #[test]
    fn positive() {
        fires(
            PG,
            "pg-validate-in-same-transaction",
            &format!("{ADD}\nALTER TABLE t VALIDATE CONSTRAINT c;"),
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-validate-in-same-transaction",
            "ALTER TABLE t VALIDATE CONSTRAINT c;",
        );
        passes(PG, "pg-validate-in-same-transaction", ADD);
    }
}
