//! `pg-access-exclusive-held` (check 19): several statements take ACCESS EXCLUSIVE on existing tables in
//! one transaction: each lock is held until COMMIT, so the application waits for the sum.

use super::{Ctx, Hit, Rule, PG};
use crate::model::{Lock, Severity};

pub(crate) const RULE: Rule = Rule {
    id: "pg-access-exclusive-held",
    severity: Severity::Warning,
    dialects: PG,
    summary: "several ACCESS EXCLUSIVE statements in one transaction hold the lock for their sum",
    check,
};

fn takes_ae(s: &crate::model::StatementAnalysis) -> bool {
    s.tables
        .iter()
        .any(|t| t.lock == Lock::AccessExclusive && !t.new_table)
}

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if !ctx.in_transaction() || !takes_ae(ctx.statement) {
        return;
    }
    let earlier = ctx.statements[..ctx.index]
        .iter()
        .filter(|s| takes_ae(s))
        .count();
    let work_follows = ctx.statements[ctx.index..]
        .iter()
        .any(|s| s.tables.iter().any(|t| !t.brief && !t.new_table));
    // Report once, at the second ACCESS EXCLUSIVE statement, when something slow runs under it.
    if earlier == 1
        && (work_follows
            || ctx.statements[..ctx.index]
                .iter()
                .any(|s| s.tables.iter().any(|t| !t.brief && !t.new_table)))
    {
        out.push(Hit::new(
            "this statement takes a second ACCESS EXCLUSIVE lock in the same transaction while slow work runs: the first lock is held until COMMIT, blocking reads and writes all along",
            "split the migration so each ACCESS EXCLUSIVE step commits on its own, or order the statements so the lock is taken last",
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
            "pg-access-exclusive-held",
            "ALTER TABLE a RENAME COLUMN x TO y;\nALTER TABLE b ALTER COLUMN c TYPE bigint;",
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-access-exclusive-held",
            "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;",
        );
        passes(
            PG,
            "pg-access-exclusive-held",
            "ALTER TABLE b ALTER COLUMN c TYPE bigint;",
        );
    }
}
