//! PostgreSQL's schema fingerprint and size statistics (capabilities of [`Postgres`]): the rehearsal
//! compares fingerprints, the row limit and the preview read the statistics.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, OptionalExtension, QueryableByName, RunQueryDsl};
use tracing::debug;

use super::postgres::{db_error, Postgres, TextRow, DIALECT};
use super::{Engine, EngineKind, Fingerprint, SchemaObject, Stats, TableStats};
use crate::Error;

fn db_context(what: &str, e: diesel::result::Error) -> Error {
    Error::Database {
        context: what.to_string(),
        source: db_error(e),
    }
}

/// The objects that belong to a relation: columns (type, NOT NULL, default, identity), constraints,
/// indexes, views and triggers, in every user schema, without migrator's own tables and without objects
/// that belong to an extension. `$SCOPE` is the relations read ([`IN_SCOPE`] or every one); `$2`: the
/// lower-cased names left out. Each table's constraints, indexes and triggers are read through the
/// catalogs' indexes on their relation (a `LATERAL` subquery per relation in scope, `OFFSET 0` keeping it
/// one), where a join let the planner hash whole catalogs. At 1,000 tables a scoped read took 13.5 ms
/// before (4.8 ms planning, 5 ms of it the scan of `pg_class`), about half of that now; as a statement
/// prepared once per connection (see [`SchemaQuery`]) it is planned once, not at every read.
const RELATIONS: &str = r"
ns AS MATERIALIZED (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
), rel AS MATERIALIZED (
    SELECT c.oid, c.relname, c.relkind, n.nspname FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE $SCOPE
      AND NOT (lower(c.relname) = ANY ($2::text[]))
      AND (SELECT count(*) FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') = 0
)
SELECT 'relation' AS kind, format('%I.%I', nspname, relname) AS name, relkind::text AS definition
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
UNION ALL
SELECT 'column', format('%I.%I.%I', r.nspname, r.relname, a.attname),
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' GENERATED' ELSE '' END
       || ' #' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL
SELECT 'constraint', format('%I.%I.%I', r.nspname, r.relname, co.conname), pg_get_constraintdef(co.oid)
  FROM rel r CROSS JOIN LATERAL (SELECT oid, conname FROM pg_constraint WHERE conrelid = r.oid OFFSET 0) co
UNION ALL
SELECT 'index', format('%I.%I', r.nspname, ic.relname), pg_get_indexdef(i.indexrelid)
  FROM rel r CROSS JOIN LATERAL (SELECT indexrelid FROM pg_index WHERE indrelid = r.oid OFFSET 0) i
  JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'view', format('%I.%I', nspname, relname), pg_get_viewdef(oid) FROM rel WHERE relkind IN ('v', 'm')
UNION ALL
SELECT 'trigger', format('%I.%I.%I', r.nspname, r.relname, t.tgname), pg_get_triggerdef(t.oid)
  FROM rel r CROSS JOIN LATERAL (
      SELECT oid, tgname FROM pg_trigger WHERE tgrelid = r.oid AND NOT tgisinternal OFFSET 0
  ) t
";

/// A scoped read's relations: `$1`, the names in scope as PostgreSQL stores them (the caller passes each
/// name as written and lower-cased), found through the catalog's index on `relname`, so that a scoped
/// read costs what its tables cost and not a scan of `pg_class`.
const IN_SCOPE: &str = "c.relname = ANY ($1::text[]::name[])";

/// Appended to a scoped read: the foreign keys of other tables that point at a table in scope (a
/// `DROP ... CASCADE` removes them).
const FOREIGN_KEYS_INTO_SCOPE: &str = r"
UNION ALL
SELECT 'constraint', format('%I.%I.%I', n.nspname, c.relname, co.conname), pg_get_constraintdef(co.oid)
  FROM rel r CROSS JOIN LATERAL (
      SELECT oid, conname, conrelid FROM pg_constraint WHERE confrelid = r.oid AND contype = 'f' OFFSET 0
  ) co
  JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE NOT (c.relname = ANY ($1::text[]::name[]))
";

/// The objects that belong to no relation, appended to [`RELATIONS`] (whose `ns` they use) when asked
/// for: functions (identity, result, source hash), enum and domain types, extensions and schemas, without
/// objects that belong to an extension.
const UNATTACHED_OBJECTS: &str = r"
UNION ALL
SELECT 'function', format('%I.%I(%s)', p.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid)
            ELSE p.prokind::text || ' ' || coalesce(pg_get_function_result(p.oid), '') || ' ' || md5(coalesce(p.prosrc, '')) END
  FROM (SELECT p.oid, p.proname, p.prokind, p.prosrc, n.nspname FROM ns n CROSS JOIN LATERAL (
            SELECT oid, proname, prokind, prosrc FROM pg_proc WHERE pronamespace = n.oid OFFSET 0
        ) p) p
  WHERE (SELECT count(*) FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') = 0
UNION ALL
SELECT 'type', format('%I.%I', t.nspname, t.typname),
       CASE t.typtype
         WHEN 'e' THEN 'enum ' || (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
         WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
         ELSE t.typtype::text END
  FROM (SELECT t.*, n.nspname FROM ns n CROSS JOIN LATERAL (
            SELECT oid, typname, typtype, typbasetype, typtypmod, typnotnull FROM pg_type
            WHERE typnamespace = n.oid AND typtype IN ('e', 'd') OFFSET 0
        ) t) t
  WHERE (SELECT count(*) FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') = 0
UNION ALL
SELECT 'extension', extname::text, extversion FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'schema', nspname::text, '' FROM ns WHERE nspname <> 'public'
";

/// One object of a schema read.
#[derive(QueryableByName)]
struct SchemaRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// A schema read of one shape (`SCOPED`: the relations named in `$1`, else every one; `UNATTACHED`: the
/// objects of no relation too), as a query diesel prepares once per connection and keeps in its statement
/// cache (its id is its type). The rehearsal reads a migration's scope before and after its UP and after
/// its DOWN: sent as a new statement each time, the server parsed and planned it at every read (2.2 of
/// its 2.5 ms at 1,000 tables); prepared, PostgreSQL plans it five times and then keeps a generic plan.
struct SchemaQuery<const SCOPED: bool, const UNATTACHED: bool> {
    scope: Option<Vec<String>>,
    exclude: Vec<String>,
}

impl<const SCOPED: bool, const UNATTACHED: bool> SchemaQuery<SCOPED, UNATTACHED> {
    fn load(
        conn: &mut diesel::PgConnection,
        scope: Option<Vec<String>>,
        exclude: Vec<String>,
    ) -> diesel::QueryResult<Vec<SchemaRow>> {
        Self { scope, exclude }.load(conn)
    }

    /// The text after the parameters' `WITH` entry.
    fn body() -> String {
        let mut sql = RELATIONS.replace("$SCOPE", if SCOPED { IN_SCOPE } else { "true" });
        if SCOPED {
            sql.push_str(FOREIGN_KEYS_INTO_SCOPE);
        }
        if UNATTACHED {
            sql.push_str(UNATTACHED_OBJECTS);
        }
        sql
    }
}

impl<const SCOPED: bool, const UNATTACHED: bool> diesel::query_builder::QueryId
    for SchemaQuery<SCOPED, UNATTACHED>
{
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const SCOPED: bool, const UNATTACHED: bool> diesel::query_builder::Query
    for SchemaQuery<SCOPED, UNATTACHED>
{
    type SqlType = diesel::sql_types::Untyped;
}

impl<const SCOPED: bool, const UNATTACHED: bool>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for SchemaQuery<SCOPED, UNATTACHED>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        // diesel numbers a parameter where it is pushed; the query uses each more than once, so the two
        // are pushed first (as `$1` and `$2`, in an entry nothing reads) and named by number after.
        out.push_sql("WITH parameters AS (SELECT ");
        out.push_bind_param::<Nullable<diesel::sql_types::Array<Text>>, _>(&self.scope)?;
        out.push_sql("::text[] AS scope, ");
        out.push_bind_param::<diesel::sql_types::Array<Text>, _>(&self.exclude)?;
        out.push_sql("::text[] AS exclude),");
        out.push_sql(&Self::body());
        Ok(())
    }
}

impl<const SCOPED: bool, const UNATTACHED: bool> RunQueryDsl<diesel::PgConnection>
    for SchemaQuery<SCOPED, UNATTACHED>
{
}

impl Fingerprint for Postgres<'_> {
    fn schema_fingerprint(
        &mut self,
        tables: Option<&[&str]>,
        exclude: &[&str],
        unattached: bool,
    ) -> Result<Vec<SchemaObject>, Error> {
        // NULL: every relation; else each name in scope as given and lower-cased (an unquoted name is
        // stored lower-cased, a quoted one as written).
        let scope: Option<Vec<String>> = tables.map(|t| {
            let mut names: Vec<String> = t
                .iter()
                .flat_map(|name| [name.to_string(), name.to_lowercase()])
                .collect();
            names.sort();
            names.dedup();
            names
        });
        let exclude: Vec<String> = exclude.iter().map(|t| t.to_lowercase()).collect();
        // One statement per shape, prepared once per connection (diesel's statement cache).
        let rows: Vec<SchemaRow> = match (scope.is_some(), unattached) {
            (true, true) => SchemaQuery::<true, true>::load(self.conn, scope, exclude),
            (true, false) => SchemaQuery::<true, false>::load(self.conn, scope, exclude),
            // The whole schema is always read with the objects of no relation.
            (false, _) => SchemaQuery::<false, true>::load(self.conn, scope, exclude),
        }
        .map_err(|e| db_context("reading the schema", e))?;
        let mut objects: Vec<SchemaObject> = rows
            .into_iter()
            .map(|o| SchemaObject {
                kind: o.kind,
                name: o.name,
                definition: o.definition,
            })
            .collect();
        objects.sort();
        Ok(objects)
    }
}

impl Stats for Postgres<'_> {
    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error> {
        #[derive(QueryableByName)]
        struct Size {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = diesel::sql_types::Double)]
            reltuples: f64,
            #[diesel(sql_type = BigInt)]
            table_bytes: i64,
            #[diesel(sql_type = BigInt)]
            index_bytes: i64,
        }
        let context = format!("reading the size of table {table}");
        let size: Result<Option<Size>, _> = diesel::sql_query(
            "SELECT c.oid::regclass::text AS name, c.reltuples::float8 AS reltuples,
                    pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes
             FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')",
        )
        .bind::<Text, _>(table)
        .get_result(self.conn)
        .optional();
        let size = match size {
            Ok(size) => size,
            // A name that cannot be a table name names no table.
            Err(e) if e.to_string().contains("invalid name syntax") => None,
            Err(e) => return Err(db_context(&context, e)),
        };
        let Some(size) = size else {
            return Ok(None);
        };
        // reltuples is -1 (PostgreSQL 14+) or 0 before the first VACUUM/ANALYZE: count then.
        let known = !exact && size.reltuples > 0.0;
        let (rows, exact) = if known {
            (size.reltuples.round() as u64, false)
        } else {
            (
                self.count(&size.name, None)
                    .map_err(|e| db_context(&context, e))?,
                true,
            )
        };
        debug!(table = %size.name, rows, exact, size.table_bytes, size.index_bytes, "table stats");
        Ok(Some(TableStats {
            table: table.to_string(),
            rows,
            exact,
            table_bytes: size.table_bytes.max(0) as u64,
            index_bytes: size.index_bytes.max(0) as u64,
        }))
    }

    /// An ordinary table without children whose heap has no page holds no row, and neither does a name
    /// that is no relation (nothing to drop); the size is the file's (`pg_relation_size`: no page of the
    /// table is read; it takes the lock a read takes). A partitioned table (its rows are in the partitions), a parent of inherited
    /// tables, anything else, and a table that has pages (rows, or dead ones) are counted.
    fn known_empty(&mut self, tables: &[String]) -> Result<Option<Vec<bool>>, Error> {
        #[derive(QueryableByName)]
        struct Empty {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            empty: bool,
        }
        let names: Vec<String> = tables.iter().map(|t| DIALECT.ident(t)).collect();
        let rows: Vec<Empty> = diesel::sql_query(
            "SELECT coalesce(c.relkind = 'r' AND NOT c.relhassubclass AND pg_relation_size(c.oid) = 0,
                             c.oid IS NULL) AS empty
             FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord)
             LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
             ORDER BY t.ord",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(&names)
        .load(self.conn)
        .map_err(|e| db_context("reading which dropped tables are empty", e))?;
        debug!(
            tables = tables.len(),
            empty = rows.iter().filter(|r| r.empty).count(),
            "tables known to be empty"
        );
        Ok((rows.len() == tables.len()).then(|| rows.into_iter().map(|r| r.empty).collect()))
    }

    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        let words = migrator_format::statement_words(sql).unwrap_or_default();
        if !matches!(
            words.first().map(String::as_str),
            Some("UPDATE" | "DELETE" | "INSERT")
        ) {
            return Ok(None);
        }
        match self.planned_rows(sql) {
            Ok(rows) => Ok(rows),
            // The statement cannot be planned yet (it sets a column an earlier statement of its
            // migration adds): ask about the rows its WHERE selects instead.
            Err(e) if e.to_string().contains("does not exist") => {
                let Some(select) = migrator_format::rows_select(sql, EngineKind::Postgres, "1")
                else {
                    return Ok(None);
                };
                match self.planned_rows(&select) {
                    Ok(rows) => Ok(rows),
                    // A table or column an earlier pending migration creates: nothing to estimate yet.
                    Err(e) if e.to_string().contains("does not exist") => {
                        debug!(error = %e, "estimate_rows: object does not exist yet");
                        Ok(None)
                    }
                    Err(e) => Err(db_context(
                        "reading the planner's estimate of an UPDATE/DELETE",
                        e,
                    )),
                }
            }
            Err(e) => Err(db_context(
                "reading the planner's estimate of an UPDATE/DELETE",
                e,
            )),
        }
    }

    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let Some(count) = migrator_format::rows_select(sql, EngineKind::Postgres, "count(*) AS n")
        else {
            return Ok(None);
        };
        let timeouts = self.timeouts_sql(Duration::from_secs(5), None);
        let result = self.conn.transaction(|conn| {
            conn.batch_execute(&timeouts)?;
            diesel::sql_query(&count).get_result::<Count>(conn)
        });
        match result {
            Ok(c) => Ok(Some(c.n.max(0) as u64)),
            // A table or column an earlier pending migration creates: nothing to count yet.
            Err(e) if e.to_string().contains("does not exist") => Ok(None),
            Err(e) => Err(db_context("counting the rows an UPDATE/DELETE touches", e)),
        }
    }

    fn key_width(&mut self, table: &str, columns: &[&str]) -> Result<Option<f64>, Error> {
        #[derive(QueryableByName)]
        struct Width {
            #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
            w: Option<f64>,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let found = diesel::sql_query(
            "SELECT sum(s.avg_width)::float8 AS w, count(*) AS n
             FROM pg_stats s
             JOIN pg_class c ON c.relname = s.tablename
             JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = s.schemaname
             WHERE c.oid = to_regclass($1) AND s.attname = ANY($2)",
        )
        .bind::<Text, _>(table)
        .bind::<diesel::sql_types::Array<Text>, _>(&columns)
        .get_result::<Width>(self.conn);
        match found {
            // Every column needs statistics, or the sum says too little.
            Ok(w) if w.n as usize == columns.len() => Ok(w.w),
            Ok(_) => Ok(None),
            Err(e) if e.to_string().contains("invalid name syntax") => Ok(None),
            Err(e) => Err(db_context(
                &format!("reading the key width of table {table}"),
                e,
            )),
        }
    }

    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error> {
        let context = format!("counting the rows of table {table}");
        let name = diesel::sql_query("SELECT to_regclass($1)::text AS t")
            .bind::<Text, _>(table)
            .get_result::<TextRow>(self.conn)
            .map_err(|e| db_context(&context, e))?
            .t
            .ok_or_else(|| Error::Database {
                context: context.clone(),
                source: crate::engine::DbError::new(
                    crate::engine::DbErrorKind::MissingObject,
                    format!("relation \"{table}\" does not exist"),
                ),
            })?;
        self.count(&name, non_null)
            .map_err(|e| db_context(&context, e))
    }

    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error> {
        let started = Instant::now();
        self.conn
            .batch_execute(sql)
            .map_err(|e| db_context("running the calibration sample", e))?;
        Ok(started.elapsed())
    }
}

