//! From SQL text to [`Op`]s: the dialect-neutral facts the impact model and the rules read.
//!
//! The statement is read by `sqlparser`. Two PostgreSQL forms it does not know are read here first
//! (`DROP INDEX CONCURRENTLY`, `REINDEX`); anything else it refuses comes back as the parser's message and is
//! reported as "not analysed".

use sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, Expr, ObjectName,
    ObjectNamePart, ObjectType, TableConstraint, TableFactor,
};
use sqlparser::dialect::{Dialect as SqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use crate::functions::default_volatility;
use crate::model::{Lock, Volatility};
use crate::Dialect;

/// A column as written in CREATE TABLE or ADD COLUMN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: String,
    /// Lower-case type text, e.g. `varchar(20)`.
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<Default>,
    pub primary_key: bool,
    pub unique: bool,
    /// Referenced table of an inline `REFERENCES`.
    pub references: Option<String>,
    /// The referenced columns, when written (`REFERENCES contacts(id)`).
    pub referred_columns: Vec<String>,
    pub generated_stored: bool,
    pub identity: bool,
    /// Inline `CHECK`s, described by [`describe_check`].
    pub checks: Vec<String>,
}

impl Column {
    /// `serial`, `bigserial`, `smallserial` and their aliases.
    pub fn serial(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2"
        )
    }
}

/// A column default, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Default {
    /// The expression text.
    pub text: String,
    /// `NULL`.
    pub null: bool,
    /// A plain literal (number, string, TRUE/FALSE), possibly signed.
    pub literal: bool,
    /// `CURRENT_TIME`, `CURRENT_DATE` or `CURRENT_TIMESTAMP`.
    pub current_time: bool,
    /// The functions it calls (lower-case, schema dropped).
    pub functions: Vec<String>,
    /// The most volatile of its functions: from the built-in list when parsed, then from what the
    /// migrations or the live catalog declare ([`crate::state`]); unknown functions are volatile.
    pub volatility: Volatility,
}

/// A table constraint, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Constraint {
    ForeignKey {
        columns: Vec<String>,
        references: String,
        /// The referenced columns, when written.
        referred: Vec<String>,
    },
    Check {
        expr: String,
        /// What it checks, for people: `status values`, `score range`, else the expression.
        summary: String,
        /// `Some(c)` for `CHECK (c IS NOT NULL)`: once validated it lets PostgreSQL 12+ SET NOT NULL
        /// without a scan.
        not_null_column: Option<String>,
    },
    Unique {
        columns: Vec<String>,
    },
    PrimaryKey {
        columns: Vec<String>,
    },
    /// `PRIMARY KEY USING INDEX` / `UNIQUE USING INDEX`.
    UsingIndex,
    Exclude,
    Other,
}

