//! `pg-index-not-concurrent` (check 1): CREATE INDEX without CONCURRENTLY on an existing table takes SHARE
//! and blocks writes for the whole build.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-index-not-concurrent",
    severity: Severity::Error,
    dialects: PG,
    summary: "CREATE INDEX without CONCURRENTLY on an existing table blocks writes for the build",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::CreateIndex {
            table,
            concurrently: false,
            ..
        } = op
        {
            if ctx.existing(table) {
                out.push(Hit::new(
                    format!("CREATE INDEX on existing table {table} takes a SHARE lock: writes wait for the whole index build"),
                    "CREATE INDEX CONCURRENTLY in a `-- migrator:no-transaction` migration, one statement per migration",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            PG,
            "pg-index-not-concurrent",
            "CREATE INDEX idx ON contacts (email);",
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-index-not-concurrent",
            "CREATE INDEX CONCURRENTLY idx ON contacts (email);",
        );
        passes(
            PG,
            "pg-index-not-concurrent",
            "CREATE TABLE t (a int);\nCREATE INDEX idx ON t (a);",
        );
        passes(
            LITE,
            "pg-index-not-concurrent",
            "CREATE INDEX idx ON contacts (email);",
        );
    }
}
