//! Change sentences: bullets and lines of a data-model section, with or without backticks, verbs first or
//! the column first. See the crate README for the forms; each form has a test below.

use migrator_analyse::sql::sqlparser::tokenizer::Token;

use super::cursor::{plain, Cursor};
use super::phrases::{column_phrases, fk_target};
use crate::ident::Ident;
use crate::model::{
    Change, ColumnSpec, ConstraintSpec, IndexKey, IndexSpec, KeyExpr, NamedConstraint,
};

/// The words a change sentence starts with.
pub(crate) const VERBS: &[&str] = &[
    "add",
    "create",
    "rename",
    "drop",
    "remove",
    "delete",
    "change",
    "alter",
    "make",
    "index",
    "set",
    "widen",
    "unique",
    "primary",
    "pk",
    "composite",
    "new",
    "introduce",
];

/// Reads one sentence. `ctx` is the table the surrounding heading or introduction names.
pub(crate) fn read_sentence(text: &str, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let text = plain(text);
    let text = text.trim().trim_end_matches(['.', ';', ':']).trim();
    match read_text(text, ctx) {
        Ok(c) => Ok(c),
        // A trailing remark in parentheses ("... to `t` (for the report)") is not part of the change.
        Err(first) => match strip_trailing_remark(text) {
            Some(shorter) => read_text(shorter, ctx).map_err(|_| first),
            None => Err(first),
        },
    }
}

fn strip_trailing_remark(text: &str) -> Option<&str> {
    let t = text.trim_end();
    if !t.ends_with(')') {
        return None;
    }
    let mut depth = 0i32;
    for (i, ch) in t.char_indices().rev() {
        match ch {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    let head = t[..i].trim_end();
                    return (!head.is_empty()).then_some(head);
                }
            }
            _ => {}
        }
    }
    None
}

fn read_text(text: &str, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let mut c = Cursor::new(text)?;
    let changes = sentence(&mut c, ctx)?;
    if !c.done() {
        return c.unexpected("the end of the sentence");
    }
    Ok(changes)
}

fn articles(c: &mut Cursor) {
    while c.eat("a") || c.eat("an") || c.eat("the") || c.eat("new") {}
}

/// `t.c` or `c`: the table (when written) and the column.
fn table_column(c: &mut Cursor) -> Result<(Option<Ident>, Ident), String> {
    let a = c.ident("a column or table.column")?;
    if c.eat_tok(&Token::Period) {
        Ok((Some(a), c.ident("a column name")?))
    } else {
        Ok((None, a))
    }
}

/// `in|on|of|from|to [the] [table] T [table]` when one of `words` is next.
fn table_after(c: &mut Cursor, words: &[&str]) -> Result<Option<Ident>, String> {
    if words.iter().any(|w| c.eat(w)) {
        let _ = c.eat("the");
        let _ = c.eat("table");
        let t = c.table_name()?;
        let _ = c.eat("table");
        Ok(Some(t))
    } else {
        Ok(None)
    }
}

fn need_table(t: Option<Ident>, ctx: Option<&Ident>) -> Result<Ident, String> {
    t.or_else(|| ctx.cloned()).ok_or_else(|| {
        "the sentence does not say which table (write `... to `t`` / `... in `t`` or `t.column`)".into()
    })
}

/// `t.c [in T]` resolved against the context.
fn column_ref(c: &mut Cursor, ctx: Option<&Ident>) -> Result<(Ident, Ident), String> {
    let _ = c.eat("column");
    let (mut table, column) = table_column(c)?;
    let _ = c.eat("column");
    if table.is_none() {
        table = table_after(c, &["in", "on", "of", "from"])?;
    }
    Ok((need_table(table, ctx)?, column))
}