/// One fact about what a statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    CreateTable {
        table: String,
        columns: Vec<Column>,
        constraints: Vec<(Option<String>, Constraint)>,
        as_select: bool,
    },
    CreateIndex {
        name: Option<String>,
        table: String,
        columns: Vec<String>,
        unique: bool,
        concurrently: bool,
        /// The `WHERE` of a partial index.
        predicate: Option<String>,
    },
    DropIndex {
        names: Vec<String>,
        concurrently: bool,
        /// Resolved: the table of each index, when known (earlier migrations, the live catalog).
        tables: Vec<Option<String>>,
    },
    Reindex {
        /// `index`, `table`, `schema`, `database` or `system`.
        what: String,
        name: String,
        concurrently: bool,
        /// Resolved: the table whose index is rebuilt (the table itself for `REINDEX TABLE`).
        table: Option<String>,
    },
    AddColumn {
        table: String,
        column: Column,
    },
    DropColumn {
        table: String,
        column: String,
    },
    AlterColumnType {
        table: String,
        column: String,
        data_type: String,
        /// A `USING` expression other than the column itself.
        using: bool,
        /// Resolved: the column's type before, when known.
        from_type: Option<String>,
        /// Resolved: whether the session TimeZone is UTC (`None`: not known offline).
        utc: Option<bool>,
        /// Resolved: whether an index uses the column (`None`: not known).
        indexed: Option<bool>,
    },
    SetNotNull {
        table: String,
        column: String,
        /// Resolved: a validated `CHECK (column IS NOT NULL)` exists, so PostgreSQL 12+ skips the scan.
        proved: bool,
    },
    DropNotNull {
        table: String,
        column: String,
    },
    SetDefault {
        table: String,
        column: String,
    },
    DropDefault {
        table: String,
        column: String,
    },
    AddIdentity {
        table: String,
        column: String,
    },
    AddConstraint {
        table: String,
        name: Option<String>,
        constraint: Constraint,
        not_valid: bool,
    },
    DropConstraint {
        table: String,
        name: String,
        /// Resolved: the constraint being dropped, when known.
        known: Option<Constraint>,
    },
    ValidateConstraint {
        table: String,
        name: String,
        /// Resolved: the constraint being validated, when known.
        known: Option<Constraint>,
    },
    RenameTable {
        from: String,
        to: String,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    RenameOther {
        table: String,
        what: String,
    },
    /// `ALTER INDEX a RENAME TO b`.
    RenameIndex {
        from: String,
        to: String,
    },
    /// `ALTER TABLE t RENAME CONSTRAINT a TO b`.
    RenameConstraint {
        table: String,
        from: String,
        to: String,
    },
    DetachPartition {
        table: String,
        concurrently: bool,
    },
    /// Any other ALTER TABLE action (owner, RLS, storage options...).
    AlterTableOther {
        table: String,
        what: String,
    },
    Drop {
        kind: ObjectTypeName,
        names: Vec<String>,
        cascade: bool,
    },
    DropTrigger {
        name: String,
        table: Option<String>,
    },
    DropFunction {
        names: Vec<String>,
    },
    Truncate {
        tables: Vec<String>,
    },
    CreateView {
        name: String,
        materialized: bool,
    },
    CreateTrigger {
        name: String,
        table: String,
    },
    CreateFunction {
        name: String,
        /// `IMMUTABLE` / `STABLE` / `VOLATILE` as declared (`None`: not declared, so volatile).
        volatility: Option<Volatility>,
    },
    CreateType {
        name: String,
    },
    CreateSequence {
        name: String,
    },
    CreateSchema {
        name: String,
    },
    CreateExtension {
        name: String,
    },
    Insert {
        table: String,
        from_select: bool,
    },
    Update {
        table: String,
        selection: Option<String>,
    },
    Delete {
        table: String,
        selection: Option<String>,
    },
    Vacuum {
        full: bool,
        table: Option<String>,
    },
    Pragma {
        name: String,
        value: Option<String>,
    },
    /// `LOCK TABLE t [IN mode MODE]`: held until the transaction ends.
    LockTable {
        tables: Vec<String>,
        mode: Lock,
    },
    /// `REFRESH MATERIALIZED VIEW [CONCURRENTLY] v`.
    RefreshMaterializedView {
        name: String,
        concurrently: bool,
    },
    /// `CLUSTER [t]`: rewrites the table in index order under ACCESS EXCLUSIVE.
    Cluster {
        table: Option<String>,
    },
    /// `SET [LOCAL] TIME ZONE v` / `SET timezone = v`; `None` for `DEFAULT` / `LOCAL`.
    SetTimeZone {
        value: Option<String>,
    },
    /// `CREATE STATISTICS ... FROM t` (read by keywords).
    CreateStatistics {
        table: Option<String>,
    },
    /// Anything else the parser read (SELECT, SET, COMMENT, GRANT...): no schema effect known.
    Other {
        kind: String,
    },
}

/// The object type of a generic `DROP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectTypeName {
    Table,
    View,
    MaterializedView,
    Index,
    Schema,
    Database,
    Sequence,
    Type,
    Other,
}

/// A statement read into ops, with its label.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub kind: String,
    pub ops: Vec<Op>,
}

/// What reading one statement gave.
#[derive(Debug, Clone)]
pub(crate) enum Reading {
    /// The parser read it.
    Analysed(Parsed),
    /// A parser gap, read by its leading keywords ([`crate::gaps`]).
    NotUnderstood {
        form: String,
        reason: String,
        parsed: Parsed,
    },
    /// Refused: the parser's reason (likely invalid SQL), or too deeply nested to analyse.
    NotAnalysed(String),
}

