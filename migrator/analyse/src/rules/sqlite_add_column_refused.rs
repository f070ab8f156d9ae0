//! `sqlite-add-column-refused`: the ADD COLUMN forms SQLite refuses (lang_altertable.html): PRIMARY KEY or
//! UNIQUE, a CURRENT_TIME/DATE/TIMESTAMP or parenthesised default, NOT NULL without a non-NULL default,
//! REFERENCES with a non-NULL default, STORED generated.

use super::{Ctx, Hit, Rule, SQLITE};
use crate::model::Severity;
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "sqlite-add-column-refused",
    severity: Severity::Error,
    dialects: SQLITE,
    summary: "ALTER TABLE ADD COLUMN in a form SQLite refuses",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        let Op::AddColumn { table, column } = op else {
            continue;
        };
        let default = column.default.as_ref();
        let non_null_default = default.is_some_and(|d| !d.null);
        let reason = if column.primary_key {
            "a PRIMARY KEY column"
        } else if column.unique {
            "a UNIQUE column"
        } else if default.is_some_and(|d| d.current_time) {
            "a CURRENT_TIME/CURRENT_DATE/CURRENT_TIMESTAMP default"
        } else if default.is_some_and(|d| !d.literal && !d.null) {
            "a default that is an expression"
        } else if column.not_null && !non_null_default {
            "NOT NULL without a non-NULL default"
        } else if column.references.is_some() && non_null_default {
            "REFERENCES with a non-NULL default (refused while foreign keys are on)"
        } else if column.generated_stored {
            "a STORED generated column"
        } else {
            continue;
        };
        out.push(Hit::new(
            format!("SQLite refuses ADD COLUMN {table}.{} with {reason}; the migration fails", column.name),
            "add the column in a form SQLite accepts (nullable, constant default) and enforce the rest with the 12-step rebuild, or a UNIQUE INDEX for uniqueness",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        for sql in [
            "ALTER TABLE t ADD COLUMN c TEXT NOT NULL;",
            "ALTER TABLE t ADD COLUMN c TEXT UNIQUE;",
            "ALTER TABLE t ADD COLUMN c TEXT DEFAULT CURRENT_TIMESTAMP;",
            "ALTER TABLE t ADD COLUMN c TEXT DEFAULT (lower('x'));",
            "ALTER TABLE t ADD COLUMN c INTEGER DEFAULT 1 REFERENCES p(id);",
        ] {
            fires(LITE, "sqlite-add-column-refused", sql);
        }
    }

    #[test]
    fn negative() {
        passes(
            LITE,
            "sqlite-add-column-refused",
            "ALTER TABLE t ADD COLUMN c TEXT NOT NULL DEFAULT 'x';",
        );
        passes(
            LITE,
            "sqlite-add-column-refused",
            "ALTER TABLE t ADD COLUMN c INTEGER REFERENCES p(id);",
        );
    }
}
