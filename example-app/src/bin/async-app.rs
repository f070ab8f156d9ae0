//! The async example (feature `async`): a small tokio HTTP service that migrates its database at start,
//! serves `/health` at once, and runs its backfill migration in the background; the migration that waits
//! for the backfill (an index on the backfilled column) is applied when it is done.
//!
//! ```text
//! async-app seed 200000            the schema up to the backfill (deferred) and 200,000 demo accounts
//! async-app [serve]                migrate (backfill in the background) and serve on 127.0.0.1:8080
//! async-app --migrate-status       an admin flag instead (any of --migrate-help)
//! ```
//!
//! The HTTP/1 loop is hand-rolled on tokio (a few routes, `Connection: close`): enough for `/health`
//! without a web framework's dependencies.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use migrator::asynch::{AsyncMigrator, BackfillTask, Url};
use migrator::backfill::BackfillMode;
use migrator::connect::{Create, Database};
use migrator::{embed_migrations, embed_policy, MigrationSet, Migrator, Policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static MIGRATIONS: MigrationSet = embed_migrations!("migrations-async");

static POLICY: Policy = embed_policy!("migration_safety.yaml");

const USAGE: &str = "\
async-app: a tokio HTTP service that migrates its database at start and backfills in the background

Usage:
  async-app [serve]          migrate, then serve /health, /backfill and /accounts/count
  async-app seed N           migrate up to the backfill (deferred) and add N demo accounts, then exit
  async-app --migrate-...    an admin action instead (see below)

Options:
  --database-url URL    sqlite:PATH or postgres://... (default: $DATABASE_URL, else sqlite:async-app.db)
  --listen ADDR         where to serve (default 127.0.0.1:8080; port 0 picks a free one, printed)
  --backfill MODE       inline, background (default) or deferred
  --lock-wait SECS      how long a boot waits for another replica (default 60)
";

/// What the command line asks for.
struct Args {
    url: String,
    listen: String,
    mode: BackfillMode,
    lock_wait: Option<Duration>,
    seed: Option<u64>,
    admin: Vec<String>,
}

fn parse_args(args: Vec<String>) -> Result<Option<Args>, String> {
    let (own, admin) = migrator::admin::split_args(args);
    let mut parsed = Args {
        url: std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:async-app.db".to_string()),
        listen: "127.0.0.1:8080".to_string(),
        mode: BackfillMode::Background,
        lock_wait: None,
        seed: None,
        admin,
    };
    let mut iter = own.into_iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--database-url" => parsed.url = value("--database-url")?,
            "--listen" => parsed.listen = value("--listen")?,
            "--backfill" => {
                let mode = value("--backfill")?;
                parsed.mode = BackfillMode::parse(&mode).ok_or(format!(
                    "--backfill {mode}: use inline, background or deferred"
                ))?;
            }
            "--lock-wait" => {
                let secs: f64 = value("--lock-wait")?
                    .parse()
                    .map_err(|e| format!("--lock-wait: {e}"))?;
                parsed.lock_wait = Some(
                    Duration::try_from_secs_f64(secs).map_err(|e| format!("--lock-wait: {e}"))?,
                );
            }
            "serve" => {}
            "seed" => {
                let n = value("seed")?;
                parsed.seed = Some(n.parse().map_err(|_| format!("seed {n}: not a number"))?);
            }
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1).collect()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}\n{}", migrator::admin::help());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = migrator::Config::from_policy(&POLICY);
    config.backfill = if args.seed.is_some() {
        BackfillMode::Deferred
    } else {
        args.mode
    };
    if let Some(wait) = args.lock_wait {
        config.lock_wait = wait;
    }
    let migrator = AsyncMigrator::new(Migrator::new(&MIGRATIONS).with_config(config));
    if let Some(code) = migrator.admin_main(Url::new(&args.url), &args.admin).await {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    match args.seed {
        Some(n) => seed(&migrator, &args.url, n).await,
        None => serve(migrator, args).await,
    }
}