/// Reads one statement: the nesting bound first ([`crate::depth`]), then the shims for forms the parser
/// does not know, then the parser; a statement the parser refuses goes to the keyword reader of
/// [`crate::gaps`], which knows the parser's gaps.
pub(crate) fn read(sql: &str, dialect: Dialect) -> Reading {
    let words = match migrator_format::statement_words(sql) {
        Ok(words) => words,
        Err(e) => return Reading::NotAnalysed(e.to_string()),
    };
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    if let Some(reason) = crate::depth::too_deep(&w) {
        return Reading::NotAnalysed(reason);
    }
    match parse_words(sql, &w, dialect) {
        Ok(parsed) => Reading::Analysed(parsed),
        Err(reason) => match crate::gaps::understand(&w, dialect) {
            Some((form, ops)) => Reading::NotUnderstood {
                form,
                reason,
                parsed: Parsed {
                    kind: label(&w),
                    ops,
                },
            },
            None => Reading::NotAnalysed(reason),
        },
    }
}

/// Reads one statement whose nesting is known to be bounded. `Err` holds the parser's reason.
fn parse(sql: &str, dialect: Dialect) -> Result<Parsed, String> {
    let words = migrator_format::statement_words(sql).map_err(|e| e.to_string())?;
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    parse_words(sql, &w, dialect)
}

fn parse_words(sql: &str, w: &[&str], dialect: Dialect) -> Result<Parsed, String> {
    if dialect == Dialect::Postgres {
        if let Some(parsed) = postgres_shims(sql, w) {
            return parsed;
        }
    }
    if dialect == Dialect::Sqlite && w.first() == Some(&"PRAGMA") {
        return Ok(sqlite_pragma(w));
    }
    let dialect_impl: &dyn SqlDialect = match dialect {
        Dialect::Postgres => &PostgreSqlDialect {},
        Dialect::Sqlite => &SQLiteDialect {},
    };
    let statements = Parser::parse_sql(dialect_impl, sql).map_err(|e| e.to_string())?;
    let mut kind = String::new();
    let mut ops = Vec::new();
    for statement in &statements {
        if kind.is_empty() {
            kind = label(w);
        }
        read_statement(statement, &mut ops);
    }
    if statements.is_empty() {
        return Err("no statement found".to_string());
    }
    Ok(Parsed { kind, ops })
}

/// The first keywords of a statement, e.g. `CREATE INDEX`.
pub(crate) fn label(words: &[&str]) -> String {
    let skip = [
        "UNIQUE",
        "OR",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "MATERIALIZED",
        "CONCURRENTLY",
        "IF",
    ];
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 && skip.contains(word) {
            continue;
        }
        if !word.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            break;
        }
        out.push(*word);
        if out.len() == 2 || !matches!(out[0], "CREATE" | "DROP" | "ALTER") {
            break;
        }
    }
    out.join(" ")
}

/// PostgreSQL forms sqlparser does not read.
fn postgres_shims(sql: &str, w: &[&str]) -> Option<Result<Parsed, String>> {
    // DROP INDEX CONCURRENTLY [IF EXISTS] a, b [CASCADE|RESTRICT]
    if w.len() >= 3 && w[0] == "DROP" && w[1] == "INDEX" && w[2] == "CONCURRENTLY" {
        let start = find_word(sql, "CONCURRENTLY")?;
        let rewritten = format!("{}{}", &sql[..start], &sql[start + "CONCURRENTLY".len()..]);
        return Some(parse(&rewritten, Dialect::Postgres).map(|mut parsed| {
            for op in &mut parsed.ops {
                if let Op::DropIndex { concurrently, .. } = op {
                    *concurrently = true;
                }
            }
            parsed
        }));
    }
    // REINDEX [ ( options ) ] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } [ CONCURRENTLY ] name
    if w.first() == Some(&"REINDEX") {
        let mut i = 1;
        if w.get(i) == Some(&"(") {
            while i < w.len() && w[i] != ")" {
                i += 1;
            }
            i += 1;
        }
        let what = w.get(i).copied().unwrap_or_default();
        i += 1;
        let concurrently = w.get(i) == Some(&"CONCURRENTLY");
        if concurrently {
            i += 1;
        }
        let name: String = w.get(i..).unwrap_or_default().concat().to_lowercase();
        if !matches!(what, "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM") {
            return Some(Err(format!(
                "REINDEX: expected INDEX, TABLE, SCHEMA, DATABASE or SYSTEM, found {what:?}"
            )));
        }
        return Some(Ok(Parsed {
            kind: "REINDEX".to_string(),
            ops: vec![Op::Reindex {
                what: what.to_lowercase(),
                table: (what == "TABLE").then(|| name.clone()),
                name,
                concurrently,
            }],
        }));
    }
    // CLUSTER [VERBOSE] [table [USING index]]
    if w.first() == Some(&"CLUSTER") {
        let rest: Vec<&str> = w[1..].iter().copied().filter(|x| *x != "VERBOSE").collect();
        let table = rest
            .iter()
            .position(|x| *x == "USING")
            .map_or(&rest[..], |end| &rest[..end])
            .concat()
            .to_lowercase();
        return Some(Ok(Parsed {
            kind: "CLUSTER".to_string(),
            ops: vec![Op::Cluster {
                table: (!table.is_empty()).then_some(table),
            }],
        }));
    }
    None
}

