//! From one migration's analysis and live estimate to its preview sections, and from several to their
//! sum. Pure: the database was read before (estimates, data-loss counts), nothing here queries it.

use std::collections::{BTreeMap, BTreeSet};

use migrator_analyse::{
    Action, Analysis, Dialect, LiveCheckKind, ObjectKind, Section, Severity, StatementAnalysis,
    Status, Work,
};

use super::model::{
    Complexity, ConstraintChange, DataLoss, Dropped, LockUse, ModifiedTable, NewTable, Performance,
    Rollback, SchemaChanges, Sections, Warning,
};
use crate::live::{CheckOutcome, CheckResult, MigrationEstimate, StatementEstimate};

/// What one migration's sections are made from.
pub(crate) struct Inputs<'a> {
    /// The offline analysis (for the dialect and version of this database).
    pub analysis: &'a Analysis,
    /// The live figures.
    pub estimate: &'a MigrationEstimate,
    /// What its DOWN would destroy now (counted on the database).
    pub data_loss: Vec<DataLoss>,
    /// Whether it has a DOWN with statements.
    pub has_down: bool,
    /// The generated files that exist.
    pub files: Vec<String>,
    /// The live failure checks run on the database (empty for a migration that is applied).
    pub checks: &'a [CheckResult],
}

/// History statements the file carries for standalone runs: not part of the schema change.
fn is_history(table: &str) -> bool {
    table.starts_with("schema_migrations")
}

fn section(analysis: &Analysis, which: Section) -> impl Iterator<Item = &StatementAnalysis> {
    analysis
        .statements
        .iter()
        .filter(move |s| s.section == which)
}

/// Tables the UP creates (they are empty while it runs: their locks and scans cost nothing).
fn created_tables(analysis: &Analysis) -> BTreeSet<&str> {
    section(analysis, Section::Up)
        .flat_map(|s| &s.objects)
        .filter(|o| o.object == ObjectKind::Table && o.action == Action::Create)
        .map(|o| o.name.as_str())
        .collect()
}

/// The preview sections of one migration.
pub(crate) fn sections(inputs: Inputs<'_>) -> Sections {
    let performance = performance(inputs.analysis, inputs.estimate);
    // What will fail on this data first: it decides whether the migration can run at all.
    let mut warnings = live_checks(inputs.analysis, inputs.checks);
    warnings.extend(lock_notes(inputs.analysis, &performance));
    warnings.extend(findings(inputs.analysis));
    Sections {
        not_understood: inputs
            .analysis
            .statements
            .iter()
            .filter(|s| !matches!(s.status, Status::Analysed))
            .count(),
        schema_changes: schema_changes(inputs.analysis),
        performance,
        warnings,
        rollback: rollback(
            inputs.analysis,
            inputs.estimate,
            inputs.has_down,
            inputs.data_loss,
        ),
        generated_files: inputs.files,
    }
}

/// `references contacts(id)` → `contacts.id`; `references contacts(a, b)` → `contacts(a, b)`.
fn referenced(detail: &str) -> String {
    let target = detail
        .split_once("references ")
        .map_or(detail, |(_, t)| t)
        .trim();
    match target.split_once('(') {
        Some((table, cols)) if !cols.contains(',') => {
            format!("{table}.{}", cols.trim_end_matches(')'))
        }
        _ => target.to_string(),
    }
}

