//! A property test with a fixed seed over the file parser, the strict decoder and `load_dir`: on generated
//! hostile input they never panic, never overflow the stack, report errors inside the file, and take time
//! linear in their input (ten times the input takes about ten times as long, not a hundred).
//!
//! The generator is a small splitmix64 with a fixed seed, so a failure reproduces; each run is bounded
//! in time (about a second per property), which keeps it fit for CI.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use migrator_format::{decode, load_dir, parse_file, FormatError, Migration};

const SEED: u64 = 0x6d69_6772_6174_6f72; // "migrator"

/// splitmix64: tiny, good enough to spread inputs, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces that exercise every branch of the lexer, the section scanner and the directive parser.
const PIECES: &[&str] = &[
    "SELECT 1",
    ";",
    " ",
    "\n",
    "\r\n",
    "'",
    "''",
    "'a;b'",
    "E'\\''",
    "e'\\\\'",
    "$$",
    "$tag$",
    "$1",
    "$",
    "\"",
    "\"q\"\"q\"",
    "`",
    "[",
    "]",
    "(",
    ")",
    "--",
    "-- a comment\n",
    "/*",
    "*/",
    "/* x /* y */ z */",
    "BEGIN",
    "END",
    "COMMIT",
    "ROLLBACK",
    "START TRANSACTION",
    "CASE",
    "ATOMIC",
    "CREATE TRIGGER t AFTER INSERT ON x BEGIN ",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC ",
    "CREATE TABLE IF NOT EXISTS t (a INT REFERENCES u(id) ON UPDATE CASCADE)",
    "DROP TABLE a, b, \"c\"",
    "UPDATE OR REPLACE t SET x = 1",
    "DELETE FROM main.t",
    "INSERT INTO schema_migrations VALUES ('20240101000000')",
    "DELETE FROM public.schema_migrations WHERE version = '20240101000000'",
    "ALTER TABLE t RENAME TO u",
    "CREATE INDEX i ON t (x)",
    "-- ============ UP MIGRATION ============\n",
    "-- ============ DOWN MIGRATION ============\n",
    "-- ============ MIGRATION METRICS ============\n",
    "-- == up migration ==\n",
    "-- migrator:no-transaction\n",
    "-- migrator:allow pg-index-concurrently small table\n",
    "-- migrator:allow\n",
    "-- migrator:bogus\n",
    "-- Issue #12: Title\n",
    "-- Issue #x\n",
    "-- Issue #4294967296: too big\n",
    "-- Reviewed-by: Ada\n",
    "-- Imported-from: diesel 2019-01-01-000000_x\n",
    "-- Imported-from: sqlx 5_x.sql\n",
    "-- Imported-from: refinery V1__x.sql\n",
    "-- Original-checksum: 1\n",
    "-- Original-checksum-int8: 2\n",
    "\u{feff}",
    "é",
    "\u{1F600}",
    "\0",
    "\t",
];

const NAMES: &[&str] = &[
    "20240101000000_a.sql",
    "20240101000000_issue_12_a.sql",
    "202401010000000000_a.sql",
    "5_x.sql",
    "201901010000000000_x.sql",
    "1_x.sql",
    "bad.sql",
    "20241301000000_x.sql",
];

fn text(rng: &mut Rng, max_pieces: usize) -> String {
    let n = rng.below(max_pieces);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(rng.pick(PIECES));
    }
    s
}

fn lines(text: &str) -> u32 {
    u32::try_from(text.split('\n').count()).unwrap_or(u32::MAX)
}

