//! `pg-version-unsupported` (check 27): syntax the target server major version does not have.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-version-unsupported",
    severity: Severity::Error,
    dialects: PG,
    summary: "REINDEX CONCURRENTLY before PG 12, DETACH PARTITION CONCURRENTLY before PG 14",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    let v = ctx.opts.pg_version;
    for op in ctx.ops {
        match op {
            Op::Reindex { concurrently: true, .. } if v < 12 => out.push(Hit::new(
                format!("REINDEX CONCURRENTLY needs PostgreSQL 12; the target is {v}"),
                "CREATE INDEX CONCURRENTLY a replacement index, then DROP INDEX CONCURRENTLY the old one",
            )),
            Op::DetachPartition { concurrently: true, .. } if v < 14 => out.push(Hit::new(
                format!("DETACH PARTITION CONCURRENTLY needs PostgreSQL 14; the target is {v}"),
                "plain DETACH PARTITION (ACCESS EXCLUSIVE, brief) in a quiet window, or upgrade",
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    fn ids_at(version: u32, sql: &str) -> Vec<&'static str> {
        analyse_file(PG, version, "-- migrator:no-transaction\n", sql, None)
            .findings
            .iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn positive() {
        assert!(ids_at(11, "REINDEX INDEX CONCURRENTLY idx;").contains(&"pg-version-unsupported"));
    }

    #[test]
    fn negative() {
        assert!(!ids_at(12, "REINDEX INDEX CONCURRENTLY idx;").contains(&"pg-version-unsupported"));
    }
}
