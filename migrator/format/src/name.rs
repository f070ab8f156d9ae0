use crate::FormatErrorKind;

/// The parts of a migration file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The 14-digit version.
    pub version: u64,
    /// The issue number, when the name carries `issue_<N>_`.
    pub issue: Option<u32>,
    /// The descriptive name.
    pub name: String,
}

/// Parses `<YYYYMMDDHHMMSS>_issue_<N>_<name>.sql` or `<YYYYMMDDHHMMSS>_<name>.sql`.
///
/// The timestamp must be a plausible date and time (month 01-12, day 01-31, hour 00-23, minute and second
/// 00-59); the name is lower-case ASCII letters, digits and underscores.
pub fn parse_file_name(file_name: &str) -> Result<FileName, FormatErrorKind> {
    let bad = |why: &str| FormatErrorKind::BadFileName(format!("{file_name:?} {why}"));
    let stem = file_name
        .strip_suffix(".sql")
        .ok_or_else(|| bad("does not end in .sql"))?;
    let (stamp, rest) = stem
        .split_once('_')
        .ok_or_else(|| bad("has no `_` after the timestamp"))?;
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "does not start with a 14-digit YYYYMMDDHHMMSS timestamp",
        ));
    }
    let field = |range: std::ops::Range<usize>| stamp[range].parse::<u32>().unwrap_or(u32::MAX);
    let (month, day, hour, minute, second) = (
        field(4..6),
        field(6..8),
        field(8..10),
        field(10..12),
        field(12..14),
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad("has a timestamp that is not a valid date and time"));
    }
    let version: u64 = stamp
        .parse()
        .map_err(|_| bad("has an unreadable timestamp"))?;

    let (issue, name) = match rest.strip_prefix("issue_") {
        Some(after) => {
            let (digits, name) = after
                .split_once('_')
                .ok_or_else(|| bad("has `issue_<N>` but no `_<name>` after it"))?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    "has `issue_` followed by something other than a number",
                ));
            }
            let issue: u32 = digits
                .parse()
                .map_err(|_| bad("has an issue number that is too large"))?;
            (Some(issue), name)
        }
        None => (None, rest),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(bad(
            "has a name part that is empty or not lower-case letters, digits and underscores",
        ));
    }
    Ok(FileName {
        version,
        issue,
        name: name.to_string(),
    })
}

/// The current UTC time as a 14-digit `YYYYMMDDHHMMSS` version (new migration files, backup names).
pub fn version_now() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (i64::try_from(secs / 86_400).unwrap_or(0), secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let field = |v: i64, scale: u64| u64::try_from(v).unwrap_or(0) * scale;
    field(year, 10_000_000_000)
        + field(month, 100_000_000)
        + field(day, 1_000_000)
        + rest / 3600 * 10_000
        + rest % 3600 / 60 * 100
        + rest % 60
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_current_version_is_a_valid_file_name_timestamp() {
        let now = super::version_now();
        assert!(
            super::parse_file_name(&format!("{now}_x.sql")).is_ok(),
            "{now}"
        );
        assert!(now > 20_260_000_000_000);
    }

    use super::*;

    #[test]
    fn issue_names_parse() {
        let n = parse_file_name("20240115143022_issue_234_contact_enrichment.sql").unwrap();
        assert_eq!(n.version, 20240115143022);
        assert_eq!(n.issue, Some(234));
        assert_eq!(n.name, "contact_enrichment");
    }

    #[test]
    fn names_without_issue_parse() {
        let n = parse_file_name("20240115143022_add_index.sql").unwrap();
        assert_eq!(n.issue, None);
        assert_eq!(n.name, "add_index");
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (name, why) in [
            ("2024_issue_1_x.sql", "14-digit"),
            ("20240115143022_issue_1_x.txt", ".sql"),
            ("20241315143022_x.sql", "valid date"),
            ("20240115143022_issue_x_y.sql", "number"),
            ("20240115143022_issue_12.sql", "no `_<name>`"),
            ("20240115143022_Bad-Name.sql", "lower-case"),
            ("20240115143022_.sql", "empty"),
        ] {
            let err = parse_file_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name}: {err}");
        }
    }
}