/// `PRAGMA [schema.]name [= value | (value)]`: sqlparser only reads literal values, SQLite also takes
/// keywords (`ON`, `OFF`, `WAL`).
fn sqlite_pragma(w: &[&str]) -> Parsed {
    let mut i = 1;
    let mut name = w.get(i).copied().unwrap_or_default().to_lowercase();
    if w.get(i + 1) == Some(&".") {
        i += 2;
        name = w.get(i).copied().unwrap_or_default().to_lowercase();
    }
    let value: String = w
        .get(i + 1..)
        .unwrap_or_default()
        .iter()
        .filter(|t| !matches!(**t, "=" | "(" | ")"))
        .copied()
        .collect::<Vec<_>>()
        .concat()
        .to_lowercase();
    Parsed {
        kind: "PRAGMA".to_string(),
        ops: vec![Op::Pragma {
            name,
            value: (!value.is_empty()).then_some(value),
        }],
    }
}

/// Byte offset of the first whole-word, case-insensitive occurrence of `word` in `sql`.
fn find_word(sql: &str, word: &str) -> Option<usize> {
    let upper = sql.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let mut from = 0;
    while let Some(pos) = upper[from..].find(word) {
        let at = from + pos;
        let end = at + word.len();
        let before_ok = at == 0 || !is_word_byte(bytes[at - 1]);
        let after_ok = end >= bytes.len() || !is_word_byte(bytes[end]);
        if before_ok && after_ok {
            return Some(at);
        }
        from = end;
    }
    None
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// An identifier as the database sees it: unquoted ones fold to lower case.
fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// A (possibly qualified) object name.
pub(crate) fn name(n: &ObjectName) -> String {
    n.0.iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn index_columns(columns: &[ast::IndexColumn]) -> Vec<String> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => ident(i),
            other => other.to_string().to_lowercase(),
        })
        .collect()
}

fn idents(columns: &[ast::Ident]) -> Vec<String> {
    columns.iter().map(ident).collect()
}

fn classify_default(expr: &Expr) -> Default {
    let text = expr.to_string();
    let lower = text.to_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let literal = match expr {
        Expr::Value(_) => true,
        Expr::UnaryOp { expr, .. } => matches!(**expr, Expr::Value(_)),
        Expr::Identifier(i) => {
            matches!(i.value.to_ascii_uppercase().as_str(), "TRUE" | "FALSE")
        }
        _ => false,
    };
    let current_time = matches!(
        compact.trim_end_matches("()"),
        "current_time" | "current_date" | "current_timestamp"
    );
    let functions = crate::functions::calls(&text);
    Default {
        null: compact == "null",
        literal,
        current_time,
        volatility: default_volatility(&functions, |_| None),
        functions,
        text,
    }
}

/// `Some(c)` when `expr` is `c IS NOT NULL` (parenthesised or not).
fn not_null_column(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Nested(e) => not_null_column(e),
        Expr::IsNotNull(e) => match &**e {
            Expr::Identifier(i) => Some(ident(i)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident),
            _ => None,
        },
        _ => None,
    }
}

