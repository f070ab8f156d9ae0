//! Parsing one migration file: header, directives, sections, statements, checksum.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::import::ImportMeta;
use crate::read::check_nul;
use crate::split::{group_statements, lex, Token, TokenKind};
use crate::{
    parse_file_name, parse_imported_file_name, FormatError, FormatErrorKind, Header, Layout,
    Migration, Statement,
};

/// The text the checksum covers: UTF-8 BOM removed and CRLF line ends turned into LF, so that checkouts on
/// any operating system agree.
pub fn normalise(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Lower-case hex SHA-256 of `normalised` (already passed through [`normalise`]).
pub fn checksum_hex(normalised: &str) -> String {
    let digest = Sha256::digest(normalised.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Section {
    Header,
    Up,
    Down,
    Metrics,
}

impl Section {
    fn label(self) -> &'static str {
        match self {
            Section::Header => "header",
            Section::Up => "UP",
            Section::Down => "DOWN",
            Section::Metrics => "METRICS",
        }
    }
}

/// Recognises a section marker line such as `-- ============ UP MIGRATION ============`.
pub(crate) fn section_marker(line: &str) -> Option<Section> {
    let comment = line.trim().strip_prefix("--")?;
    let words: String = comment
        .trim_matches(|c: char| c == '=' || c == '-' || c.is_whitespace())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    match words.as_str() {
        "UP MIGRATION" => Some(Section::Up),
        "DOWN MIGRATION" => Some(Section::Down),
        "MIGRATION METRICS" => Some(Section::Metrics),
        _ => None,
    }
}

/// `true` for the line that opens the metrics footer (`-- ============ MIGRATION METRICS ============`,
/// any number of `=`), as the parser recognises it: tools that rewrite the footer find it with this.
pub fn is_metrics_marker(line: &str) -> bool {
    section_marker(line) == Some(Section::Metrics)
}

/// Parses one migration file. `file_name` is the bare file name (it carries version, issue and name).
pub fn parse_file(file_name: &str, text: &str) -> Result<Migration, FormatError> {
    parse_native(file_name, file_name, text)
}

/// The value of an `-- Imported-from:` line in the header of `text`, with its line.
fn imported_from_line(text: &str) -> Option<(u32, &str)> {
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if section_marker(line).is_some() {
            return None;
        }
        let Some((key, value)) = line.strip_prefix("--").and_then(|c| c.split_once(':')) else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("imported-from") {
            return Some((u32::try_from(index + 1).unwrap_or(u32::MAX), value.trim()));
        }
    }
    None
}

/// Parses one native file shown as `shown` (its path relative to the migrations directory) whose own name
/// is `bare`. A file with an `-- Imported-from:` header keeps its UP and DOWN verbatim (no `BEGIN`/`COMMIT`
/// or `schema_migrations` stripping: they are another tool's SQL) and may carry that tool's version.
pub(crate) fn parse_native(shown: &str, bare: &str, text: &str) -> Result<Migration, FormatError> {
    let file_name = shown;
    let error = |line: u32, kind: FormatErrorKind| FormatError {
        file: file_name.to_string(),
        line,
        kind,
    };
    check_nul(shown, text)?;
    let imported = imported_from_line(text);
    let name = match imported {
        None => parse_file_name(bare),
        Some(_) => parse_imported_file_name(bare),
    }
    .map_err(|kind| error(1, kind))?;
    let text = normalise(text);
    let checksum = checksum_hex(&text);

    let mut import_meta = ImportMeta::default();
    let mut header = Header::default();
    let mut header_issue: Option<(u32, Option<String>, u32)> = None;
    let mut directives = Directives::default();
    // (section, first line, byte range) of UP and DOWN bodies.
    let mut bodies: Vec<Body> = Vec::new();
    let mut seen: Vec<(Section, u32)> = Vec::new();
    let mut current = Section::Header;
    let mut offset = 0usize;

    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        offset += raw_line.len();
        let line = raw_line.trim();
        if let Some(section) = section_marker(line) {
            if let Some(&(_, first_line)) = seen.iter().find(|(s, _)| *s == section) {
                return Err(error(
                    line_no,
                    FormatErrorKind::DuplicateSection {
                        section: section.label(),
                        first_line,
                    },
                ));
            }
            let in_order = match section {
                Section::Up => current == Section::Header,
                Section::Down => current == Section::Up,
                Section::Metrics => matches!(current, Section::Up | Section::Down),
                Section::Header => true,
            };
            if !in_order {
                let (section, after) = match section {
                    Section::Up => ("UP", "header, before DOWN and METRICS"),
                    Section::Down => ("DOWN", "UP section and before METRICS"),
                    _ => ("METRICS", "UP section"),
                };
                return Err(error(
                    line_no,
                    FormatErrorKind::SectionOrder { section, after },
                ));
            }
            seen.push((section, line_no));
            current = section;
            if matches!(section, Section::Up | Section::Down) {
                bodies.push((section, line_no + 1, offset, offset));
            }
            continue;
        }
        if let Some(body) = bodies.last_mut() {
            if body.0 == current {
                body.3 = offset;
            }
        }
        let comment = line.strip_prefix("--").map(str::trim);
        if let Some(directive) = comment.and_then(|c| c.strip_prefix("migrator:")) {
            directives
                .read(directive, line, line_no)
                .map_err(|kind| error(line_no, kind))?;
            continue;
        }
        match current {
            Section::Header => match comment {
                None if line.is_empty() => {}
                None => return Err(error(line_no, FormatErrorKind::SqlInHeader)),
                Some(comment) => {
                    if !import_meta.take(comment, line_no) {
                        parse_header_line(comment, line_no, &mut header, &mut header_issue)
                            .map_err(|kind| error(line_no, kind))?;
                    }
                }
            },
            Section::Metrics => {
                if comment.is_none() && !line.is_empty() {
                    return Err(error(line_no, FormatErrorKind::SqlInMetrics));
                }
            }
            Section::Up | Section::Down => {}
        }
    }

    if !seen.iter().any(|(s, _)| *s == Section::Up) {
        return Err(error(1, FormatErrorKind::NoUpSection));
    }
    let Directives {
        no_transaction,
        backfill,
        allows,
    } = directives;
    let issue = resolve_issue(name.issue, header_issue.as_ref()).map_err(|(l, k)| error(l, k))?;

    let verbatim = imported.is_some();
    let (up, down, tables) = section_bodies(&text, bodies, name.version, no_transaction, verbatim)
        .map_err(|(line, kind)| error(line, kind))?;
    let up = up.unwrap_or_default();
    if let Some(b) = &backfill {
        check_backfill(b, &up, no_transaction)
            .map_err(|(l, m)| error(l, FormatErrorKind::Backfill(m)))?;
    }
    let original = imported
        .map(|(line, value)| {
            header.imported_from = Some(Cow::Owned(value.to_string()));
            import_meta
                .original(value, name.version)
                .map_err(|kind| error(line, kind))
        })
        .transpose()?;
    // Another tool's UP may be comments only (a placeholder diesel ran as a no-op); a native one may not.
    if up.is_empty() && original.is_none() {
        let line = seen
            .iter()
            .find(|(s, _)| *s == Section::Up)
            .map_or(1, |s| s.1);
        return Err(error(line, FormatErrorKind::EmptyUp));
    }

    Ok(Migration {
        version: name.version,
        name: Cow::Owned(name.name),
        issue,
        title: header_issue.and_then(|(_, title, _)| title).map(Cow::Owned),
        file_name: Cow::Owned(file_name.to_string()),
        checksum: Cow::Owned(checksum),
        no_transaction,
        header,
        backfill,
        up: Cow::Owned(up),
        down: down.map(Cow::Owned),
        tables: Cow::Owned(tables.into_iter().map(Cow::Owned).collect()),
        allows: Cow::Owned(allows),
        layout: Layout::Native,
        original,
    })
}

