//! PostgreSQL column types and what `ALTER COLUMN ... TYPE` does for a pair of them.
//!
//! A type change rewrites the table and its indexes unless the new type is binary-coercible from the old one
//! with no length check (PostgreSQL's `ATColumnChangeRequiresRewrite`): `varchar(n)` to a wider or
//! unbounded `varchar` or to `text`, `numeric(p, s)` to a larger precision of the same scale or to unbounded
//! `numeric`, a time type to a finer or unbounded precision, `cidr` to `inet`, `varbit(n)` widened. From
//! PostgreSQL 12, `timestamp` <-> `timestamptz` does not rewrite the table when the session TimeZone is UTC
//! (its indexes are still rebuilt). Everything else rewrites, `bigint` -> `numeric` included.

/// A column type, normalised: `character varying(20)` and `varchar(20)` read the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PgType {
    /// The canonical base name (`varchar`, `integer`, `timestamptz`, ...).
    pub base: String,
    /// The type modifiers: length, precision and scale.
    pub mods: Vec<u32>,
    /// An array of the base type.
    pub array: bool,
}

impl PgType {
    /// Reads the lower-case type text sqlparser prints (`character varying(255)`, `timestamp(3) with time
    /// zone`, `numeric(10,2)`, `text[]`).
    pub fn parse(text: &str) -> PgType {
        let mut rest = text.trim().to_ascii_lowercase();
        let mut array = false;
        while let Some(stripped) = rest.strip_suffix("[]") {
            array = true;
            rest = stripped.trim_end().to_string();
        }
        if let Some(stripped) = rest.strip_suffix(" array") {
            array = true;
            rest = stripped.to_string();
        }
        let mut mods = Vec::new();
        let mut words = String::new();
        let mut inside = String::new();
        let mut depth = 0;
        for c in rest.chars() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    mods.extend(
                        inside
                            .split(',')
                            .filter_map(|m| m.trim().parse::<u32>().ok()),
                    );
                    inside.clear();
                }
                _ if depth > 0 => inside.push(c),
                _ => words.push(c),
            }
        }
        let words: Vec<&str> = words.split_whitespace().collect();
        let name = words.join(" ");
        let name = name.rsplit_once('.').map_or(name.as_str(), |(_, n)| n);
        let base = match name {
            "int" | "integer" | "int4" => "integer",
            "smallint" | "int2" => "smallint",
            "bigint" | "int8" => "bigint",
            "varchar" | "character varying" => "varchar",
            "char" | "character" | "bpchar" => "char",
            "decimal" | "numeric" => "numeric",
            "real" | "float4" => "real",
            "double precision" | "float8" | "float" | "double" => "double precision",
            "timestamp" | "timestamp without time zone" => "timestamp",
            "timestamptz" | "timestamp with time zone" => "timestamptz",
            "time" | "time without time zone" => "time",
            "timetz" | "time with time zone" => "timetz",
            "bool" | "boolean" => "boolean",
            "varbit" | "bit varying" => "varbit",
            other => other,
        }
        .to_string();
        PgType { base, mods, array }
    }
}

/// What a type change does to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The same type: nothing happens but a brief lock.
    Same,
    /// Binary-coercible: a catalog change under a brief ACCESS EXCLUSIVE.
    NoRewrite,
    /// `timestamp` <-> `timestamptz` with TimeZone UTC on PostgreSQL 12+: no table rewrite, but indexes on
    /// the column are rebuilt.
    IndexesRebuilt,
    /// `timestamp` <-> `timestamptz` on PostgreSQL 12+ while the session TimeZone is not known.
    DependsOnTimeZone,
    /// The old type is not known, and the new one is reached without a rewrite from some types only: the
    /// text lists them.
    Unknown(&'static str),
    /// A table and index rewrite: why.
    Rewrite(String),
}

