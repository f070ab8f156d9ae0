//! `sqlite-table-rebuild-needed` (check 28): SQLite's ALTER TABLE cannot change a column's type, NOT NULL,
//! default or constraints; the statement fails, and the change needs the 12-step rebuild.

use super::{Ctx, Hit, Rule, SQLITE};
use crate::model::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "sqlite-table-rebuild-needed",
    severity: Severity::Error,
    dialects: SQLITE,
    summary: "a change SQLite's ALTER TABLE cannot make: needs the 12-step table rebuild",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if ctx.statement.needs_rebuild {
        let tables: Vec<&str> = ctx
            .statement
            .tables
            .iter()
            .map(|t| t.table.as_str())
            .collect();
        let changes: Vec<String> = ctx
            .statement
            .objects
            .iter()
            .filter(|o| o.action != crate::model::Action::Rename)
            .map(|o| match &o.detail {
                Some(d) => format!("{} ({d})", o.name),
                None => o.name.clone(),
            })
            .collect();
        out.push(Hit::new(
            format!(
                "SQLite's ALTER TABLE cannot make this change ({}); the statement fails",
                changes.join(", ")
            ),
            format!(
                "12-step rebuild of {}: PRAGMA foreign_keys=OFF before the transaction (a no-transaction migration), CREATE TABLE new_X with the new shape, INSERT INTO new_X SELECT ... FROM X, DROP TABLE X, ALTER TABLE new_X RENAME TO X, recreate indexes, triggers and views, PRAGMA foreign_key_check, foreign_keys back ON",
                tables.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            LITE,
            "sqlite-table-rebuild-needed",
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL;",
        );
        fires(
            LITE,
            "sqlite-table-rebuild-needed",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
        );
    }

    #[test]
    fn negative() {
        passes(
            LITE,
            "sqlite-table-rebuild-needed",
            "ALTER TABLE t ADD COLUMN a TEXT;",
        );
        passes(
            PG,
            "sqlite-table-rebuild-needed",
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL;",
        );
    }
}
