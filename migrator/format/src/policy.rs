//! The safety policy file, `migration_safety.yaml`, in the spec's schema:
//!
//! ```yaml
//! migration_safety:
//!   require_review:        # statement kinds that need a `-- Reviewed-by:` mark in the file
//!     - DROP TABLE
//!     - DROP COLUMN
//!     - ALTER TYPE
//!   require_backup:        # [all] / true: a checked backup before a boot applies anything; [] / none / false: none
//!     - all
//!   max_lock_duration: "5s"    # 500ms, 5s, 2m, 1h
//!   max_rows_affected: 1000000 # an integer, or null / none for no limit
//!   require_test_run: true     # rehearse the pending migrations on a scratch copy first
//!   # not in the spec, all optional:
//!   history_until: 20240527120000   # migrations up to this version are history, reviewed in their time
//!   reviewed:                       # review marks kept out of the files (so no checksum changes)
//!     20240601000000: alice
//!   history_table: schema_migrations  # migrator's history table (when the app has one of that name)
//! ```
//!
//! An absent or empty file, a missing key, or `migration_safety:` without a value mean the spec's values
//! (the ones above). Unknown keys, wrong types and bad values are errors naming the file, the line and the
//! key. The parser lives here so that the `embed_policy!` proc-macro (at compile time), the runtime and the
//! companion tool (at run time) read a policy file the same way.
//!
//! YAML is read with `saphyr` (YAML 1.2: `yes`/`no`/`on` are strings, not booleans; duplicate keys are
//! errors), whose nodes carry their positions.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// The policy file's conventional name.
pub const POLICY_FILE: &str = "migration_safety.yaml";

/// The keys under `migration_safety:`: the spec's five, then migrator's own.
pub const KNOWN_KEYS: [&str; 8] = [
    "require_review",
    "require_backup",
    "max_lock_duration",
    "max_rows_affected",
    "require_test_run",
    "history_until",
    "reviewed",
    "history_table",
];

/// The spec's `require_review` kinds.
pub const SPEC_REQUIRE_REVIEW: [&str; 3] = ["DROP TABLE", "DROP COLUMN", "ALTER TYPE"];

/// The spec's `max_lock_duration`.
pub const SPEC_MAX_LOCK_DURATION: Duration = Duration::from_secs(5);

/// The spec's `max_rows_affected`.
pub const SPEC_MAX_ROWS_AFFECTED: u64 = 1_000_000;

/// A safety policy: what `migration_safety.yaml` says, with the spec's values for what it leaves out.
///
/// The fields are `Cow<'static, _>` so `embed_policy!` can bake a policy into the binary as static data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Statement kinds (word sequences such as `DROP TABLE` or `TRUNCATE`, upper case, single spaces) that
    /// a pending migration may only hold when its file carries a `-- Reviewed-by:` mark.
    pub require_review: Cow<'static, [Cow<'static, str>]>,
    /// Take a checked backup before a boot applies anything.
    pub require_backup: bool,
    /// How long one migration may wait for a lock (`max_lock_duration`).
    pub max_lock_duration: Duration,
    /// An UPDATE or DELETE estimated to touch more rows than this is refused; `None`: no limit.
    pub max_rows_affected: Option<u64>,
    /// Rehearse the pending migrations on a scratch copy before touching the real database.
    pub require_test_run: bool,
    /// Migrations up to this version are history (reviewed in their time, applied elsewhere for years): the
    /// review gate, the row limit and the rehearsal of DOWNs leave them out. Imported migrations are history
    /// whatever this says.
    pub history_until: Option<u64>,
    /// Review marks kept out of the migration files, so that adding one changes no checksum: `(version,
    /// reviewer)`.
    pub reviewed: Cow<'static, [(u64, Cow<'static, str>)]>,
    /// The name of migrator's history table (`schema_migrations`); its log is `<name>_log`.
    pub history_table: Cow<'static, str>,
}

const SPEC_REVIEW_KINDS: [Cow<'static, str>; 3] = [
    Cow::Borrowed(SPEC_REQUIRE_REVIEW[0]),
    Cow::Borrowed(SPEC_REQUIRE_REVIEW[1]),
    Cow::Borrowed(SPEC_REQUIRE_REVIEW[2]),
];

