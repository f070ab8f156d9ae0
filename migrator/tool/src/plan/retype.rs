//! A column's type changed on an existing table, PostgreSQL. One decision ([`Planner::retype_how`]) picks
//! between one `ALTER COLUMN ... TYPE` and expand / backfill / contract, and the file says which and why:
//!
//! - one `ALTER COLUMN ... TYPE` when the table is created by the same issue (no rows), when the analyser
//!   finds no rewrite (`varchar(50)` to `text`: binary-coercible, `pg-column-type-rewrite` stays silent), or
//!   when the column carries what the contract would have to rebuild (a key, an index, a UNIQUE, CHECK or
//!   foreign key over it, a view or trigger that names it, a generated or identity column);
//! - otherwise expand / backfill / contract:
//!   1. **expand** (one transaction): `ADD COLUMN <c>_new <new type>`; for a NOT NULL column a
//!      `CHECK (<c>_new IS NOT NULL) NOT VALID`; a trigger function and a `BEFORE INSERT OR UPDATE`
//!      trigger that keep `<c>_new` equal to the converted `<c>` for every write until the contract.
//!      DOWN: trigger, function and column dropped.
//!   2. **backfill** (`-- migrator:backfill`, batches of the table's integer key; one UPDATE in a
//!      transaction of its own when the table has none): `UPDATE t SET <c>_new = <conversion> WHERE
//!      <c>_new IS DISTINCT FROM <conversion>`. DOWN: nothing (the values are derived from `<c>`, and the
//!      expand's DOWN drops the column).
//!   3. **contract** (one transaction): the CHECK validated first (a scan that lets reads and writes go
//!      on), trigger and function dropped, `<c>` dropped, `<c>_new` renamed to `<c>`, NOT NULL set behind
//!      the validated CHECK (no scan on PostgreSQL 12+), the default put back converted. The column moves
//!      to the end of the table. DOWN: the state after the backfill (`<c>` of the old type filled from
//!      `<c>_new`, its NOT NULL and default, `<c>_new`, the CHECK `NOT VALID`, the trigger), flagged lossy
//!      where the conversion back can lose data; `<c>` comes back at the end of the table (the runtime's
//!      rehearsal notes an order-only difference).

use super::{Phase, Planner};
use crate::error::GenError;
use crate::ident::Ident;
use crate::model::{SqlExpr, SqlType};
use crate::render::q;
use crate::schema::{expression_columns, Column, Table};

/// How a type change is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Retype {
    /// One `ALTER COLUMN ... TYPE`; the reason, for the file.
    Alter(String),
    /// Expand / backfill / contract; the reason (the rewrite the analyser sees), for the file.
    ExpandContract(String),
}

/// The names the expand introduces for `table.column`.
struct Names {
    /// `<c>_new`.
    new: Ident,
    /// The trigger function and the trigger (`<t>_<c>_retype`).
    sync: Ident,
    /// The CHECK that carries NOT NULL over (`<t>_<c>_new_not_null`).
    check: Ident,
}

impl Planner {
    /// The one decision: expand / backfill / contract, or one `ALTER COLUMN ... TYPE`, and why.
    pub(super) fn retype_how(
        &self,
        t: &Table,
        col: &Column,
        new_type: &str,
        using: Option<&SqlExpr>,
    ) -> Retype {
        let c = &col.name;
        if self.is_new(&t.name) {
            return Retype::Alter(format!(
                "{} is created by this issue and has no rows: one ALTER COLUMN ... TYPE",
                t.name
            ));
        }
        let Some(rewrite) = self.analyser_rewrite(t, col, new_type, using) else {
            return Retype::Alter(format!(
                "{} to {new_type} does not rewrite {} (the analyser finds it binary-coercible): one ALTER COLUMN ... TYPE, no expand/contract",
                col.data_type, t.name
            ));
        };
        if let Some(what) = self.retype_blocker(t, col) {
            return Retype::Alter(format!(
                "not written as expand/contract: {what}, which the contract would have to rebuild; one ALTER COLUMN ... TYPE instead ({rewrite})"
            ));
        }
        let names = names(&t.name, c);
        if t.column(names.new.as_str()).is_some() {
            return Retype::Alter(format!(
                "not written as expand/contract: {}.{} exists already; one ALTER COLUMN ... TYPE instead ({rewrite})",
                t.name, names.new
            ));
        }
        Retype::ExpandContract(format!(
            "expand/contract instead of one ALTER COLUMN ... TYPE: {rewrite}"
        ))
    }

