//! The parser's gaps: statement forms the dialect has but sqlparser cannot read, recognised by their
//! leading keywords and analysed by them.
//!
//! When sqlparser refuses a statement, this module decides whether it is a form sqlparser is known not to
//! read (a gap: the statement is reported `not-understood`, a warning, with what its keywords show: the
//! table it alters, the lock it takes) or not (the statement is reported `not-analysed`, an error: most
//! likely invalid SQL). The list comes from the forms found in real migration histories (see the crate
//! README) and from the forms PostgreSQL documents that sqlparser's grammar leaves out. Whether a
//! not-understood statement is valid is for the database to decide: the rehearsal runs it, and
//! [`crate::Analysis::record_engine_verdict`] takes the answer.

use crate::model::{Lock, Volatility};
use crate::ops::Op;
use crate::Dialect;

/// PostgreSQL statement heads whose forms sqlparser reads only in part (or not at all). A refused statement
/// starting with one of these is a parser gap. Longest heads first where one is a prefix of another.
const PG_HEADS: &[&[&str]] = &[
    &["ALTER", "SEQUENCE"],
    &["ALTER", "INDEX"],
    &["ALTER", "TYPE"],
    &["ALTER", "FUNCTION"],
    &["ALTER", "PROCEDURE"],
    &["ALTER", "ROUTINE"],
    &["ALTER", "AGGREGATE"],
    &["ALTER", "DOMAIN"],
    &["ALTER", "POLICY"],
    &["ALTER", "DEFAULT", "PRIVILEGES"],
    &["ALTER", "EXTENSION"],
    &["ALTER", "SCHEMA"],
    &["ALTER", "MATERIALIZED", "VIEW"],
    &["ALTER", "VIEW"],
    &["ALTER", "TRIGGER"],
    &["ALTER", "OPERATOR"],
    &["ALTER", "TEXT", "SEARCH"],
    &["ALTER", "COLLATION"],
    &["ALTER", "ROLE"],
    &["ALTER", "USER"],
    &["ALTER", "DATABASE"],
    &["ALTER", "PUBLICATION"],
    &["ALTER", "STATISTICS"],
    &["ALTER", "LARGE", "OBJECT"],
    &["CREATE", "STATISTICS"],
    &["DROP", "STATISTICS"],
    &["COMMENT", "ON"],
    &["DO"],
    &["CREATE", "FUNCTION"],
    &["CREATE", "OR", "REPLACE", "FUNCTION"],
    &["CREATE", "PROCEDURE"],
    &["CREATE", "OR", "REPLACE", "PROCEDURE"],
    &["CREATE", "AGGREGATE"],
    &["CREATE", "OR", "REPLACE", "AGGREGATE"],
    &["CREATE", "OPERATOR"],
    &["CREATE", "CAST"],
    &["CREATE", "POLICY"],
    &["CREATE", "RULE"],
    &["CREATE", "OR", "REPLACE", "RULE"],
    &["CREATE", "EVENT", "TRIGGER"],
    &["CREATE", "TEXT", "SEARCH"],
    &["CREATE", "COLLATION"],
    &["CREATE", "DOMAIN"],
    &["CREATE", "TYPE"],
    &["CREATE", "LANGUAGE"],
    &["CREATE", "PUBLICATION"],
    &["CREATE", "SUBSCRIPTION"],
    &["CREATE", "CONVERSION"],
    &["CREATE", "TRANSFORM"],
    &["CREATE", "TRIGGER"],
    &["CREATE", "CONSTRAINT", "TRIGGER"],
    &["CREATE", "OR", "REPLACE", "TRIGGER"],
    &["CREATE", "OR", "REPLACE", "VIEW"],
    &["CREATE", "MATERIALIZED", "VIEW"],
    &["CREATE", "ROLE"],
    &["CREATE", "USER"],
    &["CREATE", "EXTENSION"],
    &["CREATE", "SCHEMA"],
    &["CREATE", "SEQUENCE"],
    &["GRANT"],
    &["REVOKE"],
    &["SECURITY", "LABEL"],
    &["DROP", "AGGREGATE"],
    &["DROP", "OPERATOR"],
    &["DROP", "CAST"],
    &["DROP", "POLICY"],
    &["DROP", "RULE"],
    &["DROP", "DOMAIN"],
    &["DROP", "FUNCTION"],
    &["DROP", "PROCEDURE"],
    &["DROP", "ROUTINE"],
    &["DROP", "TYPE"],
    &["DROP", "TRIGGER"],
    &["DROP", "EXTENSION"],
    &["DROP", "COLLATION"],
    &["DROP", "TEXT", "SEARCH"],
    &["DROP", "EVENT", "TRIGGER"],
    &["DROP", "OWNED"],
    &["REASSIGN", "OWNED"],
    &["IMPORT", "FOREIGN", "SCHEMA"],
    &["REFRESH", "MATERIALIZED", "VIEW"],
    &["ANALYZE"],
    &["NOTIFY"],
    &["CHECKPOINT"],
    &["DISCARD"],
    &["RESET"],
];