fn sentence(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    if c.eat("rename") {
        return rename(c, ctx);
    }
    if c.eat("drop") || c.eat("remove") || c.eat("delete") {
        return drop(c, ctx);
    }
    if c.eat("make") {
        return make(c, ctx);
    }
    if c.eat("change") || c.eat("alter") || c.eat("widen") {
        return change_type(c, ctx);
    }
    if c.eat("set") {
        articles(c);
        if !c.eat("default") {
            return c.unexpected("`default` (`Set the default of t.c to X`)");
        }
        let _ = c.eat("of") || c.eat("for") || c.eat("on");
        let (table, column) = column_ref(c, ctx)?;
        if !c.eat("to") {
            return c.unexpected("`to`");
        }
        let default = c.default_expr()?;
        return Ok(vec![Change::SetDefault {
            table,
            column,
            default,
        }]);
    }
    let created = c.eat("add") || c.eat("create") || c.eat("introduce");
    articles(c);
    if c.eat("composite") || c.word_at(0, "primary") || c.word_at(0, "pk") {
        return primary_key(c, ctx);
    }
    let unique = c.eat("unique");
    if c.eat("index")
        || (unique && (c.eat("constraint") || c.eat("key")))
        || (unique && c.word_at(0, "on"))
        || (!created && unique)
    {
        return index(c, ctx, unique);
    }
    if c.eat_all(&["foreign", "key"]) || c.eat("fk") {
        return foreign_key(c, ctx);
    }
    if c.eat("check") {
        return check(c, ctx);
    }
    if created {
        return add_column(c, ctx);
    }
    subject_first(c, ctx)
}

fn rename(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    articles(c);
    if c.eat("table") {
        let from = c.table_name()?;
        if !(c.eat("to") || c.eat_tok(&Token::Arrow)) {
            return c.unexpected("`to`");
        }
        let to = c.ident("the new table name")?;
        return Ok(vec![Change::RenameTable { from, to }]);
    }
    let _ = c.eat("column");
    let (mut table, from) = table_column(c)?;
    let _ = c.eat("column");
    if table.is_none() {
        table = table_after(c, &["in", "on", "of", "from"])?;
    }
    if !(c.eat("to") || c.eat_tok(&Token::Arrow)) {
        return c.unexpected("`to`");
    }
    let to = c.ident("the new column name")?;
    if table.is_none() {
        table = table_after(c, &["in", "on", "of"])?;
    }
    Ok(vec![Change::RenameColumn {
        table: need_table(table, ctx)?,
        from,
        to,
    }])
}

fn drop(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    articles(c);
    if c.eat("table") {
        return Ok(vec![Change::DropTable {
            table: c.table_name()?,
        }]);
    }
    if c.eat("index") {
        return Ok(vec![Change::DropIndex {
            name: c.ident("an index name")?,
        }]);
    }
    if c.eat("constraint") {
        let name = c.ident("a constraint name")?;
        let table = table_after(c, &["from", "on", "of", "in"])?;
        return Ok(vec![Change::DropConstraint {
            table: need_table(table, ctx)?,
            name,
        }]);
    }
    if c.eat("default") {
        let _ = c.eat("of") || c.eat("from") || c.eat("on");
        let (table, column) = column_ref(c, ctx)?;
        return Ok(vec![Change::DropDefault { table, column }]);
    }
    if c.eat_all(&["not", "null"]) {
        let _ = c.eat("constraint");
        let _ = c.eat("of") || c.eat("from") || c.eat("on");
        let (table, column) = column_ref(c, ctx)?;
        return Ok(vec![Change::DropNotNull { table, column }]);
    }
    let (table, column) = column_ref(c, ctx)?;
    Ok(vec![Change::DropColumn { table, column }])
}

fn make(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let (table, column) = column_ref(c, ctx)?;
    let change = if c.eat("unique") {
        unique_on(table, vec![column])
    } else if c.eat("required") || c.eat("mandatory") || c.eat_all(&["not", "null"]) {
        Change::SetNotNull { table, column }
    } else if c.eat("nullable") || c.eat("optional") {
        Change::DropNotNull { table, column }
    } else {
        return c.unexpected("`unique`, `required`, `not null`, `nullable` or `optional`");
    };
    Ok(vec![change])
}

fn change_type(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    articles(c);
    let _ = c.eat("column");
    let _ = c.eat("type") && c.eat("of");
    let _ = c.eat("the") && c.eat("type") && c.eat("of");
    let (table, column) = column_ref(c, ctx)?;
    if c.eat("from") {
        // `from OLD to NEW`: the old type is the schema's to check, not ours to trust.
        c.data_type()?;
    }
    if !(c.eat("to") || c.eat_tok(&Token::Arrow)) {
        return c.unexpected("`to TYPE`");
    }
    let _ = c.eat("type");
    let ty = c.data_type()?;
    let using = if c.eat("using") {
        Some(c.expr()?)
    } else {
        None
    };
    Ok(vec![Change::AlterType {
        table,
        column,
        ty,
        using,
    }])
}

