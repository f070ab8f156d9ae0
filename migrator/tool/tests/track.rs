//! `migrator-tool track` against a loopback GitHub of the test's own: a real HTTP server on 127.0.0.1 that
//! keeps issue comments (list, create, update) and records every request. The database is a real SQLite
//! file migrated, rolled back and re-applied by the tool's own `apply` and `rollback`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "ghp_trackTestSecret0123456789abcdef";
const REPO: &str = "acme/crm";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    head: String,
    body: String,
}

/// An answer: status, extra headers, body.
type Answer = (u16, Vec<(String, String)>, String);

#[derive(Default)]
struct State {
    /// (comment id, issue, body)
    comments: Vec<(u64, u32, String)>,
    next_id: u64,
    requests: Vec<Request>,
    /// Answers given instead of the normal ones, first to the next requests: (status, extra headers, body).
    scripted: VecDeque<Answer>,
}

/// A loopback GitHub: issues' comments in memory.
struct GitHub {
    url: String,
    state: Arc<Mutex<State>>,
}

impl GitHub {
    fn start() -> GitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &shared);
            }
        });
        GitHub { url, state }
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    fn comments(&self) -> Vec<(u64, u32, String)> {
        self.state.lock().unwrap().comments.clone()
    }

    fn script(&self, status: u16, headers: &[(&str, String)], body: &str) {
        self.state.lock().unwrap().scripted.push_back((
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            body.to_string(),
        ));
    }

    fn add_comment(&self, issue: u32, body: &str) {
        let mut s = self.state.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        s.comments.push((id, issue, body.to_string()));
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut first = head.lines().next()?.split_whitespace();
    Some(Request {
        method: first.next()?.to_string(),
        path: first.next()?.to_string(),
        head: head.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let (status, headers, body) = {
        let mut s = state.lock().unwrap();
        s.requests.push(request.clone());
        match s.scripted.pop_front() {
            Some(answer) => answer,
            None => answer(&mut s, &request),
        }
    };
    let mut reply = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        reply.push_str(&format!("{k}: {v}\r\n"));
    }
    reply.push_str("\r\n");
    reply.push_str(&body);
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

/// GitHub's answers for the three calls track makes.
fn answer(s: &mut State, r: &Request) -> Answer {
    let prefix = format!("/repos/{REPO}/issues/");
    let Some(rest) = r.path.strip_prefix(&prefix) else {
        return (404, vec![], r#"{"message":"Not Found"}"#.into());
    };
    let path = rest.split('?').next().unwrap_or("");
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let page: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page=")?.parse().ok())
        .unwrap_or(1);
    let per_page: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("per_page=")?.parse().ok())
        .unwrap_or(30);
    let body_of = |r: &Request| -> String {
        serde_json::from_str::<Value>(&r.body).unwrap()["body"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let as_json = |id: u64, body: &str| json!({"id": id, "body": body, "user": {"login": "bot"}});
    let parts: Vec<&str> = path.split('/').collect();
    match (r.method.as_str(), &parts[..]) {
        ("GET", [issue, "comments"]) => {
            let issue: u32 = issue.parse().unwrap();
            let all: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.1 == issue)
                .map(|c| as_json(c.0, &c.2))
                .collect();
            let page: Vec<Value> = all
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .collect();
            (200, vec![], Value::Array(page).to_string())
        }
        ("POST", [issue, "comments"]) => {
            let id = s.next_id;
            s.next_id += 1;
            let body = body_of(r);
            s.comments.push((id, issue.parse().unwrap(), body.clone()));
            (201, vec![], as_json(id, &body).to_string())
        }
        ("PATCH", ["comments", id]) => {
            let id: u64 = id.parse().unwrap();
            let body = body_of(r);
            match s.comments.iter_mut().find(|c| c.0 == id) {
                Some(c) => {
                    c.2 = body.clone();
                    (200, vec![], as_json(id, &body).to_string())
                }
                None => (404, vec![], r#"{"message":"Not Found"}"#.into()),
            }
        }
        _ => (404, vec![], r#"{"message":"Not Found"}"#.into()),
    }
}

/// The example app's migrations, copied into a temp dir, and a database path beside them.
struct App {
    dir: tempfile::TempDir,
}

impl App {
    fn new() -> App {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_dir() {
                continue; // the engine variant sets; the tests run on SQLite
            }
            std::fs::copy(entry.path(), migrations.join(entry.file_name())).unwrap();
        }
        // Quick applies: no backup, no rehearsal (a failing migration then fails on the database itself).
        std::fs::write(
            dir.path().join("migration_safety.yaml"),
            "migration_safety:\n  require_backup: false\n  require_test_run: false\n",
        )
        .unwrap();
        App { dir }
    }

    fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    fn url(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("app.db").display())
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("app.db")).unwrap()
    }

    /// Runs the tool with the token in the environment and every log event on: (code, stdout + stderr).
    fn tool(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
            .args(args)
            .env("GITHUB_TOKEN", TOKEN)
            .env("MIGRATOR_LOG", "trace")
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env_remove("GITHUB_API_URL")
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(TOKEN), "the token leaked:\n{text}");
        assert!(
            !text.contains(&TOKEN.replace('_', "%5F")),
            "the token leaked:\n{text}"
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn apply(&self) {
        let dir = self.migrations();
        let (code, out) = self.tool(&[
            "apply",
            "--dir",
            dir.to_str().unwrap(),
            "--database-url",
            &self.url(),
        ]);
        assert_eq!(code, 0, "{out}");
    }

    /// `--migrate-reapply` of an issue, through the runtime's library.
    fn reapply(&self, issue: u32) {
        let set = migrator::MigrationSet::from_dir(&self.migrations()).unwrap();
        let conn = self.db();
        let config = migrator::Config {
            require_backup: false,
            require_test_run: false,
            ..migrator::Config::default()
        };
        migrator::Migrator::new(&set)
            .with_config(config)
            .reapply_issue(&mut migrator::Sqlite::new(&conn), issue)
            .unwrap();
    }

    fn track(&self, github: &GitHub, extra: &[&str]) -> (i32, String) {
        let dir = self.migrations();
        let url = self.url();
        let mut args = vec![
            "track",
            "--repo",
            REPO,
            "--database-url",
            &url,
            "--dir",
            dir.to_str().unwrap(),
            "--api-url",
            &github.url,
        ];
        args.extend_from_slice(extra);
        let (code, out) = self.tool(&args);
        for r in github.requests() {
            // The token travels only in the Authorization header.
            let auth = format!("authorization: bearer {TOKEN}").to_ascii_lowercase();
            assert!(r.head.to_ascii_lowercase().contains(&auth), "{}", r.head);
            let without = r.head.to_ascii_lowercase().replace(&auth, "");
            assert!(!without.contains(&TOKEN.to_ascii_lowercase()), "{}", r.head);
            assert!(!r.body.contains(TOKEN) && !r.path.contains(TOKEN));
        }
        (code, out)
    }
}

/// The issues the tool reported as already current.
fn current(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with('#') && l.ends_with("already current"))
        .count()
}

fn writes(requests: &[Request]) -> Vec<(String, String)> {
    requests
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect()
}

#[test]
fn posts_once_updates_in_place_and_shows_the_rollback_reason() {
    let github = GitHub::start();
    let app = App::new();
    app.apply();

    // First run: one comment per issue.
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 0, "{out}");
    let posts = writes(&github.requests());
    assert_eq!(posts.len(), 4, "{posts:?}");
    assert!(posts.iter().all(|(m, _)| m == "POST"));
    let comments = github.comments();
    let issues: Vec<u32> = comments.iter().map(|c| c.1).collect();
    assert_eq!(issues, [187, 198, 212, 234]);
    let c234 = comments.iter().find(|c| c.1 == 234).unwrap().clone();
    assert!(
        c234.2.starts_with("<!-- migrator-track issue=234 -->\n"),
        "{}",
        c234.2
    );
    assert!(
        c234.2
            .contains("| 20240115143022 | `contact_enrichment` | applied |"),
        "{}",
        c234.2
    );
    assert!(
        c234.2.contains("new table `contact_enrichment`"),
        "{}",
        c234.2
    );
    assert!(out.contains("#234: posted comment"), "{out}");

    // Second run: nothing new, nothing sent at all (the cursor says so).
    github.clear_requests();
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(github.requests().is_empty(), "{:?}", github.requests());
    assert!(
        out.contains("no migration events since the last run"),
        "{out}"
    );

    // A rollback with a reason: the same comment is updated, no new one is posted.
    let dir = app.migrations();
    let (code, out) = app.tool(&[
        "rollback",
        "234",
        "--dir",
        dir.to_str().unwrap(),
        "--database-url",
        &app.url(),
    ]);
    assert_eq!(code, 0, "{out}");
    // The runtime's `--reason` is not there yet: the reason goes into the rollback event's detail.
    let changed = app
        .db()
        .execute(
            "UPDATE schema_migrations_log SET detail = 'enrichment vendor <down> | keys revoked'
             WHERE action = 'rolled_back' AND version = 20240115143022",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    github.clear_requests();
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 0, "{out}");
    let requests = github.requests();
    assert_eq!(
        writes(&requests),
        [(
            "PATCH".to_string(),
            format!("/repos/{REPO}/issues/comments/{}", c234.0)
        )]
    );
    assert_eq!(requests.len(), 2, "one GET of #234's comments, one PATCH");
    let comments = github.comments();
    assert_eq!(comments.len(), 4);
    let body = &comments.iter().find(|c| c.0 == c234.0).unwrap().2;
    assert!(
        body.contains("### Migrations of #234: rolled back"),
        "{body}"
    );
    assert!(
        body.contains("**Rollback reason** (20240115143022): \"enrichment vendor &lt;down&gt; \\| keys revoked\""),
        "{body}"
    );
    assert!(out.contains("#234: updated comment"), "{out}");

    // Re-applied: the same comment again, and the history of events shows both turns.
    app.reapply(234);
    github.clear_requests();
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(writes(&github.requests()).len(), 1);
    let body = &github
        .comments()
        .into_iter()
        .find(|c| c.0 == c234.0)
        .unwrap()
        .2;
    assert!(body.contains("### Migrations of #234: applied"), "{body}");
    assert_eq!(body.matches(" 20240115143022 applied").count(), 2, "{body}");
    assert!(body.contains(" 20240115143022 rolled back ("), "{body}");
}

#[test]
fn a_lost_cursor_finds_the_comments_again() {
    let github = GitHub::start();
    let app = App::new();
    app.apply();
    assert_eq!(app.track(&github, &[]).0, 0);
    // Another comment in between, and the cursor gone (a restored backup, a new CI runner's database).
    github.add_comment(234, "Looks good to me");
    app.db()
        .execute(
            "DELETE FROM schema_migrations_log WHERE action = 'tracked'",
            [],
        )
        .unwrap();
    github.clear_requests();
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        writes(&github.requests()).is_empty(),
        "{:?}",
        github.requests()
    );
    assert_eq!(current(&out), 4, "{out}");
    assert_eq!(github.comments().len(), 5);
}