impl Postgres<'_> {
    /// The planner's row estimate of `sql` (`EXPLAIN`), in a transaction that is rolled back: the
    /// planner's locks go at once, waiting at most the lock timeout, and a failure does not abort a
    /// transaction of the host's.
    fn planned_rows(&mut self, sql: &str) -> Result<Option<u64>, diesel::result::Error> {
        let timeouts = self.timeouts_sql(Duration::from_secs(5), None);
        let mut plan = None;
        let result = self
            .conn
            .transaction::<(), diesel::result::Error, _>(|conn| {
                conn.batch_execute(&timeouts)?;
                let row = diesel::sql_query(format!("EXPLAIN (FORMAT JSON) {sql}"))
                    .get_result::<Plan>(conn)?;
                plan = Some(row.plan);
                Err(diesel::result::Error::RollbackTransaction)
            });
        match result {
            Ok(()) | Err(diesel::result::Error::RollbackTransaction) => {
                Ok(plan.as_deref().and_then(planned_rows))
            }
            Err(e) => Err(e),
        }
    }

    /// `count(*)` or `count(column)` of a relation named by the server (`regclass` text, already quoted).
    fn count(
        &mut self,
        regclass: &str,
        non_null: Option<&str>,
    ) -> Result<u64, diesel::result::Error> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let what = non_null.map_or_else(|| "*".to_string(), quote_ident);
        diesel::sql_query(format!("SELECT count({what}) AS n FROM {regclass}"))
            .get_result::<Count>(self.conn)
            .map(|c| c.n.max(0) as u64)
    }
}

