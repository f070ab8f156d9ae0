//! Constraint phrases, as people write them in a Constraints cell, a Notes cell or after a column in a
//! sentence: `primary key`/`PK`, `not null`/`required`/`NN`, `nullable`/`optional`, `unique`/`UQ`,
//! `unique per user_id`, `indexed`, `default X`, `references t(c)`, `FK -> t.c`, `FK → t(c)`,
//! `check (expr)`, `one of ('a', 'b')`, `>= 0`, `between 0 and 1`, `positive`, `max 80 chars`. Phrases
//! are separated by commas, `;` or `and`.

use migrator_analyse::sql::sqlparser::tokenizer::Token;

use super::cursor::Cursor;
use crate::ident::Ident;
use crate::model::{ColumnSpec, ConstraintSpec, FkSpec, NamedConstraint, SqlExpr};

/// `T.c`, `T(c, ...)` or `T` after `references` or an arrow, with `ON DELETE` / `ON UPDATE`.
pub(crate) fn fk_target(c: &mut Cursor) -> Result<FkSpec, String> {
    let table = c.table_name()?;
    let columns = if c.eat_tok(&Token::Period) {
        vec![c.ident("a referenced column")?]
    } else if c.peek() == Some(&Token::LParen) {
        c.ident_list("a referenced column")?
    } else {
        Vec::new()
    };
    let mut fk = FkSpec {
        table,
        columns,
        on_delete: None,
        on_update: None,
    };
    loop {
        let paren = c.peek() == Some(&Token::LParen) && c.word_at(1, "on");
        if paren {
            c.advance();
        }
        if c.eat_all(&["on", "delete"]) {
            fk.on_delete = Some(c.fk_action()?);
        } else if c.eat_all(&["on", "update"]) {
            fk.on_update = Some(c.fk_action()?);
        } else {
            return Ok(fk);
        }
        if paren && !c.eat_tok(&Token::RParen) {
            return c.unexpected("`)`");
        }
    }
}

/// `FK ->`, `FK →`, `FK to`, `foreign key to`, `references`, `refs`, or a bare arrow: a foreign key
/// follows.
fn fk_intro(c: &mut Cursor) -> bool {
    let arrow =
        |c: &mut Cursor| c.eat_tok(&Token::Arrow) || c.eat("to") || c.eat_tok(&Token::Colon);
    if c.eat("references") || c.eat("refs") || c.eat_tok(&Token::Arrow) {
        return true;
    }
    if c.word_at(0, "fk") || c.word_at(0, "foreign") {
        let save_fk = c.eat("fk") || c.eat_all(&["foreign", "key"]);
        if save_fk {
            let _ = arrow(c) || c.eat("references");
            return true;
        }
    }
    false
}

/// Reads a column's constraint phrases up to the end of `c` into `column`; table-level constraints they
/// imply (`unique per user_id`) go to `extras`.
pub(crate) fn column_phrases(
    c: &mut Cursor,
    column: &mut ColumnSpec,
    extras: &mut Vec<NamedConstraint>,
) -> Result<(), String> {
    let mut name: Option<Ident> = None;
    loop {
        while c.eat_tok(&Token::Comma) || c.eat_tok(&Token::SemiColon) || c.eat("and") {}
        if c.done() {
            break;
        }
        if c.eat("constraint") {
            name = Some(c.ident("a constraint name")?);
            continue;
        }
        if phrase(c, column, extras, &mut name)? {
            continue;
        }
        return c.unexpected("a constraint (primary key, not null, nullable, unique, default X, references t(c), FK -> t.c, check (expr), one of (...))");
    }
    if name.is_some() {
        return Err("a constraint name is only kept for a CHECK".into());
    }
    Ok(())
}

fn check(column: &mut ColumnSpec, name: &mut Option<Ident>, text: String) -> Result<bool, String> {
    column.checks.push((name.take(), SqlExpr::parse(&text)?));
    Ok(true)
}

