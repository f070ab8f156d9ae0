//! `pg-add-column-not-null-without-default` (check 8): fails on a non-empty table and breaks INSERTs that
//! do not name the column. (SQLite refuses it outright: `sqlite-add-column-refused`.)

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-add-column-not-null-without-default",
    severity: Severity::Error,
    dialects: PG,
    summary: "NOT NULL column added to an existing table without a default",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::AddColumn { table, column } = op {
            let has_value = column.default.as_ref().is_some_and(|d| !d.null)
                || column.serial()
                || column.identity
                || column.generated_stored;
            if column.not_null && !has_value && ctx.existing(table) {
                out.push(Hit::new(
                    format!("{table}.{} is NOT NULL without a default: the ALTER fails if {table} has rows, and INSERTs that omit it fail", column.name),
                    "add it nullable (or with a constant DEFAULT), backfill in batches, then add the NOT NULL via CHECK ... NOT VALID + VALIDATE",
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
            "pg-add-column-not-null-without-default",
            "ALTER TABLE t ADD COLUMN c text NOT NULL;",
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-add-column-not-null-without-default",
            "ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT 'x';",
        );
        passes(
            PG,
            "pg-add-column-not-null-without-default",
            "ALTER TABLE t ADD COLUMN c text;",
        );
    }
}
