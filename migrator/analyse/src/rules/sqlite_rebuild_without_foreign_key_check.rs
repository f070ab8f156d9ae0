//! `sqlite-rebuild-without-foreign-key-check` (check 28): a hand-written 12-step rebuild (DROP TABLE X, then
//! ALTER TABLE new_X RENAME TO X) not followed by `PRAGMA foreign_key_check`.

use super::{Ctx, Hit, Rule, SQLITE};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "sqlite-rebuild-without-foreign-key-check",
    severity: Severity::Warning,
    dialects: SQLITE,
    summary: "a 12-step table rebuild not followed by PRAGMA foreign_key_check",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        let Op::RenameTable { from, to } = op else {
            continue;
        };
        if ctx.existing(from) {
            continue;
        }
        let dropped_target = ctx.facts.dropped_before(to, ctx.index);
        let checked = ctx.facts.foreign_key_check_after(ctx.index);
        if dropped_target && !checked {
            out.push(Hit::new(
                format!("{to} is rebuilt (new table renamed over the dropped one) without PRAGMA foreign_key_check afterwards: broken references go unnoticed"),
                "end the rebuild with PRAGMA foreign_key_check (it must return no rows) before COMMIT",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    const REBUILD: &str = "CREATE TABLE new_t (a INTEGER NOT NULL);\nINSERT INTO new_t SELECT a FROM t;\nDROP TABLE t;\nALTER TABLE new_t RENAME TO t;";

    #[test]
    fn positive() {
        fires(LITE, "sqlite-rebuild-without-foreign-key-check", REBUILD);
    }

    #[test]
    fn negative() {
        passes(
            LITE,
            "sqlite-rebuild-without-foreign-key-check",
            &format!("{REBUILD}\nPRAGMA foreign_key_check;"),
        );
    }
}