/// `seed N`: the schema up to the backfill, then demo accounts with untidy e-mail addresses.
async fn seed(migrator: &AsyncMigrator, url: &str, n: u64) -> ExitCode {
    if let Err(e) = migrator.boot(Url::new(url)).await {
        eprintln!("error: the database cannot be migrated:\n{e}");
        return ExitCode::FAILURE;
    }
    // Ids 1..=n from a cross join of digit tables: the same SQL on every engine.
    let digits = n.max(1).to_string().len() as u32;
    let digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let sql = format!(
        "INSERT INTO accounts (id, email) SELECT id, CONCAT('  User', id, '@Example.COM ')
         FROM (SELECT 1 + {} AS id FROM {}) AS numbers
         WHERE id <= {n} AND id > (SELECT coalesce(max(id), 0) FROM accounts)",
        (0..digits)
            .map(|i| format!("{} * d{i}.d", 10u64.pow(i)))
            .collect::<Vec<_>>()
            .join(" + "),
        (0..digits)
            .map(|i| format!("{digit} AS d{i}"))
            .collect::<Vec<_>>()
            .join(" CROSS JOIN ")
    );
    match query(url, move |db| db.execute(&sql).map(|()| 0)).await {
        Ok(_) => {
            println!("Seeded the accounts up to id {n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: seeding failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `/health` and `/backfill` report.
#[derive(Default)]
struct State {
    booted: bool,
    error: Option<String>,
    applied: usize,
    waiting: Vec<u64>,
    backfill: Option<BackfillTask>,
    backfill_result: Option<String>,
}

type Shared = Arc<Mutex<State>>;

/// Serves at once (503 while migrating), boots, then keeps serving while the backfill runs.
async fn serve(migrator: AsyncMigrator, args: Args) -> ExitCode {
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(e) => eprintln!("warning: {e}"),
    }
    let state: Shared = Arc::default();
    tokio::spawn(accept(listener, state.clone(), args.url.clone()));
    let booted = migrator.boot(Url::new(&args.url)).await;
    let failed = {
        let mut s = lock(&state);
        s.booted = true;
        match booted {
            Ok(booted) => {
                s.applied = booted.report.applied_versions().len();
                s.waiting = booted.report.waiting_versions();
                print!(
                    "{}",
                    migrator::render::report(&booted.report, migrator::render::Style::Plain)
                );
                s.backfill = booted.backfill;
                false
            }
            Err(e) => {
                eprintln!("error: the database cannot be migrated:\n{e}");
                s.error = Some(e.to_string());
                true
            }
        }
    };
    if failed {
        return ExitCode::FAILURE;
    }
    tokio::spawn(watch_backfill(state.clone()));
    shutdown_signal().await;
    let task = lock(&state).backfill.take();
    if let Some(task) = task {
        // Stopped at its next batch: every committed batch stays, the next start resumes.
        let _ = task.stop().await;
    }
    ExitCode::SUCCESS
}

/// Waits for the background backfill and records how it ended.
async fn watch_backfill(state: Shared) {
    loop {
        let finished = {
            let s = lock(&state);
            s.backfill.as_ref().map(BackfillTask::is_finished)
        };
        match finished {
            None => return,
            Some(true) => break,
            Some(false) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let Some(task) = lock(&state).backfill.take() else {
        return;
    };
    let result = match task.wait().await {
        Ok(report) => {
            print!(
                "{}",
                migrator::render::report(&report, migrator::render::Style::Plain)
            );
            "done".to_string()
        }
        Err(e) => {
            eprintln!("error: the backfill stopped:\n{e}");
            format!("failed: {e}")
        }
    };
    let mut s = lock(&state);
    s.waiting.clear();
    s.backfill_result = Some(result);
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept(listener: TcpListener, state: Shared, url: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(respond(stream, state.clone(), url.clone()));
    }
}

/// Reads one request (its head) and answers it.
async fn respond(mut stream: TcpStream, state: Shared, url: String) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&head);
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET", "/health") => health(&state),
        ("GET", "/backfill") => backfill(&state),
        ("GET", "/accounts/count") => count(&url).await,
        ("GET", _) => (404, "{\"error\":\"not found\"}".to_string()),
        _ => (405, "{\"error\":\"GET only\"}".to_string()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// 200 once the boot returned (the backfill may still run: the service works meanwhile), 503 before, 500
/// when the boot failed.
fn health(state: &Shared) -> (u16, String) {
    let s = lock(state);
    if let Some(error) = &s.error {
        return (
            500,
            format!("{{\"status\":\"failed\",\"error\":{}}}", json(error)),
        );
    }
    if !s.booted {
        return (503, "{\"status\":\"migrating\"}".to_string());
    }
    let waiting: Vec<String> = s.waiting.iter().map(u64::to_string).collect();
    (
        200,
        format!(
            "{{\"status\":\"ok\",\"applied_at_boot\":{},\"waiting_for_backfill\":[{}]}}",
            s.applied,
            waiting.join(",")
        ),
    )
}

/// The background backfill's progress.
fn backfill(state: &Shared) -> (u16, String) {
    let s = lock(state);
    if let Some(result) = &s.backfill_result {
        return (200, format!("{{\"state\":{}}}", json(result)));
    }
    let Some(task) = &s.backfill else {
        return (200, "{\"state\":\"none\"}".to_string());
    };
    match task.progress() {
        None => (200, "{\"state\":\"starting\"}".to_string()),
        Some(p) => (
            200,
            format!(
                "{{\"state\":\"{}\",\"rows_done\":{},\"batches\":{},\"percent\":{:.1},\"batch_size\":{}}}",
                p.state.phase,
                p.state.rows_done,
                p.state.batches,
                p.state.fraction().unwrap_or(1.0) * 100.0,
                p.batch_size
            ),
        ),
    }
}

/// The application's own work while the backfill runs: a query on its own connection.
async fn count(url: &str) -> (u16, String) {
    let sql = "SELECT count(*), count(email_normalized) FROM accounts";
    let result = query(url, move |db| {
        let rows = db.query(sql)?;
        let cell = |i: usize| rows.first().and_then(|r| r.get(i)?.as_i64()).unwrap_or(0);
        Ok((cell(0), cell(1)))
    })
    .await;
    match result {
        Ok((all, normalized)) => (
            200,
            format!("{{\"accounts\":{all},\"normalized\":{normalized}}}"),
        ),
        Err(e) => (500, format!("{{\"error\":{}}}", json(&e))),
    }
}

/// Runs `work` on a connection of its own, on the blocking pool (the engines are synchronous).
async fn query<R: Send + 'static>(
    url: &str,
    work: impl FnOnce(&mut dyn migrator::Engine) -> Result<R, migrator::DbError> + Send + 'static,
) -> Result<R, String> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut db = Database::open(&url, Create::No).map_err(|e| e.to_string())?;
        db.with_engine(|engine| work(engine).map_err(|e| e.to_string()))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A JSON string.
fn json(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
