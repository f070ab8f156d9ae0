//! `sqlite-foreign-keys-pragma-in-transaction`: `PRAGMA foreign_keys` is a no-op inside a transaction, so a
//! rebuild that relies on it runs with foreign keys still on (ON DELETE CASCADE fires on DROP TABLE).

use super::{Ctx, Hit, Rule, SQLITE};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "sqlite-foreign-keys-pragma-in-transaction",
    severity: Severity::Warning,
    dialects: SQLITE,
    summary: "PRAGMA foreign_keys inside a transaction is silently ignored",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if !ctx.in_transaction() {
        return;
    }
    for op in ctx.ops {
        if matches!(op, Op::Pragma { name, value: Some(_) } if name == "foreign_keys") {
            out.push(Hit::new(
                "PRAGMA foreign_keys is ignored inside a transaction; this migration runs in one, so foreign keys stay as they were",
                "mark the migration `-- migrator:no-transaction` so the PRAGMA runs before the rebuild's own BEGIN",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            LITE,
            "sqlite-foreign-keys-pragma-in-transaction",
            "PRAGMA foreign_keys = OFF;",
        );
    }

    #[test]
    fn negative() {
        let a = analyse_file(
            LITE,
            15,
            "-- migrator:no-transaction\n",
            "PRAGMA foreign_keys = OFF;",
            None,
        );
        assert!(a.findings.is_empty(), "{:?}", a.findings);
    }
}
