//! Reading data-model changes out of an issue's markdown. See the crate README for the grammar.
//!
//! The reader is line based: it follows headings (a data-model section, a heading or a line naming a
//! table), fenced `sql` blocks, pipe tables and bullets. Whatever looks like a change but cannot be read is
//! a problem with its part and line, and nothing is generated; a line of a data-model section that reads as
//! prose is kept aside, and the generator fails on it too when it names a table, column or index of the
//! schema. Comments are read after the body, and a later statement about the same table, column or index
//! revises the earlier one ([`revise`]).

mod cursor;
mod markdown;
mod phrases;
mod revise;
mod sentence;
mod sqlblock;
mod tables;

use crate::error::Unreadable;
use crate::export::Issue;
use crate::ident::{shorten, Ident};
use crate::model::{Change, IndexKey, IndexSpec, KeyExpr, Located, Origin};
use markdown::{
    bullet, fence_close, fence_open, heading, is_indexes_label, looks_like_sql, struck,
    table_heading, table_intro,
};
pub(crate) use tables::has_schema_words;

/// What was read from an issue.
#[derive(Debug, Default, Clone)]
pub struct Extraction {
    /// The changes, in the order they appear, revisions folded in.
    pub changes: Vec<Located>,
    /// What looked like a change but could not be read (generation refuses to go on).
    pub problems: Vec<Unreadable>,
    /// What was not read as a change: prose, query blocks, struck-through lines.
    pub ignored: Vec<Unreadable>,
    /// Lines of a data-model section read as prose: the generator refuses them when they name a table,
    /// column or index it knows.
    pub prose: Vec<Unreadable>,
    /// How later parts revised earlier ones.
    pub revisions: Vec<String>,
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
    let (changes, revisions) = revise::fold(std::mem::take(&mut out.changes));
    out.changes = changes;
    out.revisions = revisions;
    tracing::debug!(
        issue = issue.number,
        changes = out.changes.len(),
        problems = out.problems.len(),
        "extracted data model changes"
    );
    out
}

#[derive(Clone)]
struct TableCtx {
    table: Ident,
    new: bool,
}

struct Part<'a> {
    name: &'a str,
    out: &'a mut Extraction,
}

impl Part<'_> {
    fn unreadable(&self, line: usize, text: &str, reason: impl Into<String>) -> Unreadable {
        Unreadable {
            part: self.name.to_string(),
            line,
            text: shorten(text.trim()),
            reason: reason.into(),
        }
    }
    fn problem(&mut self, line: usize, text: &str, reason: impl Into<String>) {
        let u = self.unreadable(line, text, reason);
        self.out.problems.push(u);
    }
    fn ignore(&mut self, line: usize, text: &str, reason: &str) {
        let u = self.unreadable(line, text, reason);
        self.out.ignored.push(u);
    }
    fn push(&mut self, line: usize, change: Change) {
        let origin = Origin {
            part: self.name.to_string(),
            line,
        };
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
    "plpgsql",
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
    "persistence",
    "columns",
];

/// The walker's state inside one part.
#[derive(Default)]
struct State {
    section: Option<usize>,
    ctx: Option<TableCtx>,
    indexes_mode: bool,
}