impl Policy {
    /// The spec's policy: the values the spec's example file holds.
    pub const SPEC: Policy = Policy {
        require_review: Cow::Borrowed(&SPEC_REVIEW_KINDS),
        require_backup: true,
        max_lock_duration: SPEC_MAX_LOCK_DURATION,
        max_rows_affected: Some(SPEC_MAX_ROWS_AFFECTED),
        require_test_run: true,
        history_until: None,
        reviewed: Cow::Borrowed(&[]),
        history_table: Cow::Borrowed("schema_migrations"),
    };

    /// Parses the text of a policy file; `origin` names it in errors (`migration_safety.yaml:4: ...`).
    pub fn from_str(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        Reader { origin }.policy(text)
    }

    /// Reads and parses a policy file. A missing file is an error (use [`Policy::from_path_or_spec`] for
    /// the spec's defaults when the file is absent).
    pub fn from_path(path: &Path) -> Result<Policy, PolicyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            file: origin.clone(),
            message: e.to_string(),
        })?;
        Policy::from_str(&text, &origin)
    }

    /// Like [`Policy::from_path`], but an absent file means the spec's policy.
    pub fn from_path_or_spec(path: &Path) -> Result<Policy, PolicyError> {
        match path.try_exists() {
            Ok(false) => Ok(Policy::SPEC),
            _ => Policy::from_path(path),
        }
    }

    /// The review kinds as plain strings.
    pub fn review_kinds(&self) -> impl Iterator<Item = &str> {
        self.require_review.iter().map(|k| k.as_ref())
    }

    /// The reviewer the policy file names for `version`, when it does.
    pub fn reviewer_of(&self, version: u64) -> Option<&str> {
        self.reviewed
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, r)| r.as_ref())
    }
}

impl Default for Policy {
    /// The spec's policy.
    fn default() -> Self {
        Policy::SPEC
    }
}

/// A policy file that cannot be used, located by file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("{file}: cannot read the policy file: {message}")]
    Read {
        /// The file.
        file: String,
        /// The system's message.
        message: String,
    },
    /// The text is not valid YAML.
    #[error("{file}:{line}: not valid YAML: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The YAML parser's message.
        message: String,
    },
    /// A key that is unknown, or whose value is of the wrong type or out of range.
    #[error("{file}:{line}: {key}: {message}")]
    Key {
        /// The file.
        file: String,
        /// 1-based line of the key or of the offending value.
        line: usize,
        /// The key, e.g. `max_lock_duration`.
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

impl PolicyError {
    /// The 1-based line the error is on, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Read { .. } => None,
            PolicyError::Syntax { line, .. } | PolicyError::Key { line, .. } => Some(*line),
        }
    }
}

/// Walks the YAML tree of one file.
struct Reader<'o> {
    origin: &'o str,
}

