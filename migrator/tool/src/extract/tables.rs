//! Pipe tables of columns under a table heading or introduction: headers in any order and casing, extra
//! columns ignored, one change (or one column of a new table) per row.

use super::cursor::{plain, Cursor};
use super::phrases::{fk_target, read_phrases};
use crate::ident::{shorten, Ident};
use crate::model::{Change, ColumnSpec, NamedConstraint, SqlType};

/// What a header cell stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Col {
    Name,
    Type,
    Constraints,
    Default,
    Nullable,
    Required,
    PrimaryKey,
    Unique,
    Indexed,
    References,
    Notes,
    Action,
    Ignored,
}

pub(crate) fn classify(header: &str) -> Col {
    let h = plain(header).replace(['*', '_'], " ").to_ascii_lowercase();
    let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
    match h.trim_end_matches('?') {
        "column" | "column name" | "name" | "field" | "field name" | "col" | "attribute" => {
            Col::Name
        }
        "type" | "data type" | "datatype" | "sql type" | "column type" | "postgres type"
        | "db type" => Col::Type,
        "constraints" | "constraint" | "modifiers" | "attributes" | "options" | "rules"
        | "properties" | "flags" | "keys" | "key" => Col::Constraints,
        "default" | "default value" | "defaults" => Col::Default,
        "nullable" | "null" | "allow null" | "optional" => Col::Nullable,
        "required" | "not null" | "mandatory" => Col::Required,
        "pk" | "primary key" => Col::PrimaryKey,
        "unique" | "uq" => Col::Unique,
        "index" | "indexed" => Col::Indexed,
        "references" | "fk" | "foreign key" | "refs" | "relation" => Col::References,
        "notes" | "note" | "description" | "comment" | "comments" | "details" | "purpose" => {
            Col::Notes
        }
        "action" | "change" | "operation" | "op" | "status" => Col::Action,
        _ => Col::Ignored,
    }
}

pub(crate) fn cells(row: &str) -> Vec<String> {
    let t = row.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = t.chars().peekable();
    let mut in_code = false;
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'|') {
            cur.push('|');
            chars.next();
        } else if c == '`' {
            in_code = !in_code;
            cur.push(c);
        } else if c == '|' && !in_code {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    out.push(cur.trim().to_string());
    out
}

pub(crate) fn is_empty_cell(c: &str) -> bool {
    matches!(
        c.trim(),
        "" | "-" | "—" | "–" | "n/a" | "N/A" | "none" | "None" | "(none)"
    )
}

/// `Some(true)` for yes-like cells, `Some(false)` for no-like ones.
fn yes_no(text: &str) -> Option<bool> {
    let v = plain(text).trim().to_lowercase();
    if matches!(
        v.as_str(),
        "yes" | "y" | "true" | "✓" | "✔" | "✔️" | "x" | "✅" | "required"
    ) {
        Some(true)
    } else if matches!(v.as_str(), "no" | "n" | "false" | "❌" | "optional") || is_empty_cell(&v) {
        Some(false)
    } else {
        None
    }
}

/// Words that make a Notes cell a statement about the schema, which must then be read.
pub(crate) const SCHEMA_WORDS: &[&str] = &[
    "primary key",
    "foreign key",
    "references",
    "unique",
    "index",
    "not null",
    "nullable",
    "default",
    "constraint",
    "fk",
    "pk",
];