    /// The analyser's `pg-column-type-rewrite` message for `ALTER COLUMN ... TYPE new_type` on the
    /// working schema, or `None` when it sees no rewrite.
    fn analyser_rewrite(
        &self,
        t: &Table,
        col: &Column,
        new_type: &str,
        using: Option<&SqlExpr>,
    ) -> Option<String> {
        let d = self.d;
        let using = using
            .map(|u| format!(" USING {}", u.render(d)))
            .unwrap_or_default();
        let probe = format!(
            "-- ============ UP MIGRATION ============\nALTER TABLE {} ALTER COLUMN {} TYPE {new_type}{using};\n",
            q(&t.name, d),
            q(&col.name, d)
        );
        let parsed = match migrator_format::parse_file("20000101000000_retype_probe.sql", &probe) {
            Ok(p) => p,
            // Not readable as a file: assume the rewrite, the safe side.
            Err(e) => return Some(format!("the analyser could not read the change ({e})")),
        };
        let analysis = migrator_analyse::analyse_in(
            &parsed,
            migrator_analyse::Options::new(d.analyse()),
            &mut crate::generate::catalog_of(&self.schema),
        );
        analysis
            .findings
            .into_iter()
            .find(|f| f.id == "pg-column-type-rewrite")
            .map(|f| f.message)
    }

    /// What the column carries that the contract does not rebuild, if anything.
    fn retype_blocker(&self, t: &Table, col: &Column) -> Option<String> {
        let c = &col.name;
        let one = std::slice::from_ref(c);
        let names = |e: &str| expression_columns(e, one, self.d).contains(c);
        if t.primary_key_columns().contains(c) {
            return Some(format!("{}.{c} is in the primary key", t.name));
        }
        if col.generated.is_some() || col.identity.is_some() {
            return Some(format!("{}.{c} is a generated or identity column", t.name));
        }
        if let Some(g) = t
            .columns
            .iter()
            .find(|x| x.generated.as_ref().is_some_and(|g| names(&g.expr)))
        {
            return Some(format!(
                "the generated column {}.{} uses it",
                t.name, g.name
            ));
        }
        if let Some(i) = t.indexes.iter().find(|i| i.columns.contains(c)) {
            return Some(format!("the index {} is on it", i.name));
        }
        if t.uniques.iter().any(|u| u.columns.contains(c)) {
            return Some(format!("a UNIQUE constraint of {} is on it", t.name));
        }
        if t.checks
            .iter()
            .any(|k| k.columns.contains(c) || names(&k.expr))
        {
            return Some(format!("a CHECK of {} uses it", t.name));
        }
        if t.foreign_keys.iter().any(|f| f.columns.contains(c)) {
            return Some(format!("a foreign key of {} is on it", t.name));
        }
        if let Some(tr) = t.triggers.iter().find(|tr| names(&tr.sql)) {
            return Some(format!("the trigger {} names it", tr.name));
        }
        if let Some(v) = self
            .schema
            .views_on(&t.name)
            .into_iter()
            .find(|v| names(&v.sql))
        {
            return Some(format!("the view {} uses it", v.name));
        }
        None
    }

