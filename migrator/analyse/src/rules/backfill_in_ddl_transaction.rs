//! `backfill-in-ddl-transaction` (check 23): an UPDATE/DELETE of an existing table after DDL on existing
//! tables in the same transaction: the DDL's locks (SQLite: the database write lock) are held for the
//! whole backfill. A backfill before the DDL holds no DDL lock and is not reported.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "backfill-in-ddl-transaction",
    severity: Severity::Warning,
    dialects: BOTH,
    summary: "UPDATE / DELETE backfill inside the DDL transaction holds the DDL locks for the whole backfill",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if !ctx.in_transaction() {
        return;
    }
    for op in ctx.ops {
        let table = match op {
            Op::Update { table, .. } | Op::Delete { table, .. } => table,
            _ => continue,
        };
        if !ctx.existing(table) {
            continue;
        }
        if ctx.facts.ddl_before(ctx.index) {
            out.push(Hit::new(
                format!("this backfill of {table} runs in the same transaction as DDL: the DDL's locks are held until it finishes"),
                "move the backfill to its own `-- migrator:no-transaction` migration and run it in batches",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for d in [PG, LITE] {
            fires(d, "backfill-in-ddl-transaction", "ALTER TABLE contacts ADD COLUMN s TEXT;\nUPDATE contacts SET s = 'p' WHERE s IS NULL;");
        }
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            passes(
                d,
                "backfill-in-ddl-transaction",
                "UPDATE contacts SET s = 'p' WHERE s IS NULL;",
            );
        }
    }
}
