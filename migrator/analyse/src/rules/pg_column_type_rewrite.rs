//! `pg-column-type-rewrite` (check 11): ALTER COLUMN TYPE rewrites the table and its indexes unless the
//! change is binary-coercible (varchar(n) -> text, varchar(n) -> varchar(m > n), numeric precision raised).
//! The old type is not known offline: such targets are a warning to verify, others an error.

use super::{Ctx, Hit, Rule, PG};
use crate::impact::maybe_coercible;
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-column-type-rewrite",
    severity: Severity::Error,
    dialects: PG,
    summary: "column type change that rewrites the table under ACCESS EXCLUSIVE",
    check,
};

const ALTERNATIVE: &str = "expand/contract: add a new column, dual-write, backfill in batches, switch readers, drop the old column";

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::AlterColumnType {
            table,
            column,
            data_type,
            using,
        } = op
        {
            if !ctx.existing(table) {
                continue;
            }
            if !using && maybe_coercible(data_type) {
                out.push(Hit::new(
                    format!("{table}.{column} TYPE {data_type}: no rewrite only if binary-coercible (varchar(n) -> text or a wider varchar, numeric precision raised); anything else rewrites the table"),
                    ALTERNATIVE,
                ).severity(Severity::Warning));
            } else {
                out.push(Hit::new(
                    format!("{table}.{column} TYPE {data_type} rewrites {table} and rebuilds its indexes under ACCESS EXCLUSIVE"),
                    ALTERNATIVE,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Severity;
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            PG,
            "pg-column-type-rewrite",
            "ALTER TABLE t ALTER COLUMN a TYPE bigint;",
        );
        let a = analyse_file(PG, 15, "", "ALTER TABLE t ALTER COLUMN a TYPE text;", None);
        assert_eq!(a.findings[0].severity, Severity::Warning);
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-column-type-rewrite",
            "ALTER TABLE t ADD COLUMN a2 bigint;",
        );
        passes(
            PG,
            "pg-column-type-rewrite",
            "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;",
        );
    }
}
