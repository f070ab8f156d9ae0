//! `pg-vacuum-full`: VACUUM FULL and CLUSTER rewrite the whole table under ACCESS EXCLUSIVE: reads and
//! writes wait for the copy, in a transactional migration or a no-transaction one alike.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-vacuum-full",
    severity: Severity::Error,
    dialects: PG,
    summary: "VACUUM FULL / CLUSTER rewrite the table under ACCESS EXCLUSIVE",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        let (what, table) = match op {
            Op::Vacuum { full: true, table } => ("VACUUM FULL", table),
            Op::Cluster { table } => ("CLUSTER", table),
            _ => continue,
        };
        if table.as_deref().is_some_and(|t| !ctx.existing(t)) {
            continue;
        }
        let on = table.as_deref().unwrap_or("every table it covers");
        out.push(Hit::new(
            format!("{what} rewrites {on} under ACCESS EXCLUSIVE: reads and writes wait for the whole copy"),
            "plain VACUUM (no lock on reads or writes) to reuse space; to give space back online, pg_repack or pg_squeeze outside the migration",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(PG, "pg-vacuum-full", "VACUUM FULL contacts;");
        fires(
            PG,
            "pg-vacuum-full",
            "CLUSTER contacts USING contacts_pkey;",
        );
        let a = analyse_file(
            PG,
            15,
            "-- migrator:no-transaction\n",
            "VACUUM FULL contacts;",
            None,
        );
        assert!(a.findings.iter().any(|f| f.id == "pg-vacuum-full"));
    }

    #[test]
    fn negative() {
        passes(PG, "pg-vacuum-full", "VACUUM contacts;");
        passes(PG, "pg-vacuum-full", "CREATE TABLE t (a int);\nCLUSTER t;");
    }
}