    /// Expand, backfill and contract for a type change of the existing column `col` of `table`.
    pub(super) fn retype_expand_contract(
        &mut self,
        table: &Ident,
        col: &Column,
        ty: &SqlType,
        using: Option<&SqlExpr>,
        why: String,
    ) -> Result<(), GenError> {
        let d = self.d;
        let new_type = ty.render(d);
        let names = names(table.as_str(), &col.name);
        let (tq, cq, nq) = (table.sql(d), q(&col.name, d), names.new.sql(d));
        let (fq, kq) = (names.sync.sql(d), names.check.sql(d));
        // The conversion of a row's value: the issue's USING (which names the row's columns), or a cast.
        let of_row = match using {
            Some(u) => format!("({})", u.render(d)),
            None => format!("{cq}::{new_type}"),
        };
        let of_new = match using {
            Some(u) => format!("(SELECT {} FROM (SELECT NEW.*) AS r)", u.render(d)),
            None => format!("NEW.{cq}::{new_type}"),
        };
        let function = format!(
            "CREATE FUNCTION {fq}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.{nq} := {of_new};\n  RETURN NEW;\nEND\n$$"
        );
        let trigger = format!(
            "CREATE TRIGGER {fq} BEFORE INSERT OR UPDATE ON {tq} FOR EACH ROW EXECUTE FUNCTION {fq}()"
        );
        let drop_sync = [
            format!("DROP TRIGGER {fq} ON {tq}"),
            format!("DROP FUNCTION {fq}()"),
        ];

        let mut expand = self.step(
            Phase::Ddl,
            format!(
                "Expand: {table}.{} {new_type} beside {table}.{}, kept in step by a trigger",
                names.new, col.name
            ),
        );
        expand.notes.push(why);
        expand
            .up
            .push(format!("ALTER TABLE {tq} ADD COLUMN {nq} {new_type}"));
        if col.not_null {
            expand.up.push(format!(
                "ALTER TABLE {tq} ADD CONSTRAINT {kq} CHECK ({nq} IS NOT NULL) NOT VALID"
            ));
        }
        expand.up.push(function.clone());
        expand.up.push(trigger.clone());
        expand.notes.push(format!(
            "every write from here to the contract sets {} = {of_new} (trigger {})",
            names.new, names.sync
        ));
        expand.down.extend(drop_sync.iter().cloned());
        expand
            .down
            .push(format!("ALTER TABLE {tq} DROP COLUMN {nq}"));
        self.push(expand)?;

        let mut fill = self.step(
            Phase::Data,
            format!("Backfill {table}.{} from {table}.{}", names.new, col.name),
        );
        fill.up.push(format!(
            "UPDATE {tq} SET {nq} = {of_row} WHERE {nq} IS DISTINCT FROM {of_row}"
        ));
        fill.notes.push(format!(
            "its DOWN has nothing to undo: {} only holds values converted from {}, and the expand's DOWN drops it",
            names.new, col.name
        ));
        self.as_backfill(&mut fill, table);
        self.push(fill)?;

        let contract = self.retype_contract(table, col, &new_type, &names, [function, trigger]);
        self.push(contract)
    }