/// A CHECK in a few words: `status values` for `status IN (...)`, `score range` for comparisons or
/// `BETWEEN` on one column, otherwise the expression itself.
pub(crate) fn describe_check(expr: &Expr) -> String {
    fn column_of(e: &Expr) -> Option<String> {
        match e {
            Expr::Identifier(i) => Some(ident(i)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident),
            Expr::Nested(e) | Expr::Cast { expr: e, .. } => column_of(e),
            _ => None,
        }
    }
    fn range_column(e: &Expr) -> Option<String> {
        use ast::BinaryOperator as B;
        match e {
            Expr::Nested(e) => range_column(e),
            Expr::Between { expr, .. } => column_of(expr),
            Expr::BinaryOp { left, op, right } => match op {
                B::Gt | B::GtEq | B::Lt | B::LtEq => column_of(left).or_else(|| column_of(right)),
                B::And => {
                    let l = range_column(left)?;
                    (range_column(right)? == l).then_some(l)
                }
                _ => None,
            },
            _ => None,
        }
    }
    match expr {
        Expr::Nested(e) => describe_check(e),
        Expr::In {
            expr: e,
            negated: false,
            ..
        } => match column_of(e) {
            Some(c) => format!("{c} values"),
            None => expr.to_string(),
        },
        _ => match range_column(expr) {
            Some(c) => format!("{c} range"),
            None => expr.to_string(),
        },
    }
}

fn read_column(def: &ColumnDef) -> Column {
    let mut column = Column {
        name: ident(&def.name),
        data_type: def.data_type.to_string().to_lowercase(),
        ..Column::default()
    };
    for option in &def.options {
        match &option.option {
            ColumnOption::NotNull => column.not_null = true,
            ColumnOption::Default(expr) => column.default = Some(classify_default(expr)),
            ColumnOption::PrimaryKey(_) => {
                column.primary_key = true;
                column.not_null = true;
            }
            ColumnOption::Unique(_) => column.unique = true,
            ColumnOption::ForeignKey(fk) => {
                column.references = Some(name(&fk.foreign_table));
                column.referred_columns = idents(&fk.referred_columns);
            }
            ColumnOption::Generated {
                generated_as,
                generation_expr,
                generation_expr_mode,
                ..
            } => {
                if generation_expr.is_some() {
                    let virtual_mode = matches!(
                        generation_expr_mode,
                        Some(ast::GeneratedExpressionMode::Virtual)
                    );
                    column.generated_stored = !virtual_mode
                        && (matches!(generated_as, ast::GeneratedAs::ExpStored)
                            || matches!(
                                generation_expr_mode,
                                Some(ast::GeneratedExpressionMode::Stored)
                            ));
                } else {
                    column.identity = true;
                }
            }
            ColumnOption::Identity(_) => column.identity = true,
            ColumnOption::Check(ck) => column.checks.push(describe_check(&ck.expr)),
            _ => {}
        }
    }
    column
}

fn read_constraint(c: &TableConstraint) -> (Option<String>, Constraint) {
    match c {
        TableConstraint::ForeignKey(fk) => (
            fk.name.as_ref().map(ident),
            Constraint::ForeignKey {
                columns: idents(&fk.columns),
                references: name(&fk.foreign_table),
                referred: idents(&fk.referred_columns),
            },
        ),
        TableConstraint::Check(ck) => (
            ck.name.as_ref().map(ident),
            Constraint::Check {
                expr: ck.expr.to_string(),
                summary: describe_check(&ck.expr),
                not_null_column: not_null_column(&ck.expr),
            },
        ),
        TableConstraint::Unique(u) => (
            u.name.as_ref().map(ident),
            Constraint::Unique {
                columns: index_columns(&u.columns),
            },
        ),
        TableConstraint::PrimaryKey(p) => (
            p.name.as_ref().map(ident),
            Constraint::PrimaryKey {
                columns: index_columns(&p.columns),
            },
        ),
        TableConstraint::PrimaryKeyUsingIndex(u) | TableConstraint::UniqueUsingIndex(u) => {
            (u.name.as_ref().map(ident), Constraint::UsingIndex)
        }
        TableConstraint::Exclude(_) => (None, Constraint::Exclude),
        _ => (None, Constraint::Other),
    }
}

fn relation_name(t: &TableFactor) -> String {
    match t {
        TableFactor::Table { name: n, .. } => name(n),
        other => other.to_string().to_lowercase(),
    }
}