/// The `-- migrator:` directives of a file.
#[derive(Default)]
struct Directives {
    no_transaction: bool,
    backfill: Option<crate::Backfill>,
    allows: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl Directives {
    /// Reads one directive (the comment after `migrator:`) of the file's line `line_no`, `line`.
    fn read(&mut self, directive: &str, line: &str, line_no: u32) -> Result<(), FormatErrorKind> {
        let directive = directive.trim();
        let mut parts = directive.splitn(3, char::is_whitespace);
        match parts.next() {
            Some("no-transaction") => self.no_transaction = true,
            Some("backfill") => {
                if self.backfill.is_some() {
                    return Err(FormatErrorKind::Backfill(
                        "a second backfill directive; a migration backfills one table".to_string(),
                    ));
                }
                let settings = directive["backfill".len()..].trim();
                self.backfill = Some(
                    crate::Backfill::parse_directive(settings, line_no)
                        .map_err(FormatErrorKind::Backfill)?,
                );
            }
            Some("allow") => {
                let id = parts.next().unwrap_or("").trim();
                let reason = parts.next().unwrap_or("").trim();
                if id.is_empty() || reason.is_empty() {
                    return Err(FormatErrorKind::UnknownDirective(format!(
                        "{line} (an allow needs a check id and a reason)"
                    )));
                }
                if !crate::checks::is_known_check(id) {
                    return Err(FormatErrorKind::UnknownCheck {
                        id: id.to_string(),
                        suggestion: crate::checks::closest_check(id),
                    });
                }
                self.allows
                    .push((Cow::Owned(id.to_string()), Cow::Owned(reason.to_string())));
            }
            _ => return Err(FormatErrorKind::UnknownDirective(line.to_string())),
        }
        Ok(())
    }
}

/// A backfill migration runs its one UPDATE in batches, each a transaction of its own.
fn check_backfill(
    backfill: &crate::Backfill,
    up: &[Statement],
    no_transaction: bool,
) -> Result<(), (u32, String)> {
    if no_transaction {
        return Err((
            backfill.line,
            "a backfill migration cannot also be `no-transaction`: each of its batches is a transaction of its own; remove one of the two directives".to_string(),
        ));
    }
    backfill.check_up(up)
}

/// The issue of a file: the file name's and the `-- Issue #N` header's must agree.
fn resolve_issue(
    in_name: Option<u32>,
    header: Option<&(u32, Option<String>, u32)>,
) -> Result<Option<u32>, SectionError> {
    match (in_name, header) {
        (Some(a), Some((b, _, line))) if a != *b => Err((
            *line,
            FormatErrorKind::IssueMismatch {
                in_name: a.to_string(),
                in_header: *b,
            },
        )),
        (None, Some((b, _, line))) => Err((
            *line,
            FormatErrorKind::IssueMismatch {
                in_name: "none".to_string(),
                in_header: *b,
            },
        )),
        (issue, _) => Ok(issue),
    }
}

/// A section body: which section, its first line, and its byte range in the text.
type Body = (Section, u32, usize, usize);

/// The UP and DOWN statements of the section bodies (verbatim for an imported file, stripped of the
/// native bookkeeping otherwise), and the tables they name.
fn section_bodies(
    text: &str,
    bodies: Vec<Body>,
    version: u64,
    no_transaction: bool,
    verbatim: bool,
) -> Result<SplitSections, SectionError> {
    let mut up = None;
    let mut down = None;
    let mut tables = std::collections::BTreeSet::new();
    for (section, first_line, start, end) in bodies {
        let body = &text[start..end];
        let statements = if verbatim {
            verbatim_statements(body, first_line, &mut tables)
        } else {
            section_statements(body, first_line, version, no_transaction, &mut tables)
        }?;
        match section {
            Section::Up => up = Some(statements),
            _ => down = Some(statements),
        }
    }
    Ok((up, down, tables))
}

/// UP statements, DOWN statements, and the tables they name.
type SplitSections = (
    Option<Vec<Statement>>,
    Option<Vec<Statement>>,
    std::collections::BTreeSet<String>,
);

fn parse_header_line(
    comment: &str,
    line: u32,
    header: &mut Header,
    issue: &mut Option<(u32, Option<String>, u32)>,
) -> Result<(), FormatErrorKind> {
    if let Some(rest) = strip_prefix_ci(comment, "issue #") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let number: u32 = digits
            .parse()
            .map_err(|_| FormatErrorKind::BadIssueHeader(comment.to_string()))?;
        let after = rest[digits.len()..].trim();
        let title = match after.strip_prefix(':') {
            Some(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Some(_) => None,
            None if after.is_empty() => None,
            None => return Err(FormatErrorKind::BadIssueHeader(comment.to_string())),
        };
        *issue = Some((number, title, line));
        return Ok(());
    }
    let Some((key, value)) = comment.split_once(':') else {
        return Ok(());
    };
    let value = Some(Cow::Owned(value.trim().to_string()));
    match key.trim().to_ascii_lowercase().as_str() {
        "generated" => header.generated = value,
        "author" => header.author = value,
        "estimated duration" => header.estimated_duration = value,
        "downtime required" => header.downtime_required = value,
        "reviewed-by" | "reviewed by" => header.reviewed_by = value,
        _ => {}
    }
    Ok(())
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[derive(PartialEq, Eq)]
enum Control {
    Begin,
    End,
    Other,
}

/// Transaction control a statement performs, judged from its first words.
fn transaction_control(src: &str, tokens: &[Token]) -> Option<Control> {
    let word = |i: usize| {
        tokens
            .get(i)
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| t.text(src).to_ascii_uppercase())
    };
    let first = word(0)?;
    match first.as_str() {
        "BEGIN" => Some(Control::Begin),
        "START" if word(1).as_deref() == Some("TRANSACTION") => Some(Control::Begin),
        "COMMIT" | "END" => Some(Control::End),
        "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "ABORT" => Some(Control::Other),
        _ => None,
    }
}

/// `Some(true)` for `INSERT INTO schema_migrations` / `DELETE FROM schema_migrations` (the file's own
/// bookkeeping when run standalone); `None` for statements that do not touch the history table.
fn history_write(src: &str, tokens: &[Token]) -> Option<bool> {
    let names_history = |i: usize| {
        let mut i = i;
        // Skip a schema qualifier: `public.schema_migrations`, `main.schema_migrations`.
        if tokens
            .get(i + 1)
            .is_some_and(|t| t.kind == TokenKind::Punct('.'))
        {
            i += 2;
        }
        tokens
            .get(i)
            .and_then(|t| t.ident(src))
            .is_some_and(|name| name == "schema_migrations")
    };
    let is = |i: usize, w: &str| tokens.get(i).is_some_and(|t| t.is_word(src, w));
    if (is(0, "INSERT") && is(1, "INTO") && names_history(2))
        || (is(0, "DELETE") && is(1, "FROM") && names_history(2))
    {
        return Some(true);
    }
    None
}

type SectionError = (u32, FormatErrorKind);

/// The statements of another tool's SQL (a diesel, sqlx or refinery file, or an imported section), exactly
/// as written: nothing is stripped or refused but what cannot be split. The tables they name are added to
/// `tables`.
pub(crate) fn verbatim_statements(
    body: &str,
    first_line: u32,
    tables: &mut std::collections::BTreeSet<String>,
) -> Result<Vec<Statement>, SectionError> {
    let tokens = lex(body, first_line).map_err(|e| (e.line, FormatErrorKind::Split(e.message)))?;
    let ranges =
        group_statements(body, &tokens).map_err(|e| (e.line, FormatErrorKind::Split(e.message)))?;
    let mut statements = Vec::with_capacity(ranges.len());
    for range in ranges {
        let stmt_tokens = &tokens[range];
        collect_tables(body, stmt_tokens, tables);
        statements.push(Statement {
            sql: Cow::Owned(
                body[stmt_tokens[0].start..stmt_tokens[stmt_tokens.len() - 1].end].to_string(),
            ),
            line: stmt_tokens[0].line,
        });
    }
    Ok(statements)
}

fn section_statements(
    body: &str,
    first_line: u32,
    version: u64,
    no_transaction: bool,
    tables: &mut std::collections::BTreeSet<String>,
) -> Result<Vec<Statement>, SectionError> {
    let tokens = lex(body, first_line).map_err(|e| (e.line, FormatErrorKind::Split(e.message)))?;
    let ranges =
        group_statements(body, &tokens).map_err(|e| (e.line, FormatErrorKind::Split(e.message)))?;
    let controls: Vec<Option<Control>> = ranges
        .iter()
        .map(|r| transaction_control(body, &tokens[r.clone()]))
        .collect();

    // A transactional section may wrap itself in BEGIN ... COMMIT (so it still runs standalone); the
    // runtime owns the transaction, so that pair is dropped. Anything else is transaction misuse.
    let mut skip_first = false;
    let mut skip_last = false;
    if controls.first() == Some(&Some(Control::Begin)) {
        if no_transaction {
            return Err((
                tokens[ranges[0].start].line,
                FormatErrorKind::Transaction(
                    "a `migrator:no-transaction` migration runs each statement on its own; remove its BEGIN/COMMIT"
                        .to_string(),
                ),
            ));
        }
        if ranges.len() < 2 || controls.last() != Some(&Some(Control::End)) {
            return Err((
                tokens[ranges[0].start].line,
                FormatErrorKind::Transaction(
                    "BEGIN without a matching COMMIT at the end of the section".to_string(),
                ),
            ));
        }
        skip_first = true;
        skip_last = true;
    }
    let mut statements = Vec::with_capacity(ranges.len());
    for (index, range) in ranges.iter().enumerate() {
        if (index == 0 && skip_first) || (index == ranges.len() - 1 && skip_last) {
            continue;
        }
        let stmt_tokens = &tokens[range.clone()];
        let line = stmt_tokens[0].line;
        if controls[index].is_some() {
            return Err((
                line,
                FormatErrorKind::Transaction(format!(
                    "transaction control `{}` inside the section; the runtime owns the transaction (one per migration, with its history row), so a section may only be wrapped in one BEGIN ... COMMIT pair",
                    stmt_tokens[0].text(body)
                )),
            ));
        }
        let sql = &body[stmt_tokens[0].start..stmt_tokens[stmt_tokens.len() - 1].end];
        if history_write(body, stmt_tokens).is_some() {
            if !sql.contains(&version.to_string()) {
                return Err((
                    line,
                    FormatErrorKind::HistoryStatement(format!(
                        "this schema_migrations statement does not name the file's version {version}; fix the version or remove the statement (the runtime records history itself)"
                    )),
                ));
            }
            continue;
        }
        let mut named = std::collections::BTreeSet::new();
        collect_tables(body, stmt_tokens, &mut named);
        if named.contains("schema_migrations") {
            return Err((
                line,
                FormatErrorKind::HistoryStatement(
                    "this statement writes schema_migrations; the runtime owns the history table (only the spec's INSERT/DELETE of the file's own version are allowed, and ignored when embedded)"
                        .to_string(),
                ),
            ));
        }
        tables.append(&mut named);
        statements.push(Statement {
            sql: Cow::Owned(sql.to_string()),
            line,
        });
    }
    Ok(statements)
}

/// Collects the tables a statement names: after `TABLE`, `INTO`, `UPDATE`, `DELETE FROM`, `REFERENCES`,
/// `RENAME TO`, and the `ON` of `CREATE INDEX` / `CREATE TRIGGER`. A lightweight scan for the rollback
/// dependency check; the impact analysis uses a full SQL parser.
fn collect_tables(src: &str, tokens: &[Token], out: &mut std::collections::BTreeSet<String>) {
    const SKIP: [&str; 6] = ["IF", "NOT", "EXISTS", "ONLY", "OR", "TEMP"];
    let name_at = |mut i: usize| -> Option<(String, usize)> {
        while tokens
            .get(i)
            .is_some_and(|t| SKIP.iter().any(|w| t.is_word(src, w)))
        {
            i += 1;
        }
        // `UPDATE OR REPLACE t`: skip the conflict clause word after OR.
        if i > 0 && tokens[i - 1].is_word(src, "OR") {
            i += 1;
        }
        let token = tokens.get(i)?;
        if !matches!(token.kind, TokenKind::Word | TokenKind::QuotedIdent) {
            return None;
        }
        let mut name = token.ident(src)?;
        let mut end = i + 1;
        if tokens
            .get(i + 1)
            .is_some_and(|t| t.kind == TokenKind::Punct('.'))
        {
            if let Some(last) = tokens.get(i + 2).and_then(|t| t.ident(src)) {
                name = last;
                end = i + 3;
            }
        }
        Some((name, end))
    };
    let statement_has = |w: &str| tokens.iter().any(|t| t.is_word(src, w));
    let creates_index_or_trigger = tokens
        .first()
        .is_some_and(|t| t.is_word(src, "CREATE") || t.is_word(src, "DROP"))
        && (statement_has("INDEX") || statement_has("TRIGGER"));
    let mut seen_on = false;
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            TokenKind::Punct('(') => depth += 1,
            TokenKind::Punct(')') => depth -= 1,
            _ => {}
        }
        if token.kind != TokenKind::Word {
            continue;
        }
        let word = token.text(src).to_ascii_uppercase();
        let previous_is = |w: &str| i > 0 && tokens[i - 1].is_word(src, w);
        let next_is = |w: &str| tokens.get(i + 1).is_some_and(|t| t.is_word(src, w));
        match word.as_str() {
            "TABLE" => {
                let mut at = i + 1;
                while let Some((name, end)) = name_at(at) {
                    out.insert(name);
                    if tokens
                        .get(end)
                        .is_some_and(|t| t.kind == TokenKind::Punct(','))
                        && previous_is("DROP")
                    {
                        at = end + 1;
                    } else {
                        break;
                    }
                }
            }
            "INTO" | "REFERENCES" => {
                if let Some((name, _)) = name_at(i + 1) {
                    out.insert(name);
                }
            }
            "FROM" if previous_is("DELETE") => {
                if let Some((name, _)) = name_at(i + 1) {
                    out.insert(name);
                }
            }
            "UPDATE" if !previous_is("ON") && !next_is("ON") && !next_is("OF") => {
                if let Some((name, _)) = name_at(i + 1) {
                    out.insert(name);
                }
            }
            "TO" if previous_is("RENAME") => {
                if let Some((name, _)) = name_at(i + 1) {
                    out.insert(name);
                }
            }
            "ON" if creates_index_or_trigger && !seen_on && depth == 0 => {
                seen_on = true;
                if let Some((name, _)) = name_at(i + 1) {
                    out.insert(name);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_LIKE: &str = "-- migrations/20240115143022_issue_234_contact_enrichment.sql\r\n-- Issue #234: Advanced Contact Enrichment\r\n-- Generated: 2024-01-15 14:30:22\r\n-- Author: /migrate command\r\n-- Estimated Duration: 45 seconds\r\n-- Downtime Required: No (online migration)\r\n\r\n-- ============ UP MIGRATION ============\r\nBEGIN;\r\nCREATE TABLE contact_enrichment (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE ON UPDATE CASCADE);\r\nCREATE INDEX idx_e ON contact_enrichment(contact_id);\r\nALTER TABLE contacts ADD COLUMN enrichment_status TEXT DEFAULT 'pending';\r\nUPDATE contacts SET enrichment_status = 'pending' WHERE enrichment_status IS NULL;\r\nINSERT INTO schema_migrations (version, name, issue_number, applied_at)\r\nVALUES ('20240115143022', 'contact_enrichment', 234, CURRENT_TIMESTAMP);\r\nCOMMIT;\r\n\r\n-- ============ DOWN MIGRATION ============\r\nBEGIN;\r\nDELETE FROM schema_migrations WHERE version = '20240115143022';\r\nDROP TABLE IF EXISTS contact_enrichment;\r\nCOMMIT;\r\n\r\n-- ============ MIGRATION METRICS ============\r\n-- Tables affected: 2\r\n";

    #[test]
    fn parses_the_spec_layout_and_strips_bookkeeping() {
        let m = parse_file("20240115143022_issue_234_contact_enrichment.sql", SPEC_LIKE).unwrap();
        assert_eq!(m.issue, Some(234));
        assert_eq!(m.title.as_deref(), Some("Advanced Contact Enrichment"));
        assert_eq!(m.header.estimated_duration.as_deref(), Some("45 seconds"));
        assert_eq!(m.up.len(), 4, "{:?}", m.up);
        assert!(m.up[0].sql.starts_with("CREATE TABLE contact_enrichment"));
        assert_eq!(m.up[0].line, 10);
        let down = m.down.as_ref().unwrap();
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].sql, "DROP TABLE IF EXISTS contact_enrichment");
        assert_eq!(
            m.tables.iter().map(|t| t.as_ref()).collect::<Vec<_>>(),
            ["contact_enrichment", "contacts"]
        );
        // CRLF and LF checkouts agree, and so does a BOM.
        let lf = SPEC_LIKE.replace("\r\n", "\n");
        let m2 = parse_file(
            "20240115143022_issue_234_contact_enrichment.sql",
            &format!("\u{feff}{lf}"),
        )
        .unwrap();
        assert_eq!(m.checksum, m2.checksum);
        assert_eq!(m.checksum.len(), 64);
    }

    fn err(name: &str, text: &str) -> FormatError {
        parse_file(name, text).unwrap_err()
    }

    #[test]
    fn malformed_files_name_the_line() {
        let n = "20240101000000_issue_1_x.sql";
        let e = err(n, "-- Issue #1: x\nCREATE TABLE a(x);\n");
        assert_eq!((e.line, e.kind), (2, FormatErrorKind::SqlInHeader));
        let e = err(n, "-- nothing here\n");
        assert_eq!(e.kind, FormatErrorKind::NoUpSection);
        let e = err(n, "-- == UP MIGRATION ==\nSELECT 1;\n-- == DOWN MIGRATION ==\nSELECT 2;\n-- == DOWN MIGRATION ==\nSELECT 3;\n");
        assert_eq!(e.line, 5);
        assert!(matches!(
            e.kind,
            FormatErrorKind::DuplicateSection {
                section: "DOWN",
                first_line: 3
            }
        ));
        let e = err(n, "-- Issue #2: other\n-- == UP MIGRATION ==\nSELECT 1;\n");
        assert_eq!(e.line, 1);
        assert!(e
            .to_string()
            .contains("file name says issue 1 but the header says issue #2"));
        let e = err(n, "-- == UP MIGRATION ==\nBEGIN;\nSELECT 1;\n");
        assert_eq!(e.line, 2);
        let e = err(n, "-- == UP MIGRATION ==\nSELECT 1;\nCOMMIT;\n");
        assert_eq!(e.line, 3);
        let e = err(n, "-- == UP MIGRATION ==\nSELECT 'x;\n");
        assert_eq!(e.line, 2);
        let e = err(
            n,
            "-- == UP MIGRATION ==\n-- migrator:no-transactoin\nSELECT 1;\n",
        );
        assert!(matches!(e.kind, FormatErrorKind::UnknownDirective(_)));
        let e = err(
            n,
            "-- == UP MIGRATION ==\nINSERT INTO schema_migrations VALUES ('20990101000000');\n",
        );
        assert!(matches!(e.kind, FormatErrorKind::HistoryStatement(_)));
        let e = err(
            n,
            "-- == UP MIGRATION ==\nUPDATE schema_migrations SET status = 'x';\n",
        );
        assert!(matches!(e.kind, FormatErrorKind::HistoryStatement(_)));
        let e = err(n, "-- == UP MIGRATION ==\n-- only a comment\n");
        assert_eq!(e.kind, FormatErrorKind::EmptyUp);
        let e = err("bad.sql", "");
        assert!(matches!(e.kind, FormatErrorKind::BadFileName(_)));
        let e = err(
            n,
            "-- == UP MIGRATION ==\nSELECT 1;\n-- == MIGRATION METRICS ==\nSELECT 2;\n",
        );
        assert_eq!((e.line, e.kind), (4, FormatErrorKind::SqlInMetrics));
    }

    #[test]
    fn directives_and_review_mark() {
        let m = parse_file(
            "20240101000000_concurrent.sql",
            "-- Reviewed-by: Ada\n-- migrator:no-transaction\n-- == UP MIGRATION ==\n-- migrator:allow pg-index-not-concurrent table is tiny\nCREATE INDEX CONCURRENTLY i ON t(x);\n-- == DOWN MIGRATION ==\n",
        )
        .unwrap();
        assert!(m.no_transaction);
        assert_eq!(m.issue, None);
        assert_eq!(m.header.reviewed_by.as_deref(), Some("Ada"));
        assert_eq!(m.allows[0].0, "pg-index-not-concurrent");
        let e = parse_file(
            "20240101000000_typo.sql",
            "-- == UP MIGRATION ==\n-- migrator:allow pg-index-not-concurent tiny\nCREATE INDEX i ON t(x);\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "20240101000000_typo.sql:2: `-- migrator:allow pg-index-not-concurent`: unknown check id \"pg-index-not-concurent\" (did you mean \"pg-index-not-concurrent\"?); the known ids are listed by `migrator-tool lint --help` and in migrator/analyse/README.md"
        );
        assert!(!m.has_down());
    }

    #[test]
    fn a_backfill_directive_is_read_and_checked_with_its_line() {
        let n = "20240301000000_issue_17_verify.sql";
        let m = parse_file(
            n,
            "-- Issue #17: verify\n-- migrator:backfill table=users key=id batch=500 pause=10ms\n-- == UP MIGRATION ==\nUPDATE users SET verified = true WHERE verified IS NULL;\n-- == DOWN MIGRATION ==\n",
        )
        .unwrap();
        let b = m.backfill.as_ref().unwrap();
        assert_eq!(
            (b.table.as_ref(), b.key.as_ref(), b.batch, b.line),
            ("users", "id", 500, 2)
        );
        assert!(
            parse_file(n, "-- == UP MIGRATION ==\nUPDATE users SET n = 1;\n")
                .unwrap()
                .backfill
                .is_none()
        );
        for (text, line, says) in [
            ("-- migrator:backfill table=users\n-- == UP MIGRATION ==\nUPDATE users SET n = 1;\n", 1, "needs key="),
            ("-- migrator:backfill table=users key=id\n-- migrator:backfill table=users key=id\n-- == UP MIGRATION ==\nUPDATE users SET n = 1;\n", 2, "second backfill"),
            ("-- migrator:backfill table=users key=id\n-- == UP MIGRATION ==\nUPDATE users SET n = 1;\nUPDATE users SET m = 2;\n", 4, "exactly one UPDATE"),
            ("-- migrator:backfill table=users key=id\n-- == UP MIGRATION ==\n\nDELETE FROM users;\n", 4, "starts with `DELETE`"),
            ("-- migrator:backfill table=users key=id\n-- migrator:no-transaction\n-- == UP MIGRATION ==\nUPDATE users SET n = 1;\n", 1, "cannot also be `no-transaction`"),
        ] {
            let e = err(n, text);
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
        // The directive is part of the checksum: changing the batch size is a new migration text.
        let a = parse_file(n, "-- migrator:backfill table=t key=id batch=1\n-- == UP MIGRATION ==\nUPDATE t SET n = 1;\n").unwrap();
        let b = parse_file(n, "-- migrator:backfill table=t key=id batch=2\n-- == UP MIGRATION ==\nUPDATE t SET n = 1;\n").unwrap();
        assert_ne!(a.checksum, b.checksum);
    }

    #[test]
    fn trigger_tables_and_on_update_clauses() {
        let m = parse_file(
            "20240101000000_t.sql",
            "-- == UP MIGRATION ==\nCREATE TRIGGER trg AFTER UPDATE OF name ON contacts BEGIN UPDATE audit SET n = n + 1; END;\nCREATE TABLE x (a INT REFERENCES y(id) ON UPDATE CASCADE);\nDROP TABLE p, q;\n",
        )
        .unwrap();
        let tables: Vec<&str> = m.tables.iter().map(|t| t.as_ref()).collect();
        assert_eq!(tables, ["audit", "contacts", "p", "q", "x", "y"]);
    }
}

#[cfg(test)]
mod spec_example {
    use super::*;

    /// The spec's example file, byte for byte (PostgreSQL dialect, with its own BEGIN/COMMIT and history
    /// INSERT/DELETE), parses; the bookkeeping is stripped and the statements keep their lines.
    #[test]
    fn the_spec_example_file_parses_as_is() {
        let text = include_str!("../../tool/tests/fixtures/spec-example-234.sql");
        let m = parse_file("20240115143022_issue_234_contact_enrichment.sql", text).unwrap();
        assert_eq!(m.issue, Some(234));
        assert_eq!(
            m.header.downtime_required.as_deref(),
            Some("No (online migration)")
        );
        let first: Vec<&str> =
            m.up.iter()
                .map(|s| s.sql.split_whitespace().next().unwrap_or(""))
                .collect();
        assert_eq!(
            first,
            ["CREATE", "CREATE", "CREATE", "CREATE", "ALTER", "CREATE", "ALTER", "UPDATE"]
        );
        assert!(m.up.iter().all(|s| !s.sql.contains("schema_migrations")));
        assert_eq!(m.down.as_ref().map(|d| d.len()), Some(2));
        assert_eq!(m.up[0].line, 12);
        assert_eq!(
            m.tables.iter().map(|t| t.as_ref()).collect::<Vec<_>>(),
            ["contact_enrichment", "contacts"]
        );
    }
}