/// Reads one markdown text (`part` is `body` or `comment N`).
pub fn extract_part(part: &str, text: &str, out: &mut Extraction) {
    let mut p = Part { name: part, out };
    let lines: Vec<&str> = text.lines().collect();
    let mut st = State::default();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let raw = lines[i];
        let line = raw.trim();
        if let Some((fence, info)) = fence_open(raw) {
            let mut j = i + 1;
            while j < lines.len() && !fence_close(lines[j], &fence) {
                j += 1;
            }
            let body = lines[i + 1..j.min(lines.len())].join("\n");
            if SQL_INFO.contains(&info.as_str()) || (info.is_empty() && looks_like_sql(&body)) {
                sql_block(&mut p, &body, line_no + 1);
            }
            i = j + 1;
            continue;
        }
        if let Some((level, title)) = heading(line) {
            on_heading(&mut p, &mut st, level, title, line, line_no);
            i += 1;
            continue;
        }
        if line.starts_with('|') {
            let mut j = i;
            while j < lines.len() && lines[j].trim().starts_with('|') {
                j += 1;
            }
            pipe_table(&mut p, &st, &lines[i..j], line_no);
            i = j;
            continue;
        }
        if is_indexes_label(line) {
            if st.ctx.is_some() {
                st.indexes_mode = true;
            } else if st.section.is_some() {
                p.problem(line_no, line, "an index list that does not follow a table heading (write `Add index on t(col)` bullets instead)");
            }
            i += 1;
            continue;
        }
        if bullet(line).is_none() && section_line(line) {
            // `Data model:` on a line of its own opens a section that the next heading ends.
            st.section = Some(7);
            st.ctx = None;
            i += 1;
            continue;
        }
        if bullet(line).is_none() && !line.is_empty() {
            if let Some((found, new)) = table_intro(line).filter(|_| followed_by_list(&lines, i)) {
                match found {
                    Ok(table) => {
                        enter_table(&mut p, &mut st, table, new, line_no);
                        st.indexes_mode = false;
                    }
                    Err(m) => p.problem(line_no, line, format!("the line names a table: {m}")),
                }
                i += 1;
                continue;
            }
        }
        let in_model = st.section.is_some() || st.ctx.is_some();
        if let Some(item) = bullet(line) {
            if struck(item) {
                p.ignore(line_no, item, "struck through");
            } else if st.indexes_mode && st.ctx.is_some() {
                index_bullet(&mut p, &st, item, line_no);
            } else {
                sentence(&mut p, item, line_no, in_model, st.ctx.as_ref());
            }
            i += 1;
            continue;
        }
        if !line.is_empty() {
            st.indexes_mode = false;
            if in_model && !struck(line) {
                sentence(&mut p, line, line_no, in_model, st.ctx.as_ref());
            }
        }
        i += 1;
    }
}

fn on_heading(
    p: &mut Part<'_>,
    st: &mut State,
    level: usize,
    title: &str,
    line: &str,
    line_no: usize,
) {
    st.indexes_mode = false;
    if let Some((name, new)) = table_heading(title) {
        match name {
            Ok(table) => enter_table(p, st, table, new, line_no),
            Err(m) => {
                p.problem(line_no, line, format!("the heading names a table: {m}"));
                st.ctx = None;
            }
        }
        if st.section.is_none() {
            st.section = Some(level);
        }
    } else if is_indexes_label(title) && st.ctx.is_some() {
        st.indexes_mode = true;
    } else {
        st.ctx = None;
        let lower = title.to_ascii_lowercase();
        if SECTION_WORDS.iter().any(|w| lower.contains(w)) {
            st.section = Some(level);
        } else if st.section.is_some_and(|s| level <= s) {
            st.section = None;
        }
    }
}

/// A heading or line names a table: it becomes the context; a new table starts as a definition without
/// columns, which a table of columns, column bullets or a sql block fill (or the planner refuses it empty).
fn enter_table(p: &mut Part<'_>, st: &mut State, table: Ident, new: bool, line_no: usize) {
    if new {
        p.push(
            line_no,
            Change::CreateTable {
                table: table.clone(),
                columns: Vec::new(),
                constraints: Vec::new(),
            },
        );
    }
    st.ctx = Some(TableCtx { table, new });
}

/// A short line ending in `:` that names a data-model section (`Data model:`, `**Schema changes:**`).
fn section_line(line: &str) -> bool {
    let t = line.trim_matches(|c: char| c == '*' || c == '_' || c.is_whitespace());
    let Some(head) = t.strip_suffix(':').or_else(|| t.strip_suffix(":**")) else {
        return false;
    };
    let lower = head.trim_end_matches('*').to_ascii_lowercase();
    lower.split_whitespace().count() <= 4 && SECTION_WORDS.iter().any(|w| lower.contains(w))
}

/// The next non-empty line after `i` is a pipe table or a list item.
fn followed_by_list(lines: &[&str], i: usize) -> bool {
    lines[i + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with('|') || bullet(l).is_some() || is_indexes_label(l))
}

fn sql_block(p: &mut Part<'_>, body: &str, first_line: usize) {
    let block = sqlblock::read_block(body, first_line);
    let only_queries = block.changes.is_empty() && block.problems.is_empty();
    for (line, what) in &block.skipped {
        if only_queries || what != "transaction control" {
            p.ignore(
                *line,
                what,
                "a query or transaction control, not a schema change",
            );
        }
    }
    for (line, text, reason) in block.problems {
        p.problem(line, &text, reason);
    }
    for (line, change) in block.changes {
        p.push(line, change);
    }
}

