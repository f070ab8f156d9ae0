//! `not-understood`: a parser gap. The SQL parser cannot read this form, but its leading keywords name a
//! statement the dialect has (`ALTER SEQUENCE ... RENAME`, `CREATE STATISTICS`, `COMMENT ON FUNCTION
//! f(args)`, a `DO` block...); it was analysed by those keywords only, so its locks may be incomplete.
//! Whether it is valid is for the database to say (the rehearsal runs it).

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::{Severity, Status};

pub(crate) const RULE: Rule = Rule {
    id: "not-understood",
    severity: Severity::Warning,
    dialects: BOTH,
    summary: "a statement form the SQL parser does not know, analysed by its leading keywords only",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if let Status::NotUnderstood { form, reason } = &ctx.statement.status {
        let message = if form == "DO block" {
            "not understood by the analyser: a DO block runs code the analyser cannot see into; its locks and effects are unknown".to_string()
        } else {
            format!("not understood by the analyser: the SQL parser does not read this {form} statement ({reason}); read by its keywords only, so its locks may be incomplete")
        };
        out.push(Hit::new(
            message,
            "review it by hand (the rehearsal runs it on a scratch copy, which decides whether it is valid); `-- migrator:allow not-understood <reason>` once reviewed",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            PG,
            "not-understood",
            "ALTER SEQUENCE a_seq RENAME TO b_seq;",
        );
        fires(PG, "not-understood", "DO $$ BEGIN PERFORM 1; END $$;");
    }

    #[test]
    fn negative() {
        passes(PG, "not-understood", "ALTER TABLE t ADD COLUMN c int;");
        // A typo is not a parser gap: it is reported as not analysed.
        passes(PG, "not-understood", "ALTER TABLE t ADD COLUM c int;");
        fires(PG, "not-analysed", "ALTER TABLE t ADD COLUM c int;");
    }
}
