//! Reading data-model changes out of an issue's markdown. See the crate README for the grammar.
//!
//! The reader is line based: it follows headings (a data-model section, a heading naming a table), fenced
//! `sql` blocks, pipe tables and bullets. Whatever looks like a change but cannot be read is reported with its
//! line; prose is only noted as ignored.

use crate::error::Unreadable;
use crate::export::Issue;
use crate::ident::{shorten, Ident};
use crate::model::{Change, Column, Index, Located, Origin};
use crate::sql::{self, index_keys, index_name, lex, Parser, ReadError, TokKind};

/// What was read from an issue.
#[derive(Debug, Default, Clone)]
pub struct Extraction {
    /// The changes, in the order they appear.
    pub changes: Vec<Located>,
    /// What looked like a change but could not be read (generation refuses to go on).
    pub problems: Vec<Unreadable>,
    /// Lines inside the data-model section that were ignored as prose, and query blocks.
    pub ignored: Vec<Unreadable>,
}

/// Reads the issue body, and its comments when `with_comments`.
pub fn extract(issue: &Issue, with_comments: bool) -> Extraction {
    let mut out = Extraction::default();
    extract_part("body", &issue.body, &mut out);
    if with_comments {
        for (n, c) in issue.comments.iter().enumerate() {
            extract_part(&format!("comment {}", n + 1), &c.body, &mut out);
        }
    }
    tracing::debug!(
        issue = issue.number,
        changes = out.changes.len(),
        problems = out.problems.len(),
        "extracted data model changes"
    );
    out
}

struct TableCtx {
    table: Ident,
    new: bool,
}

struct Part<'a> {
    name: &'a str,
    out: &'a mut Extraction,
}

impl Part<'_> {
    fn origin(&self, line: usize) -> Origin {
        Origin {
            part: self.name.to_string(),
            line,
        }
    }
    fn problem(&mut self, line: usize, text: &str, reason: impl Into<String>) {
        let u = Unreadable {
            part: self.name.to_string(),
            line,
            text: shorten(text.trim()),
            reason: reason.into(),
        };
        self.out.problems.push(u);
    }
    fn ignore(&mut self, line: usize, text: &str, reason: &str) {
        let u = Unreadable {
            part: self.name.to_string(),
            line,
            text: shorten(text.trim()),
            reason: reason.to_string(),
        };
        self.out.ignored.push(u);
    }
    fn push(&mut self, line: usize, change: Change) {
        let origin = self.origin(line);
        self.out.changes.push(Located { change, origin });
    }
}

const SQL_INFO: &[&str] = &[
    "sql",
    "postgresql",
    "postgres",
    "psql",
    "pgsql",
    "sqlite",
    "sqlite3",
];
const SECTION_WORDS: &[&str] = &[
    "data model",
    "data-model",
    "schema",
    "database",
    "migration",
    "db change",
    "model change",
    "data change",
    "tables",
    "storage",
    "ddl",
];
const VERBS: &[&str] = &[
    "add", "create", "rename", "drop", "remove", "delete", "change", "alter", "make", "index",
];

