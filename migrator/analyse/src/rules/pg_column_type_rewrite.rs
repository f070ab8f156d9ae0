//! `pg-column-type-rewrite` (check 11): ALTER COLUMN TYPE rewrites the table and its indexes unless the
//! change is binary-coercible. Decided by the type pair when the old type is known (an earlier migration, the
//! live catalog): `varchar(n)` -> `varchar(m >= n)` / `text`, a length limit dropped, numeric precision raised
//! are silent, `bigint` -> `numeric` is an error. `timestamp` <-> `timestamptz` on PostgreSQL 12+ is no table
//! rewrite when the session TimeZone is UTC (`SET timezone = 'UTC'` earlier in the file, or the live
//! setting), but indexes on the column are rebuilt: a warning unless no index uses it. When the old type is
//! not known and the new one is reachable without a rewrite, a warning names the pairs that do not rewrite.

use super::{Ctx, Hit, Rule, PG};
use crate::impact::type_change;
use crate::model::Severity;
use crate::ops::Op;
use crate::pgtype::Change;

pub(crate) const RULE: Rule = Rule {
    id: "pg-column-type-rewrite",
    severity: Severity::Error,
    dialects: PG,
    summary: "column type change that rewrites the table (or rebuilds its indexes) under ACCESS EXCLUSIVE",
    check,
};

const ALTERNATIVE: &str = "expand/contract: add a new column, dual-write, backfill in batches, switch readers, drop the old column";

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        let Op::AlterColumnType {
            table,
            column,
            data_type,
            from_type,
            indexed,
            ..
        } = op
        else {
            continue;
        };
        if !ctx.existing(table) {
            continue;
        }
        let what = match from_type {
            Some(from) => format!("{table}.{column} {from} -> {data_type}"),
            None => format!("{table}.{column} TYPE {data_type}"),
        };
        let hit = match type_change(op, ctx.opts.pg_version) {
            None | Some(Change::Same | Change::NoRewrite) => continue,
            Some(Change::IndexesRebuilt) => {
                if *indexed == Some(false) {
                    continue;
                }
                Hit::new(
                    format!("{what}: no table rewrite (PostgreSQL 12+, session TimeZone UTC), but {} on the column {} rebuilt under ACCESS EXCLUSIVE", if *indexed == Some(true) { "the indexes" } else { "any index" }, if *indexed == Some(true) { "are" } else { "would be" }),
                    "drop the index first and CREATE INDEX CONCURRENTLY it again after, or accept the rebuild on a small table",
                )
                .severity(Severity::Warning)
            }
            Some(Change::DependsOnTimeZone) => Hit::new(
                format!("{what} rewrites {table} under ACCESS EXCLUSIVE unless the session TimeZone is UTC, which this migration does not set"),
                "SET timezone = 'UTC' earlier in the migration (PostgreSQL 12+ then skips the rewrite; indexes on the column are still rebuilt), or expand/contract",
            )
            .severity(Severity::Warning),
            Some(Change::Unknown(pairs)) => Hit::new(
                format!("{what}: the old type is not known here; {pairs}"),
                ALTERNATIVE,
            )
            .severity(Severity::Warning),
            Some(Change::Rewrite(why)) => Hit::new(
                format!("{what} rewrites {table} and rebuilds its indexes under ACCESS EXCLUSIVE: {why}"),
                ALTERNATIVE,
            ),
        };
        out.push(hit);
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