    /// The contract: the old column replaced by the new one, NOT NULL and the default carried over; its
    /// DOWN the state after the backfill.
    fn retype_contract(
        &self,
        table: &Ident,
        col: &Column,
        new_type: &str,
        names: &Names,
        sync: [String; 2],
    ) -> super::Step {
        let d = self.d;
        let (tq, cq, nq) = (table.sql(d), q(&col.name, d), names.new.sql(d));
        let (fq, kq) = (names.sync.sql(d), names.check.sql(d));
        let c = &col.name;
        let mut s = self.step(
            Phase::Ddl,
            format!(
                "Contract: {table}.{c} becomes {new_type} ({} takes its place)",
                names.new
            ),
        );
        if col.not_null {
            s.up.push(format!("ALTER TABLE {tq} VALIDATE CONSTRAINT {kq}"));
        }
        s.up.push(format!("DROP TRIGGER {fq} ON {tq}"));
        s.up.push(format!("DROP FUNCTION {fq}()"));
        s.up.push(format!("ALTER TABLE {tq} DROP COLUMN {cq}"));
        s.up.push(format!("ALTER TABLE {tq} RENAME COLUMN {nq} TO {cq}"));
        if col.not_null {
            s.up.push(format!("ALTER TABLE {tq} ALTER COLUMN {cq} SET NOT NULL"));
            s.up.push(format!("ALTER TABLE {tq} DROP CONSTRAINT {kq}"));
        }
        if let Some(def) = &col.default {
            s.up.push(format!(
                "ALTER TABLE {tq} ALTER COLUMN {cq} SET DEFAULT ({def})::{new_type}"
            ));
        }
        s.notes.push(format!(
            "{table}.{c} moves to the end of the table's columns (only SELECT * sees the order)"
        ));
        // The DOWN: back to the state after the backfill.
        if col.default.is_some() {
            s.down
                .push(format!("ALTER TABLE {tq} ALTER COLUMN {cq} DROP DEFAULT"));
        }
        if col.not_null {
            s.down.push(format!(
                "ALTER TABLE {tq} ADD CONSTRAINT {kq} CHECK ({cq} IS NOT NULL) NOT VALID"
            ));
            s.down
                .push(format!("ALTER TABLE {tq} ALTER COLUMN {cq} DROP NOT NULL"));
        }
        s.down
            .push(format!("ALTER TABLE {tq} RENAME COLUMN {cq} TO {nq}"));
        s.down.push(format!(
            "ALTER TABLE {tq} ADD COLUMN {cq} {}",
            col.data_type
        ));
        s.down.push(format!(
            "UPDATE {tq} SET {cq} = {nq}::{} WHERE {nq} IS NOT NULL",
            col.data_type
        ));
        if col.not_null {
            s.down
                .push(format!("ALTER TABLE {tq} ALTER COLUMN {cq} SET NOT NULL"));
        }
        if let Some(def) = &col.default {
            s.down.push(format!(
                "ALTER TABLE {tq} ALTER COLUMN {cq} SET DEFAULT {def}"
            ));
        }
        s.down.extend(sync);
        s.breaking.push(format!(
            "{table}.{c} is {new_type} from here (was {}): clients that read it get the new type",
            col.data_type
        ));
        s.lossy.push(format!(
            "the DOWN fills {table}.{c} ({}) again from {}::{}: values written since that do not fit it make the rollback fail, and a conversion that loses precision or formatting is not undone",
            col.data_type, names.new, col.data_type
        ));
        s.allows.push((
            "destructive-operation",
            format!(
                "{table}.{c} is dropped only after {} holds every value converted (trigger and backfill)",
                names.new
            ),
        ));
        s.allows.push((
            "rename-breaks-clients",
            format!(
                "{} takes the name {c} of the column it replaces: clients keep using {c}",
                names.new
            ),
        ));
        s.allows.push((
            "constraint-dropped",
            format!(
                "{} only carried the NOT NULL until SET NOT NULL took over",
                names.check
            ),
        ));
        s.allows.push((
            "pg-set-not-null",
            format!(
                "the CHECK {} validated at the start of this migration proves it, so PostgreSQL 12+ does not scan; the DOWN puts the old column's NOT NULL back",
                names.check
            ),
        ));
        s.allows.push((
            "backfill-in-ddl-transaction",
            format!(
                "the DOWN refills the old {c} from {} in the rollback's transaction",
                names.new
            ),
        ));
        s
    }
}

fn names(table: &str, column: &str) -> Names {
    Names {
        new: Ident::generated(&format!("{column}_new")),
        sync: Ident::generated(&format!("{table}_{column}_retype")),
        check: Ident::generated(&format!("{table}_{column}_new_not_null")),
    }
}