fn schema_changes(analysis: &Analysis) -> SchemaChanges {
    let created = created_tables(analysis);
    let mut out = SchemaChanges::default();
    let mut modified: BTreeMap<String, ModifiedTable> = BTreeMap::new();
    let objects: Vec<_> = section(analysis, Section::Up)
        .flat_map(|s| &s.objects)
        .filter(|o| !is_history(o.table.as_deref().unwrap_or(&o.name)))
        .collect();
    for table in &created {
        let on_table = |kind: ObjectKind| {
            objects
                .iter()
                .filter(|o| {
                    o.object == kind
                        && o.action == Action::Create
                        && o.table.as_deref() == Some(table)
                })
                .count()
        };
        out.new_tables.push(NewTable {
            name: table.to_string(),
            columns: on_table(ObjectKind::Column),
            indexes: on_table(ObjectKind::Index),
        });
    }
    for o in &objects {
        let table = o.table.clone().unwrap_or_default();
        let existing = o.table.is_some() && !created.contains(table.as_str());
        let column = || o.name.rsplit('.').next().unwrap_or(&o.name).to_string();
        match (o.object, o.action) {
            (ObjectKind::Column, Action::Create) if existing => {
                modified_entry(&mut modified, &table)
                    .added_columns
                    .push(column())
            }
            (ObjectKind::Column, Action::Drop) if existing => modified_entry(&mut modified, &table)
                .dropped_columns
                .push(column()),
            (ObjectKind::Column, Action::Alter | Action::Rename) if existing => {
                modified_entry(&mut modified, &table)
                    .altered_columns
                    .push(column())
            }
            (ObjectKind::Index, Action::Create) if existing => {
                modified_entry(&mut modified, &table)
                    .indexes
                    .push(o.name.clone())
            }
            (ObjectKind::ForeignKey, Action::Create) => {
                let detail = o.detail.as_deref().unwrap_or_default();
                let from = match detail.strip_prefix('(') {
                    Some(rest) => {
                        let cols = rest.split_once(')').map_or(rest, |(c, _)| c);
                        if cols.contains(',') {
                            format!("{table}({cols})")
                        } else {
                            format!("{table}.{cols}")
                        }
                    }
                    None => o.name.clone(),
                };
                out.constraints.push(ConstraintChange {
                    kind: "FK".into(),
                    table: table.clone(),
                    description: format!("{from} → {}", referenced(detail)),
                });
            }
            (ObjectKind::Constraint, Action::Create) => {
                let detail = o.detail.as_deref().unwrap_or_default();
                let (kind, description) = if let Some(check) = detail.strip_prefix("check ") {
                    ("CHECK", check.to_string())
                } else if detail.starts_with('(') {
                    ("UNIQUE", format!("{table}{detail}"))
                } else {
                    ("CONSTRAINT", format!("{table}.{}", o.name))
                };
                out.constraints.push(ConstraintChange {
                    kind: kind.into(),
                    table: table.clone(),
                    description,
                });
            }
            // Rows a DELETE or TRUNCATE removes are data, not schema: the findings name them.
            (kind, Action::Drop) if !matches!(kind, ObjectKind::Column | ObjectKind::Rows) => {
                out.dropped.push(Dropped {
                    kind: object_kind_name(kind).into(),
                    name: o.name.clone(),
                })
            }
            _ => {}
        }
    }
    out.modified_tables = modified.into_values().collect();
    out
}

fn modified_entry<'m>(
    modified: &'m mut BTreeMap<String, ModifiedTable>,
    table: &str,
) -> &'m mut ModifiedTable {
    modified
        .entry(table.to_string())
        .or_insert_with(|| ModifiedTable {
            name: table.to_string(),
            ..ModifiedTable::default()
        })
}

fn object_kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Table => "table",
        ObjectKind::Column => "column",
        ObjectKind::Index => "index",
        ObjectKind::Constraint => "constraint",
        ObjectKind::ForeignKey => "foreign key",
        ObjectKind::Trigger => "trigger",
        ObjectKind::Function => "function",
        ObjectKind::View => "view",
        ObjectKind::Type => "type",
        ObjectKind::Sequence => "sequence",
        ObjectKind::Schema => "schema",
        ObjectKind::Extension => "extension",
        ObjectKind::Rows => "rows",
        ObjectKind::Other => "object",
    }
}

