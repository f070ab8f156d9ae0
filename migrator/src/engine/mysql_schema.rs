//! MySQL's schema fingerprints and table statistics (capabilities of [`MySql`]), from `information_schema`.

use std::time::{Duration, Instant};

use super::mysql::{context, MySql, DIALECT};
use super::{DbErrorKind, Engine, EngineKind, Fingerprint, SchemaObject, Stats, TableStats, Value};
use crate::Error;

/// Every object of the schema as `(kind, table, name, definition)`; columns carry their position, so a
/// column moved is a change.
const FINGERPRINT: &str = "
SELECT 'column', table_name, CONCAT(table_name, '.', column_name), CONCAT(column_type, IF(is_nullable = 'NO', ' NOT NULL', ''), IFNULL(CONCAT(' DEFAULT ', column_default), ''), IF(extra <> '', CONCAT(' ', extra), ''), ' #', ordinal_position)
  FROM information_schema.columns WHERE table_schema = DATABASE()
UNION ALL SELECT 'index', table_name, CONCAT(table_name, '.', index_name), CONCAT(IF(non_unique = 0, 'UNIQUE ', ''), GROUP_CONCAT(column_name ORDER BY seq_in_index))
  FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique
UNION ALL SELECT 'foreign key', table_name, CONCAT(table_name, '.', constraint_name), CONCAT(GROUP_CONCAT(column_name ORDER BY ordinal_position), ' -> ', referenced_table_name, '(', GROUP_CONCAT(referenced_column_name ORDER BY ordinal_position), ')')
  FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL GROUP BY table_name, constraint_name, referenced_table_name
UNION ALL SELECT 'check', table_name, CONCAT(table_name, '.', constraint_name), check_clause FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()
UNION ALL SELECT 'view', table_name, table_name, MD5(view_definition) FROM information_schema.views WHERE table_schema = DATABASE()
UNION ALL SELECT 'trigger', event_object_table, CONCAT(event_object_table, '.', trigger_name), CONCAT(action_timing, ' ', event_manipulation, ' ', MD5(action_statement))
  FROM information_schema.triggers WHERE trigger_schema = DATABASE()
UNION ALL SELECT 'routine', '', routine_name, CONCAT(routine_type, ' ', MD5(routine_definition)) FROM information_schema.routines WHERE routine_schema = DATABASE()";

impl Fingerprint for MySql<'_> {
    fn schema_fingerprint(
        &mut self,
        tables: Option<&[&str]>,
        exclude: &[&str],
        unattached: bool,
    ) -> Result<Vec<SchemaObject>, Error> {
        let rows = self
            .rows(FINGERPRINT)
            .map_err(|e| context("reading the schema", e))?;
        let mut objects: Vec<SchemaObject> = rows
            .iter()
            .filter_map(|r| {
                let text = |i: usize| r.get(i).and_then(Value::as_text).unwrap_or_default();
                let table = text(1);
                let in_scope = tables.is_none_or(|t| {
                    (table.is_empty() && unattached)
                        || t.iter().any(|x| x.eq_ignore_ascii_case(&table))
                });
                let excluded = exclude.iter().any(|x| x.eq_ignore_ascii_case(&table));
                (in_scope && !excluded).then(|| SchemaObject {
                    kind: text(0),
                    name: text(2),
                    definition: text(3),
                })
            })
            .collect();
        objects.sort();
        Ok(objects)
    }
}

impl Stats for MySql<'_> {
    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error> {
        let sql = format!(
            "SELECT table_rows, data_length, index_length FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = {}",
            DIALECT.literal(table)
        );
        let Some(row) = self
            .rows(&sql)
            .map_err(|e| context("reading a table's size", e))?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let cell = |i: usize| row.get(i).and_then(Value::as_i64).unwrap_or(0).max(0) as u64;
        let rows = if exact {
            self.count_rows(table, None)?
        } else {
            cell(0)
        };
        Ok(Some(TableStats {
            table: table.to_string(),
            rows,
            exact,
            table_bytes: cell(1),
            index_bytes: cell(2),
        }))
    }

    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        let Some(count) = migrator_format::rows_select(sql, EngineKind::MySql, "count(*)") else {
            return Ok(None);
        };
        match self.rows(&count) {
            Ok(rows) => Ok(rows
                .first()
                .and_then(|r| r.first()?.as_i64())
                .map(|n| n.max(0) as u64)),
            Err(e) if e.kind == DbErrorKind::MissingObject => Ok(None),
            Err(e) => Err(context("counting the rows a statement touches", e)),
        }
    }

    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        self.estimate_rows(sql)
    }

    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error> {
        let what = non_null.map_or_else(|| "*".to_string(), |c| DIALECT.ident(c));
        let sql = format!("SELECT count({what}) FROM {}", DIALECT.ident(table));
        let rows = self
            .rows(&sql)
            .map_err(|e| context(&format!("counting the rows of table {table}"), e))?;
        Ok(rows
            .first()
            .and_then(|r| r.first()?.as_i64())
            .unwrap_or(0)
            .max(0) as u64)
    }

    fn key_width(&mut self, _table: &str, _columns: &[&str]) -> Result<Option<f64>, Error> {
        Ok(None)
    }

    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error> {
        let started = Instant::now();
        self.execute(sql)
            .map_err(|e| context("running the calibration sample", e))?;
        Ok(started.elapsed())
    }
}
