//! `pg-add-column-default-rewrite` (check 9): a default that forces a table rewrite: a volatile function
//! (`random()`, `clock_timestamp()`, `gen_random_uuid()`...), or any non-NULL default before PostgreSQL 11.
//! `now()` and `CURRENT_TIMESTAMP` are STABLE: evaluated once, no rewrite from PG 11.

use super::{Ctx, Hit, Rule, PG};
use crate::model::{Severity, Volatility};
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "pg-add-column-default-rewrite",
    severity: Severity::Error,
    dialects: PG,
    summary: "ADD COLUMN with a volatile default (or any default before PG 11) rewrites the table",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    let v = ctx.opts.pg_version;
    for op in ctx.ops {
        if let Op::AddColumn { table, column } = op {
            let Some(d) = &column.default else { continue };
            if !ctx.existing(table) {
                continue;
            }
            let why = if d.volatility == Volatility::Volatile {
                volatile_why(ctx, &d.text, &d.functions)
            } else if v < 11 && !d.null {
                format!("PostgreSQL {v} writes every default into every row (catalog defaults came in 11)")
            } else {
                continue;
            };
            out.push(Hit::new(
                format!("adding {table}.{} rewrites {table} and its indexes under ACCESS EXCLUSIVE: {why}", column.name),
                "add the column without the default, SET DEFAULT for new rows, backfill existing rows in batches outside the DDL transaction",
            ));
        }
    }
}

/// Why a default is volatile, naming each volatile function by what is known of it.
fn volatile_why(ctx: &Ctx, text: &str, functions: &[String]) -> String {
    let mut reasons = Vec::new();
    for f in functions {
        match (ctx.scope.function(f), crate::functions::builtin(f)) {
            (Some(Volatility::Volatile), _) => reasons.push(format!(
                "{f} is VOLATILE (created without IMMUTABLE or STABLE)"
            )),
            (None, Some(Volatility::Volatile)) => reasons.push(format!("{f} is VOLATILE")),
            (None, None) => reasons.push(format!(
                "{f} is not known to be IMMUTABLE or STABLE, and PostgreSQL treats a function as VOLATILE unless declared otherwise"
            )),
            _ => {}
        }
    }
    format!(
        "the default {text} is evaluated once per row: {}",
        reasons.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use crate::rules::test_util::*;

    #[test]
    fn positive() {
        fires(
            PG,
            "pg-add-column-default-rewrite",
            "ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();",
        );
        let a = analyse_file(
            PG,
            10,
            "",
            "ALTER TABLE t ADD COLUMN c text DEFAULT 'x';",
            None,
        );
        assert!(a
            .findings
            .iter()
            .any(|f| f.id == "pg-add-column-default-rewrite"));
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-add-column-default-rewrite",
            "ALTER TABLE t ADD COLUMN c text DEFAULT 'x';",
        );
        passes(
            PG,
            "pg-add-column-default-rewrite",
            "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now();",
        );
    }
}