/// SQLite statement heads sqlparser reads only in part.
const SQLITE_HEADS: &[&[&str]] = &[
    &["CREATE", "VIRTUAL", "TABLE"],
    &["CREATE", "TRIGGER"],
    &["CREATE", "TEMP", "TRIGGER"],
    &["CREATE", "TEMPORARY", "TRIGGER"],
    &["DROP", "TRIGGER"],
    &["CREATE", "VIEW"],
    &["CREATE", "TEMP", "VIEW"],
    &["ANALYZE"],
    &["REINDEX"],
];

/// `ALTER TABLE` sub-commands PostgreSQL has and sqlparser does not read.
const PG_ALTER_TABLE_GAPS: &[&[&str]] = &[
    &["ALTER", "CONSTRAINT"],
    &["REPLICA", "IDENTITY"],
    &["SET", "STATISTICS"],
    &["SET", "STORAGE"],
    &["SET", "COMPRESSION"],
    &["SET", "ACCESS", "METHOD"],
    &["SET", "TABLESPACE"],
    &["SET", "SCHEMA"],
    &["SET", "LOGGED"],
    &["SET", "UNLOGGED"],
    &["SET", "WITHOUT", "CLUSTER"],
    &["SET", "WITHOUT", "OIDS"],
    &["SET", "("],
    &["RESET", "("],
    &["CLUSTER", "ON"],
    &["INHERIT"],
    &["NO", "INHERIT"],
    &["NOT", "OF"],
    &["ENABLE"],
    &["DISABLE"],
    &["FORCE", "ROW"],
    &["NO", "FORCE"],
    &["ATTACH", "PARTITION"],
    &["ADD", "GENERATED"],
    &["DROP", "IDENTITY"],
    &["DROP", "EXPRESSION"],
    &["OWNER", "TO"],
];