#[cfg(test)]
mod tests {
    use crate::generate::{generate_issue, Generated, RenderOptions};
    use crate::schema::Schema;
    use crate::Dialect;

    const SCHEMA: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, amount integer NOT NULL DEFAULT 0, nickname varchar(50), score integer);
CREATE INDEX accounts_score ON accounts (score);";

    fn generate(body: &str) -> Generated {
        let (schema, _) = Schema::from_dump(SCHEMA, Dialect::Postgres, "test").unwrap();
        let issue = crate::export::issue_from_value(
            "test",
            "",
            &serde_json::json!({"number": 9, "title": "Retype", "body": body, "comments": []}),
        )
        .unwrap();
        generate_issue(
            &issue,
            &RenderOptions {
                dialect: Dialect::Postgres,
                version: 20240301000000,
                name: None,
                with_comments: false,
                schema,
                schema_source: "test".into(),
            },
        )
        .unwrap()
    }

    #[test]
    fn a_rewrite_becomes_expand_backfill_contract() {
        let g = generate("## Data model\n- Change `accounts`.`amount` from integer to bigint\n");
        let names: Vec<&str> = g.files.iter().map(|f| f.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "20240301000000_issue_9_retype.sql",
                "20240301000001_issue_9_retype_backfill.sql",
                "20240301000002_issue_9_retype_part3.sql"
            ]
        );
        assert!(g.files[0]
            .text
            .contains("expand/contract instead of one ALTER COLUMN ... TYPE"));
        assert!(g.files[0]
            .text
            .contains("ALTER TABLE accounts ADD COLUMN amount_new BIGINT;"));
        assert!(g.files[1].text.contains("UPDATE accounts SET amount_new = amount::BIGINT WHERE amount_new IS DISTINCT FROM amount::BIGINT;"));
        let contract = &g.files[2].text;
        for s in [
            "VALIDATE CONSTRAINT accounts_amount_new_not_null;",
            "ALTER TABLE accounts DROP COLUMN amount;",
            "ALTER TABLE accounts RENAME COLUMN amount_new TO amount;",
            "ALTER TABLE accounts ALTER COLUMN amount SET DEFAULT (0)::BIGINT;",
            "UPDATE accounts SET amount = amount_new::integer WHERE amount_new IS NOT NULL;",
        ] {
            assert!(
                contract.to_lowercase().contains(&s.to_lowercase()),
                "{s} not in\n{contract}"
            );
        }
        assert!(!g.files.iter().any(|f| f.text.contains(" TYPE BIGINT")));
    }

    #[test]
    fn no_rewrite_and_indexed_columns_stay_one_alter_and_say_why() {
        for (body, why) in [
            (
                "## Data model\n- Widen `accounts.nickname` to TEXT\n",
                "does not rewrite accounts",
            ),
            (
                "## Data model\n- Change `accounts`.`score` to BIGINT\n",
                "the index accounts_score is on it",
            ),
        ] {
            let g = generate(body);
            assert_eq!(g.files.len(), 1, "{}", g.migration);
            assert!(g.migration.contains("-- NOTE: "), "{}", g.migration);
            assert!(g.migration.contains(why), "{why} not in\n{}", g.migration);
            assert!(g.migration.contains(" ALTER COLUMN "), "{}", g.migration);
        }
    }

    #[test]
    fn a_table_of_the_same_issue_stays_one_alter() {
        let g = generate(
            "```sql\nCREATE TABLE ledgers (id bigint PRIMARY KEY, total integer);\nALTER TABLE ledgers ALTER COLUMN total TYPE bigint USING total::bigint;\n```\n",
        );
        assert_eq!(g.files.len(), 1, "{}", g.migration);
        assert!(!g.migration.contains("_new"), "{}", g.migration);
        assert!(
            g.migration.contains("ledgers is created by this issue"),
            "{}",
            g.migration
        );
    }
}
