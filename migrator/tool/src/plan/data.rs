//! Data steps written in the issue (`UPDATE`, `INSERT ... SELECT`, `DELETE`): kept in the UP. On a table
//! the issue creates they run with its DDL; on an existing table they get a migration of their own, so no
//! DDL lock is held while they run. The DOWN resets columns the issue added to what they held before the
//! step; what else a data step changed is flagged lossy (the pre-migration backup has it).

use super::{Phase, Planner};
use crate::dialect::Dialect;
use crate::error::GenError;
use crate::model::{Change, DataKind, DataStep, Located};
use crate::render::q;
use crate::schema::Schema;

/// A NOT NULL column without a default added to an existing table, that a later data step of the issue
/// fills: added nullable, and made NOT NULL after the data step.
pub(super) fn defer_not_null(changes: &[Located], schema: &Schema) -> Vec<Located> {
    let mut out: Vec<Located> = changes.to_vec();
    let mut n = 0;
    while n < out.len() {
        let target = match &out[n].change {
            Change::AddColumn { table, column }
                if column.not_null
                    && column.default.as_ref().is_none_or(|d| d.is_null())
                    && schema.table(table.as_str()).is_some() =>
            {
                Some((table.clone(), column.name.clone()))
            }
            _ => None,
        };
        if let Some((table, column)) = target {
            let fills = |l: &Located| matches!(&l.change, Change::Data(d) if d.kind == DataKind::Update && d.table == table && d.columns.contains(&column));
            if let Some(last) = out.iter().rposition(fills).filter(|l| *l > n) {
                if let Change::AddColumn { column: c, .. } = &mut out[n].change {
                    c.not_null = false;
                }
                let origin = out[n].origin.clone();
                out.insert(
                    last + 1,
                    Located {
                        change: Change::SetNotNull { table, column },
                        origin,
                    },
                );
            }
        }
        n += 1;
    }
    out
}

impl Planner {
    pub(super) fn data(&mut self, step: &DataStep) -> Result<(), GenError> {
        let t = self.table(&step.table)?;
        for c in &step.columns {
            self.column(&step.table, c)?;
        }
        let d = self.d;
        let new = self.is_new(step.table.as_str());
        let verb = match step.kind {
            DataKind::Update => "UPDATE",
            DataKind::Insert => "INSERT INTO",
            DataKind::Delete => "DELETE FROM",
        };
        let mut s = self.step(
            if new { Phase::Ddl } else { Phase::Data },
            format!("Data step: {verb} {}", step.table),
        );
        s.up.push(crate::sqlexpr::render_statement(&step.sql, d));
        if new {
            return self.push(s);
        }
        let reset: Option<Vec<(String, String)>> = (step.kind == DataKind::Update)
            .then(|| {
                step.columns
                    .iter()
                    .map(|c| {
                        let added = self
                            .added
                            .contains(&(step.table.as_str().to_string(), c.as_str().to_string()));
                        let before = t.column(c.as_str()).and_then(|col| col.default.clone());
                        added.then(|| {
                            (
                                c.as_str().to_string(),
                                before.unwrap_or_else(|| "NULL".into()),
                            )
                        })
                    })
                    .collect()
            })
            .flatten();
        match reset {
            Some(columns) if !columns.is_empty() => {
                let differs = |c: &str, v: &str| match (d, v) {
                    (_, "NULL") => format!("{} IS NOT NULL", q(c, d)),
                    (Dialect::Postgres, v) => format!("{} IS DISTINCT FROM {v}", q(c, d)),
                    (Dialect::Sqlite, v) => format!("{} IS NOT {v}", q(c, d)),
                };
                s.down.push(format!(
                    "UPDATE {} SET {} WHERE {}",
                    step.table.sql(d),
                    columns.iter().map(|(c, v)| format!("{} = {v}", q(c, d))).collect::<Vec<_>>().join(", "),
                    columns.iter().map(|(c, v)| differs(c, v)).collect::<Vec<_>>().join(" OR ")
                ));
            }
            _ => s.lossy.push(format!(
                "the data step `{verb} {}` ({}) cannot be undone by SQL: the rows it changed are only in the pre-migration backup",
                step.table, self.origin
            )),
        }
        if !step.filtered && step.kind != DataKind::Insert {
            return Err(self.refuse(format!(
                "`{verb} {}` without WHERE rewrites every row of an existing table in one transaction; add the WHERE you mean (e.g. `WHERE x IS NULL`)",
                step.table
            )));
        }
        self.push(s)
    }
}