/// When the parser refused the statement of `words` (see `migrator_format::statement_words`): `Some((form,
/// ops))` when it is a known gap, with what its keywords show; `None` when nothing marks it as valid.
pub(crate) fn understand(words: &[&str], dialect: Dialect) -> Option<(String, Vec<Op>)> {
    if dialect == Dialect::Postgres {
        if let Some(found) = create_table_like(words) {
            return Some(found);
        }
    }
    if words.first() == Some(&"ALTER") && words.get(1) == Some(&"TABLE") {
        return (dialect == Dialect::Postgres)
            .then(|| alter_table(words))
            .flatten();
    }
    let heads = match dialect {
        Dialect::Postgres => PG_HEADS,
        Dialect::Sqlite => SQLITE_HEADS,
    };
    let head = heads.iter().find(|h| words.starts_with(h))?;
    let form = head.join(" ");
    let ops = match *head {
        ["DO"] => vec![Op::Other {
            kind: "DO".to_string(),
        }],
        ["ALTER", "INDEX"] if renamed_to(words).is_some() => vec![Op::RenameIndex {
            from: name_after(words, 2),
            to: renamed_to(words).unwrap_or_default(),
        }],
        ["ALTER", "SEQUENCE"] | ["ALTER", "INDEX"] | ["ALTER", "VIEW"]
            if words.contains(&"RENAME") =>
        {
            let what = format!("{} {}", head[1].to_lowercase(), name_after(words, 2));
            vec![Op::RenameOther {
                table: String::new(),
                what,
            }]
        }
        ["CREATE", "STATISTICS"] => vec![Op::CreateStatistics {
            table: words
                .iter()
                .position(|w| *w == "FROM")
                .map(|i| name_after(words, i + 1))
                .filter(|n| !n.is_empty()),
        }],
        [.., "FUNCTION"] | [.., "PROCEDURE"] => vec![Op::CreateFunction {
            name: name_after(words, head.len()),
            volatility: declared_volatility(words),
        }],
        _ => vec![Op::Other { kind: form.clone() }],
    };
    let form = match *head {
        ["DO"] => "DO block".to_string(),
        _ if ops
            .iter()
            .any(|o| matches!(o, Op::RenameOther { .. } | Op::RenameIndex { .. })) =>
        {
            format!("{form} ... RENAME")
        }
        _ => form,
    };
    Some((form, ops))
}

/// `CREATE [TEMP | UNLOGGED] TABLE [IF NOT EXISTS] t (LIKE source INCLUDING ...)`: a new table whose columns
/// come from another (so they are not known here).
fn create_table_like(words: &[&str]) -> Option<(String, Vec<Op>)> {
    if words.first() != Some(&"CREATE") {
        return None;
    }
    let at = words.iter().position(|w| *w == "TABLE")?;
    if !words[1..at]
        .iter()
        .all(|w| matches!(*w, "GLOBAL" | "LOCAL" | "TEMP" | "TEMPORARY" | "UNLOGGED"))
    {
        return None;
    }
    let table = name_after(words, at + 1);
    let open = words.iter().position(|w| *w == "(")?;
    (words.get(open + 1) == Some(&"LIKE")).then(|| {
        (
            "CREATE TABLE ... (LIKE ...)".to_string(),
            vec![Op::CreateTable {
                table,
                columns: Vec::new(),
                constraints: Vec::new(),
                as_select: true,
            }],
        )
    })
}

/// `ALTER TABLE [IF EXISTS] [ONLY] t <sub-command>` with a sub-command sqlparser does not read.
fn alter_table(words: &[&str]) -> Option<(String, Vec<Op>)> {
    let mut i = 2;
    if words.get(i) == Some(&"IF") && words.get(i + 1) == Some(&"EXISTS") {
        i += 2;
    }
    if words.get(i) == Some(&"ONLY") {
        i += 1;
    }
    let table = name_after(words, i);
    let gap = (i..words.len()).find_map(|at| {
        PG_ALTER_TABLE_GAPS
            .iter()
            .find(|g| words[at..].starts_with(g))
            .map(|g| g.join(" "))
    })?;
    let lock = match gap.as_str() {
        "SET STATISTICS" | "CLUSTER ON" | "SET WITHOUT CLUSTER" => Lock::ShareUpdateExclusive,
        "ATTACH PARTITION" => Lock::ShareUpdateExclusive,
        _ => Lock::AccessExclusive,
    };
    let ops = vec![Op::AlterTableOther {
        table,
        what: format!("{} (lock {})", gap.to_lowercase(), lock.sql_name()),
    }];
    Some((format!("ALTER TABLE ... {gap}"), ops))
}

