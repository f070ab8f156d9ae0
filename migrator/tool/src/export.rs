//! Loading issue exports: `gh issue view --json ...` objects, REST API issue objects, arrays of either,
//! and directories of `.json` files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ExportError;

/// Largest issue body (or comment) read, in bytes. GitHub itself caps a body at 65,536 characters; 1 MiB
/// leaves room for exports from other trackers while keeping a hostile 5 MB body out.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest export file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One comment of an issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Login of the author, when the export has it.
    pub author: Option<String>,
    /// Markdown body.
    pub body: String,
}

/// An issue as read from an export or the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Issue number.
    pub number: u32,
    /// Title.
    pub title: String,
    /// Web address (`url` of gh, `html_url` of the REST API).
    pub url: Option<String>,
    /// Markdown body (empty when the export has `null`).
    pub body: String,
    /// Comments (the REST issue object only counts them; they are then empty).
    pub comments: Vec<Comment>,
    /// Where the issue was read from (a file path, or `api`).
    pub source: String,
}

/// Parses the text of one export file: an issue object or an array of them.
pub fn parse_export(source: &str, text: &str) -> Result<Vec<Issue>, ExportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ExportError::Json {
        file: source.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(n, item)| issue_from_value(source, &format!("[{n}]"), item))
            .collect(),
        other => Ok(vec![issue_from_value(source, "", &other)?]),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads one issue object (gh or REST shape).
pub fn issue_from_value(source: &str, at: &str, value: &Value) -> Result<Issue, ExportError> {
    let wrong = |field: &str, expected: &'static str, found: &Value| ExportError::FieldType {
        file: source.to_string(),
        field: format!("{at}{}{field}", if at.is_empty() { "" } else { "." }),
        expected,
        found: kind_of(found),
    };
    let Value::Object(map) = value else {
        return Err(wrong("(issue)", "an issue object", value));
    };
    let missing = |field: &str| ExportError::MissingField {
        file: source.to_string(),
        field: format!("{at}{}{field}", if at.is_empty() { "" } else { "." }),
    };
    let number = match map.get("number") {
        None => return Err(missing("number")),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| wrong("number", "a positive whole number", v))?,
    };
    let title = match map.get("title") {
        None => return Err(missing("title")),
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(wrong("title", "a string", v)),
    };
    let url = match map.get("html_url").or_else(|| map.get("url")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(wrong("url", "a string", v)),
    };
    let body = match map.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(wrong("body", "a string", v)),
    };
    check_size(source, number, "body", &body)?;
    let comments = match map.get("comments") {
        None | Some(Value::Null) | Some(Value::Number(_)) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (n, item) in items.iter().enumerate() {
                let field = format!("comments[{n}]");
                let Value::Object(c) = item else {
                    return Err(wrong(&field, "an object", item));
                };
                let body = match c.get("body") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => String::new(),
                    Some(v) => return Err(wrong(&format!("{field}.body"), "a string", v)),
                };
                check_size(source, number, &field, &body)?;
                let author = c
                    .get("author")
                    .or_else(|| c.get("user"))
                    .and_then(|a| a.get("login"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                out.push(Comment { author, body });
            }
            out
        }
        Some(v) => return Err(wrong("comments", "an array of comments or a count", v)),
    };
    Ok(Issue {
        number,
        title,
        url,
        body,
        comments,
        source: source.to_string(),
    })
}

fn check_size(source: &str, number: u32, part: &str, text: &str) -> Result<(), ExportError> {
    if text.len() > MAX_BODY_BYTES {
        return Err(ExportError::TooLarge {
            file: source.to_string(),
            issue: number,
            part: part.to_string(),
            bytes: text.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(())
}

/// Loads every issue of `path`: a `.json` file, or a directory whose `.json` files are read in name order.
pub fn load_path(path: &Path) -> Result<Vec<Issue>, ExportError> {
    let meta = std::fs::metadata(path).map_err(|e| ExportError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| ExportError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ExportError::EmptyDir(path.to_path_buf()));
        }
        let mut out = Vec::new();
        for file in files {
            out.extend(load_file(&file)?);
        }
        Ok(out)
    } else {
        load_file(path)
    }
}

fn load_file(path: &Path) -> Result<Vec<Issue>, ExportError> {
    let io = |e: std::io::Error| ExportError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(ExportError::FileTooLarge {
            path: path.to_path_buf(),
            bytes: len,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|_| ExportError::Io {
        path: path.to_path_buf(),
        message: "not UTF-8 text".to_string(),
    })?;
    tracing::debug!(path = %path.display(), "reading issue export");
    parse_export(&path.display().to_string(), &text)
}

/// Picks issue `number` (or the only issue) from `issues`. Two exports of the same issue must agree on
/// title and body.
pub fn select(issues: Vec<Issue>, number: Option<u32>) -> Result<Issue, ExportError> {
    let mut matching: Vec<Issue> = match number {
        Some(n) => issues.into_iter().filter(|i| i.number == n).collect(),
        None => issues,
    };
    match number {
        None => {
            let mut numbers: Vec<u32> = matching.iter().map(|i| i.number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            if numbers.len() > 1 {
                return Err(ExportError::Ambiguous(numbers));
            }
        }
        Some(n) if matching.is_empty() => return Err(ExportError::NotFound(n)),
        Some(_) => {}
    }
    if matching.is_empty() {
        return Err(ExportError::NoIssues);
    }
    let first = matching.remove(0);
    for other in &matching {
        if other.title != first.title || other.body != first.body {
            return Err(ExportError::Conflict {
                issue: first.number,
                first: first.source.clone(),
                second: other.source.clone(),
            });
        }
    }
    // Prefer an export with comments (gh) over one that only counts them (REST).
    Ok(matching
        .into_iter()
        .find(|o| o.comments.len() > first.comments.len())
        .unwrap_or(first))
}