/// Reads one markdown text (`part` is `body` or `comment N`).
pub fn extract_part(part: &str, text: &str, out: &mut Extraction) {
    let mut p = Part { name: part, out };
    let lines: Vec<&str> = text.lines().collect();
    let mut section: Option<usize> = None;
    let mut ctx: Option<TableCtx> = None;
    let mut indexes_mode = false;
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let raw = lines[i];
        let line = raw.trim();
        // Fenced code.
        if let Some((fence, info)) = fence_open(raw) {
            let mut j = i + 1;
            while j < lines.len() && !fence_close(lines[j], &fence) {
                j += 1;
            }
            if SQL_INFO.contains(&info.as_str()) {
                let body = lines[i + 1..j.min(lines.len())].join("\n");
                sql_block(&mut p, &body, line_no + 1);
            }
            i = j + 1;
            continue;
        }
        if let Some((level, title)) = heading(line) {
            indexes_mode = false;
            if let Some((name, new)) = table_heading(title) {
                match name {
                    Ok(table) => ctx = Some(TableCtx { table, new }),
                    Err(m) => {
                        p.problem(line_no, line, format!("the heading names a table: {m}"));
                        ctx = None;
                    }
                }
                if section.is_none() {
                    section = Some(level);
                }
            } else if is_indexes_label(title) && ctx.is_some() {
                indexes_mode = true;
            } else {
                ctx = None;
                let lower = title.to_ascii_lowercase();
                if SECTION_WORDS.iter().any(|w| lower.contains(w)) {
                    section = Some(level);
                } else if section.is_some_and(|s| level <= s) {
                    section = None;
                }
            }
            i += 1;
            continue;
        }
        if line.starts_with('|') {
            let mut j = i;
            while j < lines.len() && lines[j].trim().starts_with('|') {
                j += 1;
            }
            pipe_table(&mut p, &lines[i..j], line_no, ctx.as_ref());
            i = j;
            continue;
        }
        if is_indexes_label(line) {
            if ctx.is_some() {
                indexes_mode = true;
            } else if section.is_some() {
                p.problem(line_no, line, "an index list that does not follow a table heading (write `Add index on t(col)` bullets instead)");
            }
            i += 1;
            continue;
        }
        let in_model = section.is_some() || ctx.is_some();
        if let Some(item) = bullet(line) {
            if indexes_mode {
                if let Some(c) = &ctx {
                    match index_bullet(item, &c.table) {
                        Ok(index) => p.push(line_no, Change::CreateIndex(index)),
                        Err(e) => p.problem(line_no, line, e.message),
                    }
                }
            } else {
                sentence(&mut p, item, line_no, in_model, ctx.as_ref());
            }
            i += 1;
            continue;
        }
        if !line.is_empty() {
            indexes_mode = false;
            if in_model {
                sentence(&mut p, line, line_no, in_model, ctx.as_ref());
            }
        }
        i += 1;
    }
}

fn fence_open(raw: &str) -> Option<(String, String)> {
    let indent = raw.len() - raw.trim_start().len();
    if indent > 3 {
        return None;
    }
    let t = raw.trim_start();
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let count = t.chars().take_while(|c| *c == ch).count();
    if count < 3 {
        return None;
    }
    let info = t[count..].trim();
    let lang = info
        .split(|c: char| c.is_whitespace() || c == '{' || c == ',')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some((ch.to_string().repeat(count), lang))
}

fn fence_close(raw: &str, fence: &str) -> bool {
    let t = raw.trim();
    let ch = fence.chars().next().unwrap_or('`');
    t.len() >= fence.len() && t.chars().all(|c| c == ch)
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim()))
}

fn is_indexes_label(line: &str) -> bool {
    let t = line
        .trim_matches(|c: char| c == '*' || c == '_' || c == ':' || c.is_whitespace())
        .to_ascii_lowercase();
    matches!(t.as_str(), "indexes" | "indices" | "index" | "new indexes")
}

/// Recognises a heading that names a table: `New table `x``, `Changes to `contacts``, `Table: x`,
/// `` `x` table ``, `Alter x`. Returns the name (or why it is refused) and whether the table is new.
fn table_heading(title: &str) -> Option<(Result<Ident, String>, bool)> {
    let lower = title.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty())
        .collect();
    let new = words
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .any(|w| matches!(w, "new" | "create" | "creating" | "add" | "adding"));
    let cue = words.iter().any(|w| {
        matches!(
            *w,
            "table"
                | "changes"
                | "change"
                | "alter"
                | "modify"
                | "modified"
                | "updates"
                | "update"
                | "columns"
        )
    });
    // A backticked name.
    if let Some(start) = title.find('`') {
        let rest = &title[start + 1..];
        let end = rest.find('`')?;
        let name = &rest[..end];
        let only_name = title.trim() == format!("`{name}`");
        if !(cue || only_name) {
            return None;
        }
        return Some((Ident::parse(name), new));
    }
    // `table X`, `table: X`, `changes to X`, `alter X`, `X table`.
    let raw_words: Vec<&str> = title
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty())
        .collect();
    for (n, w) in words.iter().enumerate() {
        let next = raw_words.get(n + 1).copied();
        let candidate = match *w {
            "table" => next,
            "to" if n > 0 && matches!(words[n - 1], "changes" | "change" | "updates") => next,
            "alter" | "modify" => next
                .filter(|x| !x.eq_ignore_ascii_case("table"))
                .or(raw_words.get(n + 2).copied()),
            _ => None,
        };
        if let Some(c) = candidate {
            let c = c.trim_end_matches([',', '.', ';']);
            return Some((Ident::parse(c), new));
        }
        if *w == "table" && n > 0 && next.is_none() {
            let before = words[n - 1].trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if matches!(
                before,
                "new" | "a" | "the" | "create" | "add" | "alter" | "changes" | "modify"
            ) {
                return Some((
                    Err(format!("the heading {title:?} does not say which table")),
                    new,
                ));
            }
            return Some((Ident::parse(raw_words[n - 1]), new));
        }
    }
    None
}