/// The (possibly qualified) name starting at `words[i]`, skipping `IF [NOT] EXISTS`; lower-cased unless
/// quoted (quoted words come unquoted from the lexer, bare ones upper-cased: both are lower-cased here, a
/// simplification for names that are only shown).
fn name_after(words: &[&str], mut i: usize) -> String {
    while matches!(words.get(i), Some(&"IF") | Some(&"NOT") | Some(&"EXISTS")) {
        i += 1;
    }
    let mut name = String::new();
    while let Some(w) = words.get(i) {
        if name.is_empty() || name.ends_with('.') {
            if !w
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
            {
                break;
            }
            name.push_str(&w.to_lowercase());
        } else if *w == "." {
            name.push('.');
        } else {
            break;
        }
        i += 1;
    }
    name
}

/// The name after `RENAME TO`.
fn renamed_to(words: &[&str]) -> Option<String> {
    let at = words.windows(2).position(|w| w == ["RENAME", "TO"])?;
    Some(name_after(words, at + 2)).filter(|n| !n.is_empty())
}

/// `IMMUTABLE`, `STABLE` or `VOLATILE` among a `CREATE FUNCTION`'s words (outside its body, which the lexer
/// hands over as one literal).
fn declared_volatility(words: &[&str]) -> Option<Volatility> {
    words.iter().find_map(|w| match *w {
        "IMMUTABLE" => Some(Volatility::Immutable),
        "STABLE" => Some(Volatility::Stable),
        "VOLATILE" => Some(Volatility::Volatile),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str, dialect: Dialect) -> Option<(String, Vec<Op>)> {
        let w = migrator_format::statement_words(sql).unwrap();
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        understand(&w, dialect)
    }

    #[test]
    fn the_known_gaps_are_understood() {
        let pg = Dialect::Postgres;
        for (sql, form) in [
            (
                "ALTER SEQUENCE a_id_seq RENAME TO b_id_seq",
                "ALTER SEQUENCE ... RENAME",
            ),
            (
                "ALTER TABLE t ALTER CONSTRAINT fk DEFERRABLE INITIALLY DEFERRED",
                "ALTER TABLE ... ALTER CONSTRAINT",
            ),
            (
                "CREATE STATISTICS s (dependencies) ON a, b FROM t",
                "CREATE STATISTICS",
            ),
            ("DROP STATISTICS IF EXISTS s", "DROP STATISTICS"),
            ("COMMENT ON FUNCTION f(integer, text) IS 'x'", "COMMENT ON"),
            ("COMMENT ON CONSTRAINT c ON t IS 'x'", "COMMENT ON"),
            (
                "ALTER INDEX IF EXISTS a RENAME TO b",
                "ALTER INDEX ... RENAME",
            ),
            ("DO $$ BEGIN PERFORM 1; END $$", "DO block"),
            (
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE COST 5 AS $$ SELECT 1 $$",
                "CREATE FUNCTION",
            ),
        ] {
            let (got, _) = read(sql, pg).unwrap_or_else(|| panic!("{sql}"));
            assert_eq!(got, form, "{sql}");
        }
        let (_, ops) = read("CREATE FUNCTION public.f() RETURNS int LANGUAGE sql IMMUTABLE COST 5 AS $$ SELECT 1 $$", pg).unwrap();
        assert_eq!(
            ops,
            vec![Op::CreateFunction {
                name: "public.f".into(),
                volatility: Some(Volatility::Immutable)
            }]
        );
        let (_, ops) = read("CREATE STATISTICS s ON a, b FROM public.t", pg).unwrap();
        assert_eq!(
            ops,
            vec![Op::CreateStatistics {
                table: Some("public.t".into())
            }]
        );
    }

    #[test]
    fn typos_are_not_gaps() {
        assert!(read("ALTER TABLE t ADD COLUM x int", Dialect::Postgres).is_none());
        assert!(read("CRATE TABLE t (x int)", Dialect::Postgres).is_none());
        assert!(read("UPDAT t SET x = 1", Dialect::Sqlite).is_none());
    }
}