fn unique_on(table: Ident, columns: Vec<Ident>) -> Change {
    Change::CreateIndex(IndexSpec {
        name: None,
        table,
        unique: true,
        keys: columns
            .into_iter()
            .map(|column| IndexKey {
                key: KeyExpr::Column(column),
                desc: false,
            })
            .collect(),
        predicate: None,
        method: None,
    })
}

/// `(a, b DESC, lower(email))`.
fn index_keys(c: &mut Cursor) -> Result<Vec<IndexKey>, String> {
    if !c.eat_tok(&Token::LParen) {
        return c.unexpected("`(` and the indexed columns");
    }
    let mut keys = Vec::new();
    loop {
        let key = if c.at_name()
            && matches!(c.peek_at(1), Some(Token::Comma | Token::RParen) | None)
            || (c.at_name() && (c.word_at(1, "desc") || c.word_at(1, "asc")))
        {
            KeyExpr::Column(c.ident("an indexed column")?)
        } else {
            KeyExpr::Expr(c.default_expr()?)
        };
        let desc = c.eat("desc");
        if !desc {
            let _ = c.eat("asc");
        }
        keys.push(IndexKey { key, desc });
        if !c.eat_tok(&Token::Comma) {
            break;
        }
    }
    if !c.eat_tok(&Token::RParen) {
        return c.unexpected("`)`");
    }
    Ok(keys)
}

/// After `[add] [unique] index` / `unique constraint` / `unique on`.
fn index(c: &mut Cursor, ctx: Option<&Ident>, unique: bool) -> Result<Vec<Change>, String> {
    let _ = c.eat("constraint");
    let name = if c.at_name() && !["on", "to", "for", "over"].iter().any(|w| c.word_at(0, w)) {
        let is_table_col = c.peek_at(1) == Some(&Token::Period);
        if is_table_col {
            None
        } else {
            Some(c.ident("an index name")?)
        }
    } else {
        None
    };
    let _ = c.eat("on") || c.eat("to") || c.eat("for") || c.eat("over");
    let _ = c.eat_tok(&Token::Colon);
    articles(c);
    let _ = c.eat("table");
    let (table, keys) = if c.peek() == Some(&Token::LParen) {
        (None, index_keys(c)?)
    } else if c.at_name() && c.peek_at(1) == Some(&Token::Period) {
        let (t, col) = table_column(c)?;
        (
            t,
            vec![IndexKey {
                key: KeyExpr::Column(col),
                desc: false,
            }],
        )
    } else if c.at_name() && c.peek_at(1) == Some(&Token::LParen) {
        let t = c.table_name()?;
        (Some(t), index_keys(c)?)
    } else if name.is_some() && c.done() {
        return c.unexpected("`on t(col, ...)`");
    } else {
        let t = c.table_name()?;
        let _ = c.eat("table");
        (Some(t), index_keys(c)?)
    };
    let table = need_table(table, ctx)?;
    let _ = c.eat("together");
    let method = if c.eat("using") {
        Some(c.ident("an index method")?)
    } else {
        None
    };
    let predicate = if c.eat("where") {
        Some(c.expr()?)
    } else {
        None
    };
    Ok(vec![Change::CreateIndex(IndexSpec {
        name,
        table,
        unique,
        keys,
        predicate,
        method,
    })])
}

/// After `[composite] primary key` / `pk`: `[on] [T] (cols)`, `is (cols)`, `: (cols)`.
fn primary_key(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let _ = c.eat_all(&["primary", "key"]) || c.eat("pk");
    let _ = c.eat("is") || c.eat_tok(&Token::Colon) || c.eat("on") || c.eat("of");
    let table = if c.at_name() && c.peek_at(1) == Some(&Token::LParen) {
        Some(c.table_name()?)
    } else {
        None
    };
    let columns = if c.peek() == Some(&Token::LParen) {
        c.ident_list("a key column")?
    } else {
        let mut v = vec![c.ident("a key column")?];
        while c.eat_tok(&Token::Comma) || c.eat("and") || c.eat_tok(&Token::Plus) {
            v.push(c.ident("a key column")?);
        }
        v
    };
    let table = match table {
        Some(t) => Some(t),
        None => table_after(c, &["on", "of", "for", "in"])?,
    };
    Ok(vec![Change::AddConstraint {
        table: need_table(table, ctx)?,
        constraint: NamedConstraint {
            name: None,
            constraint: ConstraintSpec::PrimaryKey(columns),
        },
    }])
}

