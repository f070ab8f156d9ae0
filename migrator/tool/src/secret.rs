//! Keeping secrets out of output and logs: the GitHub token in every form a server or a library could echo
//! it back in, and the password of a database URL.
//!
//! A token is matched as written, in any letter case, percent-encoded (as a URL or a form would carry it,
//! upper- or lower-case hex, every byte or only the reserved ones), JSON-escaped, and inside base64 (a
//! `Basic` header echo: the token's base64 core at each of the three alignments a prefix such as `user:`
//! can give it).

/// Replaces every form of one secret in texts with `***`.
#[derive(Clone, Default)]
pub struct Scrubber {
    forms: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} forms)", self.forms.len())
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

impl Scrubber {
    /// A scrubber for `secret` (none for an empty one).
    pub fn new(secret: &str) -> Scrubber {
        if secret.is_empty() {
            return Scrubber::default();
        }
        let mut forms = vec![secret.to_string()];
        let every_byte: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        forms.push(every_byte.clone());
        forms.push(every_byte.to_lowercase());
        let reserved: String = secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        forms.push(reserved.clone());
        forms.push(reserved.to_lowercase());
        forms.push(secret.replace('\\', "\\\\").replace('"', "\\\""));
        forms.push(secret.replace('/', "\\/"));
        // The token's base64 core after a prefix of 0, 1 or 2 bytes: drop the characters the prefix and the
        // padding share with it.
        for pad in 0..3usize {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = base64(&bytes);
            let skip = if pad == 0 { 0 } else { pad + 1 };
            let end = (bytes.len() / 3) * 4;
            if end > skip + 8 {
                forms.push(encoded[skip..end].to_string());
            }
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Scrubber { forms }
    }

    /// `text` with every form of the secret replaced by `***` (the plain form in any letter case).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in &self.forms {
            out = replace_ignoring_case(&out, form);
        }
        out
    }
}

fn replace_ignoring_case(text: &str, needle: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let lower_text = text.to_ascii_lowercase();
    let lower_needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(pos) = lower_text[from..].find(&lower_needle) {
        out.push_str(&text[from..from + pos]);
        out.push_str("***");
        from += pos + needle.len();
    }
    out.push_str(&text[from..]);
    out
}

/// `text` with the password of the database URL `url` (and the URL's user-info part) replaced by `***`.
pub fn redact_url(text: &str, url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return text.to_string();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((user_info, _)) => match user_info.split_once(':') {
            Some((_, password)) if !password.is_empty() => Scrubber::new(password).scrub(text),
            _ => text.to_string(),
        },
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_scrubbed() {
        let token = "ghp_Se+cr/et=0123456789";
        let s = Scrubber::new(token);
        for prefix in ["", "x-access-token:", "ab:", "a:"] {
            let basic = base64(format!("{prefix}{token}").as_bytes());
            let out = s.scrub(&format!("Authorization: Basic {basic}"));
            assert!(out.contains("***"), "{prefix}: {basic} -> {out}");
            // What is left is the prefix's own characters and at most the last two of the token's.
            assert!(
                !out.contains(&basic[basic.len() - 12..basic.len() - 4]),
                "{prefix}: {basic} -> {out}"
            );
        }
        for text in [
            format!("token {token} here"),
            format!("TOKEN {} HERE", token.to_uppercase()),
            "ghp_Se%2Bcr%2Fet%3D0123456789".to_string(),
            "ghp_Se%2bcr%2fet%3d0123456789".to_string(),
            token.bytes().map(|b| format!("%{b:02x}")).collect(),
            "{\"t\": \"ghp_Se+cr\\/et=0123456789\"}".to_string(),
        ] {
            let out = s.scrub(&text);
            assert!(out.contains("***"), "{text} -> {out}");
            assert!(
                !out.to_lowercase().contains("0123456789"),
                "{text} -> {out}"
            );
            assert!(!out.to_lowercase().contains("%30%31"), "{text} -> {out}");
        }
        assert_eq!(Scrubber::new("").scrub("abc"), "abc");
        assert_eq!(
            redact_url(
                "cannot connect to postgres://u:pw%40x@h/db",
                "postgres://u:pw%40x@h/db"
            ),
            "cannot connect to postgres://u:***@h/db"
        );
    }
}
