//! What is decided after the rules: the file's `-- migrator:allow` marks, and the database's own verdict on
//! the statements the analyser could not read.
//!
//! Offline, a statement the parser refuses is either a parser gap (`not-understood`) or most likely invalid
//! (`not-analysed`); only the engine can tell for sure. The runtime runs such statements where a database
//! is at hand (the rehearsal on a scratch copy, the preview) and hands the answer to
//! [`Analysis::record_engine_verdict`], which turns the offline guess into the engine's word.

use crate::model::{Analysis, Finding, Section, Severity, StatementAnalysis, Status};
use crate::Migration;

/// Marks the findings the migration allows (`-- migrator:allow <id> <reason>`) as suppressed.
pub(crate) fn apply_allows(migration: &Migration, findings: &mut [Finding]) {
    for f in findings {
        f.suppressed = migration
            .allows
            .iter()
            .find(|(id, _)| id == f.id)
            .map(|(_, reason)| reason.to_string());
    }
}

/// The id of the finding on a statement the parser refused and nothing marks as a known form.
pub(crate) const NOT_ANALYSED: &str = "not-analysed";
/// The id of the finding on a parser gap.
pub(crate) const NOT_UNDERSTOOD: &str = "not-understood";

impl Analysis {
    /// The statements whose validity the analyser could not decide (parser gaps and statements the parser
    /// refuses), for the runtime to try on the engine.
    pub fn undecided(&self) -> impl Iterator<Item = &StatementAnalysis> {
        self.statements
            .iter()
            .filter(|s| !matches!(s.status, Status::Analysed))
    }

    /// Records what the database said when statement `index` of `section` ran (on a scratch copy, in a
    /// rolled-back transaction): `Ok(())` when it accepted it, `Err(message)` with its error otherwise.
    ///
    /// Accepted: a statement the analyser took for invalid becomes a parser gap (`not-understood`, a
    /// warning: its locks are still unknown). Refused: the statement's finding becomes a `not-analysed`
    /// error carrying the database's message. `allows` are the migration's `-- migrator:allow` marks,
    /// applied again to the changed finding. Returns `false` when there is no such undecided statement.
    pub fn record_engine_verdict(
        &mut self,
        section: Section,
        index: usize,
        verdict: Result<(), String>,
        allows: &[(
            std::borrow::Cow<'static, str>,
            std::borrow::Cow<'static, str>,
        )],
    ) -> bool {
        let Some(statement) = self
            .statements
            .iter_mut()
            .find(|s| s.section == section && s.index == index)
        else {
            return false;
        };
        let reason = match &statement.status {
            Status::Analysed => return false,
            Status::NotUnderstood { reason, .. } | Status::NotAnalysed { reason } => reason.clone(),
        };
        let (id, severity, message, alternative) = match verdict {
            Ok(()) => {
                if let Status::NotAnalysed { .. } = statement.status {
                    statement.status = Status::NotUnderstood {
                        form: statement.kind.clone(),
                        reason: reason.clone(),
                    };
                }
                (
                    NOT_UNDERSTOOD,
                    Severity::Warning,
                    format!("not understood by the analyser, but the database accepts it (the parser says: {reason}); its locks and work are not known"),
                    "review its locks by hand; `-- migrator:allow not-understood <reason>` once reviewed",
                )
            }
            Err(engine) => {
                statement.status = Status::NotAnalysed {
                    reason: engine.clone(),
                };
                (
                    NOT_ANALYSED,
                    Severity::Error,
                    format!("the database refuses this statement: {engine}"),
                    "fix the statement; the migration would fail here",
                )
            }
        };
        self.findings.retain(|f| {
            !(f.section == section
                && f.statement == index
                && (f.id == NOT_ANALYSED || f.id == NOT_UNDERSTOOD))
        });
        let line = statement.line;
        self.findings.push(Finding {
            id,
            severity,
            version: self.version,
            file: self.file.clone(),
            section,
            statement: index,
            line,
            message,
            safe_alternative: alternative.to_string(),
            suppressed: allows
                .iter()
                .find(|(a, _)| a == id)
                .map(|(_, reason)| reason.to_string()),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Section, Severity, Status};
    use crate::rules::test_util::*;

    #[test]
    fn the_engine_decides_what_the_analyser_could_not_read() {
        let mut a = analyse_file(
            PG,
            15,
            "",
            "ALTER SEQUENCE s RENAME TO t;\nALTER TABLE t ADD COLUM x int;\nSELECT 1;",
            None,
        );
        assert_eq!(a.undecided().count(), 2);
        // The gap is accepted by the database: still a warning, now saying so.
        assert!(a.record_engine_verdict(Section::Up, 0, Ok(()), &[]));
        let f = a.findings.iter().find(|f| f.statement == 0).unwrap();
        assert_eq!((f.id, f.severity), ("not-understood", Severity::Warning));
        assert!(
            f.message.contains("the database accepts it"),
            "{}",
            f.message
        );
        // The typo is refused by the database: an error with its message.
        let refused = r#"syntax error at or near "int""#.to_string();
        assert!(a.record_engine_verdict(Section::Up, 1, Err(refused), &[]));
        let f = a.findings.iter().find(|f| f.statement == 1).unwrap();
        assert_eq!((f.id, f.severity), ("not-analysed", Severity::Error));
        assert!(
            f.message.contains("syntax error at or near"),
            "{}",
            f.message
        );
        assert!(
            matches!(&a.statements[1].status, Status::NotAnalysed { reason } if reason.contains("syntax error"))
        );
        // A statement the analyser read has nothing to decide; only one finding per statement remains.
        assert!(!a.record_engine_verdict(Section::Up, 2, Ok(()), &[]));
        assert_eq!(a.findings.iter().filter(|f| f.statement <= 1).count(), 2);
    }

    #[test]
    fn a_statement_taken_for_invalid_that_the_database_accepts_becomes_a_gap() {
        let mut a = analyse_file(
            PG,
            15,
            "",
            "CREATE TABLE t (a int) WITH (fillfactor = 70) TABLESPACE fast;",
            None,
        );
        if a.undecided().count() == 0 {
            return; // the parser reads this form: nothing to decide
        }
        let allow = [(
            std::borrow::Cow::Borrowed("not-understood"),
            std::borrow::Cow::Borrowed("reviewed"),
        )];
        assert!(a.record_engine_verdict(Section::Up, 0, Ok(()), &allow));
        assert!(matches!(
            a.statements[0].status,
            Status::NotUnderstood { .. }
        ));
        assert_eq!(a.findings[0].suppressed.as_deref(), Some("reviewed"));
    }
}
