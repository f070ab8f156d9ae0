//! A property test with a fixed seed, run in CI in a few seconds: random and mutated SQL through the file
//! parser, the analyser and lint's report (text and JSON). Whatever the input: no panic, no stack overflow
//! (every analysis runs in a 2 MiB thread), each input analysed within a generous time bound, and time
//! linear in the input (a mutated file doubled costs about twice as much).
//!
//! The seeds of the mutations are the repository's own migrations and test fixtures, plus the registry
//! corpora when `scripts/fetch-corpora.sh` has fetched them (the corpus test does). The generator is a
//! small xorshift RNG: the same inputs on every run, so a failure names its case number and reproduces.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use migrator_analyse::{analyse_all, report, Dialect, Options, Severity};

/// The fixed seed.
const SEED: u64 = 0x5EED_0F11_2024;
/// Generated inputs per run.
const CASES: usize = 2000;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const TOKENS: &[&str] = &[
    "CREATE",
    "TABLE",
    "INDEX",
    "UNIQUE",
    "CONCURRENTLY",
    "ALTER",
    "ADD",
    "COLUMN",
    "DROP",
    "CONSTRAINT",
    "PRIMARY",
    "KEY",
    "FOREIGN",
    "REFERENCES",
    "NOT",
    "NULL",
    "DEFAULT",
    "CHECK",
    "VALID",
    "VALIDATE",
    "SET",
    "TYPE",
    "USING",
    "RENAME",
    "TO",
    "ON",
    "UPDATE",
    "DELETE",
    "INSERT",
    "INTO",
    "VALUES",
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "IS",
    "IN",
    "LIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "BEGIN",
    "COMMIT",
    "TRIGGER",
    "FUNCTION",
    "RETURNS",
    "LANGUAGE",
    "AS",
    "DO",
    "VACUUM",
    "FULL",
    "LOCK",
    "REFRESH",
    "MATERIALIZED",
    "VIEW",
    "SEQUENCE",
    "STATISTICS",
    "COMMENT",
    "IF",
    "EXISTS",
    "CASCADE",
    "TRUNCATE",
    "PRAGMA",
    "REINDEX",
    "CLUSTER",
    "TIME",
    "ZONE",
    "timezone",
    "contacts",
    "orgs",
    "email",
    "id",
    "score",
    "created_at",
    "bigint",
    "integer",
    "text",
    "varchar(20)",
    "numeric(10,2)",
    "timestamptz",
    "timestamp",
    "jsonb",
    "serial",
    "now()",
    "random()",
    "gen_random_uuid()",
    "lower(email)",
    "'UTC'",
    "'x'",
    "''",
    "0",
    "1",
    "-1",
    "3.14",
    "(",
    ")",
    "(",
    ")",
    ",",
    ";",
    ".",
    "=",
    "<>",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "||",
    "::",
    "[",
    "]",
    "$$",
    "$tag$",
    "--",
    "/*",
    "*/",
    "\"Quoted\"",
    "`b`",
    "E'\\''",
    "\n",
];

/// The repository's own SQL: migrations, tool fixtures, and the corpora when present.
fn seeds() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    for dir in [
        root.join("migrations"),
        root.join("migrator/tool/tests/fixtures"),
        root.join("target/corpora"),
    ] {
        collect_sql(&dir, &mut out, 0);
    }
    out.sort();
    out.into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

fn collect_sql(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth < 4 {
            collect_sql(&p, out, depth + 1);
        } else if p.extension().is_some_and(|x| x == "sql") {
            out.push(p);
        }
    }
}

