//! Engine limits, checked before anything is written: columns per table (SQLite's default
//! SQLITE_MAX_COLUMN of 2000, PostgreSQL's 1600) and identifier length (PostgreSQL keeps 63 bytes and
//! silently cuts longer names, so two long names could become one).

use super::Planner;
use crate::dialect::Dialect;
use crate::error::GenError;

/// Columns one table may have in `d`.
pub(crate) fn max_columns(d: Dialect) -> usize {
    match d {
        Dialect::Sqlite => 2000,
        Dialect::Postgres => 1600,
    }
}

impl Planner {
    /// `table` would have `count` columns.
    pub(crate) fn check_column_count(&self, table: &str, count: usize) -> Result<(), GenError> {
        let max = max_columns(self.d);
        if count > max {
            return Err(self.refuse(format!(
                "table {table} would have {count} columns; {} allows {max} per table",
                self.d.engine()
            )));
        }
        Ok(())
    }
}

/// Every table and name of the schema after the plan is within the limits.
pub(super) fn check(p: &Planner) -> Result<(), GenError> {
    for t in p.schema.tables.values() {
        p.check_column_count(&t.name, t.columns.len())?;
        let names = std::iter::once(t.name.as_str())
            .chain(t.columns.iter().map(|c| c.name.as_str()))
            .chain(t.indexes.iter().map(|i| i.name.as_str()))
            .chain(t.checks.iter().filter_map(|c| c.name.as_deref()))
            .chain(t.uniques.iter().filter_map(|c| c.name.as_deref()))
            .chain(t.foreign_keys.iter().filter_map(|c| c.name.as_deref()));
        for name in names {
            if name.len() > crate::ident::MAX_IDENT_LEN {
                return Err(p.refuse(format!(
                    "the name {name} is {} bytes; PostgreSQL keeps {} and would cut it",
                    name.len(),
                    crate::ident::MAX_IDENT_LEN
                )));
            }
        }
    }
    Ok(())
}