fn read_statement(statement: &ast::Statement, ops: &mut Vec<Op>) {
    use ast::Statement as S;
    match statement {
        S::CreateTable(ct) => ops.push(Op::CreateTable {
            table: name(&ct.name),
            columns: ct.columns.iter().map(read_column).collect(),
            constraints: ct.constraints.iter().map(read_constraint).collect(),
            as_select: ct.query.is_some(),
        }),
        S::CreateIndex(ci) => ops.push(Op::CreateIndex {
            name: ci.name.as_ref().map(name),
            table: name(&ci.table_name),
            columns: index_columns(&ci.columns),
            unique: ci.unique,
            concurrently: ci.concurrently,
            predicate: ci.predicate.as_ref().map(ToString::to_string),
        }),
        S::AlterTable(at) => {
            let table = name(&at.name);
            for op in &at.operations {
                read_alter(&table, op, ops);
            }
        }
        S::AlterIndex {
            name: n,
            operation: ast::AlterIndexOperation::RenameIndex { index_name },
        } => ops.push(Op::RenameIndex {
            from: name(n),
            to: name(index_name),
        }),
        S::RenameTable(renames) => {
            for r in renames {
                ops.push(Op::RenameTable {
                    from: name(&r.old_name),
                    to: name(&r.new_name),
                });
            }
        }
        S::Drop {
            object_type,
            names,
            cascade,
            ..
        } => ops.push(read_drop(object_type, names, *cascade)),
        S::DropTrigger(dt) => ops.push(Op::DropTrigger {
            name: name(&dt.trigger_name),
            table: dt.table_name.as_ref().map(name),
        }),
        S::DropFunction(df) => ops.push(Op::DropFunction {
            names: df.func_desc.iter().map(|f| name(&f.name)).collect(),
        }),
        S::Truncate(t) => ops.push(Op::Truncate {
            tables: t.table_names.iter().map(|t| name(&t.name)).collect(),
        }),
        S::CreateView(cv) => ops.push(Op::CreateView {
            name: name(&cv.name),
            materialized: cv.materialized,
        }),
        S::CreateTrigger(ct) => ops.push(Op::CreateTrigger {
            name: name(&ct.name),
            table: name(&ct.table_name),
        }),
        S::CreateFunction(cf) => ops.push(Op::CreateFunction {
            name: name(&cf.name),
            volatility: cf.behavior.as_ref().map(|b| match b {
                ast::FunctionBehavior::Immutable => Volatility::Immutable,
                ast::FunctionBehavior::Stable => Volatility::Stable,
                ast::FunctionBehavior::Volatile => Volatility::Volatile,
            }),
        }),
        S::CreateType { name: n, .. } => ops.push(Op::CreateType { name: name(n) }),
        S::CreateDomain(d) => ops.push(Op::CreateType {
            name: name(&d.name),
        }),
        S::CreateSequence { name: n, .. } => ops.push(Op::CreateSequence { name: name(n) }),
        S::CreateSchema { schema_name, .. } => ops.push(Op::CreateSchema {
            name: schema_name.to_string().to_lowercase(),
        }),
        S::CreateExtension(e) => ops.push(Op::CreateExtension {
            name: ident(&e.name),
        }),
        S::Insert(ins) => ops.push(Op::Insert {
            table: ins.table.to_string().to_lowercase(),
            from_select: ins
                .source
                .as_ref()
                .is_some_and(|q| !matches!(*q.body, ast::SetExpr::Values(_))),
        }),
        S::Update(u) => ops.push(Op::Update {
            table: relation_name(&u.table.relation),
            selection: u.selection.as_ref().map(|e| e.to_string()),
        }),
        S::Delete(d) => {
            let from = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            let table = from
                .first()
                .map(|t| relation_name(&t.relation))
                .or_else(|| d.tables.first().map(name))
                .unwrap_or_default();
            ops.push(Op::Delete {
                table,
                selection: d.selection.as_ref().map(|e| e.to_string()),
            });
        }
        S::Vacuum(v) => ops.push(Op::Vacuum {
            full: v.full,
            table: v.table_name.as_ref().map(name),
        }),
        S::Pragma { name: n, value, .. } => ops.push(Op::Pragma {
            name: name(n),
            value: value.as_ref().map(|v| v.to_string().to_lowercase()),
        }),
        S::Lock(lock) => ops.push(Op::LockTable {
            tables: lock.tables.iter().map(|t| name(&t.name)).collect(),
            mode: lock
                .lock_mode
                .as_ref()
                .map_or(Lock::AccessExclusive, lock_mode),
        }),
        S::RefreshMaterializedView(r) => ops.push(Op::RefreshMaterializedView {
            name: name(&r.name),
            concurrently: r.concurrently,
        }),
        S::Set(set) => ops.push(read_set(set)),
        other => {
            let text = other.to_string();
            let kind: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase();
            ops.push(Op::Other { kind });
        }
    }
}

