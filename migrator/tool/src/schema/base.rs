//! The base schema: the current `CREATE TABLE` / `CREATE INDEX` statements of the database (e.g. SQLite's
//! `.schema` or `pg_dump --schema-only`), given with `--base-schema`. It lets the DOWN recreate what the UP
//! drops (an index, a column's or a table's definition, a column's old type) instead of only warning.
//!
//! Reading is lenient: statements other than `CREATE TABLE` and `CREATE INDEX` (`SET`, `ALTER ... OWNER`,
//! triggers, views) are skipped and counted, since the file only serves to look definitions up.

use std::collections::BTreeMap;

use crate::model::{Change, Column, Index, NamedConstraint};
use crate::sql::{lex, split, statement, ReadError};

/// One table of the base schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseTable {
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Table constraints.
    pub constraints: Vec<NamedConstraint>,
}

/// Tables and indexes of the database before the migration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseSchema {
    /// Tables by name.
    pub tables: BTreeMap<String, BaseTable>,
    /// Indexes by name.
    pub indexes: BTreeMap<String, Index>,
    /// Statements that were skipped.
    pub skipped: usize,
}

impl BaseSchema {
    /// Reads schema SQL. Only a lexing error (an unclosed quote or comment) fails.
    pub fn parse(text: &str) -> Result<BaseSchema, ReadError> {
        let toks = lex(text, true)?;
        let mut schema = BaseSchema::default();
        for st in split(&toks) {
            match statement(st) {
                Ok(changes) => {
                    for c in changes {
                        match c {
                            Change::CreateTable {
                                table,
                                columns,
                                constraints,
                            } => {
                                schema.tables.insert(
                                    table.as_str().to_string(),
                                    BaseTable {
                                        columns,
                                        constraints,
                                    },
                                );
                            }
                            Change::CreateIndex(i) => {
                                schema.indexes.insert(i.name.as_str().to_string(), i);
                            }
                            _ => schema.skipped += 1,
                        }
                    }
                }
                Err(_) => schema.skipped += 1,
            }
        }
        Ok(schema)
    }

    /// The column `table.column`.
    pub fn column(&self, table: &str, column: &str) -> Option<&Column> {
        self.tables
            .get(table)?
            .columns
            .iter()
            .find(|c| c.name.as_str() == column)
    }

    /// The indexes on `table`.
    pub fn indexes_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Index> + 'a {
        self.indexes
            .values()
            .filter(move |i| i.table.as_str() == table)
    }
}
