//! Markdown structure: fences, headings, bullets, and the headings or lines that name a table.

use crate::ident::Ident;

pub(crate) fn fence_open(raw: &str) -> Option<(String, String)> {
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

pub(crate) fn fence_close(raw: &str, fence: &str) -> bool {
    let t = raw.trim();
    let ch = fence.chars().next().unwrap_or('`');
    t.len() >= fence.len() && t.chars().all(|c| c == ch)
}

pub(crate) fn heading(line: &str) -> Option<(usize, &str)> {
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

pub(crate) fn is_indexes_label(line: &str) -> bool {
    let t = line
        .trim_matches(|c: char| c == '*' || c == '_' || c == ':' || c.is_whitespace())
        .to_ascii_lowercase();
    matches!(
        t.as_str(),
        "indexes" | "indices" | "index" | "new indexes" | "indexes to add" | "index changes"
    )
}

/// Recognises a heading that names a table: `New table `x``, `Changes to `contacts``, `Table: x`,
/// `` `x` table ``, `Alter x`. Returns the name (or why it is refused) and whether the table is new.
pub(crate) fn table_heading(title: &str) -> Option<(Result<Ident, String>, bool)> {
    let lower = title.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty())
        .collect();
    let bare: Vec<&str> = words
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    let new = bare
        .iter()
        .any(|w| matches!(*w, "new" | "create" | "creating"))
        || (bare.iter().any(|w| matches!(*w, "add" | "adding"))
            && bare.contains(&"table")
            && !bare
                .iter()
                .any(|w| matches!(*w, "to" | "column" | "columns")));
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

pub(crate) fn bullet(line: &str) -> Option<&str> {
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

/// A line that introduces a table without being a heading: `**contact_tags** (new)`,
/// `**New table: contact_tags**`, `New table `x`:`, `` `contacts` table: ``, `Table x (new)`. The caller
/// checks that a column table or a list follows.
pub(crate) fn table_intro(line: &str) -> Option<(Result<Ident, String>, bool)> {
    let t = line.trim();
    if let Some(rest) = t.strip_prefix("**") {
        let end = rest.find("**")?;
        let inner = rest[..end].trim().trim_end_matches(':').trim();
        let after = rest[end + 2..]
            .trim()
            .trim_start_matches(':')
            .trim()
            .to_ascii_lowercase();
        let after_ok = matches!(
            after.as_str(),
            "" | "(new)"
                | "(new table)"
                | "table"
                | "(table)"
                | "(changed)"
                | "(changes)"
                | "(existing)"
                | "(existing table)"
                | "(modified)"
                | "— new"
                | "- new"
                | "new"
        );
        let bare = inner.trim_matches('`');
        if after_ok && Ident::parse(bare).is_ok() && !bare.contains(' ') {
            return Some((Ident::parse(bare), after.contains("new")));
        }
        return table_heading(&format!("{inner} {after}"));
    }
    let words = t.split_whitespace().count();
    if words > 6 || !(t.ends_with(':') || t.to_ascii_lowercase().contains("(new)")) {
        return None;
    }
    let (found, new) = table_heading(t.trim_end_matches(':'))?;
    Some((found, new || t.to_ascii_lowercase().contains("(new")))
}

/// The text of a fenced block looks like SQL (for fences without an info string).
pub(crate) fn looks_like_sql(body: &str) -> bool {
    let first = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or("")
        .to_ascii_uppercase();
    [
        "CREATE ", "ALTER ", "DROP ", "UPDATE ", "INSERT ", "DELETE ",
    ]
    .iter()
    .any(|w| first.starts_with(w))
}

/// `~~struck through~~` in full: a retracted line.
pub(crate) fn struck(text: &str) -> bool {
    let t = text.trim();
    t.len() > 4 && t.starts_with("~~") && t.ends_with("~~")
}
