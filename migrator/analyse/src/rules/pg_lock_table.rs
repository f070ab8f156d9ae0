//! `pg-lock-table`: `LOCK TABLE` (ACCESS EXCLUSIVE by default) holds its lock until the transaction ends,
//! queueing every later query on the table behind it; outside a transaction block (a no-transaction
//! migration) PostgreSQL refuses it.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-lock-table",
    severity: Severity::Warning,
    dialects: PG,
    summary: "LOCK TABLE holds its lock until COMMIT (an error outside a transaction)",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        let Op::LockTable { tables, mode } = op else {
            continue;
        };
        let names = tables.join(", ");
        if !ctx.in_transaction() {
            out.push(
                Hit::new(
                    format!("LOCK TABLE {names} in a `-- migrator:no-transaction` migration: PostgreSQL refuses LOCK TABLE outside a transaction block, so the migration fails"),
                    "drop the LOCK TABLE (each DDL statement takes the lock it needs), or make the migration transactional",
                )
                .severity(Severity::Error),
            );
        } else if mode.blocks_writes() {
            out.push(Hit::new(
                format!(
                    "LOCK TABLE {names} takes {} until COMMIT: {} wait for the rest of the migration",
                    mode.sql_name(),
                    if mode.blocks_reads() { "reads and writes" } else { "writes" }
                ),
                "let each DDL statement take its own lock, as late as possible; the runtime's lock_timeout bounds the wait",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Severity;
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(PG, "pg-lock-table", "LOCK TABLE contacts;");
        fires(PG, "pg-lock-table", "LOCK TABLE contacts IN SHARE MODE;");
        let a = analyse_file(
            PG,
            15,
            "-- migrator:no-transaction\n",
            "LOCK TABLE contacts IN ACCESS SHARE MODE;",
            None,
        );
        let f = a.findings.iter().find(|f| f.id == "pg-lock-table").unwrap();
        assert_eq!(f.severity, Severity::Error);
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-lock-table",
            "LOCK TABLE contacts IN ACCESS SHARE MODE;",
        );
        passes(PG, "pg-lock-table", "SELECT 1;");
    }
}