/// After `add foreign key`: `[from] t.c (->|to|references) u.id [on delete ...]`.
fn foreign_key(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let _ = c.eat("from") || c.eat("on");
    let (table, column) = column_ref(c, ctx)?;
    if !(c.eat("to") || c.eat("references") || c.eat_tok(&Token::Arrow)) {
        return c.unexpected("`to t.column` / `references t(column)`");
    }
    let fk = fk_target(c)?;
    Ok(vec![Change::AddConstraint {
        table,
        constraint: NamedConstraint {
            name: None,
            constraint: ConstraintSpec::ForeignKey(vec![column], fk),
        },
    }])
}

/// After `add check`: `[constraint NAME] [on|to] T: expr` or `(expr) [on|to] T`.
fn check(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let _ = c.eat("constraint");
    let name = if c.at_name()
        && !["on", "to", "for"].iter().any(|w| c.word_at(0, w))
        && c.peek_at(1) != Some(&Token::Colon)
    {
        Some(c.ident("a constraint name")?)
    } else {
        None
    };
    let (table, expr) = if c.peek() == Some(&Token::LParen) {
        let e = c.paren_expr()?;
        (table_after(c, &["on", "to", "for"])?, e)
    } else {
        let t = table_after(c, &["on", "to", "for"])?;
        if !c.eat_tok(&Token::Colon) {
            return c.unexpected("`:` and the condition");
        }
        (t, c.expr()?)
    };
    Ok(vec![Change::AddConstraint {
        table: need_table(table, ctx)?,
        constraint: NamedConstraint {
            name,
            constraint: ConstraintSpec::Check(expr),
        },
    }])
}

/// After `add` / `create`: a column, in the forms `column c (TYPE, ...) to T`, `c TYPE ... to T`,
/// `column c to T (TYPE, ...)`, `a c column (TYPE) to T`, `t.c TYPE ...`.
fn add_column(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    let _ = c.eat("column") || c.eat("field");
    let _ = c.eat_tok(&Token::Colon);
    let (mut table, name) = table_column(c)?;
    let _ = c.eat("column") || c.eat("field");
    // The spec: everything up to `to T`, and everything after it.
    let mut spec_tokens: Vec<Token> = Vec::new();
    while let Some(t) = c.peek() {
        if c.word_at(0, "to") && table.is_none() {
            break;
        }
        spec_tokens.push(t.clone());
        c.advance();
    }
    if table.is_none() {
        table = table_after(c, &["to"])?;
    }
    let _ = c.eat("with") || c.eat_tok(&Token::Comma) || c.eat("as");
    while let Some(t) = c.peek() {
        spec_tokens.push(t.clone());
        c.advance();
    }
    let table = need_table(table, ctx)?;
    // `(TYPE, constraints)` in parentheses: without them.
    if spec_tokens.first() == Some(&Token::LParen) && spec_tokens.last() == Some(&Token::RParen) {
        let inner = &spec_tokens[1..spec_tokens.len() - 1];
        if balanced(inner) {
            spec_tokens = inner.to_vec();
        }
    }
    let mut spec = Cursor::from_tokens(spec_tokens);
    let _ = spec.eat("type") && spec.eat_tok(&Token::Colon);
    let ty = spec.data_type().map_err(|e| {
        format!("{e} (an added column needs its type, e.g. `Add column x (TEXT, not null, default '') to t`)")
    })?;
    let _ = spec.eat_tok(&Token::Comma);
    let mut column = ColumnSpec::new(name, ty);
    let mut extras = Vec::new();
    column_phrases(&mut spec, &mut column, &mut extras)?;
    Ok(column_changes(&table, column, extras))
}