fn pipe_table(p: &mut Part<'_>, st: &State, rows: &[&str], first_line: usize) {
    let header = rows.first().copied().unwrap_or("");
    let Some(ctx) = &st.ctx else {
        let kinds: Vec<tables::Col> = tables::cells(header)
            .iter()
            .map(|h| tables::classify(h))
            .collect();
        let columns_table =
            kinds.contains(&tables::Col::Name) && kinds.contains(&tables::Col::Type);
        if columns_table && st.section.is_some() {
            p.problem(first_line, header, "a table of columns that is not under a heading naming a table (e.g. `### New table `x`` or `### Changes to `x``)");
        }
        return;
    };
    let Some(read) = tables::read_table(rows, first_line, &ctx.table, ctx.new) else {
        p.ignore(
            first_line,
            header,
            "a table without Column and Type (or Action) headers",
        );
        return;
    };
    for (line, text, reason) in read.problems {
        p.problem(line, &text, reason);
    }
    for (line, text, reason) in read.ignored {
        p.ignore(line, &text, &reason);
    }
    for (line, change) in read.changes {
        p.push(line, change);
    }
}

/// An index bullet under `Indexes:`: `` `a`, `b` desc ``, `` `x` where `x IS NOT NULL` ``,
/// `unique email`, `(a, b)`, or a sentence (`Index on lower(email)`).
fn index_bullet(p: &mut Part<'_>, st: &State, item: &str, line_no: usize) {
    let Some(ctx) = &st.ctx else { return };
    match simple_index(item, &ctx.table) {
        Ok(index) => p.push(line_no, Change::CreateIndex(index)),
        Err(first) => match sentence::read_sentence(item, Some(&ctx.table)) {
            Ok(changes) => {
                for c in changes {
                    p.push(line_no, c);
                }
            }
            Err(_) => p.problem(line_no, item, first),
        },
    }
}

/// The names the schema and the issue define: tables, indexes, and columns with their table.
fn known_names(ex: &Extraction, schema: &crate::schema::Schema) -> Vec<(String, String)> {
    let mut known: Vec<(String, String)> = Vec::new();
    for t in schema.tables.values() {
        known.push((t.name.clone(), format!("table {}", t.name)));
        for c in &t.columns {
            known.push((c.name.clone(), format!("column {}.{}", t.name, c.name)));
            known.push((
                format!("{}.{}", t.name, c.name),
                format!("column {}.{}", t.name, c.name),
            ));
        }
        for i in &t.indexes {
            known.push((i.name.clone(), format!("index {}", i.name)));
        }
    }
    for l in &ex.changes {
        match &l.change {
            Change::CreateTable { table, columns, .. } => {
                known.push((table.as_str().to_string(), format!("table {table}")));
                for c in columns {
                    known.push((
                        c.name.as_str().to_string(),
                        format!("column {table}.{}", c.name),
                    ));
                }
            }
            Change::AddColumn { table, column } => known.push((
                column.name.as_str().to_string(),
                format!("column {table}.{}", column.name),
            )),
            _ => {}
        }
    }
    known
}

/// The prose lines of data-model sections that name a table, column or index of the schema or of the
/// issue in code (`` `contacts` ``, `` `users.email` ``): a stated change that was not understood, which
/// must not be dropped silently.
pub(crate) fn unread_names(ex: &Extraction, schema: &crate::schema::Schema) -> Vec<Unreadable> {
    let known = known_names(ex, schema);
    let mut out = Vec::new();
    for u in &ex.prose {
        let code: Vec<String> = u
            .text
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|w| w.trim().to_ascii_lowercase())
            .collect();
        if let Some((_, what)) = known.iter().find(|(name, _)| code.contains(name)) {
            out.push(Unreadable {
                reason: format!(
                    "this line of the data model names {what} but is not a change this tool reads; write it as a change (e.g. `Add index on t(col)`, `Make t.col unique`) or drop the backticks if it is only prose"
                ),
                text: shorten(&u.text),
                ..u.clone()
            });
        }
    }
    out
}

/// The text holds a backticked name or a `table.column`.
fn names_code(text: &str) -> bool {
    text.contains('`')
        || text.split_whitespace().any(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '.');
            w.split_once('.')
                .is_some_and(|(a, b)| Ident::parse(a).is_ok() && Ident::parse(b).is_ok())
        })
}

