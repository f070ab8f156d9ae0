//! The few GitHub REST calls `track` makes (list an issue's comments, create one, update one), with rate
//! limits waited out within a deadline and the token kept out of every message.
//!
//! Rate limits: a `429`, or a `403` that carries `Retry-After` or `x-ratelimit-remaining: 0`, is retried
//! after `Retry-After` seconds, else at `x-ratelimit-reset` (epoch seconds), else after a minute (GitHub's
//! advice for secondary limits), as long as the wait ends before the deadline. Every message goes through
//! [`crate::secret::Scrubber`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The largest response body read (a page of 100 comments of up to 65,536 characters each).
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// Comments read per page (GitHub's maximum).
const PER_PAGE: usize = 100;

/// At most this many pages of comments are read per issue.
const MAX_PAGES: usize = 100;

/// Problems talking to GitHub. No message holds the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitHubError {
    /// The server answered with an error status.
    #[error("{method} {url}: HTTP {status}{hint}: {message}")]
    Status {
        /// The method.
        method: &'static str,
        /// The URL (no credentials in it).
        url: String,
        /// The status.
        status: u16,
        /// What to check.
        hint: &'static str,
        /// GitHub's `message`, shortened.
        message: String,
    },
    /// The request could not be made or its answer not read.
    #[error("{method} {url}: {message}")]
    Transport {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A rate limit would end after the deadline.
    #[error("{method} {url}: rate limited by GitHub for another {wait_s} s, past the deadline ({left_s} s left); run track again later (it resumes where it stopped)")]
    RateLimited {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// Seconds GitHub asks to wait.
        wait_s: u64,
        /// Seconds left before the deadline.
        left_s: u64,
    },
    /// The answer is not the JSON expected.
    #[error("{method} {url}: unexpected answer: {message}")]
    Answer {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// A comment of an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Its Markdown.
    pub body: String,
}

/// A client of one repository.
pub struct GitHub {
    agent: ureq::Agent,
    api: String,
    repo: String,
    token: Option<String>,
    scrubber: crate::secret::Scrubber,
    deadline: Instant,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api", &self.api)
            .field("repo", &self.repo)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `text` with every valid `%XX` escape decoded (lossy UTF-8).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long a rate-limited answer asks to wait; `None` when the answer is not a rate limit.
fn rate_limit_wait(status: u16, headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok());
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let limited = status == 429 || (status == 403 && (retry_after.is_some() || exhausted));
    if !limited {
        return None;
    }
    if let Some(s) = retry_after {
        return Some(Duration::from_secs(s.max(1)));
    }
    if let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(
            reset.saturating_sub(now_epoch()).max(1),
        ));
    }
    Some(Duration::from_secs(60))
}

impl GitHub {
    /// A client of `repo` (`owner/name`) at `api` (`https://api.github.com`, or an Enterprise
    /// `https://host/api/v3`); rate limits are waited out until `deadline`.
    pub fn new(api: &str, repo: &str, token: Option<String>, deadline: Instant) -> GitHub {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        GitHub {
            agent,
            api: api.trim_end_matches('/').to_string(),
            repo: repo.to_string(),
            scrubber: crate::secret::Scrubber::new(token.as_deref().unwrap_or_default()),
            token,
            deadline,
        }
    }

    /// `text` through the scrubber, and when its percent-decoded form still hides the token (escapes the
    /// scrubber's forms do not cover, e.g. only `_` as `%5F`), the decoded form scrubbed.
    fn scrub(&self, text: &str) -> String {
        let decoded = percent_decode(text);
        let scrubbed = self.scrubber.scrub(&decoded);
        if scrubbed != decoded {
            scrubbed
        } else {
            self.scrubber.scrub(text)
        }
    }

