//! `down-data-loss` (check 29): the DOWN drops a table or column, truncates or deletes: rolling back loses
//! what was written since. The live preview sizes it with the statement's row-count query.

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::{Section, Severity};

pub(crate) const RULE: Rule = Rule {
    id: "down-data-loss",
    severity: Severity::Info,
    dialects: BOTH,
    summary: "the DOWN destroys data (rollback loses rows written since the UP)",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if ctx.section == Section::Down && ctx.statement.destructive {
        let what: Vec<String> = ctx
            .statement
            .objects
            .iter()
            .filter(|o| o.action == crate::model::Action::Drop)
            .map(|o| o.name.clone())
            .collect();
        out.push(Hit::new(
            format!(
                "rolling back destroys {}: every row written since the UP is lost",
                what.join(", ")
            ),
            "back up before rolling back; the preview counts the rows that would be lost",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for d in [PG, LITE] {
            let a = analyse_file(d, 15, "", "CREATE TABLE t (a int);", Some("DROP TABLE t;"));
            assert!(a.findings.iter().any(|f| f.id == "down-data-loss"));
        }
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            let a = analyse_file(d, 15, "", "CREATE INDEX i ON t (a);", Some("DROP INDEX i;"));
            assert!(a.findings.iter().all(|f| f.id != "down-data-loss"));
        }
    }
}