fn bullet(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let rest = if let Some(r) = t
        .strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .or_else(|| t.strip_prefix("+ "))
    {
        r
    } else {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let r = &t[digits..];
        r.strip_prefix(". ").or_else(|| r.strip_prefix(") "))?
    };
    let rest = rest.trim();
    let rest = ["[ ] ", "[x] ", "[X] "]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest);
    Some(rest.trim())
}

fn sql_block(p: &mut Part<'_>, body: &str, first_line: usize) {
    let toks = match lex(body, true) {
        Ok(t) => t,
        Err(e) => {
            let text = body.lines().nth(e.line).unwrap_or("");
            p.problem(first_line + e.line, text, e.message);
            return;
        }
    };
    let statements = sql::split(&toks);
    let is_query = |s: &&[sql::Tok]| {
        s.first().is_some_and(|t| {
            t.kind == TokKind::Word
                && ["select", "with", "explain"]
                    .iter()
                    .any(|w| t.text.eq_ignore_ascii_case(w))
        })
    };
    if !statements.is_empty() && statements.iter().all(is_query) {
        p.ignore(
            first_line,
            "```sql",
            "a block of queries, not schema changes",
        );
        return;
    }
    for s in statements {
        let line = first_line + s.first().map_or(0, |t| t.line);
        match sql::statement(s) {
            Ok(changes) => {
                for c in changes {
                    p.push(line, c);
                }
            }
            Err(e) => {
                let text = body.lines().nth(e.line).unwrap_or("");
                p.problem(first_line + e.line, text, e.message);
            }
        }
    }
}

/// Markdown markup removed before lexing a cell or sentence: backticks and emphasis.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    for c in text.chars() {
        if c == '\'' {
            in_str = !in_str;
        }
        if !in_str && c == '`' {
            continue;
        }
        out.push(c);
    }
    out
}

fn cells(row: &str) -> Vec<String> {
    let t = row.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'|') {
            cur.push('|');
            chars.next();
        } else if c == '|' {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    out.push(cur.trim().to_string());
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Name,
    Type,
    Constraints,
    Default,
    Nullable,
    Required,
    Notes,
    Action,
    Ignored,
}

fn classify(header: &str) -> Col {
    let h = plain(header).replace(['*', '_'], "").to_ascii_lowercase();
    let h = h.trim();
    match h {
        "column" | "column name" | "name" | "field" | "col" | "attribute" => Col::Name,
        "type" | "data type" | "datatype" | "sql type" | "column type" => Col::Type,
        "constraints" | "constraint" | "modifiers" | "attributes" | "options" | "rules"
        | "properties" => Col::Constraints,
        "default" | "default value" | "defaults" => Col::Default,
        "nullable" | "null" | "null?" | "nullable?" => Col::Nullable,
        "required" | "required?" | "not null" => Col::Required,
        "notes" | "note" | "description" | "comment" | "comments" | "details" => Col::Notes,
        "action" | "change" | "operation" | "op" => Col::Action,
        _ => Col::Ignored,
    }
}

fn is_empty_cell(c: &str) -> bool {
    matches!(
        c.trim(),
        "" | "-" | "—" | "–" | "n/a" | "N/A" | "none" | "None"
    )
}