/// `true` when a `USING` expression is just the column, or the column cast once to the new type (`USING c`,
/// `USING c::timestamptz`): PostgreSQL then converts as it would without USING, so it decides nothing about
/// a rewrite. A cast through another type (`c::text::my_enum`) is a real conversion.
fn same_column(using: &Expr, column: &ast::Ident, target: &ast::DataType) -> bool {
    let bare = |e: &Expr| match e {
        Expr::Identifier(i) => ident(i) == ident(column),
        Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|i| ident(i) == ident(column)),
        _ => false,
    };
    match using {
        Expr::Nested(e) => same_column(e, column, target),
        Expr::Cast {
            expr, data_type, ..
        } => {
            data_type
                .to_string()
                .eq_ignore_ascii_case(&target.to_string())
                && (bare(expr) || matches!(&**expr, Expr::Nested(inner) if bare(inner)))
        }
        e => bare(e),
    }
}

fn lock_mode(mode: &ast::LockTableMode) -> Lock {
    use ast::LockTableMode as M;
    match mode {
        M::AccessShare => Lock::AccessShare,
        M::RowShare => Lock::RowShare,
        M::RowExclusive => Lock::RowExclusive,
        M::ShareUpdateExclusive => Lock::ShareUpdateExclusive,
        M::Share => Lock::Share,
        M::ShareRowExclusive => Lock::ShareRowExclusive,
        M::Exclusive => Lock::Exclusive,
        M::AccessExclusive => Lock::AccessExclusive,
    }
}

/// `SET TIME ZONE v`, `SET timezone = v` / `TO v` (any scope): the session TimeZone; other settings are
/// [`Op::Other`].
fn read_set(set: &ast::Set) -> Op {
    let value = |e: &Expr| {
        let text = match e {
            Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        };
        let unset = matches!(text.to_ascii_uppercase().as_str(), "DEFAULT" | "LOCAL");
        (!unset).then_some(text)
    };
    match set {
        ast::Set::SetTimeZone { value: v, .. } => Op::SetTimeZone { value: value(v) },
        ast::Set::SingleAssignment {
            variable, values, ..
        } if name(variable) == "timezone" && values.len() == 1 => Op::SetTimeZone {
            value: value(&values[0]),
        },
        _ => Op::Other {
            kind: "SET".to_string(),
        },
    }
}

/// A generic `DROP <object> names`: `DROP INDEX` is its own op (its lock falls on the index's table).
fn read_drop(object_type: &ObjectType, names: &[ObjectName], cascade: bool) -> Op {
    let kind = match object_type {
        ObjectType::Table => ObjectTypeName::Table,
        ObjectType::View => ObjectTypeName::View,
        ObjectType::MaterializedView => ObjectTypeName::MaterializedView,
        ObjectType::Index => ObjectTypeName::Index,
        ObjectType::Schema => ObjectTypeName::Schema,
        ObjectType::Database => ObjectTypeName::Database,
        ObjectType::Sequence => ObjectTypeName::Sequence,
        ObjectType::Type => ObjectTypeName::Type,
        _ => ObjectTypeName::Other,
    };
    let names: Vec<String> = names.iter().map(name).collect();
    if kind == ObjectTypeName::Index {
        Op::DropIndex {
            tables: vec![None; names.len()],
            names,
            concurrently: false,
        }
    } else {
        Op::Drop {
            kind,
            names,
            cascade,
        }
    }
}

