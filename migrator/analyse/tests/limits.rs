//! Inputs a file can hold that must not exhaust the analyser (issue #11, item 8): deep expressions give a
//! clear finding instead of a stack overflow, and time grows linearly with the number of statements.

use std::time::{Duration, Instant};

use migrator_analyse::{analyse, Analysis, Dialect, Options, Status};

fn file(up: &str) -> migrator_format::Migration {
    let text = format!("-- ============ UP MIGRATION ============\n{up}\n");
    migrator_format::parse_file("20240101000000_limits.sql", &text).expect("test file parses")
}

/// Analyses `up` in a thread with a 2 MiB stack (Rust's default for spawned threads, and less than a
/// host's main thread has), so a walk as deep as the input would overflow it.
fn analyse_in_small_stack(up: String, dialect: Dialect) -> Analysis {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || analyse(&file(&up), Options::new(dialect)))
        .expect("spawn")
        .join()
        .expect("the analyser did not overflow a 2 MiB stack")
}

#[test]
fn a_60_kb_expression_of_30000_terms_is_too_deeply_nested_not_a_stack_overflow() {
    let terms = vec!["1"; 30_000].join("+");
    assert!(terms.len() >= 59_999);
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        let a = analyse_in_small_stack(format!("SELECT {terms};"), dialect);
        assert!(
            matches!(&a.statements[0].status, Status::NotAnalysed { reason } if reason.starts_with("too deeply nested")),
            "{:?}",
            a.statements[0].status
        );
        let f = &a.findings[0];
        assert_eq!(f.id, "not-analysed");
        assert!(
            f.message.starts_with("not analysed: too deeply nested"),
            "{}",
            f.message
        );
    }
}

#[test]
fn the_deepest_statements_analysed_fit_in_a_small_stack() {
    // Just under the bound, in the shapes that build deep trees: a long chain, nested parentheses, a long
    // AND of comparisons in a WHERE, a default expression (walked by the analyser's own code).
    let chain = vec!["1"; 990].join(" + ");
    let nested = format!("{}1{}", "(".repeat(45), ")".repeat(45));
    let ands = vec!["a = 1"; 490].join(" AND ");
    let default = vec!["1"; 900].join(" * ");
    for (sql, dialect) in [
        (format!("SELECT {chain};"), Dialect::Postgres),
        (format!("SELECT {chain};"), Dialect::Sqlite),
        (format!("SELECT {nested};"), Dialect::Postgres),
        (
            format!("UPDATE t SET b = 2 WHERE {ands};"),
            Dialect::Postgres,
        ),
        (
            format!("ALTER TABLE t ADD COLUMN c bigint DEFAULT ({default});"),
            Dialect::Postgres,
        ),
        (
            format!("ALTER TABLE t ADD CONSTRAINT c CHECK ({ands});"),
            Dialect::Postgres,
        ),
    ] {
        let a = analyse_in_small_stack(sql.clone(), dialect);
        assert_eq!(
            a.statements[0].status,
            Status::Analysed,
            "{}",
            &sql[..60.min(sql.len())]
        );
    }
}

fn updates(n: usize) -> String {
    (0..n)
        .map(|i| format!("UPDATE contacts SET score = {i} WHERE id = {i};\n"))
        .collect()
}

/// The best of two runs: the other tests of this binary run at the same time.
fn time_lint(n: usize) -> Duration {
    let m = file(&updates(n));
    (0..2)
        .map(|_| {
            let start = Instant::now();
            let a = analyse(&m, Options::new(Dialect::Postgres));
            let took = start.elapsed();
            assert_eq!(a.statements.len(), n);
            took
        })
        .min()
        .unwrap_or_default()
}

/// 20,000 UPDATEs in one file took 50 s when a rule scanned the whole section for every statement. Now
/// four times the statements take about four times as long (a quadratic pass: sixteen); the bound leaves
/// room for CI noise and an unoptimised build, not for a quadratic pass.
#[test]
fn twenty_thousand_updates_lint_in_linear_time() {
    let small = time_lint(5_000);
    let large = time_lint(20_000);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    println!("5,000 UPDATEs: {small:?}; 20,000: {large:?}; ratio {ratio:.2} (linear: 4)");
    assert!(ratio < 8.0, "not linear: {small:?} then {large:?}");
    assert!(large < Duration::from_secs(60), "{large:?}");
}