fn pipe_table(p: &mut Part<'_>, rows: &[&str], first_line: usize, ctx: Option<&TableCtx>) {
    let Some(header) = rows.first() else { return };
    let kinds: Vec<Col> = cells(header).iter().map(|h| classify(h)).collect();
    let is_sep = rows.get(1).is_some_and(|r| {
        cells(r)
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
    });
    let name_at = kinds.iter().position(|k| *k == Col::Name);
    let type_at = kinds.iter().position(|k| *k == Col::Type);
    let (Some(name_at), true) = (name_at, is_sep) else {
        if ctx.is_some() {
            p.ignore(
                first_line,
                header,
                "a table without Column and Type headers",
            );
        }
        return;
    };
    let action_at = kinds.iter().position(|k| *k == Col::Action);
    if type_at.is_none() && action_at.is_none() {
        if ctx.is_some() {
            p.ignore(first_line, header, "a table without a Type header");
        }
        return;
    }
    let Some(ctx) = ctx else {
        p.problem(first_line, header, "a table of columns that is not under a heading naming a table (e.g. `### New table `x`` or `### Changes to `x``)");
        return;
    };
    let mut columns = Vec::new();
    for (n, row) in rows.iter().enumerate().skip(2) {
        let line = first_line + n;
        let cells = cells(row);
        let cell = |k: usize| cells.get(k).map(String::as_str).unwrap_or("");
        let name = match Ident::parse(&plain(cell(name_at))) {
            Ok(id) => id,
            Err(m) => {
                p.problem(
                    line,
                    row,
                    format!("the Column cell {:?}: {m}", shorten(cell(name_at))),
                );
                continue;
            }
        };
        let action = action_at.map(|a| plain(cell(a)).to_ascii_lowercase());
        match action.as_deref().map(str::trim) {
            Some("drop") | Some("remove") | Some("delete") => {
                if ctx.new {
                    p.problem(line, row, "a drop in a new table");
                } else {
                    p.push(
                        line,
                        Change::DropColumn {
                            table: ctx.table.clone(),
                            column: name,
                        },
                    );
                }
                continue;
            }
            Some(a) if a.starts_with("rename to ") => {
                match Ident::parse(a.trim_start_matches("rename to ").trim()) {
                    Ok(to) => p.push(
                        line,
                        Change::RenameColumn {
                            table: ctx.table.clone(),
                            from: name,
                            to,
                        },
                    ),
                    Err(m) => p.problem(line, row, format!("the Action cell: {m}")),
                }
                continue;
            }
            None | Some("add") | Some("new") | Some("") | Some("create") => {}
            Some(other) => {
                p.problem(
                    line,
                    row,
                    format!("the Action cell {other:?} is not add, drop or `rename to x`"),
                );
                continue;
            }
        }
        let Some(type_at) = type_at else {
            p.problem(line, row, "an added column needs a Type cell");
            continue;
        };
        let ty_text = plain(cell(type_at));
        let ty = lex(&ty_text, false).and_then(|toks| {
            let mut parser = Parser::new(&toks);
            let ty = parser.sql_type()?;
            if !parser.done() {
                return parser
                    .unexpected("the end of the type (put constraints in a Constraints column)");
            }
            Ok(ty)
        });
        let ty = match ty {
            Ok(t) => t,
            Err(e) => {
                p.problem(
                    line,
                    row,
                    format!(
                        "column {name}, Type cell {:?}: {}",
                        shorten(cell(type_at)),
                        e.message
                    ),
                );
                continue;
            }
        };
        let mut column = Column::new(name.clone(), ty);
        let mut ok = true;
        for (k, kind) in kinds.iter().enumerate() {
            let text = cell(k);
            if is_empty_cell(text) {
                continue;
            }
            let result = match kind {
                Col::Constraints => phrases(&mut column, text),
                Col::Default => default_cell(&mut column, text),
                Col::Nullable | Col::Required => {
                    let v = plain(text).trim().to_ascii_lowercase();
                    let yes = matches!(v.as_str(), "yes" | "y" | "true" | "✓" | "x");
                    let no = matches!(v.as_str(), "no" | "n" | "false");
                    if !(yes || no) {
                        Err(ReadError {
                            line: 0,
                            message: format!("expected yes or no, found {v:?}"),
                        })
                    } else {
                        column.not_null = if *kind == Col::Nullable { no } else { yes };
                        Ok(())
                    }
                }
                Col::Notes => {
                    let mut trial = column.clone();
                    if phrases(&mut trial, text).is_ok() {
                        column = trial;
                    } else {
                        p.ignore(line, text, "notes read as prose, not as constraints");
                    }
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                p.problem(
                    line,
                    row,
                    format!("column {name}, cell {:?}: {}", shorten(text), e.message),
                );
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        if ctx.new {
            columns.push(column);
        } else {
            p.push(
                line,
                Change::AddColumn {
                    table: ctx.table.clone(),
                    column,
                },
            );
        }
    }
    if ctx.new {
        if columns.is_empty() {
            p.problem(
                first_line,
                header,
                format!("new table {} has no readable column", ctx.table),
            );
        } else {
            p.push(
                first_line,
                Change::CreateTable {
                    table: ctx.table.clone(),
                    columns,
                    constraints: Vec::new(),
                },
            );
        }
    }
}

fn phrases(column: &mut Column, text: &str) -> Result<(), ReadError> {
    let toks = lex(&plain(text), false)?;
    let mut parser = Parser::new(&toks);
    column.column_constraints_all(&mut parser)
}

impl Column {
    fn column_constraints_all(&mut self, parser: &mut Parser<'_>) -> Result<(), ReadError> {
        parser.column_constraints(self, true)?;
        if !parser.done() {
            return parser.unexpected("a constraint");
        }
        Ok(())
    }
}

fn default_cell(column: &mut Column, text: &str) -> Result<(), ReadError> {
    let toks = lex(&plain(text), false)?;
    let mut parser = Parser::new(&toks);
    let _ = parser.eat("default");
    column.default = Some(parser.default_expr()?);
    if !parser.done() {
        return parser.unexpected("the end of the default");
    }
    Ok(())
}

/// An index bullet under `Indexes:`: `[unique] col[, col] [desc] [where expr] [(unique)]`.
fn index_bullet(item: &str, table: &Ident) -> Result<Index, ReadError> {
    let text = plain(item);
    let toks = lex(text.trim_end_matches('.'), false)?;
    let mut p = Parser::new(&toks);
    let mut unique = p.eat("unique");
    let _ = p.eat("index") || p.eat("on");
    let keys = if p.peek().is_some_and(|t| t.kind == TokKind::Open) {
        index_keys(&mut p)?
    } else {
        let mut keys = Vec::new();
        loop {
            let column = p.ident("an indexed column")?;
            let desc = p.eat("desc");
            if !desc {
                let _ = p.eat("asc");
            }
            keys.push(crate::model::IndexKey { column, desc });
            if !(p.eat_kind(TokKind::Comma) || p.eat("and") || p.eat_kind(TokKind::Op)) {
                break;
            }
        }
        keys
    };
    if p.eat_kind(TokKind::Open) {
        if !p.eat("unique") {
            return p.unexpected("`(unique)`");
        }
        if !p.eat_kind(TokKind::Close) {
            return p.unexpected("`)`");
        }
        unique = true;
    } else if p.eat("unique") {
        unique = true;
    }
    let predicate = if p.eat("where") {
        Some(p.rest_expr()?)
    } else {
        None
    };
    if !p.done() {
        return p.unexpected("the end of the index (`col[, col] [where expr]`)");
    }
    Ok(Index {
        name: index_name(table, &keys, unique),
        table: table.clone(),
        unique,
        keys,
        predicate,
        concurrently: false,
    })
}

fn sentence(p: &mut Part<'_>, item: &str, line_no: usize, in_model: bool, ctx: Option<&TableCtx>) {
    let text = plain(item);
    let text = text.trim().trim_end_matches(['.', ';']).trim();
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let second: Vec<String> = text
        .split_whitespace()
        .skip(1)
        .take(3)
        .map(str::to_ascii_lowercase)
        .collect();
    let is_verb = VERBS.contains(&first.as_str());
    let strong = is_verb
        && second.iter().any(|w| {
            matches!(
                w.as_str(),
                "column" | "index" | "table" | "constraint" | "unique" | "column:"
            )
        });
    if !(strong || (in_model && is_verb)) {
        if in_model && !text.is_empty() {
            p.ignore(line_no, item, "prose");
        }
        return;
    }
    let result = lex(text, false).and_then(|toks| read_sentence(&toks, ctx));
    match result {
        Ok(changes) => {
            for c in changes {
                p.push(line_no, c);
            }
        }
        Err(e) => p.problem(line_no, item, e.message),
    }
}

/// `T.c` or, with `ctx`, `c`.
fn table_column(p: &mut Parser<'_>) -> Result<(Option<Ident>, Ident), ReadError> {
    let a = p.ident("a column or table.column")?;
    if p.eat_kind(TokKind::Dot) {
        Ok((Some(a), p.ident("a column name")?))
    } else {
        Ok((None, a))
    }
}

fn table_after(p: &mut Parser<'_>, words: &[&str]) -> Result<Option<Ident>, ReadError> {
    if words.iter().any(|w| p.eat(w)) {
        let _ = p.eat("the");
        let _ = p.eat("table");
        let t = p.table_name()?;
        let _ = p.eat("table");
        Ok(Some(t))
    } else {
        Ok(None)
    }
}

fn need_table(
    p: &Parser<'_>,
    t: Option<Ident>,
    ctx: Option<&TableCtx>,
) -> Result<Ident, ReadError> {
    t.or_else(|| ctx.map(|c| c.table.clone())).ok_or_else(|| ReadError {
        line: p.line(),
        message: "the sentence does not say which table (write `... to `t`` / `... in `t`` or `t.column`)".into(),
    })
}

fn finish(p: &Parser<'_>) -> Result<(), ReadError> {
    if p.done() {
        Ok(())
    } else {
        p.unexpected("the end of the sentence")
    }
}

fn read_sentence(toks: &[sql::Tok], ctx: Option<&TableCtx>) -> Result<Vec<Change>, ReadError> {
    let mut p = Parser::new(toks);
    let skip_articles =
        |p: &mut Parser<'_>| while p.eat("a") || p.eat("an") || p.eat("the") || p.eat("new") {};
    if p.eat("rename") {
        skip_articles(&mut p);
        if p.eat("table") {
            let from = p.table_name()?;
            if !p.eat("to") {
                return p.unexpected("`to`");
            }
            let to = p.ident("the new table name")?;
            finish(&p)?;
            return Ok(vec![Change::RenameTable { from, to }]);
        }
        let _ = p.eat("column");
        let (mut table, from) = table_column(&mut p)?;
        if table.is_none() {
            table = table_after(&mut p, &["in", "on", "of", "from"])?;
        }
        if !p.eat("to") {
            return p.unexpected("`to`");
        }
        let to = p.ident("the new column name")?;
        if table.is_none() {
            table = table_after(&mut p, &["in", "on", "of"])?;
        }
        finish(&p)?;
        let table = need_table(&p, table, ctx)?;
        return Ok(vec![Change::RenameColumn { table, from, to }]);
    }
    if p.eat("drop") || p.eat("remove") || p.eat("delete") {
        skip_articles(&mut p);
        if p.eat("table") {
            let table = p.table_name()?;
            finish(&p)?;
            return Ok(vec![Change::DropTable { table }]);
        }
        if p.eat("index") {
            let name = p.ident("an index name")?;
            finish(&p)?;
            return Ok(vec![Change::DropIndex {
                name,
                concurrently: false,
            }]);
        }
        let _ = p.eat("column");
        let (mut table, column) = table_column(&mut p)?;
        if table.is_none() {
            table = table_after(&mut p, &["from", "in", "on", "of"])?;
        }
        finish(&p)?;
        let table = need_table(&p, table, ctx)?;
        return Ok(vec![Change::DropColumn { table, column }]);
    }
    if p.eat("make") {
        let (mut table, column) = table_column(&mut p)?;
        if table.is_none() {
            table = table_after(&mut p, &["in", "on", "of"])?;
        }
        if !p.eat("unique") {
            return p.unexpected("`unique` (only `make t.c unique` is understood)");
        }
        if table.is_none() {
            table = table_after(&mut p, &["in", "on", "of"])?;
        }
        finish(&p)?;
        let table = need_table(&p, table, ctx)?;
        return Ok(vec![unique_index(table, vec![column])]);
    }
    if p.eat("change") || p.eat("alter") {
        let _ = p.eat("the") || p.eat("column");
        let _ = p.eat("type") && p.eat("of");
        let _ = p.eat("column");
        let (mut table, column) = table_column(&mut p)?;
        if table.is_none() {
            table = table_after(&mut p, &["in", "on", "of"])?;
        }
        if !p.eat("to") {
            return p.unexpected("`to TYPE`");
        }
        let _ = p.eat("type");
        let ty = p.sql_type()?;
        finish(&p)?;
        let table = need_table(&p, table, ctx)?;
        return Ok(vec![Change::AlterType { table, column, ty }]);
    }
    let created = p.eat("create") || p.eat("add");
    skip_articles(&mut p);
    let unique = p.eat("unique");
    if p.eat("index") || (!created && p.word_at(0, "on")) || (unique && p.eat("constraint")) {
        let name =
            if !p.word_at(0, "on") && !p.word_at(0, "to") && !p.word_at(0, "for") && !p.done() {
                Some(p.ident("an index name")?)
            } else {
                None
            };
        if !(p.eat("on") || p.eat("to") || p.eat("for")) {
            return p.unexpected("`on t(col, ...)`");
        }
        let _ = p.eat("the");
        let _ = p.eat("table");
        let (table, keys) = if p
            .peek()
            .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::Quoted))
            && p.peek_kind_at(1) == Some(TokKind::Dot)
        {
            let (t, c) = table_column(&mut p)?;
            (
                t,
                vec![crate::model::IndexKey {
                    column: c,
                    desc: false,
                }],
            )
        } else {
            let t = p.table_name()?;
            let _ = p.eat("table");
            (Some(t), index_keys(&mut p)?)
        };
        let table = need_table(&p, table, ctx)?;
        let predicate = if p.eat("where") {
            Some(p.rest_expr()?)
        } else {
            None
        };
        finish(&p)?;
        let name = name.unwrap_or_else(|| index_name(&table, &keys, unique));
        return Ok(vec![Change::CreateIndex(Index {
            name,
            table,
            unique,
            keys,
            predicate,
            concurrently: false,
        })]);
    }
    if unique {
        return p.unexpected("`index` or `constraint` after `unique`");
    }
    if !created {
        return p.unexpected("a change (add, rename, drop, make ... unique, change type of)");
    }
    let _ = p.eat("column") || p.eat("field");
    let name = p.ident("a column name")?;
    // The column's type and constraints: before `to T`, after it, or both.
    let mut spec: Vec<sql::Tok> = Vec::new();
    while let Some(t) = p.peek() {
        if t.kind == TokKind::Word && t.text.eq_ignore_ascii_case("to") {
            break;
        }
        spec.push(t.clone());
        p.advance();
    }
    let table = table_after(&mut p, &["to"])?;
    let _ = p.eat("with") || p.eat_kind(TokKind::Comma) || p.eat("as");
    while let Some(t) = p.peek() {
        spec.push(t.clone());
        p.advance();
    }
    let table = need_table(&p, table, ctx)?;
    let spec = match spec.as_slice() {
        [open, inner @ .., close]
            if open.kind == TokKind::Open && close.kind == TokKind::Close && balanced(inner) =>
        {
            inner.to_vec()
        }
        _ => spec,
    };
    let mut sp = Parser::new(&spec);
    let _ = sp.eat("type");
    let ty = sp.sql_type().map_err(|e| ReadError {
        line: e.line,
        message: format!("{} (an added column needs its type, e.g. `Add column x (TEXT, not null, default '') to t`)", e.message),
    })?;
    let _ = sp.eat_kind(TokKind::Comma);
    let mut column = Column::new(name, ty);
    column.column_constraints_all(&mut sp)?;
    Ok(vec![Change::AddColumn { table, column }])
}

fn balanced(toks: &[sql::Tok]) -> bool {
    let mut depth = 0i32;
    for t in toks {
        match t.kind {
            TokKind::Open => depth += 1,
            TokKind::Close => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

fn unique_index(table: Ident, columns: Vec<Ident>) -> Change {
    let keys: Vec<crate::model::IndexKey> = columns
        .into_iter()
        .map(|column| crate::model::IndexKey {
            column,
            desc: false,
        })
        .collect();
    Change::CreateIndex(Index {
        name: index_name(&table, &keys, true),
        table,
        unique: true,
        keys,
        predicate: None,
        concurrently: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Extraction {
        let mut out = Extraction::default();
        extract_part("body", body, &mut out);
        out
    }

    #[test]
    fn heading_phrasings_name_tables() {
        for (h, name, new) in [
            ("New table `contact_enrichment`", "contact_enrichment", true),
            ("Changes to `contacts`", "contacts", false),
            ("Table: audit_events (new)", "audit_events", true),
            ("`contacts` table", "contacts", false),
            ("Alter table users", "users", false),
            ("Changes to contacts", "contacts", false),
            ("Create table `tags`", "tags", true),
        ] {
            let (id, is_new) = table_heading(h).unwrap_or_else(|| panic!("{h}"));
            assert_eq!((id.unwrap().as_str(), is_new), (name, new), "{h}");
        }
        assert!(table_heading("Summary").is_none());
        assert!(table_heading("Acceptance criteria").is_none());
        assert!(table_heading("Changes to `bad name`").unwrap().0.is_err());
        assert!(table_heading("New table").unwrap().0.is_err());
    }

    #[test]
    fn bullet_kinds() {
        let e = read(
            "## Data model\n\
            - Add column `a` (TEXT) to `t`\n\
            - Add `b` INTEGER NOT NULL DEFAULT 0 to t\n\
            - Add column c to t (TEXT, unique)\n\
            * Rename column `a` to `a2` in `t`\n\
            + Rename `t`.`b` to `b2`\n\
            1. Drop column `c` from `t`\n\
            2) Remove `t`.`d`\n\
            - Add index on `t` (`a`, `b` DESC) where `a IS NOT NULL`\n\
            - Add a unique index on t(e)\n\
            - Add unique constraint on `t` (`f`, `g`)\n\
            - Make `t`.`h` unique\n\
            - Change type of `t`.`i` to BIGINT\n\
            - Drop index `idx_old`\n\
            - Drop table `old`\n\
            - Rename table `t` to `t2`\n\
            - Ship it behind a flag\n",
        );
        assert!(e.problems.is_empty(), "{:?}", e.problems);
        let kinds: Vec<String> = e.changes.iter().map(|c| c.change.describe()).collect();
        assert_eq!(
            kinds,
            [
                "add column t.a",
                "add column t.b",
                "add column t.c",
                "rename column t.a to a2",
                "rename column t.b to b2",
                "drop column t.c",
                "drop column t.d",
                "create index idx_t_a_b on t",
                "create unique index uq_t_e on t",
                "create unique index uq_t_f_g on t",
                "create unique index uq_t_h on t",
                "change type of t.i",
                "drop index idx_old",
                "drop table old",
                "rename table t to t2",
            ]
        );
        assert_eq!(e.ignored.len(), 1);
        assert_eq!(e.changes[5].origin.line, 7);
    }

    #[test]
    fn arithmetic_in_checks_is_kept() {
        let e = read("### Changes to `t`\n\n| **Column** | Type | Constraints |\n|---|---|---|\n| a | INT | check (a * 2 > 1) |\n| b | TEXT | **not null** |\n");
        assert_eq!(e.changes.len(), 1);
        let Change::AddColumn { column, .. } = &e.changes[0].change else {
            panic!()
        };
        assert_eq!(
            column.checks[0].1.render(crate::sql::Dialect::Sqlite),
            "a * 2 > 1"
        );
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].line, 6);
    }

    #[test]
    fn outside_the_data_model_only_strong_sentences_count() {
        let e = read("Please add a filter.\n\n- Add column `x` (TEXT) to `t`\n- Add a button\n");
        assert_eq!(e.changes.len(), 1);
        assert!(e.problems.is_empty() && e.ignored.is_empty());
    }

    #[test]
    fn tables_need_a_table_heading_and_report_bad_cells() {
        let e = read("## Schema\n\n| Column | Type |\n|---|---|\n| a | TEXT |\n");
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].line, 3);
        let e = read("### Changes to `t`\n\n| Column | Type | Constraints |\n|---|---|---|\n| a | TEXT | not null, frobnicate |\n| b | TEXT( | |\n");
        assert_eq!(e.problems.len(), 2, "{:?}", e.problems);
        assert_eq!((e.problems[0].line, e.problems[1].line), (5, 6));
        assert!(e.problems[0].reason.contains("frobnicate"));
    }

    #[test]
    fn sql_blocks_report_unknown_statements_and_skip_queries() {
        let e = read("```sql\nSELECT * FROM t;\n```\n\n```sql\nCREATE TABLE a (id INT);\n\nGRANT ALL ON a TO b;\n```\n");
        assert_eq!(e.changes.len(), 1);
        assert_eq!(e.ignored.len(), 1);
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].line, 8);
    }
}
