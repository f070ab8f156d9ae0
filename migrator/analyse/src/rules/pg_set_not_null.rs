//! `pg-set-not-null` (check 7): SET NOT NULL scans the table under ACCESS EXCLUSIVE. From PostgreSQL 12 the
//! scan is skipped when a validated `CHECK (col IS NOT NULL)` proves it: the safe pattern (the check added
//! NOT VALID and validated, earlier in this migration or in an earlier one, then SET NOT NULL) is silent.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-set-not-null",
    severity: Severity::Error,
    dialects: PG,
    summary: "SET NOT NULL on an existing column: full scan under ACCESS EXCLUSIVE",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::SetNotNull {
            table,
            column,
            proved,
        } = op
        {
            if !ctx.existing(table) || (*proved && ctx.opts.pg_version >= 12) {
                continue;
            }
            if ctx.opts.pg_version >= 12 {
                out.push(Hit::new(
                    format!("SET NOT NULL on {table}.{column} scans every row under ACCESS EXCLUSIVE: no validated CHECK ({column} IS NOT NULL) is known to prove it"),
                    format!("ADD CONSTRAINT {column}_not_null CHECK ({column} IS NOT NULL) NOT VALID; VALIDATE it in a later migration; then SET NOT NULL and drop the CHECK"),
                ).severity(Severity::Warning));
            } else {
                out.push(Hit::new(
                    format!("SET NOT NULL on {table}.{column} scans every row under ACCESS EXCLUSIVE (PostgreSQL {} cannot use a CHECK to skip it)", ctx.opts.pg_version),
                    "keep a CHECK (col IS NOT NULL) NOT VALID + VALIDATE instead of NOT NULL until PostgreSQL 12",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Severity;
    use crate::rules::test_util::*;

    const SQL: &str = "ALTER TABLE t ALTER COLUMN a SET NOT NULL;";

    #[test]
    fn positive() {
        fires(PG, "pg-set-not-null", SQL);
        let old = analyse_file(PG, 11, "", SQL, None);
        let f = old
            .findings
            .iter()
            .find(|f| f.id == "pg-set-not-null")
            .unwrap();
        assert_eq!(f.severity, Severity::Error);
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-set-not-null",
            "ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;",
        );
        passes(
            PG,
            "pg-set-not-null",
            "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;",
        );
    }
}
