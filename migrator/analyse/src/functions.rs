//! Function volatility offline: which functions an expression calls, and how volatile each is.
//!
//! PostgreSQL treats a function as VOLATILE unless it is declared STABLE or IMMUTABLE, so a default that
//! calls a function nobody here knows is volatile (one value per row: adding the column rewrites the table).
//! What is known comes, in order, from the migrations themselves (`CREATE FUNCTION ... IMMUTABLE`), the live
//! catalog when there is one ([`crate::Catalog::set_function_volatility`]), and the conservative built-in
//! list below (PostgreSQL's own `pg_proc.provolatile` for common functions).

use crate::model::Volatility;

/// Built-in functions known STABLE (same result within a statement: evaluated once for an ADD COLUMN).
const STABLE: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
    "localtime",
    "statement_timestamp",
    "transaction_timestamp",
    "current_setting",
    "current_user",
    "current_role",
    "session_user",
    "current_schema",
    "current_database",
    "to_timestamp",
    "to_char",
    "to_date",
    "age",
    "date_trunc",
    "timezone",
    "jsonb_build_object",
    "json_build_object",
    "jsonb_build_array",
    "json_build_array",
    "to_json",
    "to_jsonb",
    "array_to_json",
    "row_to_json",
];

/// Built-in functions (and cast-like type names written with parentheses) known IMMUTABLE.
const IMMUTABLE: &[&str] = &[
    "lower",
    "upper",
    "length",
    "char_length",
    "octet_length",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "replace",
    "concat",
    "concat_ws",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "power",
    "sqrt",
    "md5",
    "sha256",
    "encode",
    "decode",
    "make_interval",
    "make_date",
    "make_timestamp",
    "array",
    "row",
    "cast",
    "extract",
    "date_part",
    "uuid_nil",
    "int4range",
    "int8range",
    "tstzrange",
    "tsrange",
    "daterange",
    "numrange",
    "jsonb",
    "json",
    "array_fill",
    "to_tsvector",
    "setweight",
    "left",
    "right",
    "lpad",
    "rpad",
    "repeat",
    "split_part",
    "reverse",
    "format",
    "hex",
    "char",
    "varchar",
    "character",
    "numeric",
    "decimal",
    "timestamp",
    "timestamptz",
    "time",
    "interval",
    "bit",
    "varbit",
    "float",
    "double",
];

/// Built-in functions known VOLATILE, listed so the message can say so with certainty.
const VOLATILE: &[&str] = &[
    "random",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "nextval",
    "txid_current",
    "random_normal",
    "setseed",
];

/// The volatility PostgreSQL's own catalog gives a built-in function; `None` when not in the list.
pub(crate) fn builtin(name: &str) -> Option<Volatility> {
    if VOLATILE.contains(&name) {
        Some(Volatility::Volatile)
    } else if STABLE.contains(&name) {
        Some(Volatility::Stable)
    } else if IMMUTABLE.contains(&name) {
        Some(Volatility::Immutable)
    } else {
        None
    }
}

/// The function names `expr` (an expression's text) calls: a word followed by `(`, lower-cased, without its
/// schema. Keywords that take parentheses without being calls (`CASE`, `AND`, `IN`) are left out.
pub(crate) fn calls(expr: &str) -> Vec<String> {
    let Ok(words) = migrator_format::statement_words(expr) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pair in words.windows(2) {
        let (word, next) = (&pair[0], &pair[1]);
        let is_word = word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if next == "("
            && is_word
            && !word.is_empty()
            && !matches!(
                word.as_str(),
                "AND"
                    | "OR"
                    | "NOT"
                    | "IN"
                    | "ANY"
                    | "ALL"
                    | "SOME"
                    | "EXISTS"
                    | "CASE"
                    | "WHEN"
                    | "THEN"
                    | "ELSE"
                    | "AS"
                    | "IS"
                    | "LIKE"
                    | "ILIKE"
                    | "BETWEEN"
                    | "VALUES"
                    | "SELECT"
                    | "FROM"
                    | "WHERE"
                    | "ON"
                    | "USING"
                    | "OVER"
                    | "FILTER"
                    | "WITHIN"
            )
        {
            let name = word.to_ascii_lowercase();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    // `CURRENT_TIMESTAMP`, `LOCALTIMESTAMP` and friends are written without parentheses.
    for word in &words {
        let lower = word.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "current_timestamp" | "current_date" | "current_time" | "localtimestamp" | "localtime"
        ) && !out.contains(&lower)
        {
            out.push(lower);
        }
    }
    out
}

/// The volatility of a default calling `functions`: the most volatile of them, each looked up with `known`
/// (the migrations and the live catalog), then the built-in list, else volatile.
pub(crate) fn default_volatility(
    functions: &[String],
    known: impl Fn(&str) -> Option<Volatility>,
) -> Volatility {
    functions
        .iter()
        .map(|f| {
            known(f)
                .or_else(|| builtin(f))
                .unwrap_or(Volatility::Volatile)
        })
        .max()
        .unwrap_or(Volatility::Immutable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_found_without_keywords() {
        assert_eq!(calls("now()"), ["now"]);
        assert_eq!(
            calls("COALESCE(my_schema.slugify(name), 'x')"),
            ["coalesce", "slugify"]
        );
        assert_eq!(calls("CURRENT_TIMESTAMP"), ["current_timestamp"]);
        assert_eq!(calls("'a'::varchar(20)"), ["varchar"]);
        assert!(calls("(1 + 2) * 3").is_empty());
        assert_eq!(calls("CASE WHEN (x) THEN 1 END"), Vec::<String>::new());
    }

    #[test]
    fn unknown_functions_are_volatile() {
        let v = |f: &[&str]| {
            default_volatility(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>(), |_| {
                None
            })
        };
        assert_eq!(v(&[]), Volatility::Immutable);
        assert_eq!(v(&["now"]), Volatility::Stable);
        assert_eq!(v(&["lower", "now"]), Volatility::Stable);
        assert_eq!(v(&["gen_random_uuid"]), Volatility::Volatile);
        assert_eq!(v(&["my_func"]), Volatility::Volatile);
        let known = default_volatility(&["my_func".to_string()], |f| {
            (f == "my_func").then_some(Volatility::Immutable)
        });
        assert_eq!(known, Volatility::Immutable);
    }
}
