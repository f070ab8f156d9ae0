//! `vacuum-in-transaction`: VACUUM cannot run inside a transaction (both engines).

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "vacuum-in-transaction",
    severity: Severity::Error,
    dialects: BOTH,
    summary: "VACUUM in a migration that runs in a transaction: fails at run time",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if ctx.in_transaction() && ctx.ops.iter().any(|op| matches!(op, Op::Vacuum { .. })) {
        out.push(Hit::new(
            "VACUUM cannot run inside a transaction; this migration runs in one and will fail",
            "put VACUUM in its own `-- migrator:no-transaction` migration",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(LITE, "vacuum-in-transaction", "VACUUM;");
        fires(PG, "vacuum-in-transaction", "VACUUM contacts;");
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            let a = analyse_file(d, 15, "-- migrator:no-transaction\n", "VACUUM;", None);
            assert!(a.findings.is_empty(), "{:?}", a.findings);
        }
    }
}
