//! `not-analysed`: the parser could not read the statement; nothing is known about it, so it counts
//! against the verdict instead of being skipped.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::{Severity, Status};

pub(crate) const RULE: Rule = Rule {
    id: "not-analysed",
    severity: Severity::Error,
    dialects: BOTH,
    summary: "a statement the SQL parser cannot read: its locks and risks are unknown",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if let Status::NotAnalysed { reason } = &ctx.statement.status {
        out.push(Hit::new(
            format!("statement not analysed: {reason}"),
            "rewrite it in a form the parser reads, or review it by hand and allow `not-analysed` with the reason",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(PG, "not-analysed", "CREATE TABLEX t (a int)");
        fires(LITE, "not-analysed", "ALTER TABLE t FROBNICATE");
    }

    #[test]
    fn negative() {
        passes(PG, "not-analysed", "CREATE TABLE t (a int)");
        passes(LITE, "not-analysed", "CREATE TABLE t (a INTEGER)");
    }
}
