//! `pg-concurrently-in-transaction` (check 3): CONCURRENTLY cannot run inside a transaction block.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-concurrently-in-transaction",
    severity: Severity::Error,
    dialects: PG,
    summary: "CONCURRENTLY in a migration that runs in a transaction: fails at run time",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if !ctx.in_transaction() {
        return;
    }
    let concurrent = ctx.ops.iter().any(|op| {
        matches!(
            op,
            Op::CreateIndex {
                concurrently: true,
                ..
            } | Op::DropIndex {
                concurrently: true,
                ..
            } | Op::Reindex {
                concurrently: true,
                ..
            } | Op::DetachPartition {
                concurrently: true,
                ..
            }
        )
    });
    if concurrent {
        out.push(Hit::new(
            "CONCURRENTLY cannot run inside a transaction block; this migration runs in one and will fail",
            "add `-- migrator:no-transaction` to the migration and keep one CONCURRENTLY statement per step",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            PG,
            "pg-concurrently-in-transaction",
            "CREATE INDEX CONCURRENTLY idx ON t (a);",
        );
    }

    #[test]
    fn negative() {
        let a = analyse_file(
            PG,
            15,
            "-- migrator:no-transaction\n",
            "CREATE INDEX CONCURRENTLY idx ON t (a);",
            None,
        );
        assert!(a.findings.is_empty(), "{:?}", a.findings);
    }
}
