//! Fetching one issue from the GitHub REST API (`GET {api}/repos/{owner}/{repo}/issues/{n}`).
//!
//! The token is sent as `Authorization: Bearer ...` and is never written to logs, errors or output: every
//! message built here, and the issue text itself, goes through [`Scrubber`], which knows the token in every
//! form a server could echo it (URL-encoded in a redirect's `Location`, base64 in a header echo, another
//! letter case). Redirects are not followed: the API does not redirect an issue request, and a redirect
//! is how a hostile or misconfigured server would send the request (and its header) elsewhere.

use std::time::Duration;

use crate::error::ExportError;
use crate::export::{issue_from_value, Issue, MAX_FILE_BYTES};
use crate::secret::Scrubber;

/// Where and how to fetch.
#[derive(Clone)]
pub struct Online {
    /// `owner/name`.
    pub repo: String,
    /// API base URL, e.g. `https://api.github.com`.
    pub api_url: String,
    /// Token (from `GITHUB_TOKEN`).
    pub token: Option<String>,
}

impl std::fmt::Debug for Online {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Online")
            .field("repo", &self.repo)
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The default API base URL.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

pub(crate) fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Fetches issue `number`.
pub fn fetch_issue(online: &Online, number: u32) -> Result<Issue, ExportError> {
    if !valid_repo(&online.repo) {
        return Err(ExportError::BadRepo(online.repo.clone()));
    }
    let base = online.api_url.trim_end_matches('/');
    let url = format!("{base}/repos/{}/issues/{number}", online.repo);
    let scrubber = Scrubber::new(online.token.as_deref().unwrap_or(""));
    let scrub = |text: String| scrubber.scrub(&text);
    let fail = |message: String| ExportError::Fetch {
        repo: online.repo.clone(),
        issue: number,
        url: scrub(url.clone()),
        message: scrub(message),
    };
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(fail(
            "the API URL must start with http:// or https://".into(),
        ));
    }
    tracing::info!(repo = %online.repo, issue = number, url = %scrub(url.clone()), "fetching issue");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_redirects(0)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .build()
        .into();
    let mut request = agent
        .get(&url)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header("User-Agent", "migrator-tool");
    if let Some(t) = online.token.as_ref().filter(|t| !t.is_empty()) {
        request = request.header("Authorization", format!("Bearer {t}"));
    }
    let mut response = request.call().map_err(|e| fail(e.to_string()))?;
    let status = response.status().as_u16();
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("(none)")
            .to_string();
        return Err(fail(format!(
            "HTTP {status}: the server redirects to {location}; not followed (give the final address with --api-url)"
        )));
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_FILE_BYTES)
        .read_to_string()
        .map_err(|e| fail(e.to_string()))?;
    // The issue's own text is scrubbed too: it ends up in file headers and output.
    let text = scrub(text);
    if status != 200 {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let hint = match status {
            401 => " (bad or expired GITHUB_TOKEN)",
            403 => " (rate limited or no access; set GITHUB_TOKEN)",
            404 => " (no such issue, or a private repository without GITHUB_TOKEN)",
            _ => "",
        };
        return Err(fail(format!(
            "HTTP {status}{hint}: {}",
            crate::ident::shorten(&message)
        )));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| ExportError::Json {
        file: scrub(url.clone()),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if value.get("pull_request").is_some() {
        return Err(fail(format!("#{number} is a pull request, not an issue")));
    }
    issue_from_value(&scrub(url.clone()), "", &value)
}
