//! `pg-add-column-generated-rewrite` (check 10): serial, identity and STORED generated columns added to an
//! existing table fill every row: a rewrite.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-add-column-generated-rewrite",
    severity: Severity::Error,
    dialects: PG,
    summary: "serial / identity / STORED generated column added to an existing table rewrites it",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::AddColumn { table, column } = op {
            let kind = if column.serial() {
                "serial"
            } else if column.identity {
                "identity"
            } else if column.generated_stored {
                "STORED generated"
            } else {
                continue;
            };
            if ctx.existing(table) {
                out.push(Hit::new(
                    format!("adding the {kind} column {table}.{} writes a value into every row: full rewrite under ACCESS EXCLUSIVE", column.name),
                    "add a plain nullable column, fill it in batches (a sequence default or a trigger for new rows), then add constraints",
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
            "pg-add-column-generated-rewrite",
            "ALTER TABLE t ADD COLUMN id2 bigserial;",
        );
        fires(
            PG,
            "pg-add-column-generated-rewrite",
            "ALTER TABLE t ADD COLUMN n int GENERATED ALWAYS AS (a * 2) STORED;",
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-add-column-generated-rewrite",
            "ALTER TABLE t ADD COLUMN id2 bigint;",
        );
        passes(
            PG,
            "pg-add-column-generated-rewrite",
            "CREATE TABLE t (id bigserial PRIMARY KEY);",
        );
    }
}