/// The SQL of a seed: the statements of a migrator file (its sections' markers dropped) or the file.
fn body(seed: &str) -> String {
    seed.lines()
        .filter(|l| !l.contains("MIGRATION") && !l.starts_with("-- migrator:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A random statement soup with nesting.
fn random_sql(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(60) + 1 {
        s.push_str(rng.pick(TOKENS));
        s.push(' ');
        if rng.below(20) == 0 {
            let depth = rng.below(80);
            s.push_str(&"(".repeat(depth));
            s.push_str(rng.pick(TOKENS));
            s.push_str(&")".repeat(rng.below(depth + 2)));
        }
    }
    s
}

/// One mutation of `sql`: delete, duplicate or replace a span, insert tokens, cut, or chain an operator
/// many times.
fn mutate(rng: &mut Rng, sql: &str) -> String {
    let bytes = sql.as_bytes();
    let cut = |i: usize| {
        let mut i = i.min(bytes.len());
        while !sql.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let a = cut(rng.below(bytes.len() + 1));
    let b = cut(a + rng.below(200));
    match rng.below(7) {
        0 => format!("{}{}", &sql[..a], &sql[b..]),
        1 => format!("{}{}{}", &sql[..b], &sql[a..b], &sql[a..]),
        2 => format!("{}{}{}", &sql[..a], rng.pick(TOKENS), &sql[b..]),
        3 => format!("{} {} {}", &sql[..a], random_sql(rng), &sql[a..]),
        4 => sql[..a].to_string(),
        5 => {
            let term = rng.pick(&["1", "a", "(x)", "'s'", "f(y)"]);
            let op = rng.pick(&[" + ", " AND ", " || ", " = ", "::int", "[1]"]);
            let n = rng.below(3000);
            format!(
                "{}SELECT {term}{};\n{}",
                &sql[..a],
                op.repeat(n) + term,
                &sql[a..]
            )
        }
        _ => format!("{}{}", &sql[..a], sql[a..].replace(';', "")),
    }
}

/// Analyses one generated migration in a 2 MiB thread, through lint's report: `Err` for a panic,
/// `Ok(false)` when the file parser refused the file (the analyser did not run).
fn run_case(text: String, dialect: Dialect) -> Result<bool, String> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let file = "20240101000000_fuzz.sql";
            let Ok(migration) = migrator_format::parse_file(file, &text) else {
                return false; // malformed files are the parser's clear errors, tested elsewhere
            };
            let analyses = analyse_all(std::slice::from_ref(&migration), Options::new(dialect));
            let _ = report::render_text(&analyses, "migrations", Severity::Warning);
            let doc = report::report(&analyses, dialect, 15, Severity::Error);
            let _ = serde_json::to_string(&doc).expect("the report serialises");
            true
        })
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string())
        })
}

fn wrap(sql: &str, rng: &mut Rng) -> String {
    let header = if rng.below(4) == 0 {
        "-- migrator:no-transaction\n"
    } else {
        ""
    };
    let down = if rng.below(3) == 0 {
        "\n-- ============ DOWN MIGRATION ============\nDROP TABLE contacts;\n"
    } else {
        ""
    };
    format!("{header}-- ============ UP MIGRATION ============\n{sql}\n{down}")
}

#[test]
fn random_and_mutated_sql_never_panics_overflows_or_blows_up() {
    let seeds = seeds();
    assert!(!seeds.is_empty(), "no seed SQL found");
    let mut rng = Rng(SEED);
    let started = Instant::now();
    let mut slowest = (Duration::ZERO, 0usize, 0usize);
    let mut analysed = 0;
    for case in 0..CASES {
        let sql = if rng.below(3) == 0 {
            random_sql(&mut rng)
        } else {
            let mut s = body(&seeds[rng.below(seeds.len())]);
            for _ in 0..rng.below(3) + 1 {
                s = mutate(&mut rng, &s);
            }
            s
        };
        let dialect = if rng.below(2) == 0 {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        let text = wrap(&sql, &mut rng);
        let len = text.len();
        let t = Instant::now();
        match run_case(text.clone(), dialect) {
            Ok(ran) => analysed += usize::from(ran),
            Err(e) => panic!(
                "case {case} ({dialect:?}, {len} bytes) panicked: {e}\n{}",
                &text[..text.len().min(2000)]
            ),
        }
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, case, len);
        }
        assert!(
            took < Duration::from_secs(5),
            "case {case}: {len} bytes took {took:?}"
        );
    }
    println!(
        "{CASES} cases ({analysed} reached the analyser) in {:?}; slowest: case {} ({} bytes) in {:?}",
        started.elapsed(),
        slowest.1,
        slowest.2,
        slowest.0
    );
    assert!(
        analysed > CASES / 2,
        "only {analysed} of {CASES} inputs reached the analyser"
    );
}

/// Time linear in the input: the biggest seed, mutated, repeated 4 and 16 times.
#[test]
fn mutated_input_time_grows_linearly() {
    let seeds = seeds();
    let mut rng = Rng(SEED ^ 1);
    let big = seeds
        .iter()
        .max_by_key(|s| s.len())
        .map(|s| body(s))
        .expect("a seed");
    let base = mutate(&mut rng, &big)
        .replace("BEGIN;", "")
        .replace("COMMIT;", "");
    let time = |copies: usize| {
        let text = wrap(&base.repeat(copies), &mut Rng(SEED));
        let Ok(m) = migrator_format::parse_file("20240101000000_big.sql", &text) else {
            return None;
        };
        // The best of three runs: the other tests of this binary run at the same time.
        (0..3)
            .map(|_| {
                let t = Instant::now();
                let a = analyse_all(std::slice::from_ref(&m), Options::new(Dialect::Postgres));
                assert!(!a[0].statements.is_empty());
                t.elapsed()
            })
            .min()
    };
    let (Some(t2), Some(t8)) = (time(4), time(16)) else {
        println!("the mutated seed does not parse as a file; nothing to time");
        return;
    };
    let ratio = t8.as_secs_f64() / t2.as_secs_f64().max(1e-6);
    println!("x4: {t2:?}, x16: {t8:?}, ratio {ratio:.2} (linear: 4)");
    assert!(ratio < 8.0, "x4 {t2:?} -> x16 {t8:?}: worse than linear");
}
