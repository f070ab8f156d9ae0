//! `pg-refresh-materialized-view-not-concurrent`: REFRESH MATERIALIZED VIEW without CONCURRENTLY recomputes
//! the view under ACCESS EXCLUSIVE: every read of the view waits for the whole query, in a transactional or
//! a no-transaction migration alike.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-refresh-materialized-view-not-concurrent",
    severity: Severity::Warning,
    dialects: PG,
    summary: "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks reads of the view",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::RefreshMaterializedView {
            name,
            concurrently: false,
        } = op
        {
            if !ctx.existing(name) {
                continue;
            }
            out.push(Hit::new(
                format!("REFRESH MATERIALIZED VIEW {name} recomputes the view under ACCESS EXCLUSIVE: every read of {name} waits for the whole query"),
                format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {name} (the view needs a UNIQUE index on plain columns; readers keep the old rows meanwhile)"),
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
            PG,
            "pg-refresh-materialized-view-not-concurrent",
            "REFRESH MATERIALIZED VIEW stats;",
        );
        let a = analyse_file(
            PG,
            15,
            "-- migrator:no-transaction\n",
            "REFRESH MATERIALIZED VIEW stats;",
            None,
        );
        assert!(a
            .findings
            .iter()
            .any(|f| f.id == "pg-refresh-materialized-view-not-concurrent"));
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-refresh-materialized-view-not-concurrent",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY stats;",
        );
    }
}
