//! `pg-access-exclusive-held` (check 19): slow work runs in a transaction that already holds ACCESS
//! EXCLUSIVE on another existing table: that lock is held until COMMIT, so the other table's readers and
//! writers wait for the slow work too. A second ACCESS EXCLUSIVE on a table already held blocks nothing
//! new and is not reported.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "pg-access-exclusive-held",
    severity: Severity::Warning,
    dialects: PG,
    summary: "slow work in a transaction that holds ACCESS EXCLUSIVE on another table",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if !ctx.in_transaction() {
        return;
    }
    // Reported once per transaction, at the first slow statement that runs while ACCESS EXCLUSIVE locks
    // taken earlier are held on other tables (a lock already held on the same table blocks nothing new).
    if let Some(held) = ctx.facts.held_during(ctx.index) {
        let slow: Vec<&str> = ctx
            .statement
            .tables
            .iter()
            .filter(|t| !t.brief && !t.new_table)
            .map(|t| t.table.as_str())
            .collect();
        out.push(Hit::new(
            format!(
                "{} {} locked (ACCESS EXCLUSIVE, taken earlier in this transaction) while this statement works on {}: reads and writes of {} wait until COMMIT",
                held.join(", "),
                if held.len() == 1 { "stays" } else { "stay" },
                slow.join(", "),
                held.join(", ")
            ),
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