impl Reader<'_> {
    fn error(&self, node: &MarkedYaml<'_>, key: &str, message: String) -> PolicyError {
        PolicyError::Key {
            file: self.origin.to_string(),
            line: node.span.start.line(),
            key: key.to_string(),
            message,
        }
    }

    fn policy(&self, text: &str) -> Result<Policy, PolicyError> {
        let documents = MarkedYaml::load_from_str(text).map_err(|e| PolicyError::Syntax {
            file: self.origin.to_string(),
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        let root = match documents.as_slice() {
            [] => return Ok(Policy::SPEC),
            [root] => root,
            [_, second, ..] => {
                return Err(self.error(
                    second,
                    "(document)",
                    "a policy file holds one YAML document".to_string(),
                ))
            }
        };
        let top = match &root.data {
            YamlData::Value(Scalar::Null) => return Ok(Policy::SPEC),
            YamlData::Mapping(map) => map,
            _ => {
                return Err(self.error(
                    root,
                    "(top level)",
                    format!(
                        "expected the key `migration_safety:`, found {}",
                        describe(root)
                    ),
                ))
            }
        };
        let mut policy = Policy::SPEC;
        for (key, value) in top {
            match key_name(key) {
                Some("migration_safety") => policy = self.section(value)?,
                _ => {
                    return Err(self.error(
                        key,
                        &key_label(key),
                        "unknown top-level key; a policy file holds `migration_safety:` only"
                            .to_string(),
                    ))
                }
            }
        }
        Ok(policy)
    }

    fn section(&self, node: &MarkedYaml<'_>) -> Result<Policy, PolicyError> {
        let map = match &node.data {
            YamlData::Value(Scalar::Null) => return Ok(Policy::SPEC),
            YamlData::Mapping(map) => map,
            _ => {
                return Err(self.error(
                    node,
                    "migration_safety",
                    format!(
                        "expected a mapping of {}, found {}",
                        KNOWN_KEYS.join(", "),
                        describe(node)
                    ),
                ))
            }
        };
        let mut policy = Policy::SPEC;
        for (key, value) in map {
            let name = key_name(key).unwrap_or_default();
            match name {
                "require_review" => policy.require_review = self.review(value)?.into(),
                "require_backup" => policy.require_backup = self.backup(value)?,
                "max_lock_duration" => policy.max_lock_duration = self.duration(name, value)?,
                "max_rows_affected" => policy.max_rows_affected = self.row_limit(value)?,
                "require_test_run" => policy.require_test_run = self.boolean(name, value)?,
                "history_until" => policy.history_until = Some(self.version(name, value)?),
                "reviewed" => policy.reviewed = self.reviewed(value)?.into(),
                "history_table" => policy.history_table = self.table_name(value)?.into(),
                _ => {
                    return Err(self.error(
                        key,
                        &key_label(key),
                        format!("unknown key; the known keys are {}", KNOWN_KEYS.join(", ")),
                    ))
                }
            }
        }
        Ok(policy)
    }

    fn version(&self, key: &str, node: &MarkedYaml<'_>) -> Result<u64, PolicyError> {
        match &node.data {
            YamlData::Value(Scalar::Integer(n)) if *n >= 0 => Ok(*n as u64),
            YamlData::Value(Scalar::String(s))
                if s.chars().all(|c| c.is_ascii_digit() || c == '-') && !s.is_empty() =>
            {
                s.replace('-', "")
                    .parse()
                    .map_err(|_| self.error(node, key, format!("{s} is not a version")))
            }
            _ => Err(self.error(
                node,
                key,
                format!(
                    "expected a migration version such as 20240527120000, found {}",
                    describe(node)
                ),
            )),
        }
    }

    fn reviewed(
        &self,
        node: &MarkedYaml<'_>,
    ) -> Result<Vec<(u64, Cow<'static, str>)>, PolicyError> {
        const KEY: &str = "reviewed";
        let YamlData::Mapping(map) = &node.data else {
            return Err(self.error(
                node,
                KEY,
                format!(
                    "expected a mapping of versions to reviewers (20240601000000: alice), found {}",
                    describe(node)
                ),
            ));
        };
        let mut marks = Vec::new();
        for (version, reviewer) in map {
            let version = self.version(KEY, version)?;
            let name = match &reviewer.data {
                YamlData::Value(Scalar::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                _ => {
                    return Err(self.error(
                        reviewer,
                        KEY,
                        format!("expected the reviewer's name, found {}", describe(reviewer)),
                    ))
                }
            };
            marks.push((version, Cow::Owned(name)));
        }
        Ok(marks)
    }

    fn table_name(&self, node: &MarkedYaml<'_>) -> Result<String, PolicyError> {
        const KEY: &str = "history_table";
        match &node.data {
            YamlData::Value(Scalar::String(s))
                if !s.is_empty()
                    && s.len() <= 58
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Ok(s.to_string())
            }
            _ => Err(self.error(
                node,
                KEY,
                format!(
                    "expected a table name of letters, digits and underscores, found {}",
                    describe(node)
                ),
            )),
        }
    }

    fn review(&self, node: &MarkedYaml<'_>) -> Result<Vec<Cow<'static, str>>, PolicyError> {
        const KEY: &str = "require_review";
        let YamlData::Sequence(entries) = &node.data else {
            return Err(self.error(
                node,
                KEY,
                format!(
                    "expected a list of statement kinds (such as [DROP TABLE, DROP COLUMN, ALTER TYPE], or [] for none), found {}",
                    describe(node)
                ),
            ));
        };
        let mut kinds: Vec<Cow<'static, str>> = Vec::new();
        for entry in entries {
            let kind = match &entry.data {
                YamlData::Value(Scalar::String(s)) => statement_kind(s),
                _ => None,
            };
            let Some(kind) = kind else {
                return Err(self.error(
                    entry,
                    KEY,
                    format!(
                        "{} is not a statement kind: write the statement's leading words, such as DROP TABLE or TRUNCATE",
                        describe(entry)
                    ),
                ));
            };
            if !kinds.iter().any(|k| *k == kind) {
                kinds.push(Cow::Owned(kind));
            }
        }
        Ok(kinds)
    }

    fn backup(&self, node: &MarkedYaml<'_>) -> Result<bool, PolicyError> {
        const KEY: &str = "require_backup";
        const ACCEPTED: &str = "use [all] (or true, all) for a backup before every boot that applies migrations, [] (or false, none) for none";
        match &node.data {
            YamlData::Value(Scalar::Boolean(b)) => Ok(*b),
            YamlData::Value(Scalar::String(s)) if s.eq_ignore_ascii_case("all") => Ok(true),
            YamlData::Value(Scalar::String(s)) if s.eq_ignore_ascii_case("none") => Ok(false),
            YamlData::Sequence(entries) => {
                for entry in entries {
                    let is_all = matches!(&entry.data, YamlData::Value(Scalar::String(s)) if s.eq_ignore_ascii_case("all"));
                    if !is_all {
                        return Err(self.error(
                            entry,
                            KEY,
                            format!(
                                "{} is not supported: one backup is taken before a boot applies anything, not per statement kind; {ACCEPTED}",
                                describe(entry)
                            ),
                        ));
                    }
                }
                Ok(!entries.is_empty())
            }
            _ => Err(self.error(
                node,
                KEY,
                format!("{} is not accepted; {ACCEPTED}", describe(node)),
            )),
        }
    }

    fn duration(&self, key: &str, node: &MarkedYaml<'_>) -> Result<Duration, PolicyError> {
        let text = match &node.data {
            YamlData::Value(Scalar::String(s)) => Some(s.as_ref()),
            _ => None,
        };
        match text.map(parse_duration) {
            Some(Some(d)) if d >= Duration::from_millis(1) => Ok(d),
            Some(Some(_)) => Err(self.error(
                node,
                key,
                format!(
                    "{} is too short: at least 1ms (a zero lock timeout means no limit on PostgreSQL)",
                    describe(node)
                ),
            )),
            _ => Err(self.error(
                node,
                key,
                format!(
                    "{} is not a duration (use 500ms, 5s, 2m)",
                    describe(node)
                ),
            )),
        }
    }

    fn row_limit(&self, node: &MarkedYaml<'_>) -> Result<Option<u64>, PolicyError> {
        match &node.data {
            YamlData::Value(Scalar::Null) => Ok(None),
            YamlData::Value(Scalar::String(s)) if s.eq_ignore_ascii_case("none") => Ok(None),
            YamlData::Value(Scalar::Integer(n)) if *n >= 0 => Ok(Some(n.unsigned_abs())),
            _ => Err(self.error(
                node,
                "max_rows_affected",
                format!(
                    "{} is not a row count: use a whole number such as 1000000, or none for no limit",
                    describe(node)
                ),
            )),
        }
    }

    fn boolean(&self, key: &str, node: &MarkedYaml<'_>) -> Result<bool, PolicyError> {
        match &node.data {
            YamlData::Value(Scalar::Boolean(b)) => Ok(*b),
            _ => Err(self.error(
                node,
                key,
                format!("{} is not a boolean (use true or false)", describe(node)),
            )),
        }
    }
}

/// The key as text when it is a plain string.
fn key_name<'a>(key: &'a MarkedYaml<'_>) -> Option<&'a str> {
    match &key.data {
        YamlData::Value(Scalar::String(s)) => Some(s.as_ref()),
        _ => None,
    }
}

/// A key for an error message, whatever its type.
fn key_label(key: &MarkedYaml<'_>) -> String {
    key_name(key).map_or_else(|| describe(key), str::to_string)
}

/// What a node is, for error messages: `"5 parsecs"`, `the number 5`, `a list`, ...
fn describe(node: &MarkedYaml<'_>) -> String {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => format!("{s:?}"),
        YamlData::Value(Scalar::Integer(n)) => format!("the number {n}"),
        YamlData::Value(Scalar::FloatingPoint(f)) => format!("the number {f}"),
        YamlData::Value(Scalar::Boolean(b)) => format!("the boolean {b}"),
        YamlData::Value(Scalar::Null) => "no value".to_string(),
        YamlData::Sequence(_) => "a list".to_string(),
        YamlData::Mapping(_) => "a mapping".to_string(),
        YamlData::Tagged(tag, _) => format!("a value tagged {tag}"),
        _ => "an unreadable value".to_string(),
    }
}

/// `drop  table` -> `DROP TABLE`; `None` unless it is one or more words of ASCII letters and underscores.
fn statement_kind(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let valid = !words.is_empty()
        && words
            .iter()
            .all(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
    valid.then(|| words.join(" "))
}

/// `500ms`, `5s`, `1.5s`, `2m`, `1h` -> a duration; `None` for anything else (no unit, unknown unit,
/// spaces, a negative or overflowing number).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let valid_number = !number.is_empty()
        && !number.starts_with('.')
        && !number.ends_with('.')
        && number.matches('.').count() <= 1;
    if !valid_number {
        return None;
    }
    let seconds_per_unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(value * seconds_per_unit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_FILE: &str = "\
migration_safety:
  require_review:
    - DROP TABLE
    - DROP COLUMN
    - ALTER TYPE
  require_backup:
    - all
  max_lock_duration: \"5s\"
  max_rows_affected: 1000000
  require_test_run: true
";

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::from_str(text, POLICY_FILE)
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("an error").to_string()
    }

    #[test]
    fn the_spec_file_is_the_spec_policy() {
        assert_eq!(parse(SPEC_FILE).unwrap(), Policy::SPEC);
        assert_eq!(Policy::default(), Policy::SPEC);
    }

    #[test]
    fn empty_files_and_missing_keys_mean_the_spec_values() {
        for text in [
            "",
            "# nothing yet\n",
            "---\n",
            "migration_safety:\n",
            "migration_safety: {}\n",
        ] {
            assert_eq!(parse(text).unwrap(), Policy::SPEC, "{text:?}");
        }
        let p = parse("migration_safety:\n  max_lock_duration: 2m\n").unwrap();
        assert_eq!(p.max_lock_duration, Duration::from_secs(120));
        assert_eq!(p.require_review, Policy::SPEC.require_review);
        assert!(p.require_backup && p.require_test_run);
    }

    #[test]
    fn every_key_can_be_set() {
        let p = parse(
            "migration_safety:\n  require_review: [truncate, 'drop  table', DROP TABLE]\n  require_backup: []\n  max_lock_duration: 750ms\n  max_rows_affected: none\n  require_test_run: false\n",
        )
        .unwrap();
        assert_eq!(
            p.review_kinds().collect::<Vec<_>>(),
            ["TRUNCATE", "DROP TABLE"]
        );
        assert!(!p.require_backup);
        assert_eq!(p.max_lock_duration, Duration::from_millis(750));
        assert_eq!(p.max_rows_affected, None);
        assert!(!p.require_test_run);
        let p = parse("migration_safety:\n  require_review: []\n  require_backup: true\n  max_rows_affected: 0\n  max_lock_duration: 1h\n").unwrap();
        assert!(p.require_review.is_empty() && p.require_backup);
        assert_eq!(p.max_rows_affected, Some(0));
        assert_eq!(p.max_lock_duration, Duration::from_secs(3600));
        for (text, backup) in [
            ("false", false),
            ("none", false),
            ("all", true),
            ("[ALL]", true),
            ("~", true),
        ] {
            let result = parse(&format!("migration_safety:\n  require_backup: {text}\n"));
            if text == "~" {
                assert!(result.is_err(), "no value is an error");
            } else {
                assert_eq!(result.unwrap().require_backup, backup, "{text}");
            }
        }
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        assert_eq!(
            error("migration_safety:\n  require_review: []\n\n  max_lock_duration: \"5 parsecs\"\n"),
            "migration_safety.yaml:4: max_lock_duration: \"5 parsecs\" is not a duration (use 500ms, 5s, 2m)"
        );
        assert_eq!(
            error("migration_safety:\n  max_lock_duration: 5\n"),
            "migration_safety.yaml:2: max_lock_duration: the number 5 is not a duration (use 500ms, 5s, 2m)"
        );
        assert_eq!(
            error("migration_safety:\n  max_lock_duration: 0s\n"),
            "migration_safety.yaml:2: max_lock_duration: \"0s\" is too short: at least 1ms (a zero lock timeout means no limit on PostgreSQL)"
        );
        assert_eq!(
            error("migration_safety:\n  require_reveiw: []\n"),
            "migration_safety.yaml:2: require_reveiw: unknown key; the known keys are require_review, require_backup, max_lock_duration, max_rows_affected, require_test_run"
        );
        assert_eq!(
            error("migration_safety:\n  require_test_run: yes\n"),
            "migration_safety.yaml:2: require_test_run: \"yes\" is not a boolean (use true or false)"
        );
        assert_eq!(
            error("migration_safety:\n  max_rows_affected: -1\n"),
            "migration_safety.yaml:2: max_rows_affected: the number -1 is not a row count: use a whole number such as 1000000, or none for no limit"
        );
        assert!(
            error("migration_safety:\n  max_rows_affected: 1.5e6\n").starts_with(
                "migration_safety.yaml:2: max_rows_affected: the number 1500000 is not a row count"
            )
        );
        assert_eq!(
            error("migration_safety:\n  require_review:\n    - DROP TABLE\n    - 42\n"),
            "migration_safety.yaml:4: require_review: the number 42 is not a statement kind: write the statement's leading words, such as DROP TABLE or TRUNCATE"
        );
        assert!(
            error("migration_safety:\n  require_review: DROP TABLE\n").starts_with(
                "migration_safety.yaml:2: require_review: expected a list of statement kinds"
            )
        );
        assert!(error("migration_safety:\n  require_backup:\n    - all\n    - DROP TABLE\n")
            .starts_with("migration_safety.yaml:4: require_backup: \"DROP TABLE\" is not supported: one backup is taken before a boot applies anything"));
        assert_eq!(
            error("migration_safty:\n  require_review: []\n"),
            "migration_safety.yaml:1: migration_safty: unknown top-level key; a policy file holds `migration_safety:` only"
        );
        assert!(error("- a list\n").starts_with("migration_safety.yaml:1: (top level): expected the key `migration_safety:`, found a list"));
        assert!(error("migration_safety: strict\n")
            .starts_with("migration_safety.yaml:1: migration_safety: expected a mapping"));
        assert!(
            error("migration_safety:\n  require_test_run: true\n  require_test_run: false\n")
                .starts_with("migration_safety.yaml:3: not valid YAML"),
            "{}",
            error("migration_safety:\n  require_test_run: true\n  require_test_run: false\n")
        );
        assert!(error("migration_safety:\n  require_review: [DROP TABLE\n")
            .starts_with("migration_safety.yaml:"));
        assert!(
            error("migration_safety: {}\n---\nmigration_safety: {}\n").starts_with(
                "migration_safety.yaml:3: (document): a policy file holds one YAML document"
            )
        );
    }

    #[test]
    fn files_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(POLICY_FILE);
        assert_eq!(Policy::from_path_or_spec(&path).unwrap(), Policy::SPEC);
        let missing = Policy::from_path(&path).unwrap_err();
        assert!(matches!(missing, PolicyError::Read { .. }), "{missing}");
        assert_eq!(missing.line(), None);
        std::fs::write(&path, "migration_safety:\n  require_test_run: false\n").unwrap();
        assert!(!Policy::from_path(&path).unwrap().require_test_run);
        std::fs::write(&path, "migration_safety:\n  require_test_run: 1\n").unwrap();
        let err = Policy::from_path_or_spec(&path).unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert!(err
            .to_string()
            .starts_with(&format!("{}:2: require_test_run:", path.display())));
    }

    #[test]
    fn durations() {
        for (text, ms) in [
            ("500ms", 500),
            ("5s", 5000),
            ("1.5s", 1500),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in [
            "5",
            "s",
            "5 s",
            "5sec",
            "-5s",
            ".5s",
            "5.s",
            "1.2.3s",
            "5S",
            "",
            "99999999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