fn estimate_of(
    estimates: &[StatementEstimate],
    which: Section,
    index: usize,
) -> Option<&StatementEstimate> {
    estimates
        .iter()
        .find(|e| e.section == which && e.index == index)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn performance(analysis: &Analysis, estimate: &MigrationEstimate) -> Performance {
    let created = created_tables(analysis);
    let sqlite = analysis.dialect == Dialect::Sqlite;
    let mut locks = Vec::new();
    let mut rows_by_table: BTreeMap<&str, u64> = BTreeMap::new();
    let mut upper_bound = false;
    let mut dml_space = 0u64;
    for s in section(analysis, Section::Up) {
        let est = estimate_of(&estimate.up, Section::Up, s.index);
        for t in &s.tables {
            if is_history(&t.table) {
                continue;
            }
            let existing = !created.contains(t.table.as_str());
            // SQLite's write lock is database-wide: every statement makes writers wait.
            if t.blocks_writes && (existing || sqlite) {
                locks.push(LockUse {
                    statement: s.kind.clone(),
                    file: analysis.file.clone(),
                    line: s.line,
                    table: t.table.clone(),
                    lock: t.lock.sql_name().to_string(),
                    blocks_reads: t.blocks_reads,
                    blocks_writes: t.blocks_writes,
                    brief: t.brief,
                    duration_ms: est.map_or(0.0, |e| ms(e.lock_duration)),
                });
            }
            if existing && t.work != Work::None {
                let stats = estimate.tables.iter().find(|st| st.table == t.table);
                let rows = match est.and_then(|e| e.rows) {
                    Some(rows) => rows,
                    // An UPDATE/DELETE the database cannot size yet (its WHERE names a column an
                    // earlier statement adds): at most the whole table.
                    None => {
                        upper_bound |= t.work == Work::Rows && stats.is_some();
                        stats.map_or(0, |st| st.rows)
                    }
                };
                // An UPDATE writes a new version of each row it touches (PostgreSQL) or journals the
                // old pages (SQLite): about the bytes of those rows, on top of the live figure.
                if s.kind == "UPDATE" {
                    if let Some(st) = stats.filter(|st| st.rows > 0) {
                        let per_row = st.table_bytes as f64 / st.rows as f64;
                        dml_space += (per_row * rows.min(st.rows) as f64) as u64;
                    }
                }
                let slot = rows_by_table.entry(t.table.as_str()).or_default();
                *slot = (*slot).max(rows);
            }
        }
    }
    let up: Vec<_> = estimate.up.iter().collect();
    Performance {
        estimated_duration_ms: ms(estimate.up_total),
        measured: !up.is_empty() && up.iter().all(|e| e.measured),
        locks,
        lock_duration_ms: ms(estimate.lock_duration),
        affected_rows: rows_by_table.values().sum(),
        rows_upper_bound: upper_bound,
        space_bytes: estimate.space_bytes + dml_space,
        downtime: estimate.downtime,
    }
}

/// Notes from the figures: which tables wait and for how long, and the downtime verdict.
fn lock_notes(analysis: &Analysis, performance: &Performance) -> Vec<Warning> {
    let note = |id: &str, severity: Severity, line: u32, message: String| Warning {
        id: id.into(),
        severity: severity.to_string(),
        file: analysis.file.clone(),
        section: "up".into(),
        line,
        message,
        safe_alternative: None,
        suppressed: None,
        query: None,
    };
    let mut out = Vec::new();
    if analysis.dialect == Dialect::Sqlite {
        if let Some(first) = performance.locks.first() {
            out.push(note(
                "lock",
                Severity::Info,
                first.line,
                format!(
                    "SQLite's write lock is held for the whole migration (~{}): writers wait, readers go on in WAL mode",
                    super::text::duration(performance.lock_duration_ms)
                ),
            ));
        }
    } else {
        for l in &performance.locks {
            let waits = if l.blocks_reads {
                "reads and writes"
            } else {
                "writes"
            };
            let message = if l.brief {
                format!(
                    "Brief lock on {} table during {} ({}, {waits} wait)",
                    l.table, l.statement, l.lock
                )
            } else {
                format!(
                    "{} on {} during {}: {waits} wait ~{}",
                    l.lock,
                    l.table,
                    l.statement,
                    super::text::duration(l.duration_ms)
                )
            };
            let severity = if l.brief {
                Severity::Info
            } else {
                Severity::Warning
            };
            out.push(note("lock", severity, l.line, message));
        }
    }
    if performance.downtime {
        out.push(note(
            "downtime",
            Severity::Warning,
            performance.locks.first().map_or(0, |l| l.line),
            format!(
                "reads or writes are blocked for ~{}, longer than the policy's max_lock_duration: plan a maintenance window or split the migration",
                super::text::duration(performance.lock_duration_ms)
            ),
        ));
    }
    out
}

/// The safety findings: unsuppressed first, most severe first, then the allowed ones.
fn findings(analysis: &Analysis) -> Vec<Warning> {
    let mut found: Vec<_> = analysis.findings.iter().collect();
    found.sort_by_key(|f| {
        (
            f.suppressed.is_some(),
            std::cmp::Reverse(f.severity),
            f.line,
        )
    });
    found
        .into_iter()
        .map(|f| Warning {
            id: f.id.to_string(),
            severity: f.severity.to_string(),
            file: f.file.clone(),
            section: match f.section {
                Section::Up => "up",
                Section::Down => "down",
            }
            .into(),
            line: f.line,
            message: f.message.clone(),
            safe_alternative: Some(f.safe_alternative.clone()),
            suppressed: f.suppressed.clone(),
            query: None,
        })
        .collect()
}

/// The live checks' outcomes: `will-fail` errors (with the query that shows why), then `not-checked`
/// notes. A check that passed says nothing.
fn live_checks(analysis: &Analysis, checks: &[CheckResult]) -> Vec<Warning> {
    let mut out: Vec<Warning> = Vec::new();
    for c in checks {
        let (id, severity, message, alternative) = match &c.outcome {
            CheckOutcome::Passed => continue,
            CheckOutcome::Fails { message, .. } => (
                "will-fail",
                Severity::Error,
                message.clone(),
                Some(fix_for(c.check.kind).to_string()),
            ),
            CheckOutcome::Undecided(why) => (
                "not-checked",
                Severity::Info,
                format!("{} ({}): {why}", check_name(c.check.kind), c.check.table),
                None,
            ),
        };
        out.push(Warning {
            id: id.into(),
            severity: severity.to_string(),
            file: analysis.file.clone(),
            section: "up".into(),
            line: c.line,
            message,
            safe_alternative: alternative,
            suppressed: None,
            query: matches!(c.outcome, CheckOutcome::Fails { .. })
                .then(|| c.check.show_sql.clone())
                .flatten(),
        });
    }
    out.sort_by_key(|w| (w.id != "will-fail", w.line));
    out
}

/// What a failure check looks for, in a few words.
fn check_name(kind: LiveCheckKind) -> &'static str {
    match kind {
        LiveCheckKind::Nulls => "NULLs under the new NOT NULL",
        LiveCheckKind::Duplicates => "duplicates under the new unique key",
        LiveCheckKind::Orphans => "orphans under the new foreign key",
        LiveCheckKind::CheckViolations => "rows the new CHECK refuses",
        LiveCheckKind::SqliteDropColumnBlocked => "what stops SQLite's DROP COLUMN",
        LiveCheckKind::RowCount | LiveCheckKind::RowsAffected => "sizes",
    }
}

