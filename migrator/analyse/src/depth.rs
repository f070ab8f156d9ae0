//! A bound on how deep a statement's syntax tree can be, read from its tokens before the parser sees it.
//!
//! sqlparser limits its own recursion (50 levels of nested sub-expressions), but it reads a chain of binary
//! operators (`1 + 1 + ... + 1`) in a loop and builds a left-deep tree as deep as the chain is long. Every
//! recursive walk of that tree (its `Display`, its `Drop`, the analyser's own) then recurses once per term:
//! a 60 KB statement of 30,000 terms overflowed the stack. So the analyser refuses, as "too deeply
//! nested", any statement whose operator chains could build a tree deeper than [`MAX_DEPTH`].
//!
//! The bound: along every path of open parentheses, the operators met since the last `,` or `;` at each
//! level, plus one per level. Each operator, keyword operator or postfix adds at most a few tree levels,
//! and a comma starts a sibling, not a child. The bound is conservative (it may count a keyword that is
//! not an operator) and linear in the number of tokens.

/// The deepest operator nesting analysed. Real migrations stay far below (the deepest statement of the
/// registry corpora measures under 100); the analyser's walks at this depth fit in a 2 MiB thread stack,
/// which a test holds it to.
pub(crate) const MAX_DEPTH: usize = 1000;

/// Words that act as operators between or after expressions.
const KEYWORD_OPERATORS: &[&str] = &[
    "AND", "OR", "NOT", "IS", "IN", "LIKE", "ILIKE", "SIMILAR", "BETWEEN", "COLLATE", "AT",
    "ESCAPE", "OVERLAPS", "GLOB", "REGEXP", "MATCH", "ISNULL", "NOTNULL",
];

/// `Some(reason)` when the statement's words (see `migrator_format::statement_words`) may nest deeper
/// than [`MAX_DEPTH`].
pub(crate) fn too_deep(words: &[&str]) -> Option<String> {
    // Per open level: operators since the last comma. `path` is their sum plus one per level.
    let mut levels: Vec<usize> = vec![0];
    let mut path = 1usize;
    let mut deepest = 0usize;
    for word in words {
        match *word {
            "(" | "[" => {
                levels.push(0);
                path += 1;
            }
            ")" | "]" if levels.len() > 1 => {
                path -= levels.pop().unwrap_or(0) + 1;
            }
            "," | ";" => {
                if let Some(top) = levels.last_mut() {
                    path -= *top;
                    *top = 0;
                }
            }
            w if is_operator(w) => {
                if let Some(top) = levels.last_mut() {
                    *top += 1;
                    path += 1;
                }
            }
            _ => {}
        }
        deepest = deepest.max(path);
        if deepest > MAX_DEPTH {
            return Some(format!(
                "too deeply nested: an expression chains or nests more than {MAX_DEPTH} operators, more than the analyser reads (split the expression, or review the statement by hand)"
            ));
        }
    }
    None
}

fn is_operator(word: &str) -> bool {
    let first = word.chars().next().unwrap_or(' ');
    let punct = !first.is_ascii_alphanumeric()
        && !matches!(first, '_' | '\'' | '"' | '$' | '`')
        && first.is_ascii();
    punct || KEYWORD_OPERATORS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str) -> Vec<String> {
        migrator_format::statement_words(sql).unwrap()
    }

    fn deep(sql: &str) -> bool {
        let w = words(sql);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        too_deep(&w).is_some()
    }

    #[test]
    fn long_chains_are_deep_wide_lists_are_not() {
        let chain = vec!["1"; 2000].join(" + ");
        assert!(deep(&format!("SELECT {chain}")));
        let nested = format!("SELECT {}1{}", "(".repeat(1100), ")".repeat(1100));
        assert!(deep(&nested));
        let list = vec!["(1 + 1)"; 20_000].join(", ");
        assert!(!deep(&format!("INSERT INTO t VALUES {list}")));
        let ands = vec!["a = 1"; 400].join(" AND ");
        assert!(!deep(&format!("UPDATE t SET b = 2 WHERE {ands}")));
    }
}