/// The one row of `EXPLAIN (FORMAT JSON)`.
#[derive(QueryableByName)]
struct Plan {
    #[diesel(column_name = "QUERY PLAN", sql_type = Text)]
    plan: String,
}

/// The rows the plan's top node works on. A ModifyTable node reports 0 rows (PostgreSQL 14+) or its
/// input's rows (before), so for it the larger of its own and its first child's `Plan Rows` counts.
fn planned_rows(plan: &str) -> Option<u64> {
    let rows: Vec<u64> = plan
        .split("\"Plan Rows\":")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            digits.parse::<f64>().ok().map(|n| n.round() as u64)
        })
        .collect();
    let first = *rows.first()?;
    if plan.contains("\"Node Type\": \"ModifyTable\"") {
        Some(first.max(rows.get(1).copied().unwrap_or(0)))
    } else {
        Some(first)
    }
}

/// An identifier in double quotes, inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::SchemaQuery;

    #[test]
    fn every_shape_of_the_schema_read_is_complete_sql() {
        let scoped = SchemaQuery::<true, false>::body();
        assert!(scoped.contains("c.relname = ANY ($1::text[]::name[])"));
        assert!(
            scoped.contains("confrelid = r.oid"),
            "foreign keys into the scope"
        );
        assert!(!scoped.contains("pg_proc"));
        let whole = SchemaQuery::<false, true>::body();
        assert!(whole.contains("WHERE true") && whole.contains("pg_proc"));
        assert!(!whole.contains("confrelid = r.oid"));
        for sql in [scoped, whole, SchemaQuery::<true, true>::body()] {
            assert!(!sql.contains("$SCOPE"), "{sql}");
        }
    }
}