/// One phrase; `Ok(false)` when the cursor is not at a phrase.
fn phrase(
    c: &mut Cursor,
    column: &mut ColumnSpec,
    extras: &mut Vec<NamedConstraint>,
    name: &mut Option<Ident>,
) -> Result<bool, String> {
    let col = column.name.as_str().to_string();
    if c.eat_all(&["primary", "key"]) || c.eat("pk") {
        column.primary_key = true;
        column.not_null = true;
    } else if c.eat_all(&["not", "null"])
        || c.eat("required")
        || c.eat("mandatory")
        || c.eat("nn")
        || c.eat_all(&["non", "null"])
        || c.eat("notnull")
    {
        column.not_null = true;
    } else if (c.word_at(0, "non") || c.word_at(0, "not"))
        && c.peek_at(1) == Some(&Token::Minus)
        && c.word_at(2, "null")
    {
        for _ in 0..3 {
            c.advance();
        }
        column.not_null = true;
    } else if c.eat("null") || c.eat("nullable") || c.eat("optional") {
        column.not_null = false;
    } else if c.eat("unique") || c.eat("uq") || c.eat("uniq") {
        if c.eat("per") || c.eat_all(&["together", "with"]) || c.eat("with") {
            let others = if c.peek() == Some(&Token::LParen) {
                c.ident_list("a column")?
            } else {
                vec![c.ident("a column")?]
            };
            let mut columns = others;
            columns.push(column.name.clone());
            extras.push(NamedConstraint {
                name: None,
                constraint: ConstraintSpec::Unique(columns),
            });
        } else {
            column.unique = true;
        }
    } else if c.eat("indexed") {
        column.indexed = true;
    } else if c.eat("default") || c.eat_all(&["defaults", "to"]) {
        let _ = c.eat_tok(&Token::Colon) || c.eat_tok(&Token::Eq);
        column.default = Some(c.default_expr()?);
    } else if fk_intro(c) {
        column.references = Some(fk_target(c)?);
    } else if c.word_at(0, "on") && (c.word_at(1, "delete") || c.word_at(1, "update")) {
        let Some(fk) = column.references.as_mut() else {
            return c.unexpected("`references t(c)` before `on delete`");
        };
        let _ = c.eat("on");
        if c.eat("delete") {
            fk.on_delete = Some(c.fk_action()?);
        } else {
            let _ = c.eat("update");
            fk.on_update = Some(c.fk_action()?);
        }
    } else if c.eat("check") {
        let e = if c.peek() == Some(&Token::LParen) {
            c.paren_expr()?
        } else {
            let _ = c.eat_tok(&Token::Colon);
            c.expr()?
        };
        column.checks.push((name.take(), e));
    } else if c.eat_all(&["one", "of"])
        || c.eat("enum")
        || (c.word_at(0, "in") && c.peek_at(1) == Some(&Token::LParen))
    {
        let _ = c.eat("in");
        let _ = c.eat_tok(&Token::Colon);
        let values = value_list(c)?;
        column
            .checks
            .push((name.take(), SqlExpr::one_of(column.name.as_str(), &values)?));
    } else if let Some(op) = comparison(c) {
        let value = c.literal().map_or_else(
            || c.unexpected("a number or a string after the comparison"),
            Ok,
        )?;
        return check(column, name, format!("{col} {op} {value}"));
    } else if c.eat("between") {
        let low = c.literal().map_or_else(|| c.unexpected("a value"), Ok)?;
        if !c.eat("and") {
            return c.unexpected("`and`");
        }
        let high = c.literal().map_or_else(|| c.unexpected("a value"), Ok)?;
        return check(column, name, format!("{col} BETWEEN {low} AND {high}"));
    } else if c.eat("positive") {
        return check(column, name, format!("{col} > 0"));
    } else if c.eat("nonnegative")
        || c.eat_all(&["non", "negative"])
        || (c.word_at(0, "non")
            && c.peek_at(1) == Some(&Token::Minus)
            && c.word_at(2, "negative")
            && {
                c.advance();
                c.advance();
                c.advance();
                true
            })
    {
        return check(column, name, format!("{col} >= 0"));
    } else if (c.eat("max") || c.eat_all(&["at", "most"])) && {
        let _ = c.eat("length");
        true
    } {
        let n = match c.peek() {
            Some(Token::Number(n, _)) if n.bytes().all(|b| b.is_ascii_digit()) => n.clone(),
            _ => return c.unexpected("a whole number of characters"),
        };
        c.advance();
        let _ = c.eat("chars") || c.eat("characters");
        return check(column, name, format!("length({col}) <= {n}"));
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// `>=`, `>`, `<=`, `<`, `<>`, `!=` at the cursor.
fn comparison(c: &mut Cursor) -> Option<&'static str> {
    let op = match c.peek()? {
        Token::GtEq => ">=",
        Token::Gt => ">",
        Token::LtEq => "<=",
        Token::Lt => "<",
        Token::Neq => "<>",
        _ => return None,
    };
    c.advance();
    Some(op)
}

/// `(v, ...)` or `v, w, z` of literal values.
fn value_list(c: &mut Cursor) -> Result<Vec<String>, String> {
    let paren = c.eat_tok(&Token::LParen);
    let mut values = Vec::new();
    loop {
        match c.literal() {
            Some(v) => values.push(v),
            None => return c.unexpected("a literal value in the list (`one of ('a', 'b')`)"),
        }
        let more = c.peek() == Some(&Token::Comma)
            && matches!(
                c.peek_at(1),
                Some(Token::SingleQuotedString(_) | Token::Number(..) | Token::Minus)
            );
        if !more {
            break;
        }
        c.advance();
    }
    if paren && !c.eat_tok(&Token::RParen) {
        return c.unexpected("`)` after the values");
    }
    Ok(values)
}

/// Reads a whole cell or phrase text into `column`.
pub(crate) fn read_phrases(
    text: &str,
    column: &mut ColumnSpec,
    extras: &mut Vec<NamedConstraint>,
) -> Result<(), String> {
    let mut c = Cursor::new(&super::cursor::plain(text))?;
    column_phrases(&mut c, column, extras)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FkAction, SqlType};

    fn read(text: &str) -> Result<(ColumnSpec, Vec<NamedConstraint>), String> {
        let mut column = ColumnSpec::new(
            Ident::parse("score").unwrap(),
            SqlType::parse("INTEGER").unwrap(),
        );
        let mut extras = Vec::new();
        read_phrases(text, &mut column, &mut extras)?;
        Ok((column, extras))
    }

    #[test]
    fn reads_the_notations_people_use() {
        let (c, _) = read("PK, NN, UQ").unwrap();
        assert!(c.primary_key && c.not_null && c.unique);
        let (c, _) = read("FK -> users.id, on delete cascade").unwrap();
        let fk = c.references.unwrap();
        assert_eq!((fk.table.as_str(), fk.columns[0].as_str()), ("users", "id"));
        assert_eq!(fk.on_delete, Some(FkAction::Cascade));
        let (c, _) = read("FK → `users`(`id`)").unwrap();
        assert_eq!(c.references.unwrap().table.as_str(), "users");
        let (c, _) = read("references teams").unwrap();
        assert!(c.references.unwrap().columns.is_empty());
        let (c, _) = read("optional, default 0 and >= 0").unwrap();
        assert!(!c.not_null);
        assert_eq!(c.default.unwrap().text(), "0");
        assert_eq!(c.checks[0].1.text(), "score >= 0");
        let (c, _) = read("one of ('a', 'b')").unwrap();
        assert_eq!(c.checks[0].1.text(), "score IN ('a', 'b')");
        let (c, _) = read("one of 1, 2, 3").unwrap();
        assert_eq!(c.checks[0].1.text(), "score IN (1, 2, 3)");
        let (c, _) = read("check (score * 2 > 1), default '{}'::jsonb").unwrap();
        assert_eq!(c.checks[0].1.text(), "score * 2 > 1");
        assert_eq!(c.default.unwrap().text(), "'{}'::JSONB");
        let (c, _) = read("between 0 and 100, non-null").unwrap();
        assert!(c.not_null);
        assert_eq!(c.checks[0].1.text(), "score BETWEEN 0 AND 100");
        let (_, extras) = read("unique per user_id").unwrap();
        assert_eq!(
            extras[0].constraint,
            ConstraintSpec::Unique(vec![
                Ident::parse("user_id").unwrap(),
                Ident::parse("score").unwrap()
            ])
        );
        let (c, _) = read("indexed, max 80 chars").unwrap();
        assert!(c.indexed);
        assert_eq!(c.checks[0].1.text(), "length(score) <= 80");
        assert!(read("not null, frobnicate")
            .unwrap_err()
            .contains("frobnicate"));
        assert!(read("default 1; DROP TABLE x").is_err());
        assert!(read("default (SELECT 1)").is_err());
    }
}
