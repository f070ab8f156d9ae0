//! Online generation against a loopback server: the token arrives as a Bearer header and never shows in
//! errors or output.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;

use common::fixtures;
use migrator_tool::{fetch, Online};

const TOKEN: &str = "ghp_test_secret_0123456789";

/// Serves one request per response (status, body), sending each request head (method line and headers)
/// back.
fn serve(
    responses: Vec<(u16, String)>,
) -> (String, mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    serve_with_headers(
        responses
            .into_iter()
            .map(|(s, b)| (s, String::new(), b))
            .collect(),
    )
}

/// [`serve`] with extra response header lines (`Name: value\r\n` each).
fn serve_with_headers(
    responses: Vec<(u16, String, String)>,
) -> (String, mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        for (status, headers, body) in responses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = tx.send(head);
            let mut stream = reader.into_inner();
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
            let _ = stream.flush();
            let mut rest = Vec::new();
            let _ = stream.read(&mut rest);
        }
    });
    (format!("http://{addr}"), rx, handle)
}

#[test]
fn fetches_the_rest_issue_with_the_token() {
    let body = std::fs::read_to_string(fixtures().join("212.rest.json")).unwrap();
    let (url, rx, handle) = serve(vec![(200, body)]);
    let online = Online {
        repo: "acme/crm".into(),
        api_url: format!("{url}/"),
        token: Some(TOKEN.into()),
    };
    let issue = fetch::fetch_issue(&online, 212).unwrap();
    assert_eq!(issue.number, 212);
    assert_eq!(
        issue.url.as_deref(),
        Some("https://github.com/acme/crm/issues/212")
    );
    let head = rx.recv().unwrap();
    assert!(
        head.starts_with("GET /repos/acme/crm/issues/212 HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "authorization: bearer {}",
            TOKEN.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(!format!("{online:?}").contains(TOKEN));
    handle.join().unwrap();
}

#[test]
fn errors_never_show_the_token() {
    // A hostile or confused server that echoes the token back in its error message.
    let (url, rx, handle) = serve(vec![
        (
            401,
            format!("{{\"message\": \"Bad credentials: {TOKEN}\"}}"),
        ),
        (
            200,
            format!("{{\"number\": 5, \"title\": \"{TOKEN}\", \"body\": 7}}"),
        ),
    ]);
    let online = Online {
        repo: "acme/crm".into(),
        api_url: url.clone(),
        token: Some(TOKEN.into()),
    };
    let e = fetch::fetch_issue(&online, 5).unwrap_err().to_string();
    assert!(e.contains("HTTP 401") && e.contains("GITHUB_TOKEN"), "{e}");
    assert!(!e.contains(TOKEN), "{e}");
    let _ = rx.recv().unwrap();
    let e = fetch::fetch_issue(&online, 5).unwrap_err().to_string();
    assert!(e.contains("field `body` must be a string"), "{e}");
    assert!(!e.contains(TOKEN), "{e}");
    handle.join().unwrap();
    // Nobody listening.
    let e = fetch::fetch_issue(&online, 5).unwrap_err().to_string();
    assert!(!e.contains(TOKEN), "{e}");
    let bad = Online {
        repo: "../etc".into(),
        api_url: url,
        token: None,
    };
    assert!(fetch::fetch_issue(&bad, 1).is_err());
}

#[test]
fn the_cli_generates_online() {
    let body = std::fs::read_to_string(fixtures().join("212.rest.json")).unwrap();
    let (url, rx, handle) = serve(vec![
        (200, body),
        (404, "{\"message\": \"Not Found\"}".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    common::copy_example(
        &dir.path().join("migrations"),
        migrator_tool::Dialect::Sqlite,
        Some(212),
    );
    let run = |issue: &str| {
        Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
            .current_dir(dir.path())
            .args([
                "-v",
                "generate",
                "--repo",
                "acme/crm",
                "--issue",
                issue,
                "--timestamp",
                "20240115143022",
                "--dry-run",
            ])
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", &url)
            .output()
            .unwrap()
    };
    let out = run("212");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("CREATE TABLE user_preferences"));
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    assert!(rx
        .recv()
        .unwrap()
        .to_ascii_lowercase()
        .contains("authorization: bearer"));
    let out = run("213");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("HTTP 404"), "{stderr}");
    assert!(!stderr.contains(TOKEN));
    handle.join().unwrap();
}

/// Every form of the token a server can send back: as written, in another case, URL-encoded (a redirect's
/// `Location`), base64 (an echoed `Authorization: Basic` header), JSON-escaped.
fn echoes() -> Vec<String> {
    let encoded: String = TOKEN.bytes().map(|b| format!("%{b:02X}")).collect();
    vec![
        TOKEN.to_string(),
        TOKEN.to_uppercase(),
        encoded.clone(),
        encoded.to_lowercase(),
        "eC1hY2Nlc3MtdG9rZW46Z2hwX3Rlc3Rfc2VjcmV0XzAxMjM0NTY3ODk=".to_string(), // x-access-token:TOKEN
        "Z2hwX3Rlc3Rfc2VjcmV0XzAxMjM0NTY3ODk=".to_string(),                     // TOKEN
    ]
}

fn leaks(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut found: Vec<String> = echoes()
        .into_iter()
        .filter(|e| lower.contains(&e.to_lowercase()))
        .collect();
    // The base64 forms without their padding and first characters (any alignment).
    if text.contains("3Rlc3Rfc2VjcmV0XzAxMjM0") {
        found.push("base64 core".into());
    }
    found
}

#[test]
fn no_form_of_the_token_reaches_errors_output_or_logs() {
    let echoed = echoes().join(" ");
    let redirect = format!(
        "Location: http://127.0.0.1:9/steal?token={}&t2={TOKEN}\r\n",
        echoes()[2]
    );
    let issue = serde_json::json!({
        "number": 212, "title": format!("Prefs {TOKEN}"), "html_url": "https://github.com/acme/crm/issues/212",
        "body": format!("Echo: {echoed}\n\n```sql\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n```\n"),
        "comments": 0
    })
    .to_string();
    let (url, rx, handle) = serve_with_headers(vec![
        (302, redirect, String::new()),
        (
            401,
            String::new(),
            format!(
                "{{\"message\": \"Bad credentials: Authorization: Bearer {TOKEN} / Basic {}\"}}",
                echoes()[4]
            ),
        ),
        (200, String::new(), issue),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
            .current_dir(dir.path())
            .args([
                "-v",
                "generate",
                "--repo",
                "acme/crm",
                "--issue",
                "212",
                "--timestamp",
                "20240115143022",
                "--dry-run",
            ])
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", &url)
            .env("MIGRATOR_LOG", "debug")
            .output()
            .unwrap()
    };
    // A redirect is reported, not followed, and its address is scrubbed.
    let out = run();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("HTTP 302") && stderr.contains("not followed"),
        "{stderr}"
    );
    assert!(
        leaks(&stdout).is_empty() && leaks(&stderr).is_empty(),
        "{:?}\n{stderr}",
        leaks(&stderr)
    );
    assert!(rx
        .recv()
        .unwrap()
        .to_ascii_lowercase()
        .contains("authorization: bearer"));
    // An error that echoes the header back, in clear and in base64.
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(leaks(&stderr).is_empty(), "{:?}\n{stderr}", leaks(&stderr));
    let _ = rx.recv();
    // An issue whose title and body carry the token: the generated files and the output do not.
    let out = run();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("CREATE TABLE t"), "{stdout}");
    assert!(leaks(&stdout).is_empty(), "{:?}\n{stdout}", leaks(&stdout));
    assert!(leaks(&stderr).is_empty(), "{:?}\n{stderr}", leaks(&stderr));
    assert!(stderr.contains("fetching issue"), "the log is on: {stderr}");
    handle.join().unwrap();
}
