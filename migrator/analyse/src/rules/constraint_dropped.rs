//! `constraint-dropped` (check 15): dropping a constraint or a NOT NULL loosens integrity. A constraint added
//! again under the same name later in the section, a primary key replaced, or a UNIQUE whose columns a new
//! key of the section covers, is not loosened.

use super::{Ctx, Hit, Rule, PG};
use crate::model::{Section, Severity};
use crate::ops::Op;

pub(crate) const RULE: Rule = Rule {
    id: "constraint-dropped",
    severity: Severity::Warning,
    dialects: PG,
    summary: "DROP CONSTRAINT / DROP NOT NULL in the UP loosens integrity",
    check,
};

fn check(ctx: &Ctx, out: &mut Vec<Hit>) {
    if ctx.section != Section::Up {
        return;
    }
    for op in ctx.ops {
        match op {
            Op::DropConstraint { table, name, known }
                if ctx.existing(table)
                    && !ctx
                        .facts
                        .constraint_replaced(table, name, known.as_ref(), ctx.index) =>
            {
                out.push(Hit::new(
                format!("dropping constraint {name} on {table} lets rows in that it used to refuse"),
                "get a review; when replacing it, add the new constraint (NOT VALID + VALIDATE) before dropping the old",
                ))
            }
            Op::DropNotNull { table, column } if ctx.existing(table) => out.push(Hit::new(
                format!("DROP NOT NULL on {table}.{column}: NULLs become possible, and readers must handle them"),
                "get a review; make sure every reader handles NULL first",
            )),
            _ => {}
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
            "constraint-dropped",
            "ALTER TABLE t DROP CONSTRAINT t_fk;",
        );
        fires(
            PG,
            "constraint-dropped",
            "ALTER TABLE t ALTER COLUMN a DROP NOT NULL;",
        );
    }

    #[test]
    fn negative() {
        let a = analyse_file(
            PG,
            15,
            "",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
            Some("ALTER TABLE t DROP CONSTRAINT c;"),
        );
        assert!(a.findings.iter().all(|f| f.id != "constraint-dropped"));
    }
}
