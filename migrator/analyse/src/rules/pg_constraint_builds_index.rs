//! `pg-constraint-builds-index` (check 12): ADD PRIMARY KEY / UNIQUE / EXCLUDE, and ADD COLUMN ... UNIQUE /
//! PRIMARY KEY, build the index under ACCESS EXCLUSIVE.

use super::{Ctx, Hit, Rule, PG};
use crate::model::Severity;
use crate::ops::{Constraint, Op};

pub(crate) const RULE: Rule = Rule {
    id: "pg-constraint-builds-index",
    severity: Severity::Error,
    dialects: PG,
    summary: "PRIMARY KEY / UNIQUE added by building an index under ACCESS EXCLUSIVE",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    for op in ctx.ops {
        if let Op::AddColumn { table, column } = op {
            let kind = if column.primary_key {
                "PRIMARY KEY"
            } else if column.unique {
                "UNIQUE"
            } else {
                continue;
            };
            if ctx.existing(table) {
                out.push(Hit::new(
                    format!("ADD COLUMN {table}.{} {kind} builds its index over every row while reads and writes wait (ACCESS EXCLUSIVE)", column.name),
                    format!("ADD COLUMN without {kind}; CREATE UNIQUE INDEX CONCURRENTLY on it in a `-- migrator:no-transaction` migration; then ADD CONSTRAINT ... {kind} USING INDEX"),
                ));
            }
            continue;
        }
        if let Op::AddConstraint {
            table, constraint, ..
        } = op
        {
            let kind = match constraint {
                Constraint::PrimaryKey { .. } => "PRIMARY KEY",
                Constraint::Unique { .. } => "UNIQUE",
                Constraint::Exclude => "EXCLUDE",
                _ => continue,
            };
            if ctx.existing(table) {
                out.push(Hit::new(
                    format!("ADD {kind} on {table} builds its index while reads and writes wait (ACCESS EXCLUSIVE)"),
                    "CREATE UNIQUE INDEX CONCURRENTLY (no-transaction migration), then ADD CONSTRAINT ... PRIMARY KEY/UNIQUE USING INDEX",
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
            "pg-constraint-builds-index",
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE (email);",
        );
        fires(
            PG,
            "pg-constraint-builds-index",
            "ALTER TABLE t ADD PRIMARY KEY (id);",
        );
    }

    #[test]
    fn negative() {
        passes(
            PG,
            "pg-constraint-builds-index",
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX u_idx;",
        );
    }
}