fn read_alter(table: &str, op: &AlterTableOperation, ops: &mut Vec<Op>) {
    use AlterTableOperation as A;
    let t = table.to_string();
    match op {
        A::AddColumn { column_def, .. } => ops.push(Op::AddColumn {
            table: t,
            column: read_column(column_def),
        }),
        A::DropColumn { column_names, .. } => {
            for c in column_names {
                ops.push(Op::DropColumn {
                    table: t.clone(),
                    column: ident(c),
                });
            }
        }
        A::AddConstraint {
            constraint,
            not_valid,
        } => {
            let (name, constraint) = read_constraint(constraint);
            ops.push(Op::AddConstraint {
                table: t,
                name,
                constraint,
                not_valid: *not_valid,
            });
        }
        A::DropConstraint { name, .. } | A::DropForeignKey { name, .. } => {
            ops.push(Op::DropConstraint {
                table: t,
                name: ident(name),
                known: None,
            })
        }
        A::DropPrimaryKey { .. } => ops.push(Op::DropConstraint {
            table: t,
            name: "primary key".to_string(),
            known: None,
        }),
        A::ValidateConstraint { name } => ops.push(Op::ValidateConstraint {
            table: t,
            name: ident(name),
            known: None,
        }),
        A::RenameColumn {
            old_column_name,
            new_column_name,
        } => ops.push(Op::RenameColumn {
            table: t,
            from: ident(old_column_name),
            to: ident(new_column_name),
        }),
        A::RenameTable { table_name } => {
            let to = match table_name {
                ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => name(n),
            };
            ops.push(Op::RenameTable { from: t, to });
        }
        A::RenameConstraint { old_name, new_name } => ops.push(Op::RenameConstraint {
            table: t,
            from: ident(old_name),
            to: ident(new_name),
        }),
        A::AlterColumn { column_name, op } => {
            let column = ident(column_name);
            ops.push(match op {
                AlterColumnOperation::SetNotNull => Op::SetNotNull {
                    table: t,
                    column,
                    proved: false,
                },
                AlterColumnOperation::DropNotNull => Op::DropNotNull { table: t, column },
                AlterColumnOperation::SetDefault { .. } => Op::SetDefault { table: t, column },
                AlterColumnOperation::DropDefault => Op::DropDefault { table: t, column },
                AlterColumnOperation::SetDataType {
                    data_type, using, ..
                } => Op::AlterColumnType {
                    table: t,
                    column,
                    data_type: data_type.to_string().to_lowercase(),
                    using: using
                        .as_ref()
                        .is_some_and(|u| !same_column(u, column_name, data_type)),
                    from_type: None,
                    utc: None,
                    indexed: None,
                },
                AlterColumnOperation::AddGenerated { .. } => Op::AddIdentity { table: t, column },
                other => Op::AlterTableOther {
                    table: t,
                    what: other.to_string(),
                },
            });
        }
        A::DetachPartitionOf { mode, .. } => ops.push(Op::DetachPartition {
            table: t,
            concurrently: matches!(mode, Some(ast::DetachPartitionMode::Concurrently)),
        }),
        other => ops.push(Op::AlterTableOther {
            table: t,
            what: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_statements() {
        let p = parse(
            "ALTER TABLE Contacts ADD COLUMN x INT NOT NULL DEFAULT 0",
            Dialect::Postgres,
        )
        .unwrap();
        assert_eq!(p.kind, "ALTER TABLE");
        match &p.ops[0] {
            Op::AddColumn { table, column } => {
                assert_eq!(table, "contacts");
                assert!(column.not_null);
                assert!(column.default.as_ref().unwrap().literal);
            }
            other => panic!("{other:?}"),
        }
        let p = parse("DROP INDEX CONCURRENTLY IF EXISTS idx_a", Dialect::Postgres).unwrap();
        assert_eq!(
            p.ops,
            vec![Op::DropIndex {
                names: vec!["idx_a".into()],
                concurrently: true,
                tables: vec![None],
            }]
        );
        let p = parse("REINDEX INDEX CONCURRENTLY idx_a", Dialect::Postgres).unwrap();
        assert!(matches!(
            &p.ops[0],
            Op::Reindex {
                concurrently: true,
                ..
            }
        ));
        let p = parse(
            "CREATE TRIGGER trg AFTER UPDATE OF name ON contacts BEGIN UPDATE audit SET n = n + 1; END",
            Dialect::Sqlite,
        )
        .unwrap();
        assert!(matches!(&p.ops[0], Op::CreateTrigger { table, .. } if table == "contacts"));
    }

    #[test]
    fn defaults_are_classified() {
        for (sql, volatile, literal, current) in [
            ("random()", true, false, false),
            ("gen_random_uuid()", true, false, false),
            ("now()", false, false, false),
            ("my_func()", true, false, false),
            ("CURRENT_TIMESTAMP", false, false, true),
            ("'pending'", false, true, false),
            ("-1", false, true, false),
        ] {
            let p = parse(
                &format!("ALTER TABLE t ADD COLUMN c TEXT DEFAULT {sql}"),
                Dialect::Postgres,
            )
            .unwrap();
            let Op::AddColumn { column, .. } = &p.ops[0] else {
                panic!()
            };
            let d = column.default.as_ref().unwrap();
            assert_eq!(
                (
                    d.volatility == Volatility::Volatile,
                    d.literal,
                    d.current_time
                ),
                (volatile, literal, current),
                "{sql}"
            );
        }
    }
}