fn balanced(toks: &[Token]) -> bool {
    let mut depth = 0i32;
    for t in toks {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
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

/// `[the] t.c [column] (must|should) be unique`, `t.c is required`, `t.c references u.id`,
/// `t.c defaults to X`, `(a, b) must be unique [together]`.
fn subject_first(c: &mut Cursor, ctx: Option<&Ident>) -> Result<Vec<Change>, String> {
    articles(c);
    if c.peek() == Some(&Token::LParen) {
        let columns = c.ident_list("a column")?;
        let table = table_after(c, &["in", "on", "of"])?;
        modal(c);
        if c.eat("unique") {
            let _ = c.eat("together");
            return Ok(vec![unique_on(need_table(table, ctx)?, columns)]);
        }
        return c.unexpected("`must be unique`");
    }
    let (table, column) = column_ref(c, ctx)?;
    modal(c);
    let change = if c.eat("unique") {
        unique_on(table, vec![column])
    } else if c.eat("required") || c.eat("mandatory") || c.eat_all(&["not", "null"]) {
        Change::SetNotNull { table, column }
    } else if c.eat("nullable") || c.eat("optional") {
        Change::DropNotNull { table, column }
    } else if c.eat("references") || c.eat_tok(&Token::Arrow) || c.eat_all(&["points", "to"]) {
        let fk = fk_target(c)?;
        Change::AddConstraint {
            table,
            constraint: NamedConstraint {
                name: None,
                constraint: ConstraintSpec::ForeignKey(vec![column], fk),
            },
        }
    } else if c.eat_all(&["defaults", "to"]) || c.eat("default") {
        let default = c.default_expr()?;
        Change::SetDefault {
            table,
            column,
            default,
        }
    } else if c.eat("indexed") {
        Change::CreateIndex(IndexSpec {
            name: None,
            table,
            unique: false,
            keys: vec![IndexKey {
                key: KeyExpr::Column(column),
                desc: false,
            }],
            predicate: None,
            method: None,
        })
    } else {
        return c.unexpected(
            "a change (add, rename, drop, make ... unique, change type of, ... must be unique)",
        );
    };
    Ok(vec![change])
}

/// `must be`, `should be`, `is`, `becomes`, `has to be`, `needs to be`, `will be`.
fn modal(c: &mut Cursor) {
    let _ = c.eat("column");
    let _ = c.eat("must")
        || c.eat("should")
        || c.eat("will")
        || c.eat_all(&["has", "to"])
        || c.eat_all(&["needs", "to"]);
    let _ = c.eat("be") || c.eat("is") || c.eat("becomes") || c.eat("are");
    let _ = c.eat("now") || c.eat("also");
}

/// A column of a new table written as a bullet: `` `title` TEXT NN ``, `` `title` (TEXT, not null) ``,
/// `title: TEXT, required`, `` `amount` — NUMERIC(10,2), >= 0 ``.
pub(crate) fn column_bullet(text: &str, table: &Ident) -> Result<Vec<Change>, String> {
    let text = plain(text);
    let text = text.trim().trim_end_matches(['.', ';']).trim();
    let mut c = Cursor::new(text)?;
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(':')
        .to_ascii_lowercase();
    if VERBS.contains(&first.as_str())
        || ["foreign", "check", "fk", "indexes", "key", "constraint"].contains(&first.as_str())
    {
        return Err("a change, not a column".into());
    }
    let name = c.ident("a column name")?;
    let _ = c.eat_tok(&Token::Colon) || c.eat_tok(&Token::Comma);
    let paren = c.eat_tok(&Token::LParen);
    let ty = c.data_type()?;
    let mut column = ColumnSpec::new(name, ty);
    let mut extras = Vec::new();
    if paren {
        let mut inner = Vec::new();
        let mut depth = 0;
        while let Some(t) = c.peek() {
            match t {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                _ => {}
            }
            inner.push(t.clone());
            c.advance();
        }
        if !c.eat_tok(&Token::RParen) {
            return c.unexpected("`)`");
        }
        let mut spec = Cursor::from_tokens(inner);
        column_phrases(&mut spec, &mut column, &mut extras)?;
    }
    column_phrases(&mut c, &mut column, &mut extras)?;
    Ok(column_changes(table, column, extras))
}

/// An added column and the table constraints its phrases implied.
fn column_changes(table: &Ident, column: ColumnSpec, extras: Vec<NamedConstraint>) -> Vec<Change> {
    let mut out = vec![Change::AddColumn {
        table: table.clone(),
        column,
    }];
    out.extend(extras.into_iter().map(|constraint| Change::AddConstraint {
        table: table.clone(),
        constraint,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, ctx: Option<&str>) -> Vec<String> {
        let ctx = ctx.map(|c| Ident::parse(c).unwrap());
        read_sentence(text, ctx.as_ref())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .iter()
            .map(Change::describe)
            .collect()
    }

    #[test]
    fn every_form_reads() {
        for (text, ctx, want) in [
            ("Add column `email_verified` (BOOLEAN, not null, default false) to `users`", None, "add column users.email_verified"),
            ("Add `timezone` VARCHAR(64) default 'UTC' to users", None, "add column users.timezone"),
            ("Add column last_seen_at to users (TIMESTAMP)", None, "add column users.last_seen_at"),
            ("Add a `source` column (TEXT, default 'manual') to `contacts`", None, "add column contacts.source"),
            ("Add column `x` (TEXT) to `t` (for the weekly report)", None, "add column t.x"),
            ("Add `t.y` INTEGER", None, "add column t.y"),
            ("Rename column `phone` to `phone_number` in `contacts`", None, "rename column contacts.phone to phone_number"),
            ("Rename `contacts`.`phone` → `phone_number`", None, "rename column contacts.phone to phone_number"),
            ("Drop column `legacy` from `contacts`", None, "drop column contacts.legacy"),
            ("Remove `contacts`.`legacy`", None, "drop column contacts.legacy"),
            ("Drop the default of `users`.`theme`", None, "drop the default of users.theme"),
            ("Drop table `old`", None, "drop table old"),
            ("Drop index `idx_old`", None, "drop index idx_old"),
            ("Drop constraint `chk_x` from `t`", None, "drop constraint chk_x of t"),
            ("Rename table `a` to `b`", None, "rename table a to b"),
            ("Make `contacts`.`external_id` unique", None, "create unique index on contacts"),
            ("Make `users`.`email` required", None, "make users.email NOT NULL"),
            ("Make `users`.`bio` optional", None, "make users.bio nullable"),
            ("Change type of `contacts`.`score` to BIGINT", None, "change type of contacts.score to BIGINT"),
            ("Widen `contacts.note` from VARCHAR(20) to VARCHAR(200)", None, "change type of contacts.note to VARCHAR(200)"),
            ("Set the default of `users`.`theme` to 'dark'", None, "set the default of users.theme"),
            ("Add index on `activities` (`contact_id`, `created_at` DESC) where `deleted_at IS NULL`", None, "create index on activities"),
            ("Add a unique index on users(email)", None, "create unique index on users"),
            ("Index on (`a`, `b`)", Some("t"), "create index on t"),
            ("Unique index idx_lower on users (lower(email))", None, "create unique index idx_lower on users"),
            ("Add unique constraint on `users` (`email`)", None, "create unique index on users"),
            ("Primary key: (`contact_id`, `tag`)", Some("tags"), "add primary key on tags"),
            ("The primary key is (a, b)", Some("tags"), "add primary key on tags"),
            ("Composite primary key on (a, b)", Some("tags"), "add primary key on tags"),
            ("Add foreign key from `t.owner_id` to `users.id` on delete cascade", None, "add foreign key on t"),
            ("`t.owner_id` references users(id)", None, "add foreign key on t"),
            ("Add check on `t`: `amount >= 0`", None, "add check constraint on t"),
            ("`users`.`email` must be unique", None, "create unique index on users"),
            ("(`a`, `b`) must be unique together", Some("t"), "create unique index on t"),
            ("`contacts.name` is indexed", None, "create index on contacts"),
            ("`users.tz` defaults to 'UTC'", None, "set the default of users.tz"),
        ] {
            assert_eq!(read(text, ctx), [want], "{text}");
        }
        assert!(read_sentence("Ship it behind a flag", None).is_err());
        assert!(read_sentence("Add column `x` to `t`", None)
            .unwrap_err()
            .contains("needs its type"));
    }

    #[test]
    fn column_bullets_of_a_new_table() {
        let t = Ident::parse("deals").unwrap();
        for text in [
            "`id` BIGSERIAL PK",
            "`title` (TEXT, not null)",
            "title: TEXT, required",
            "`amount` — NUMERIC(10,2), >= 0",
        ] {
            let changes = column_bullet(text, &t).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(matches!(changes[0], Change::AddColumn { .. }), "{text}");
        }
        assert!(column_bullet("Unique: email", &t).is_err());
        assert!(column_bullet("Index on (a, b)", &t).is_err());
    }
}