/// What `ALTER COLUMN TYPE to` does on a column of type `from` (when known), on PostgreSQL `version`,
/// with the session TimeZone known to be UTC (`Some(true)`), known not to be (`Some(false)`) or unknown.
pub(crate) fn change(from: Option<&str>, to: &str, version: u32, utc: Option<bool>) -> Change {
    let to_t = PgType::parse(to);
    let Some(from) = from else {
        return match to_t.base.as_str() {
            _ if to_t.array => Change::Rewrite("the old type is not known".into()),
            "text" | "varchar" | "citext" => Change::Unknown("no rewrite only from varchar (to text, or to a varchar at least as long) or text/citext; from any other type, or to a shorter varchar, the table is rewritten"),
            "numeric" => Change::Unknown("no rewrite only from numeric with the same scale and a lower precision; from an integer or float type (bigint -> numeric), the table is rewritten"),
            "timestamp" | "timestamptz" | "time" | "timetz" | "interval" => Change::Unknown("no rewrite from the same type at a coarser precision (and, from PostgreSQL 12 with TimeZone UTC, between timestamp and timestamptz); anything else rewrites the table"),
            "inet" => Change::Unknown("no rewrite from cidr; anything else rewrites the table"),
            "varbit" => Change::Unknown("no rewrite from a shorter varbit; anything else rewrites the table"),
            _ => Change::Rewrite("a change to this type is never binary-coercible".into()),
        };
    };
    let from_t = PgType::parse(from);
    if from_t == to_t {
        return Change::Same;
    }
    let rewrite = |why: &str| Change::Rewrite(why.to_string());
    if from_t.array != to_t.array {
        return rewrite("array and element types differ");
    }
    let (f, t) = (from_t.base.as_str(), to_t.base.as_str());
    let widened = |from_mods: &[u32], to_mods: &[u32]| match (from_mods.first(), to_mods.first()) {
        (_, None) => true,
        (Some(a), Some(b)) => b >= a,
        (None, Some(_)) => false,
    };
    match (f, t) {
        ("varchar", "varchar") | ("varbit", "varbit") => {
            if widened(&from_t.mods, &to_t.mods) {
                Change::NoRewrite
            } else {
                rewrite(
                    "the new length is shorter, so every value is checked and the table rewritten",
                )
            }
        }
        ("varchar", "text")
        | ("varchar", "citext")
        | ("text", "citext")
        | ("citext", "text")
        | ("cidr", "inet") => Change::NoRewrite,
        ("text", "varchar") | ("citext", "varchar") if to_t.mods.is_empty() => Change::NoRewrite,
        ("numeric", "numeric") => {
            let same_scale = from_t.mods.get(1).unwrap_or(&0) == to_t.mods.get(1).unwrap_or(&0);
            if to_t.mods.is_empty() || (same_scale && widened(&from_t.mods, &to_t.mods)) {
                Change::NoRewrite
            } else {
                rewrite("the precision shrinks or the scale changes")
            }
        }
        ("timestamp", "timestamp")
        | ("timestamptz", "timestamptz")
        | ("time", "time")
        | ("timetz", "timetz")
        | ("interval", "interval") => {
            let from_p = from_t.mods.first().copied().unwrap_or(6);
            if to_t.mods.first().is_none_or(|&p| p >= from_p) {
                Change::NoRewrite
            } else {
                rewrite("the precision shrinks, so every value is rounded")
            }
        }
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp") => {
            if version < 12 {
                rewrite("before PostgreSQL 12 this conversion always rewrites")
            } else {
                match utc {
                    Some(true) => Change::IndexesRebuilt,
                    Some(false) => {
                        rewrite("the session TimeZone is not UTC, so every value is converted")
                    }
                    None => Change::DependsOnTimeZone,
                }
            }
        }
        _ => Change::Rewrite(format!("{f} -> {t} is not binary-coercible")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_normalise() {
        assert_eq!(
            PgType::parse("character varying(255)"),
            PgType::parse("varchar(255)")
        );
        assert_eq!(
            PgType::parse("timestamp(3) with time zone").base,
            "timestamptz"
        );
        assert_eq!(PgType::parse("timestamp(3) with time zone").mods, [3]);
        assert_eq!(PgType::parse("numeric(10,2)").mods, [10, 2]);
        assert!(PgType::parse("text[]").array);
        assert_eq!(PgType::parse("int4"), PgType::parse("integer"));
    }

    #[test]
    fn pairs_decide() {
        let c = |from: &str, to: &str| change(Some(from), to, 15, None);
        assert_eq!(c("varchar(20)", "varchar(40)"), Change::NoRewrite);
        assert_eq!(c("varchar(20)", "text"), Change::NoRewrite);
        assert_eq!(
            c("character varying(20)", "character varying"),
            Change::NoRewrite
        );
        assert!(matches!(
            c("varchar(40)", "varchar(20)"),
            Change::Rewrite(_)
        ));
        assert!(matches!(c("bigint", "numeric"), Change::Rewrite(_)));
        assert!(matches!(c("integer", "bigint"), Change::Rewrite(_)));
        assert_eq!(c("numeric(10,2)", "numeric(12,2)"), Change::NoRewrite);
        assert!(matches!(
            c("numeric(10,2)", "numeric(12,3)"),
            Change::Rewrite(_)
        ));
        assert_eq!(c("timestamp(3)", "timestamp"), Change::NoRewrite);
        assert_eq!(c("text", "text"), Change::Same);
        assert_eq!(
            change(Some("timestamp"), "timestamptz", 15, Some(true)),
            Change::IndexesRebuilt
        );
        assert_eq!(
            change(Some("timestamp"), "timestamp with time zone", 12, None),
            Change::DependsOnTimeZone
        );
        assert!(matches!(
            change(Some("timestamp"), "timestamptz", 11, Some(true)),
            Change::Rewrite(_)
        ));
        assert!(matches!(change(None, "text", 15, None), Change::Unknown(_)));
        assert!(matches!(
            change(None, "bigint", 15, None),
            Change::Rewrite(_)
        ));
    }
}
