//! `not-analysed`: the parser refuses the statement and nothing marks it as a form the parser does not know
//! (then it is `not-understood`): most likely invalid SQL, or nested too deeply to analyse. Nothing is known
//! about it, so it counts against the verdict instead of being skipped.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::{Severity, Status};

pub(crate) const RULE: Rule = Rule {
    id: "not-analysed",
    severity: Severity::Error,
    dialects: BOTH,
    summary: "a statement the SQL parser refuses (likely invalid), or nested too deeply to analyse",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if let Status::NotAnalysed { reason } = &ctx.statement.status {
        let hit = if reason.starts_with("too deeply nested") {
            Hit::new(
                format!("not analysed: {reason}"),
                "split the expression (or the statement); a statement this deep is also a risk for the server's own stack",
            )
        } else {
            Hit::new(
                format!("not analysed: the SQL parser refuses this statement, so it is most likely invalid: {reason}"),
                "fix the statement; if the database accepts it (the rehearsal runs it), review it by hand and allow `not-analysed` with the reason",
            )
        };
        out.push(hit);
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
