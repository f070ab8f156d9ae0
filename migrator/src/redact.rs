//! Secrets never reach argv, logs or errors: database URLs are shown with the password masked, and the
//! password is handed to client programs through their environment instead of their command line.

/// `url` with its password replaced by `***`: `postgres://app:***@db/crm`. Keyword/value connection
/// strings (`host=db password=secret`) get `password=***`. Anything else is returned as it is.
pub fn mask_url(url: &str) -> String {
    let (bare, password) = split_password(url);
    match password {
        None => url.to_string(),
        Some(_) => match bare.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('@') {
                Some((user, host)) => format!("{scheme}://{user}:***@{host}"),
                None => format!("{scheme}://:***@{rest}"),
            },
            None => format!("{bare} password=***"),
        },
    }
}

/// `text` with every occurrence of `url` and of its password masked (a driver may echo either).
pub fn url_in(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &mask_url(url));
    if let (_, Some(password)) = split_password(url) {
        if !password.is_empty() {
            out = out.replace(&password, "***");
            let decoded = percent_decode(&password);
            if !decoded.is_empty() && decoded != password {
                out = out.replace(&decoded, "***");
            }
        }
    }
    out
}

/// The URL without its password, and the password (percent-decoded for `scheme://` URLs), so that a client
/// program can be given the first on its command line and the second in its environment.
pub fn split_password(url: &str) -> (String, Option<String>) {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            if let Some((user, password)) = userinfo.split_once(':') {
                return (
                    format!("{scheme}://{user}@{host}{path}"),
                    Some(percent_decode(password)),
                );
            }
        }
        return (url.to_string(), None);
    }
    // keyword=value connection strings
    let mut password = None;
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|part| match part.strip_prefix("password=") {
            Some(p) => {
                password = Some(p.trim_matches('\'').to_string());
                false
            }
            None => true,
        })
        .collect();
    (kept.join(" "), password)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_split_off() {
        assert_eq!(
            mask_url("postgres://app:s3cr%40t@db:5432/crm?sslmode=require"),
            "postgres://app:***@db:5432/crm?sslmode=require"
        );
        assert_eq!(mask_url("postgres://app@db/crm"), "postgres://app@db/crm");
        assert_eq!(
            split_password("postgres://app:s3cr%40t@db/crm"),
            (
                "postgres://app@db/crm".to_string(),
                Some("s3cr@t".to_string())
            )
        );
        assert_eq!(
            split_password("host=db password=x dbname=crm"),
            ("host=db dbname=crm".to_string(), Some("x".to_string()))
        );
        let said = "could not connect to postgres://app:s3cr%40t@db/crm: password s3cr@t rejected";
        let masked = url_in(said, "postgres://app:s3cr%40t@db/crm");
        assert!(!masked.contains("s3cr"), "{masked}");
    }
}