pub(crate) fn has_schema_words(text: &str) -> bool {
    let lower = format!(" {} ", plain(text).to_lowercase());
    SCHEMA_WORDS.iter().any(|w| {
        lower.match_indices(w).any(|(i, _)| {
            let before = lower[..i]
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_');
            let after = lower[i + w.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_');
            before && after
        })
    })
}

/// What a table of columns yields.
#[derive(Default)]
pub(crate) struct TableRead {
    /// Changes with their line.
    pub changes: Vec<(usize, Change)>,
    /// Problems: line, the row, the reason.
    pub problems: Vec<(usize, String, String)>,
    /// Cells read as prose: line, text, why.
    pub ignored: Vec<(usize, String, String)>,
}

/// The table `rows` (first one the header) for the table `table`; `new` when the table is created.
pub(crate) fn read_table(
    rows: &[&str],
    first_line: usize,
    table: &Ident,
    new: bool,
) -> Option<TableRead> {
    let header = rows.first()?;
    let kinds: Vec<Col> = cells(header).iter().map(|h| classify(h)).collect();
    let separator = rows.get(1).is_some_and(|r| {
        cells(r)
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
    });
    let name_at = kinds.iter().position(|k| *k == Col::Name)?;
    if !separator {
        return None;
    }
    let type_at = kinds.iter().position(|k| *k == Col::Type);
    let action_at = kinds.iter().position(|k| *k == Col::Action);
    if type_at.is_none() && action_at.is_none() {
        return None;
    }
    let mut out = TableRead::default();
    let mut columns = Vec::new();
    let mut extras = Vec::new();
    for (n, row) in rows.iter().enumerate().skip(2) {
        let line = first_line + n;
        let cells = cells(row);
        let cell = |k: usize| cells.get(k).map(String::as_str).unwrap_or("");
        let name = match Ident::parse(&plain(cell(name_at))) {
            Ok(id) => id,
            Err(m) => {
                out.problems.push((
                    line,
                    row.to_string(),
                    format!("the Column cell {:?}: {m}", shorten(cell(name_at))),
                ));
                continue;
            }
        };
        let action = action_at.map(|a| plain(cell(a)).trim().to_ascii_lowercase());
        match row_action(action.as_deref(), table, &name, new) {
            Ok(Some(change)) => {
                out.changes.push((line, change));
                continue;
            }
            Ok(None) => {}
            Err(m) => {
                out.problems.push((line, row.to_string(), m));
                continue;
            }
        }
        match read_row(
            &kinds,
            &cells,
            name.clone(),
            type_at,
            &mut extras,
            line,
            &mut out.ignored,
        ) {
            Ok(column) if new => columns.push(column),
            Ok(column) => out.changes.push((
                line,
                Change::AddColumn {
                    table: table.clone(),
                    column,
                },
            )),
            Err(m) => out
                .problems
                .push((line, row.to_string(), format!("column {name}: {m}"))),
        }
    }
    if new {
        if columns.is_empty() && out.problems.is_empty() {
            out.problems.push((
                first_line,
                header.to_string(),
                format!("new table {table} has no readable column"),
            ));
        } else {
            out.changes.push((
                first_line,
                Change::CreateTable {
                    table: table.clone(),
                    columns,
                    constraints: extras,
                },
            ));
        }
    } else {
        out.changes.extend(extras.into_iter().map(|constraint| {
            (
                first_line,
                Change::AddConstraint {
                    table: table.clone(),
                    constraint,
                },
            )
        }));
    }
    Some(out)
}

/// An Action cell: `drop`, `rename to x`, `add` (or empty: the row defines a column).
fn row_action(
    action: Option<&str>,
    table: &Ident,
    name: &Ident,
    new: bool,
) -> Result<Option<Change>, String> {
    match action {
        Some("drop" | "remove" | "delete" | "dropped" | "removed") => {
            if new {
                return Err("a drop in a new table".into());
            }
            Ok(Some(Change::DropColumn {
                table: table.clone(),
                column: name.clone(),
            }))
        }
        Some(a)
            if a.starts_with("rename to ")
                || a.starts_with("rename ->")
                || a.starts_with("rename →") =>
        {
            let to = a
                .trim_start_matches("rename")
                .trim()
                .trim_start_matches("to")
                .trim_start_matches("->")
                .trim_start_matches('→')
                .trim();
            let to = Ident::parse(to).map_err(|m| format!("the Action cell: {m}"))?;
            Ok(Some(Change::RenameColumn {
                table: table.clone(),
                from: name.clone(),
                to,
            }))
        }
        None | Some("add" | "new" | "" | "create" | "added" | "-" | "—") => Ok(None),
        Some(other) => Err(format!(
            "the Action cell {other:?} is not add, drop or `rename to x`"
        )),
    }
}

fn read_row(
    kinds: &[Col],
    cells: &[String],
    name: Ident,
    type_at: Option<usize>,
    extras: &mut Vec<NamedConstraint>,
    line: usize,
    ignored: &mut Vec<(usize, String, String)>,
) -> Result<ColumnSpec, String> {
    let cell = |k: usize| cells.get(k).map(String::as_str).unwrap_or("");
    let Some(type_at) = type_at else {
        return Err("an added column needs a Type cell".into());
    };
    let ty_text = plain(cell(type_at));
    let ty = {
        let mut c = Cursor::new(&ty_text)?;
        let ty = c
            .data_type()
            .map_err(|e| format!("Type cell {:?}: {e}", shorten(cell(type_at))))?;
        if !c.done() {
            // `VARCHAR(20) NOT NULL` in the Type cell: the rest are constraints.
            let rest = ty_text[ty_text.len().min(ty_end(&ty_text, &ty))..].to_string();
            let mut column = ColumnSpec::new(name.clone(), ty.clone());
            read_phrases(&rest, &mut column, extras)
                .map_err(|e| format!("Type cell {:?}: {e}", shorten(cell(type_at))))?;
            return finish_row(kinds, cells, column, type_at, extras, line, ignored);
        }
        ty
    };
    finish_row(
        kinds,
        cells,
        ColumnSpec::new(name, ty),
        type_at,
        extras,
        line,
        ignored,
    )
}

/// Where the type ends in the Type cell's text: after the type's last word or `)`.
fn ty_end(text: &str, ty: &SqlType) -> usize {
    let last = if ty.args.is_empty() {
        ty.name
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_ascii_lowercase()
    } else {
        ")".to_string()
    };
    let lower = text.to_ascii_lowercase();
    lower.find(&last).map_or(text.len(), |i| i + last.len()) + if ty.array { 2 } else { 0 }
}

fn finish_row(
    kinds: &[Col],
    cells: &[String],
    mut column: ColumnSpec,
    type_at: usize,
    extras: &mut Vec<NamedConstraint>,
    line: usize,
    ignored: &mut Vec<(usize, String, String)>,
) -> Result<ColumnSpec, String> {
    for (k, kind) in kinds.iter().enumerate() {
        let text = cells.get(k).map(String::as_str).unwrap_or("");
        if k == type_at || is_empty_cell(text) {
            continue;
        }
        let flag = |what: &str| {
            yes_no(text)
                .ok_or_else(|| format!("{what} cell {:?}: expected yes or no", shorten(text)))
        };
        match kind {
            Col::Constraints => read_phrases(text, &mut column, extras)
                .map_err(|e| format!("cell {:?}: {e}", shorten(text)))?,
            Col::Default => {
                let mut c = Cursor::new(&plain(text))?;
                let _ = c.eat("default");
                column.default = Some(c.default_expr()?);
                if !c.done() {
                    return c.unexpected("the end of the default");
                }
            }
            Col::Nullable => column.not_null = !flag("Nullable")?,
            Col::Required => column.not_null = flag("Required")?,
            Col::PrimaryKey if flag("PK")? => {
                column.primary_key = true;
                column.not_null = true;
            }
            Col::Unique => column.unique |= flag("Unique")?,
            Col::Indexed => column.indexed |= flag("Index")?,
            Col::References => {
                let mut c = Cursor::new(&plain(text))?;
                let _ = c.eat("references")
                    || c.eat_tok(&migrator_analyse::sql::sqlparser::tokenizer::Token::Arrow);
                column.references = Some(fk_target(&mut c)?);
                if !c.done() {
                    return c.unexpected("the end of the reference (`t.column` or `t(column)`)");
                }
            }
            Col::Notes => {
                let mut trial = column.clone();
                let mut trial_extras = extras.clone();
                if read_phrases(text, &mut trial, &mut trial_extras).is_ok() {
                    column = trial;
                    *extras = trial_extras;
                } else if has_schema_words(text) {
                    return Err(format!(
                        "the note {:?} speaks of keys or constraints but is not a constraint this tool reads; write it in the Constraints column (e.g. `unique`, `references t(c)`)",
                        shorten(text)
                    ));
                } else {
                    ignored.push((line, text.to_string(), "a note read as prose".into()));
                }
            }
            _ => {}
        }
    }
    Ok(column)
}