fn simple_index(item: &str, table: &Ident) -> Result<IndexSpec, String> {
    use migrator_analyse::sql::sqlparser::tokenizer::Token;
    let text = cursor::plain(item);
    let text = text.trim().trim_end_matches('.');
    let mut c = cursor::Cursor::new(text)?;
    let mut unique = c.eat("unique");
    let paren = c.eat_tok(&Token::LParen);
    let mut keys = Vec::new();
    loop {
        let column = c.ident("an indexed column")?;
        let desc = c.eat("desc");
        if !desc {
            let _ = c.eat("asc");
        }
        keys.push(IndexKey {
            key: KeyExpr::Column(column),
            desc,
        });
        if !(c.eat_tok(&Token::Comma) || c.eat("and") || c.eat_tok(&Token::Plus)) {
            break;
        }
    }
    if paren && !c.eat_tok(&Token::RParen) {
        return c.unexpected("`)`");
    }
    if c.eat_tok(&Token::LParen) {
        if !c.eat("unique") || !c.eat_tok(&Token::RParen) {
            return c.unexpected("`(unique)`");
        }
        unique = true;
    } else if c.eat("unique") {
        unique = true;
    }
    let predicate = if c.eat("where") {
        Some(c.expr()?)
    } else {
        None
    };
    if !c.done() {
        return c.unexpected("the end of the index (`col[, col] [where expr]`)");
    }
    Ok(IndexSpec {
        name: None,
        table: table.clone(),
        unique,
        keys,
        predicate,
        method: None,
    })
}

/// A bullet or a line: a change sentence, or prose.
fn sentence(p: &mut Part<'_>, item: &str, line_no: usize, in_model: bool, ctx: Option<&TableCtx>) {
    let text = cursor::plain(item);
    let lower: Vec<String> = text
        .split_whitespace()
        .take(5)
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
                .to_ascii_lowercase()
        })
        .collect();
    let first = lower.first().map(String::as_str).unwrap_or("");
    let is_verb = sentence::VERBS.contains(&first);
    let strong = is_verb
        && lower.iter().skip(1).any(|w| {
            matches!(
                w.as_str(),
                "column"
                    | "columns"
                    | "index"
                    | "table"
                    | "constraint"
                    | "unique"
                    | "key"
                    | "field"
            )
        });
    if !(strong || in_model) {
        return;
    }
    if let Some(c) = ctx.filter(|c| c.new) {
        if let Ok(changes) = sentence::column_bullet(item, &c.table) {
            for change in changes {
                p.push(line_no, change);
            }
            return;
        }
    }
    match sentence::read_sentence(item, ctx.map(|c| &c.table)) {
        Ok(changes) => {
            for c in changes {
                p.push(line_no, c);
            }
        }
        Err(e) if strong || has_schema_words(item) || (is_verb && names_code(item)) => {
            p.problem(line_no, item, e)
        }
        Err(_) => {
            let u = p.unreadable(line_no, item, "prose");
            p.out.prose.push(Unreadable {
                text: item.to_string(),
                ..u.clone()
            });
            p.out.ignored.push(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Extraction {
        let mut out = Extraction::default();
        extract_part("body", body, &mut out);
        out.changes = revise::fold(std::mem::take(&mut out.changes)).0;
        out
    }

    #[test]
    fn sections_tables_and_lists_are_followed() {
        let e = read("Intro prose.\n\nData model:\n- Add column `x` (TEXT) to `t`\n- Ship it on Friday\n\n# Other\n- Add a button\n");
        assert_eq!(e.changes.len(), 1);
        assert_eq!(e.prose.len(), 1, "{:?}", e.prose);
        let e = read("**contact_tags** (new)\n\n| Column | Type |\n|---|---|\n| tag | TEXT |\n\n**Note**: nothing else.\n");
        assert_eq!(e.changes.len(), 1, "{:?}", e.changes);
        assert!(
            matches!(&e.changes[0].change, Change::CreateTable { columns, .. } if columns.len() == 1)
        );
        let e =
            read("## Schema\n- ~~Drop table `old`~~\n```\nALTER TABLE t ADD COLUMN c TEXT;\n```\n");
        assert_eq!(e.changes.len(), 1);
        assert_eq!(e.ignored[0].reason, "struck through");
    }
}