#[test]
fn rate_limits_are_waited_out() {
    let github = GitHub::start();
    let app = App::new();
    app.apply();
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    github.script(
        429,
        &[("Retry-After", "1".into())],
        r#"{"message":"slow down"}"#,
    );
    github.script(
        403,
        &[
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", reset.to_string()),
        ],
        r#"{"message":"API rate limit exceeded"}"#,
    );
    let started = Instant::now();
    let (code, out) = app.track(&github, &[]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{out}");
    assert!(took >= Duration::from_secs(2), "waited only {took:?}");
    assert_eq!(github.comments().len(), 4);
    assert!(out.contains("rate limited by GitHub; waiting"), "{out}");
    // The two limited requests were sent again: 2 + 4 GETs + 4 POSTs.
    assert_eq!(github.requests().len(), 10);
}

#[test]
fn a_rate_limit_past_the_deadline_stops_the_run_and_the_next_resumes() {
    let github = GitHub::start();
    let app = App::new();
    app.apply();
    github.script(
        403,
        &[("Retry-After", "3600".into())],
        r#"{"message":"You have exceeded a secondary rate limit"}"#,
    );
    let started = Instant::now();
    let (code, out) = app.track(&github, &["--max-wait", "2s"]);
    assert_eq!(code, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        out.contains("rate limited by GitHub for another 3600 s"),
        "{out}"
    );
    assert!(out.contains("#187:"), "{out}");
    assert_eq!(github.comments().len(), 3, "the other issues went on");
    // No cursor was written: the next run does #187 and finds the other three current.
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(github.comments().len(), 4);
    assert_eq!(current(&out), 3, "{out}");
}

#[test]
fn errors_never_show_the_token() {
    let github = GitHub::start();
    let app = App::new();
    app.apply();
    // A confused server echoing the token in its message, as is and URL-encoded.
    github.script(
        401,
        &[],
        &format!(
            r#"{{"message":"Bad credentials {TOKEN} {}"}}"#,
            TOKEN.replace('_', "%5F")
        ),
    );
    let (code, out) = app.track(&github, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("HTTP 401 (bad or expired GITHUB_TOKEN)"),
        "{out}"
    );
    // Nobody listening.
    let dir = app.migrations();
    let (code, out) = app.tool(&[
        "track",
        "--repo",
        REPO,
        "--database-url",
        &app.url(),
        "--dir",
        dir.to_str().unwrap(),
        "--api-url",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 1, "{out}");
    // Without a token: a usage error before anything is sent.
    let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .args(["track", "--repo", REPO, "--database-url", &app.url()])
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITHUB_TOKEN is not set"));
}

#[test]
fn failures_and_environments() {
    let github = GitHub::start();
    let app = App::new();
    // A migration of issue 301 that fails: the comment says so, with the database's message.
    std::fs::write(
        app.migrations().join("20240120000000_issue_301_broken.sql"),
        "-- Issue #301: Broken\n-- ============ UP MIGRATION ============\nALTER TABLE no_such_table ADD COLUMN x TEXT;\n-- ============ DOWN MIGRATION ============\nSELECT 1;\n",
    )
    .unwrap();
    let dir = app.migrations();
    let (code, out) = app.tool(&[
        "apply",
        "--dir",
        dir.to_str().unwrap(),
        "--database-url",
        &app.url(),
    ]);
    assert_ne!(code, 0, "{out}");
    let (code, out) = app.track(&github, &["--environment", "staging"]);
    assert_eq!(code, 0, "{out}");
    let comments = github.comments();
    let c301 = &comments.iter().find(|c| c.1 == 301).unwrap().2;
    assert!(
        c301.starts_with("<!-- migrator-track issue=301 env=staging -->"),
        "{c301}"
    );
    assert!(
        c301.contains("### Migrations of #301 on `staging`: failed"),
        "{c301}"
    );
    assert!(c301.contains("**Failure** (20240120000000): \""), "{c301}");
    assert!(c301.contains("no_such_table"), "{c301}");
    // Another environment has its own comments and cursor.
    let (code, out) = app.track(&github, &["--environment", "production"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(github.comments().len(), 2 * comments.len());
    // A dry run prints and sends nothing.
    github.clear_requests();
    app.db()
        .execute(
            "DELETE FROM schema_migrations_log WHERE action = 'tracked'",
            [],
        )
        .unwrap();
    let (code, out) = app.track(&github, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(github.requests().is_empty());
    assert!(out.contains("--- #301 (dry run: not posted)"), "{out}");
}

#[test]
fn on_postgres_the_cursor_and_the_comments_work_alike() {
    let Some(db) = migrator_tests::Db::postgres() else {
        return;
    };
    let migrator_tests::Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let github = GitHub::start();
    let app = App::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example-app-postgres");
    let dir = dir.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--dir", dir, "--database-url", &pg.url]);
        app.tool(&all)
    };
    let (code, out) = run(&["apply", "--policy", "migration_safety.yaml"]);
    assert_eq!(code, 0, "{out}");
    let track = ["track", "--repo", REPO, "--api-url", &github.url];
    let (code, out) = run(&track);
    assert_eq!(code, 0, "{out}");
    assert_eq!(github.comments().len(), 4);
    github.clear_requests();
    let (code, out) = run(&track);
    assert_eq!(code, 0, "{out}");
    assert!(github.requests().is_empty(), "{:?}", github.requests());
    let (code, out) = run(&["rollback", "198", "--policy", "migration_safety.yaml"]);
    assert_eq!(code, 0, "{out}");
    db.exec(
        "UPDATE schema_migrations_log SET detail = 'the feed is fast enough without it'
         WHERE action = 'rolled_back'",
    );
    let (code, out) = run(&track);
    assert_eq!(code, 0, "{out}");
    assert_eq!(writes(&github.requests()).len(), 1, "one PATCH");
    let c198 = github.comments().into_iter().find(|c| c.1 == 198).unwrap();
    assert!(
        c198.2.contains(
            "**Rollback reason** (20240110162244): \"the feed is fast enough without it\""
        ),
        "{}",
        c198.2
    );
}
