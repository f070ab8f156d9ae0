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
/// 00-59); it may carry four more digits (`YYYYMMDDHHMMSSffff`, 18 digits, diesel's newer form and the
/// width of [`diesel_key`]s). The name is lower-case ASCII letters, digits and underscores.
pub fn parse_file_name(file_name: &str) -> Result<FileName, FormatErrorKind> {
    let bad = |why: &str| FormatErrorKind::BadFileName(format!("{file_name:?} {why}"));
    let stem = file_name
        .strip_suffix(".sql")
        .ok_or_else(|| bad("does not end in .sql"))?;
    let (stamp, rest) = stem
        .split_once('_')
        .ok_or_else(|| bad("has no `_` after the timestamp"))?;
    if !matches!(stamp.len(), 14 | 18) || !stamp.bytes().all(|b| b.is_ascii_digit()) {
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
    issue_and_name(file_name, version, rest)
}

/// Parses the name of a file written by `migrator-tool import`: `<version>_<name>.sql`, where the version
/// is the original tool's (any number that fits 64 bits, dates unchecked: diesel never checked them).
pub fn parse_imported_file_name(file_name: &str) -> Result<FileName, FormatErrorKind> {
    let bad = |why: &str| FormatErrorKind::BadFileName(format!("{file_name:?} {why}"));
    let stem = file_name
        .strip_suffix(".sql")
        .ok_or_else(|| bad("does not end in .sql"))?;
    let (digits, rest) = stem
        .split_once('_')
        .ok_or_else(|| bad("has no `_` after the version"))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("does not start with a version number"));
    }
    let version: u64 = digits
        .parse()
        .map_err(|_| bad("has a version beyond 18446744073709551615"))?;
    issue_and_name(file_name, version, rest)
}

/// The `issue_<N>_<name>` or `<name>` part of a file name.
fn issue_and_name(file_name: &str, version: u64, rest: &str) -> Result<FileName, FormatErrorKind> {
    let bad = |why: &str| FormatErrorKind::BadFileName(format!("{file_name:?} {why}"));
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

/// The width, in digits, diesel versions are right-padded to: diesel's newer `YYYY-MM-DD-HHMMSS-ffff`
/// versions keep their value, and its older `YYYY-MM-DD-HHMMSS` ones gain four zeros.
pub const DIESEL_KEY_DIGITS: usize = 18;

/// The ordering key of a diesel version string (dashes already removed): its digits right-padded with
/// zeros to [`DIESEL_KEY_DIGITS`]. diesel orders migrations by the version *string*; padding to one width
/// keeps that order for digit strings, and the width is fixed so a key never changes when a longer version
/// joins the directory. Two versions that only differ by trailing zeros (`1` and `10`) get one key and
/// are refused as duplicates by the loader.
pub fn diesel_key(version: &str) -> Result<u64, String> {
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "diesel version {version:?} is not made of digits (and dashes); migrator orders migrations by number"
        ));
    }
    if version.len() > DIESEL_KEY_DIGITS {
        return Err(format!(
            "diesel version {version} has {} digits; migrator orders diesel versions of up to {DIESEL_KEY_DIGITS} digits",
            version.len()
        ));
    }
    let padded = format!("{version:0<width$}", width = DIESEL_KEY_DIGITS);
    padded
        .parse()
        .map_err(|_| format!("diesel version {version} is not a number"))
}

/// diesel's version of a migration directory name: the part before the first `_`, dashes removed (as
/// `migrations_internals::version_from_string` computes it).
pub fn diesel_version(dir_name: &str) -> String {
    dir_name
        .split('_')
        .next()
        .unwrap_or_default()
        .replace('-', "")
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
    fn diesel_keys_keep_diesels_string_order() {
        let versions = [
            "00000000000000",
            "20190226002946",
            "20190226002947",
            "202405271200000000",
            "202405271200000001",
            "20240527120001",
            "20190263002946",
        ];
        let mut by_string = versions.to_vec();
        by_string.sort();
        let mut by_key = versions.to_vec();
        by_key.sort_by_key(|v| diesel_key(v).unwrap());
        assert_eq!(by_string, by_key);
        assert_eq!(diesel_key("20190226002946").unwrap(), 201902260029460000);
        assert_eq!(
            diesel_key("202405271200000000").unwrap(),
            202405271200000000
        );
        assert_eq!(diesel_key("1").unwrap(), diesel_key("10").unwrap());
        assert!(diesel_key("2019022600294612345")
            .unwrap_err()
            .contains("19 digits"));
        assert!(diesel_key("abc").is_err());
        assert_eq!(
            diesel_version("2024-05-27-120000-0000_x-y"),
            "202405271200000000"
        );
        assert_eq!(
            diesel_version("00000000000000_diesel_initial_setup"),
            "00000000000000"
        );
    }

    #[test]
    fn imported_names_take_any_version_and_native_names_take_18_digits() {
        let n = parse_imported_file_name("201902260029600000_create_user.sql").unwrap();
        assert_eq!(n.version, 201902260029600000);
        assert_eq!(parse_imported_file_name("1_init.sql").unwrap().version, 1);
        assert!(parse_file_name("1_init.sql").is_err());
        assert_eq!(
            parse_file_name("202405271200000000_x.sql").unwrap().version,
            202405271200000000
        );
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