/// What to do when a failure check found something.
fn fix_for(kind: LiveCheckKind) -> &'static str {
    match kind {
        LiveCheckKind::Nulls => "fill the NULLs first (an UPDATE in batches, or a backfill migration), then SET NOT NULL",
        LiveCheckKind::Duplicates => "remove or merge the duplicate rows first (the query shows them), then build the unique index",
        LiveCheckKind::Orphans => "delete or repair the orphan rows (or insert their parents) first; or add the foreign key NOT VALID and VALIDATE it once they are clean",
        LiveCheckKind::CheckViolations => "fix the rows the CHECK refuses first; or add it NOT VALID (new rows only) and VALIDATE it once they are clean",
        LiveCheckKind::SqliteDropColumnBlocked => "drop the indexes, views and triggers that use the column earlier in the same migration, or rebuild the table without it (the 12-step rebuild)",
        LiveCheckKind::RowCount | LiveCheckKind::RowsAffected => "",
    }
}

fn rollback(
    analysis: &Analysis,
    estimate: &MigrationEstimate,
    has_down: bool,
    data_loss: Vec<DataLoss>,
) -> Rollback {
    let down: Vec<_> = section(analysis, Section::Down)
        .filter(|s| !s.tables.iter().all(|t| is_history(&t.table)) || s.tables.is_empty())
        .collect();
    let (complexity, reason) = complexity(analysis, &down, has_down);
    Rollback {
        available: has_down,
        duration_ms: ms(estimate.down_total),
        measured: !estimate.down.is_empty() && estimate.down.iter().all(|e| e.measured),
        data_loss,
        complexity,
        complexity_reason: reason,
        missing_down: if has_down {
            Vec::new()
        } else {
            vec![analysis.file.clone()]
        },
    }
}

