//! The model of data-model changes read from an issue, independent of the dialect they are rendered for.

use crate::ident::Ident;
use crate::sql::Expr;

/// Where in the issue a change came from, for messages and the generated comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `body` or `comment N` (1-based).
    pub part: String,
    /// 1-based line inside that part.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.part, self.line)
    }
}

/// A column type: upper-case name words, optional numeric arguments, optional `[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlType {
    /// Upper-case words, e.g. `VARCHAR`, `DOUBLE PRECISION`, `TIMESTAMP WITH TIME ZONE`.
    pub name: String,
    /// Numeric arguments, e.g. `["3", "2"]` for `DECIMAL(3,2)`.
    pub args: Vec<String>,
    /// `true` for an array type (`TEXT[]`).
    pub array: bool,
}

/// A foreign key action (`ON DELETE ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FkAction {
    /// `CASCADE`
    Cascade,
    /// `RESTRICT`
    Restrict,
    /// `SET NULL`
    SetNull,
    /// `SET DEFAULT`
    SetDefault,
    /// `NO ACTION`
    NoAction,
}

impl FkAction {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::Cascade => "CASCADE",
            FkAction::Restrict => "RESTRICT",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
            FkAction::NoAction => "NO ACTION",
        }
    }
}

/// `REFERENCES table(columns) [ON DELETE ..] [ON UPDATE ..]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referenced table.
    pub table: Ident,
    /// The referenced columns (empty: the table's primary key).
    pub columns: Vec<Ident>,
    /// `ON DELETE` action.
    pub on_delete: Option<FkAction>,
    /// `ON UPDATE` action.
    pub on_update: Option<FkAction>,
}

/// A column definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: Ident,
    /// Column type.
    pub ty: SqlType,
    /// `PRIMARY KEY`.
    pub primary_key: bool,
    /// `NOT NULL`.
    pub not_null: bool,
    /// `UNIQUE`.
    pub unique: bool,
    /// `DEFAULT expr`.
    pub default: Option<Expr>,
    /// `REFERENCES ...`.
    pub references: Option<ForeignKey>,
    /// `CHECK (expr)` constraints (also from `one of (...)`), with an optional name.
    pub checks: Vec<(Option<Ident>, Expr)>,
}

/// A table-level constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableConstraint {
    /// `PRIMARY KEY (cols)`
    PrimaryKey(Vec<Ident>),
    /// `UNIQUE (cols)`
    Unique(Vec<Ident>),
    /// `CHECK (expr)`
    Check(Expr),
    /// `FOREIGN KEY (cols) REFERENCES ...`
    ForeignKey(Vec<Ident>, ForeignKey),
}

/// A constraint with its (given or generated) name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedConstraint {
    /// Name, when the issue gave one; the renderer generates one otherwise.
    pub name: Option<Ident>,
    /// The constraint.
    pub constraint: TableConstraint,
}

/// One key of an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKey {
    /// The indexed column.
    pub column: Ident,
    /// `DESC`.
    pub desc: bool,
}

/// `CREATE [UNIQUE] INDEX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// Index name (given, or `idx_<table>_<columns>`).
    pub name: Ident,
    /// Indexed table.
    pub table: Ident,
    /// `UNIQUE`.
    pub unique: bool,
    /// Keys.
    pub keys: Vec<IndexKey>,
    /// Partial index predicate.
    pub predicate: Option<Expr>,
    /// The issue asked for `CONCURRENTLY` (PostgreSQL; the migration then runs without a transaction).
    pub concurrently: bool,
}

/// One data-model change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `CREATE TABLE`.
    CreateTable {
        /// Table name.
        table: Ident,
        /// Columns.
        columns: Vec<Column>,
        /// Table constraints.
        constraints: Vec<NamedConstraint>,
    },
    /// `DROP TABLE` (lossy to invert).
    DropTable {
        /// Table name.
        table: Ident,
    },
    /// `ALTER TABLE .. RENAME TO ..`.
    RenameTable {
        /// Old name.
        from: Ident,
        /// New name.
        to: Ident,
    },
    /// `ALTER TABLE .. ADD COLUMN ..`.
    AddColumn {
        /// Table.
        table: Ident,
        /// The new column.
        column: Column,
    },
    /// `ALTER TABLE .. DROP COLUMN ..` (lossy to invert).
    DropColumn {
        /// Table.
        table: Ident,
        /// Column.
        column: Ident,
    },
    /// `ALTER TABLE .. RENAME COLUMN .. TO ..`.
    RenameColumn {
        /// Table.
        table: Ident,
        /// Old name.
        from: Ident,
        /// New name.
        to: Ident,
    },
    /// `ALTER TABLE .. ALTER COLUMN .. TYPE ..` (lossy to invert).
    AlterType {
        /// Table.
        table: Ident,
        /// Column.
        column: Ident,
        /// New type.
        ty: SqlType,
    },
    /// `CREATE INDEX`.
    CreateIndex(Index),
    /// `DROP INDEX` (its definition is not known offline, so the inverse is lossy).
    DropIndex {
        /// Index name.
        name: Ident,
        /// `CONCURRENTLY` was asked for.
        concurrently: bool,
    },
    /// `ALTER TABLE .. ADD [CONSTRAINT name] UNIQUE/CHECK/FOREIGN KEY ..` on an existing table.
    AddConstraint {
        /// Table.
        table: Ident,
        /// The constraint.
        constraint: NamedConstraint,
    },
}

impl Change {
    /// The table the change is about (for an index drop: none known).
    pub fn table(&self) -> Option<&Ident> {
        match self {
            Change::CreateTable { table, .. }
            | Change::DropTable { table }
            | Change::AddColumn { table, .. }
            | Change::DropColumn { table, .. }
            | Change::RenameColumn { table, .. }
            | Change::AlterType { table, .. }
            | Change::AddConstraint { table, .. } => Some(table),
            Change::RenameTable { to, .. } => Some(to),
            Change::CreateIndex(index) => Some(&index.table),
            Change::DropIndex { .. } => None,
        }
    }

    /// A one-line description, e.g. `add column contacts.enrichment_status`.
    pub fn describe(&self) -> String {
        match self {
            Change::CreateTable { table, columns, .. } => {
                format!("create table {table} ({} columns)", columns.len())
            }
            Change::DropTable { table } => format!("drop table {table}"),
            Change::RenameTable { from, to } => format!("rename table {from} to {to}"),
            Change::AddColumn { table, column } => format!("add column {table}.{}", column.name),
            Change::DropColumn { table, column } => format!("drop column {table}.{column}"),
            Change::RenameColumn { table, from, to } => {
                format!("rename column {table}.{from} to {to}")
            }
            Change::AlterType { table, column, .. } => {
                format!("change type of {table}.{column}")
            }
            Change::CreateIndex(i) => format!(
                "create {}index {} on {}",
                if i.unique { "unique " } else { "" },
                i.name,
                i.table
            ),
            Change::DropIndex { name, .. } => format!("drop index {name}"),
            Change::AddConstraint { table, constraint } => {
                let kind = match constraint.constraint {
                    TableConstraint::PrimaryKey(_) => "primary key",
                    TableConstraint::Unique(_) => "unique constraint",
                    TableConstraint::Check(_) => "check constraint",
                    TableConstraint::ForeignKey(..) => "foreign key",
                };
                format!("add {kind} on {table}")
            }
        }
    }
}

/// A change with the place in the issue it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The change.
    pub change: Change,
    /// Where it was read.
    pub origin: Origin,
}