/// What must hold of any answer of the parser.
fn check(name: &str, text: &str, result: &Result<Migration, FormatError>) {
    let last = lines(text);
    match result {
        Ok(m) => {
            assert_eq!(m.checksum.len(), 64, "{name:?} {text:?}");
            for s in m.up.iter().chain(m.down.iter().flat_map(|d| d.iter())) {
                assert!(s.line >= 1 && s.line <= last, "{name:?} {text:?}: {s:?}");
                assert!(!s.sql.trim().is_empty(), "{name:?} {text:?}");
            }
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= last, "{name:?} {text:?}: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn the_parser_never_panics_and_reports_inside_the_file() {
    let _serial = serial();
    let mut rng = Rng(SEED);
    let started = Instant::now();
    let mut cases = 0u32;
    while started.elapsed() < Duration::from_millis(1000) && cases < 200_000 {
        let name = rng.pick(NAMES);
        let text = text(&mut rng, 80);
        let result = parse_file(name, &text);
        check(name, &text, &result);
        cases += 1;
    }
    println!("parser: {cases} generated files");
    assert!(cases > 1000, "only {cases} cases ran");
}

#[test]
fn the_decoder_never_panics_and_names_the_line_of_the_first_bad_byte() {
    let _serial = serial();
    let mut rng = Rng(SEED ^ 1);
    let started = Instant::now();
    let mut cases = 0u32;
    while started.elapsed() < Duration::from_millis(300) {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.below(6) {
                0 => b'\n',
                1 => 0,
                2 => 0x80 + (rng.below(128) as u8),
                _ => b'a' + (rng.below(26) as u8),
            })
            .collect();
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u32;
        match decode("x.sql", bytes.clone()) {
            Ok(text) => assert!(!text.contains('\0')),
            Err(e) => assert!(e.line >= 1 && e.line <= newlines + 1, "{bytes:?}: {e}"),
        }
        cases += 1;
    }
    println!("decoder: {cases} generated files");
}

/// Writes a directory of generated entries in every layout's style.
fn generated_dir(rng: &mut Rng, dir: &Path) {
    const ENTRIES: &[&str] = &[
        "20240101000000_a.sql",
        "20240102000000_issue_3_b.sql",
        "20240103000000_c.up.sql",
        "20240103000000_c.down.sql",
        "2019-02-26-002946_x/up.sql",
        "2019-02-26-002946_x/down.sql",
        "2019-02-26-002946_x/metadata.toml",
        "00000000000000_diesel_initial_setup/up.sql",
        "V1__a.sql",
        "V2/V2__b.sql",
        "U3__c.sql",
        "V4__d.rs",
        "postgres/20240101000000_a.sql",
        "sqlite/20240104000000_d.sql",
        "mysql/V5__e.sql",
        "health/check.sql",
        "README.md",
        ".gitkeep",
        "notes.txt",
        "x.SQL",
        "20240105000000_e.sql ",
    ];
    for _ in 0..rng.below(8) {
        let rel = rng.pick(ENTRIES);
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let body = if rel.ends_with(".toml") {
            rng.pick(&[
                "run_in_transaction = false\n",
                "",
                "run_in_transaction = 1\n",
            ])
            .to_string()
        } else {
            text(rng, 30)
        };
        let _ = std::fs::write(path, body);
    }
}

#[test]
fn load_dir_never_panics_on_generated_directories() {
    let _serial = serial();
    let mut rng = Rng(SEED ^ 2);
    let started = Instant::now();
    let mut cases = 0u32;
    let (mut loaded, mut refused) = (0, 0);
    while started.elapsed() < Duration::from_millis(1000) && cases < 2_000 {
        let dir = tempfile::tempdir().unwrap();
        generated_dir(&mut rng, dir.path());
        match load_dir(dir.path()) {
            Ok(_) => loaded += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
        cases += 1;
    }
    println!("load_dir: {cases} generated directories ({loaded} loaded, {refused} refused)");
    assert!(loaded > 0 && refused > 0);
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let _serial = serial();
    let n = 100_000;
    for body in [
        "(".repeat(n),
        "/*".repeat(n),
        format!("{}{}", "/*".repeat(n), "*/".repeat(n)),
        format!(
            "CREATE TRIGGER t AFTER INSERT ON x BEGIN {} END;",
            "CASE ".repeat(n)
        ),
        format!("SELECT {}1{};", "(".repeat(n), ")".repeat(n)),
        "$a".repeat(n),
        "[".repeat(n),
    ] {
        let text = format!("-- ============ UP MIGRATION ============\n{body}\n");
        let result = parse_file("20240101000000_deep.sql", &text);
        check("deep", &text, &result);
    }
}

/// The tests of this file run one at a time, so the timings do not share the machine with the others.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fastest of five runs of `f`.
fn fastest(mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// How many times longer `large` (ten times `small`) takes: the best of three attempts, so a burst of load
/// on a shared machine does not pass for a quadratic pass (which would show about 100 every time).
fn growth(mut small: impl FnMut(), mut large: impl FnMut()) -> (f64, Duration, Duration) {
    let mut best = (f64::MAX, Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        let (t1, t10) = (fastest(&mut small), fastest(&mut large));
        let ratio = t10.as_secs_f64() / t1.as_secs_f64().max(1e-6);
        if ratio < best.0 {
            best = (ratio, t1, t10);
        }
        if ratio < 20.0 {
            break;
        }
    }
    best
}

#[test]
fn parse_time_grows_linearly_with_the_input() {
    let _serial = serial();
    type Shape = fn(usize) -> String;
    let shapes: [(&str, Shape, usize); 7] = [
        (
            "statements",
            |n| "UPDATE t SET x = x + 1 WHERE id = 7;\n".repeat(n),
            500,
        ),
        (
            "terms of one expression",
            |n| format!("SELECT {}1;\n", "1 + ".repeat(n)),
            10_000,
        ),
        (
            "dollar-quoted body",
            |n| format!("SELECT $f$ {} $f$;\n", "x; $g ".repeat(n)),
            5_000,
        ),
        (
            "doubled quotes",
            |n| format!("SELECT '{}';\n", "''".repeat(n)),
            50_000,
        ),
        (
            "nested comment",
            |n| format!("{}{} SELECT 1;\n", "/* ".repeat(n), "*/ ".repeat(n)),
            5_000,
        ),
        (
            "tables of one DROP",
            |n| {
                format!(
                    "DROP TABLE {}z;\n",
                    (0..n).map(|i| format!("t{i}, ")).collect::<String>()
                )
            },
            2_000,
        ),
        (
            "comment lines",
            |n| format!("{}SELECT 1;\n", "-- note; 'x' $$ /*\n".repeat(n)),
            1_000,
        ),
    ];
    for (what, shape, n) in shapes {
        let file = |n: usize| {
            format!(
                "-- Author: t\n-- ============ UP MIGRATION ============\n{}",
                shape(n)
            )
        };
        let (small, large) = (file(n), file(10 * n));
        parse_file("20240101000000_big.sql", &small).unwrap_or_else(|e| panic!("{what}: {e}"));
        let parse = |text: &str| {
            let _ = parse_file("20240101000000_big.sql", text);
        };
        let (ratio, t1, t10) = growth(|| parse(&small), || parse(&large));
        println!(
            "{what}: {} bytes {:?}, {} bytes {:?}, x{ratio:.1}",
            small.len(),
            t1,
            large.len(),
            t10
        );
        // Linear is about 10; quadratic would be about 100. The margin absorbs a busy machine.
        assert!(
            ratio < 30.0,
            "{what}: 10x the input took {ratio:.1}x the time ({t1:?} -> {t10:?})"
        );
    }
}

#[test]
fn load_time_grows_linearly_with_the_number_of_files() {
    let _serial = serial();
    let write = |n: usize| {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            std::fs::write(
                dir.path()
                    .join(format!("{}_m{i}.sql", 20_240_101_000_000u64 + i as u64)),
                "CREATE TABLE t (x INT);\n",
            )
            .unwrap();
        }
        dir
    };
    let load = |dir: &Path| assert!(!load_dir(dir).unwrap().is_empty());
    let (small, large) = (write(100), write(1_000));
    let (ratio, t1, t10) = growth(|| load(small.path()), || load(large.path()));
    println!("load_dir: 100 files {t1:?}, 1,000 files {t10:?}, x{ratio:.1}");
    assert!(ratio < 30.0, "10x the files took {ratio:.1}x the time");
}