/// How hard the DOWN is: High without a DOWN, outside a transaction or with statements the analyser
/// cannot read; Medium when it moves data or rebuilds tables; Low for schema statements only.
fn complexity(
    analysis: &Analysis,
    down: &[&StatementAnalysis],
    has_down: bool,
) -> (Complexity, String) {
    let n = down.len();
    if !has_down {
        return (
            Complexity::High,
            "no DOWN: cannot be rolled back (restore the backup instead)".into(),
        );
    }
    if down.iter().any(|s| !matches!(s.status, Status::Analysed)) {
        return (
            Complexity::High,
            format!("{n} statements, some the analyser cannot read"),
        );
    }
    if analysis.no_transaction {
        return (
            Complexity::High,
            format!("{n} statements outside a transaction: a failure leaves it half done"),
        );
    }
    let data = down
        .iter()
        .filter(|s| s.tables.iter().any(|t| t.work == Work::Rows))
        .count();
    let rebuilds = down.iter().filter(|s| s.needs_rebuild).count();
    if data > 0 || rebuilds > 0 {
        let mut why = Vec::new();
        if data > 0 {
            why.push(format!("{data} move data"));
        }
        if rebuilds > 0 {
            why.push(format!("{rebuilds} rebuild tables"));
        }
        return (
            Complexity::Medium,
            format!("{n} statements, {}", why.join(", ")),
        );
    }
    (
        Complexity::Low,
        format!("{n} statements, schema only, one transaction"),
    )
}

/// The sections of several migrations as one: lists joined, times and rows added, the longest lock, the
/// highest complexity.
pub(crate) fn combine<'a>(all: impl IntoIterator<Item = &'a Sections>) -> Sections {
    let mut out = Sections::default();
    let mut first = true;
    out.performance.measured = true;
    out.rollback.measured = true;
    out.rollback.available = true;
    for s in all {
        let c = &mut out.schema_changes;
        c.new_tables
            .extend(s.schema_changes.new_tables.iter().cloned());
        c.dropped.extend(s.schema_changes.dropped.iter().cloned());
        c.constraints
            .extend(s.schema_changes.constraints.iter().cloned());
        for m in &s.schema_changes.modified_tables {
            // A table an earlier migration of the set creates is new for the set: count the changes in.
            if let Some(t) = c.new_tables.iter_mut().find(|t| t.name == m.name) {
                t.columns =
                    (t.columns + m.added_columns.len()).saturating_sub(m.dropped_columns.len());
                t.indexes += m.indexes.len();
                continue;
            }
            match c.modified_tables.iter_mut().find(|x| x.name == m.name) {
                Some(x) => {
                    x.added_columns.extend(m.added_columns.iter().cloned());
                    x.dropped_columns.extend(m.dropped_columns.iter().cloned());
                    x.altered_columns.extend(m.altered_columns.iter().cloned());
                    x.indexes.extend(m.indexes.iter().cloned());
                }
                None => c.modified_tables.push(m.clone()),
            }
        }
        let p = &mut out.performance;
        p.estimated_duration_ms += s.performance.estimated_duration_ms;
        p.measured &= s.performance.measured;
        p.locks.extend(s.performance.locks.iter().cloned());
        p.lock_duration_ms = p.lock_duration_ms.max(s.performance.lock_duration_ms);
        p.affected_rows += s.performance.affected_rows;
        p.rows_upper_bound |= s.performance.rows_upper_bound;
        p.space_bytes += s.performance.space_bytes;
        p.downtime |= s.performance.downtime;
        out.warnings.extend(s.warnings.iter().cloned());
        out.not_understood += s.not_understood;
        let r = &mut out.rollback;
        r.available &= s.rollback.available;
        r.duration_ms += s.rollback.duration_ms;
        r.measured &= s.rollback.measured;
        r.data_loss.extend(s.rollback.data_loss.iter().cloned());
        r.missing_down
            .extend(s.rollback.missing_down.iter().cloned());
        if first || s.rollback.complexity > r.complexity {
            r.complexity = s.rollback.complexity;
            r.complexity_reason = s.rollback.complexity_reason.clone();
        }
        first = false;
        for f in &s.generated_files {
            if !out.generated_files.contains(f) {
                out.generated_files.push(f.clone());
            }
        }
    }
    if first {
        out.performance.measured = false;
        out.rollback.measured = false;
    }
    out
}
