//! `update-delete-without-where` (check 22): an UPDATE or DELETE of every row of an existing table. The
//! `max_rows_affected` half of the check needs the live row count (the statement's `rows-affected` query).

use super::{Ctx, Hit, Rule, BOTH};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "update-delete-without-where",
    severity: Severity::Error,
    dialects: BOTH,
    summary: "UPDATE / DELETE without WHERE on an existing table",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        let (verb, table) = match op {
            Op::Update {
                table,
                selection: None,
            } => ("UPDATE", table),
            Op::Delete {
                table,
                selection: None,
            } => ("DELETE", table),
            _ => continue,
        };
        if ctx.existing(table) {
            out.push(Hit::new(
                format!("{verb} without WHERE touches every row of {table} in one transaction"),
                "add the WHERE you mean; for a backfill, run it in batches (WHERE id BETWEEN ... ) outside the DDL transaction",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for d in [PG, LITE] {
            fires(
                d,
                "update-delete-without-where",
                "UPDATE contacts SET status = 'x';",
            );
            fires(d, "update-delete-without-where", "DELETE FROM contacts;");
        }
    }

    #[test]
    fn negative() {
        for d in [PG, LITE] {
            passes(
                d,
                "update-delete-without-where",
                "UPDATE contacts SET status = 'x' WHERE status IS NULL;",
            );
        }
    }
}