    /// Sends one request (retrying rate limits) and returns the parsed JSON of a 2xx answer.
    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GitHubError> {
        let url = format!("{}{path}", self.api);
        let shown = self.scrub(&url);
        loop {
            tracing::debug!(method, url = %shown, "GitHub request");
            let transport = |e: &dyn std::fmt::Display| GitHubError::Transport {
                method,
                url: shown.clone(),
                message: self.scrub(&e.to_string()),
            };
            let mut response = self.send(method, &url, body).map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY_BYTES)
                .read_to_string()
                .map_err(|e| transport(&e))?;
            if let Some(wait) = rate_limit_wait(status, response.headers()) {
                let left = self.deadline.saturating_duration_since(Instant::now());
                if wait > left {
                    return Err(GitHubError::RateLimited {
                        method,
                        url: shown,
                        wait_s: wait.as_secs(),
                        left_s: left.as_secs(),
                    });
                }
                tracing::warn!(
                    method,
                    url = %shown,
                    wait_s = wait.as_secs(),
                    "rate limited by GitHub; waiting"
                );
                std::thread::sleep(wait);
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(self.status_error(method, shown, status, &text));
            }
            return serde_json::from_str(&text).map_err(|e| GitHubError::Answer {
                method,
                url: shown,
                message: self.scrub(&e.to_string()),
            });
        }
    }

    fn send(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let auth = self
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| format!("Bearer {t}"));
        macro_rules! headers {
            ($request:expr) => {{
                let mut r = $request
                    .header("Accept", "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28")
                    .header("User-Agent", "migrator-tool");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r
            }};
        }
        let json = body.map(Value::to_string).unwrap_or_default();
        match method {
            "POST" => headers!(self.agent.post(url))
                .header("Content-Type", "application/json")
                .send(json.as_str()),
            "PATCH" => headers!(self.agent.patch(url))
                .header("Content-Type", "application/json")
                .send(json.as_str()),
            _ => headers!(self.agent.get(url)).call(),
        }
    }

    fn status_error(
        &self,
        method: &'static str,
        url: String,
        status: u16,
        text: &str,
    ) -> GitHubError {
        let message = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_string))
            .unwrap_or_default();
        let hint = match status {
            401 => " (bad or expired GITHUB_TOKEN)",
            403 => " (the token may not write issues of this repository)",
            404 => " (no such repository or issue, or the token cannot see it)",
            410 => " (issues are disabled or the issue was deleted)",
            422 => " (GitHub refused the comment)",
            _ => "",
        };
        GitHubError::Status {
            method,
            url,
            status,
            hint,
            message: crate::ident::shorten(&self.scrub(&message)),
        }
    }

    /// Every comment of issue `issue`, oldest first.
    pub fn comments(&self, issue: u32) -> Result<Vec<Comment>, GitHubError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/issues/{issue}/comments?per_page={PER_PAGE}&page={page}",
                self.repo
            );
            let value = self.call("GET", &path, None)?;
            let items = value.as_array().ok_or_else(|| GitHubError::Answer {
                method: "GET",
                url: format!("{}{path}", self.api),
                message: "not a list of comments".into(),
            })?;
            for item in items {
                out.push(comment(item).ok_or_else(|| GitHubError::Answer {
                    method: "GET",
                    url: format!("{}{path}", self.api),
                    message: "a comment without id or body".into(),
                })?);
            }
            if items.len() < PER_PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// Creates a comment on issue `issue`.
    pub fn create(&self, issue: u32, body: &str) -> Result<Comment, GitHubError> {
        let path = format!("/repos/{}/issues/{issue}/comments", self.repo);
        let value = self.call("POST", &path, Some(&serde_json::json!({ "body": body })))?;
        comment(&value).ok_or_else(|| GitHubError::Answer {
            method: "POST",
            url: format!("{}{path}", self.api),
            message: "no comment id in the answer".into(),
        })
    }

    /// Replaces the body of comment `id`.
    pub fn update(&self, id: u64, body: &str) -> Result<Comment, GitHubError> {
        let path = format!("/repos/{}/issues/comments/{id}", self.repo);
        let value = self.call("PATCH", &path, Some(&serde_json::json!({ "body": body })))?;
        comment(&value).ok_or_else(|| GitHubError::Answer {
            method: "PATCH",
            url: format!("{}{path}", self.api),
            message: "no comment id in the answer".into(),
        })
    }
}

fn comment(value: &Value) -> Option<Comment> {
    Some(Comment {
        id: value.get("id")?.as_u64()?,
        body: value
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partly_encoded_tokens_are_scrubbed() {
        let g = GitHub::new("http://x", "a/b", Some("ghp_a+b".into()), Instant::now());
        assert_eq!(g.scrub("t=ghp%5Fa%2bb."), "t=***.");
        assert_eq!(g.scrub("100% ghp_a+b"), "100% ***");
        assert_eq!(g.scrub("100% sure"), "100% sure");
    }

    #[test]
    fn rate_limits_are_recognised() {
        let mut h = ureq::http::HeaderMap::new();
        assert_eq!(rate_limit_wait(403, &h), None);
        assert_eq!(rate_limit_wait(429, &h), Some(Duration::from_secs(60)));
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(rate_limit_wait(403, &h), Some(Duration::from_secs(3)));
        let mut h = ureq::http::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert(
            "x-ratelimit-reset",
            (now_epoch() + 5).to_string().parse().unwrap(),
        );
        let wait = rate_limit_wait(403, &h).unwrap();
        assert!(wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5));
        assert_eq!(rate_limit_wait(200, &h), None);
    }
}
