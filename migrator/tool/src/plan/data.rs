//! Data steps written in the issue (`UPDATE`, `INSERT ... SELECT`, `DELETE`): kept in the UP. On a table
//! the issue creates they run with its DDL; on an existing table they get a migration of their own, so no
//! DDL lock is held while they run. The DOWN resets columns the issue added to what they held before the
//! step; what else a data step changed is flagged lossy (the pre-migration backup has it).
//!
//! An UPDATE with a WHERE of an existing table whose primary key is one integer column becomes a backfill
//! migration instead ([`Phase::Backfill`]): the runtime runs it in batches of key ranges, each a short
//! transaction that records its cursor, so a large table is never locked for the whole UPDATE.

use migrator_format::{Backfill, BatchStatement};

use super::{BackfillKey, Phase, Planner, Step};
use crate::dialect::Dialect;
use crate::error::GenError;
use crate::ident::Ident;
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
        if step.kind == DataKind::Update && step.filtered {
            self.as_backfill(&mut s, &step.table);
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

impl Planner {
    /// The integer key a backfill of the existing table `table` runs its batches on: its primary key when
    /// that is one integer column that holds no NULL, with a name the directive can write.
    pub(super) fn backfill_key(&self, table: &Ident) -> Option<BackfillKey> {
        if self.is_new(table.as_str()) {
            return None;
        }
        let t = self.schema.table(table.as_str())?;
        let [key] = t.primary_key_columns() else {
            return None;
        };
        let column = t.column(key)?;
        let integer = crate::sqlexpr::type_family(&column.data_type, self.d) == Some("integer");
        // SQLite's `INTEGER PRIMARY KEY` is the rowid: never NULL, whatever the column says.
        let rowid = self.d == Dialect::Sqlite && column.data_type.eq_ignore_ascii_case("INTEGER");
        let no_null = column.not_null || rowid || self.d == Dialect::Postgres;
        (integer && no_null).then(|| BackfillKey {
            table: table.as_str().to_string(),
            key: key.clone(),
        })
    }

    /// Makes `step`, one UPDATE of the existing table `table`, a backfill migration when the table has an
    /// integer key and the runtime can bound the statement by it; otherwise leaves it a data step.
    pub(super) fn as_backfill(&self, step: &mut Step, table: &Ident) {
        let Some(key) = self.backfill_key(table) else {
            step.notes.push(format!(
                "{table} has no single integer primary key to run batches on: this UPDATE runs as one transaction"
            ));
            return;
        };
        let directive = format!("table={} key={}", key.table, key.key);
        let batchable = Backfill::parse_directive(&directive, 1).and_then(|b| {
            step.up
                .iter()
                .try_for_each(|sql| BatchStatement::new(sql, &b).map(|_| ()))
        });
        if let Err(why) = batchable {
            step.notes.push(format!(
                "this UPDATE of {table} cannot run in batches ({why}): it runs as one transaction"
            ));
            return;
        }
        step.phase = Phase::Backfill;
        step.notes.push(format!(
            "a backfill: the runtime runs this UPDATE in batches of {}.{} ranges, each a short transaction that records how far it got",
            key.table, key.key
        ));
        step.backfill = Some(key);
    }
}
