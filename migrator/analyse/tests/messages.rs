//! The message a user sees, for every rule: positive cases (the rule fires) and negative ones (it must not),
//! rendered as `lint` prints them and compared with `tests/snapshots/rules/<rule-id>.txt` exactly
//! (`UPDATE_SNAPSHOTS=1` rewrites them; read the diff before committing). Cases that depend on the schema
//! before the migration give the earlier migration's SQL; the analyser learns from it as `lint` does.

mod common;

use std::fmt::Write;

use migrator_analyse::{analyse_all, report, rule_catalog, Dialect, Options, Severity};
use migrator_format::Migration;

const PG: Dialect = Dialect::Postgres;
const LITE: Dialect = Dialect::Sqlite;

/// One case: the rule, whether it must fire, the dialect and PostgreSQL version, an earlier migration (the
/// schema before), the file's header lines (directives), its UP and its DOWN.
struct Case {
    id: &'static str,
    fires: bool,
    label: &'static str,
    dialect: Dialect,
    pg: u32,
    before: &'static str,
    header: &'static str,
    up: &'static str,
    down: &'static str,
}

const fn case(id: &'static str, fires: bool, label: &'static str, up: &'static str) -> Case {
    Case {
        id,
        fires,
        label,
        dialect: PG,
        pg: 15,
        before: "",
        header: "",
        up,
        down: "",
    }
}

impl Case {
    const fn lite(mut self) -> Case {
        self.dialect = LITE;
        self
    }
    const fn pg(mut self, version: u32) -> Case {
        self.pg = version;
        self
    }
    const fn before(mut self, sql: &'static str) -> Case {
        self.before = sql;
        self
    }
    const fn header(mut self, header: &'static str) -> Case {
        self.header = header;
        self
    }
    const fn down(mut self, sql: &'static str) -> Case {
        self.down = sql;
        self
    }
}

/// A 2,000-term expression: deeper than the analyser reads.
fn deep() -> &'static str {
    Box::leak(format!("SELECT {};", vec!["1"; 2000].join("+")).into_boxed_str())
}

const NO_TX: &str = "-- migrator:no-transaction\n";

const CONTACTS: &str = "CREATE TABLE contacts (id bigint PRIMARY KEY, email varchar(100), name varchar(50), score integer, created_at timestamp, org_id bigint);\nCREATE INDEX contacts_created_at ON contacts (created_at);";

fn cases() -> Vec<Case> {
    vec![
        case("not-analysed", true, "a typo is not a parser gap", "ALTER TABLE contacts ADD COLUM x int;"),
        case("not-analysed", true, "too deeply nested", deep()),
        case("not-analysed", false, "valid SQL", "ALTER TABLE contacts ADD COLUMN x int;"),
        case("not-understood", true, "ALTER SEQUENCE ... RENAME", "ALTER SEQUENCE contacts_id_seq RENAME TO people_id_seq;"),
        case("not-understood", true, "ALTER CONSTRAINT ... DEFERRABLE", "ALTER TABLE contacts ALTER CONSTRAINT contacts_org_fk DEFERRABLE INITIALLY DEFERRED;"),
        case("not-understood", true, "CREATE STATISTICS", "CREATE STATISTICS contacts_stats (dependencies) ON org_id, score FROM contacts;"),
        case("not-understood", true, "DROP STATISTICS", "DROP STATISTICS IF EXISTS contacts_stats;"),
        case("not-understood", true, "COMMENT ON FUNCTION f(args)", "COMMENT ON FUNCTION normalise_email(text) IS 'lower-cases';"),
        case("not-understood", true, "COMMENT ON CONSTRAINT", "COMMENT ON CONSTRAINT contacts_pkey ON contacts IS 'the key';"),
        case("not-understood", true, "ALTER INDEX IF EXISTS ... RENAME", "ALTER INDEX IF EXISTS contacts_created_at RENAME TO contacts_created;"),
        case("not-understood", true, "DO block", "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app; END IF; END $$;"),
        case("not-understood", true, "CREATE FUNCTION ... COST n", "CREATE FUNCTION normalise_email(e text) RETURNS text LANGUAGE sql IMMUTABLE COST 10 AS $$ SELECT lower(e) $$;"),
        case("not-understood", false, "a form the parser reads", "COMMENT ON TABLE contacts IS 'people';"),
        case("pg-index-not-concurrent", true, "existing table", "CREATE INDEX contacts_email ON contacts (email);"),
        case("pg-index-not-concurrent", false, "CONCURRENTLY, no transaction", "CREATE INDEX CONCURRENTLY contacts_email ON contacts (email);").header(NO_TX),
        case("pg-index-not-concurrent", false, "table created in the migration", "CREATE TABLE notes (id bigint, body text);\nCREATE INDEX notes_body ON notes (body);"),
        case("pg-index-not-concurrent", false, "materialized view created in the migration", "CREATE MATERIALIZED VIEW contact_counts AS SELECT org_id, count(*) AS n FROM contacts GROUP BY org_id;\nCREATE UNIQUE INDEX contact_counts_org ON contact_counts (org_id);"),
        case("pg-drop-index-not-concurrent", true, "the index's table is known from the earlier migration", "DROP INDEX contacts_created_at;").before(CONTACTS),
        case("pg-drop-index-not-concurrent", true, "REINDEX", "REINDEX INDEX contacts_created_at;").before(CONTACTS),
        case("pg-drop-index-not-concurrent", false, "CONCURRENTLY", "DROP INDEX CONCURRENTLY contacts_created_at;").header(NO_TX).before(CONTACTS),
        case("pg-concurrently-in-transaction", true, "in a transaction", "CREATE INDEX CONCURRENTLY contacts_email ON contacts (email);"),
        case("pg-concurrently-in-transaction", false, "no-transaction migration", "CREATE INDEX CONCURRENTLY contacts_email ON contacts (email);").header(NO_TX),
        case("pg-version-unsupported", true, "REINDEX CONCURRENTLY on 11", "REINDEX INDEX CONCURRENTLY contacts_created_at;").header(NO_TX).pg(11),
        case("pg-version-unsupported", true, "DETACH CONCURRENTLY on 13", "ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;").header(NO_TX).pg(13),
        case("pg-version-unsupported", false, "REINDEX CONCURRENTLY on 12", "REINDEX INDEX CONCURRENTLY contacts_created_at;").header(NO_TX).pg(12),
        case("pg-foreign-key-not-valid", true, "ADD FOREIGN KEY", "ALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id);"),
        case("pg-foreign-key-not-valid", true, "ADD COLUMN ... REFERENCES, empty column", "ALTER TABLE contacts ADD COLUMN team_id bigint REFERENCES teams (id);"),
        case("pg-foreign-key-not-valid", true, "ADD COLUMN ... REFERENCES with a default", "ALTER TABLE contacts ADD COLUMN team_id bigint DEFAULT 1 REFERENCES teams (id);"),
        case("pg-foreign-key-not-valid", false, "NOT VALID", "ALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;"),
        case("pg-check-not-valid", true, "validated CHECK", "ALTER TABLE contacts ADD CONSTRAINT score_range CHECK (score BETWEEN 0 AND 100);"),
        case("pg-check-not-valid", false, "NOT VALID", "ALTER TABLE contacts ADD CONSTRAINT score_range CHECK (score BETWEEN 0 AND 100) NOT VALID;"),
        case("pg-validate-in-same-transaction", true, "NOT VALID and VALIDATE together", "ALTER TABLE contacts ADD CONSTRAINT score_range CHECK (score >= 0) NOT VALID;\nALTER TABLE contacts VALIDATE CONSTRAINT score_range;"),
        case("pg-validate-in-same-transaction", false, "VALIDATE in the next migration", "ALTER TABLE contacts VALIDATE CONSTRAINT score_range;").before("ALTER TABLE contacts ADD CONSTRAINT score_range CHECK (score >= 0) NOT VALID;"),
        case("pg-set-not-null", true, "no CHECK to prove it (PostgreSQL 15: a warning)", "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL;"),
        case("pg-set-not-null", true, "PostgreSQL 11 cannot use a CHECK", "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL;").pg(11).before("ALTER TABLE contacts ADD CONSTRAINT email_nn CHECK (email IS NOT NULL);"),
        case("pg-set-not-null", false, "the safe pattern: CHECK NOT VALID, VALIDATE, then SET NOT NULL", "ALTER TABLE contacts ALTER COLUMN email SET NOT NULL;\nALTER TABLE contacts DROP CONSTRAINT email_nn;").before("ALTER TABLE contacts ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE contacts VALIDATE CONSTRAINT email_nn;"),
        case("pg-set-not-null", false, "validated in the same no-transaction migration", "ALTER TABLE contacts VALIDATE CONSTRAINT email_nn;\nALTER TABLE contacts ALTER COLUMN email SET NOT NULL;").header(NO_TX).before("ALTER TABLE contacts ADD CONSTRAINT email_nn CHECK (email IS NOT NULL) NOT VALID;"),
        case("pg-set-not-null", false, "table created in the migration", "CREATE TABLE notes (id bigint, body text);\nALTER TABLE notes ALTER COLUMN body SET NOT NULL;"),
        case("pg-add-column-not-null-without-default", true, "NOT NULL, no default", "ALTER TABLE contacts ADD COLUMN region text NOT NULL;"),
        case("pg-add-column-not-null-without-default", false, "NOT NULL with a default", "ALTER TABLE contacts ADD COLUMN region text NOT NULL DEFAULT 'eu';"),
        case("pg-add-column-default-rewrite", true, "volatile built-in", "ALTER TABLE contacts ADD COLUMN token uuid DEFAULT gen_random_uuid();"),
        case("pg-add-column-default-rewrite", true, "unknown function: volatile", "ALTER TABLE contacts ADD COLUMN slug text DEFAULT make_slug();"),
        case("pg-add-column-default-rewrite", true, "a function created without a volatility", "ALTER TABLE contacts ADD COLUMN slug text DEFAULT make_slug();").before("CREATE FUNCTION make_slug() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;"),
        case("pg-add-column-default-rewrite", true, "any default before PostgreSQL 11", "ALTER TABLE contacts ADD COLUMN region text DEFAULT 'eu';").pg(10),
        case("pg-add-column-default-rewrite", false, "constant on 11+", "ALTER TABLE contacts ADD COLUMN region text DEFAULT 'eu';"),
        case("pg-add-column-default-rewrite", false, "now() is STABLE", "ALTER TABLE contacts ADD COLUMN seen_at timestamptz DEFAULT now();"),
        case("pg-add-column-default-rewrite", false, "a function declared IMMUTABLE", "ALTER TABLE contacts ADD COLUMN slug text DEFAULT make_slug();").before("CREATE FUNCTION make_slug() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'x' $$;"),
        case("pg-add-column-generated-rewrite", true, "serial", "ALTER TABLE contacts ADD COLUMN seq serial;"),
        case("pg-add-column-generated-rewrite", true, "STORED generated", "ALTER TABLE contacts ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) STORED;"),
        case("pg-add-column-generated-rewrite", false, "plain column", "ALTER TABLE contacts ADD COLUMN seq bigint;"),
        case("pg-column-type-rewrite", true, "bigint -> numeric rewrites", "ALTER TABLE contacts ALTER COLUMN org_id TYPE numeric;").before(CONTACTS),
        case("pg-column-type-rewrite", true, "integer -> bigint", "ALTER TABLE contacts ALTER COLUMN score TYPE bigint;").before(CONTACTS),
        case("pg-column-type-rewrite", true, "varchar shortened", "ALTER TABLE contacts ALTER COLUMN email TYPE varchar(50);").before(CONTACTS),
        case("pg-column-type-rewrite", true, "timestamp -> timestamptz, TimeZone not set", "ALTER TABLE contacts ALTER COLUMN created_at TYPE timestamptz;").before(CONTACTS),
        case("pg-column-type-rewrite", true, "timestamp -> timestamptz with UTC: the index is rebuilt", "SET timezone = 'UTC';\nALTER TABLE contacts ALTER COLUMN created_at TYPE timestamptz USING created_at;").before(CONTACTS),
        case("pg-column-type-rewrite", true, "timestamp -> timestamptz before PostgreSQL 12", "SET timezone = 'UTC';\nALTER TABLE contacts ALTER COLUMN created_at TYPE timestamptz;").before(CONTACTS).pg(11),
        case("pg-column-type-rewrite", true, "old type unknown, target reachable without a rewrite", "ALTER TABLE contacts ALTER COLUMN email TYPE text;"),
        case("pg-column-type-rewrite", true, "USING computes every value", "ALTER TABLE contacts ALTER COLUMN score TYPE text USING score::text || '%';").before(CONTACTS),
        case("pg-column-type-rewrite", false, "varchar widened", "ALTER TABLE contacts ALTER COLUMN email TYPE varchar(200);").before(CONTACTS),
        case("pg-column-type-rewrite", false, "varchar -> text", "ALTER TABLE contacts ALTER COLUMN email TYPE text;").before(CONTACTS),
        case("pg-column-type-rewrite", false, "length limit dropped", "ALTER TABLE contacts ALTER COLUMN email TYPE character varying;").before(CONTACTS),
        case("pg-column-type-rewrite", false, "timestamp -> timestamptz with UTC, no index on the column", "SET TIME ZONE 'UTC';\nALTER TABLE contacts ALTER COLUMN created_at TYPE timestamptz;").before("CREATE TABLE contacts (id bigint PRIMARY KEY, created_at timestamp);"),
        case("pg-constraint-builds-index", true, "ADD UNIQUE", "ALTER TABLE contacts ADD CONSTRAINT contacts_email_key UNIQUE (email);"),
        case("pg-constraint-builds-index", true, "ADD COLUMN ... UNIQUE", "ALTER TABLE contacts ADD COLUMN handle text UNIQUE;"),
        case("pg-constraint-builds-index", false, "USING INDEX", "ALTER TABLE contacts ADD CONSTRAINT contacts_email_key UNIQUE USING INDEX contacts_email_idx;"),
        case("destructive-operation", true, "DROP TABLE", "DROP TABLE contacts;"),
        case("destructive-operation", true, "DROP COLUMN", "ALTER TABLE contacts DROP COLUMN score;"),
        case("destructive-operation", false, "table created in the migration", "CREATE TABLE scratch (id int);\nDROP TABLE scratch;"),
        case("destructive-operation", false, "the old copy of a rebuild", "CREATE TABLE new_contacts (id integer PRIMARY KEY, email text NOT NULL);\nINSERT INTO new_contacts SELECT id, email FROM contacts;\nDROP TABLE contacts;\nALTER TABLE new_contacts RENAME TO contacts;\nPRAGMA foreign_key_check;").lite(),
        case("rename-breaks-clients", true, "column rename", "ALTER TABLE contacts RENAME COLUMN name TO full_name;"),
        case("rename-breaks-clients", false, "rename-away rebuild: the name comes back", "ALTER TABLE contacts RENAME TO contacts_old;\nCREATE TABLE contacts (id integer PRIMARY KEY, email text);\nINSERT INTO contacts SELECT id, email FROM contacts_old;\nDROP TABLE contacts_old;").lite(),
        case("constraint-dropped", true, "a key dropped for good", "ALTER TABLE contacts DROP CONSTRAINT contacts_email_key;"),
        case("constraint-dropped", false, "dropped and added back", "ALTER TABLE contacts DROP CONSTRAINT contacts_org_fk;\nUPDATE contacts SET org_id = 1 WHERE org_id = 2;\nALTER TABLE contacts ADD CONSTRAINT contacts_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;"),
        case("pg-access-exclusive-held", true, "slow work while another table is locked", "ALTER TABLE orgs RENAME COLUMN label TO name;\nALTER TABLE contacts ALTER COLUMN score TYPE bigint;").before(CONTACTS),
        case("pg-access-exclusive-held", false, "the earlier lock is on the same table", "ALTER TABLE contacts ADD COLUMN region text;\nALTER TABLE contacts ALTER COLUMN score TYPE bigint;").before(CONTACTS),
        case("pg-access-exclusive-held", false, "the locked table is dropped", "DROP TABLE old_contacts;\nALTER TABLE contacts ALTER COLUMN score TYPE bigint;").before(CONTACTS),
        case("foreign-key-without-index", true, "no index on the referencing column", "CREATE TABLE notes (id bigint PRIMARY KEY, contact_id bigint REFERENCES contacts (id));"),
        case("foreign-key-without-index", false, "indexed in the same migration", "CREATE TABLE notes (id bigint PRIMARY KEY, contact_id bigint REFERENCES contacts (id));\nCREATE INDEX notes_contact ON notes (contact_id);"),
        case("foreign-key-without-index", false, "indexed by an earlier migration", "ALTER TABLE notes ADD CONSTRAINT notes_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id) NOT VALID;").before("CREATE TABLE notes (id bigint PRIMARY KEY, contact_id bigint);\nCREATE INDEX notes_contact ON notes (contact_id);"),
        case("update-delete-without-where", true, "UPDATE of every row", "UPDATE contacts SET score = 0;"),
        case("update-delete-without-where", true, "SQLite DELETE of every row", "DELETE FROM contacts;").lite(),
        case("update-delete-without-where", false, "with a WHERE", "UPDATE contacts SET score = 0 WHERE score IS NULL;"),
        case("backfill-in-ddl-transaction", true, "backfill after DDL", "ALTER TABLE contacts ADD COLUMN region text;\nUPDATE contacts SET region = 'eu' WHERE region IS NULL;"),
        case("backfill-in-ddl-transaction", false, "backfill before the DDL", "DELETE FROM contacts WHERE email IS NULL;\nCREATE UNIQUE INDEX contacts_email ON contacts (email);"),
        case("vacuum-in-transaction", true, "VACUUM in a transaction", "VACUUM contacts;"),
        case("vacuum-in-transaction", false, "no-transaction migration", "VACUUM contacts;").header(NO_TX),
        case("pg-vacuum-full", true, "VACUUM FULL, no transaction", "VACUUM FULL contacts;").header(NO_TX),
        case("pg-vacuum-full", true, "CLUSTER", "CLUSTER contacts USING contacts_pkey;"),
        case("pg-vacuum-full", false, "plain VACUUM", "VACUUM contacts;").header(NO_TX),
        case("pg-lock-table", true, "LOCK TABLE in a transaction", "LOCK TABLE contacts;\nALTER TABLE contacts ADD COLUMN region text;"),
        case("pg-lock-table", true, "LOCK TABLE without a transaction", "LOCK TABLE contacts IN SHARE MODE;").header(NO_TX),
        case("pg-lock-table", false, "a lock that blocks no writes", "LOCK TABLE contacts IN ACCESS SHARE MODE;"),
        case("pg-refresh-materialized-view-not-concurrent", true, "in a transaction", "REFRESH MATERIALIZED VIEW contact_counts;"),
        case("pg-refresh-materialized-view-not-concurrent", true, "no-transaction migration", "REFRESH MATERIALIZED VIEW contact_counts;").header(NO_TX),
        case("pg-refresh-materialized-view-not-concurrent", false, "CONCURRENTLY", "REFRESH MATERIALIZED VIEW CONCURRENTLY contact_counts;"),
        case("sqlite-table-rebuild-needed", true, "ALTER COLUMN TYPE", "ALTER TABLE contacts ALTER COLUMN score TYPE bigint;").lite(),
        case("sqlite-table-rebuild-needed", false, "ADD COLUMN", "ALTER TABLE contacts ADD COLUMN region text;").lite(),
        case("sqlite-add-column-refused", true, "NOT NULL without default", "ALTER TABLE contacts ADD COLUMN region text NOT NULL;").lite(),
        case("sqlite-add-column-refused", true, "CURRENT_TIMESTAMP default", "ALTER TABLE contacts ADD COLUMN seen_at text DEFAULT CURRENT_TIMESTAMP;").lite(),
        case("sqlite-add-column-refused", false, "constant default", "ALTER TABLE contacts ADD COLUMN region text NOT NULL DEFAULT 'eu';").lite(),
        case("sqlite-rebuild-without-foreign-key-check", true, "rebuild without the check", "CREATE TABLE new_contacts (id integer PRIMARY KEY, email text NOT NULL);\nINSERT INTO new_contacts SELECT id, email FROM contacts;\nDROP TABLE contacts;\nALTER TABLE new_contacts RENAME TO contacts;").lite(),
        case("sqlite-rebuild-without-foreign-key-check", false, "rebuild ending with the check", "CREATE TABLE new_contacts (id integer PRIMARY KEY, email text NOT NULL);\nINSERT INTO new_contacts SELECT id, email FROM contacts;\nDROP TABLE contacts;\nALTER TABLE new_contacts RENAME TO contacts;\nPRAGMA foreign_key_check;").lite(),
        case("sqlite-foreign-keys-pragma-in-transaction", true, "in a transaction", "PRAGMA foreign_keys = OFF;").lite(),
        case("sqlite-foreign-keys-pragma-in-transaction", false, "no-transaction migration", "PRAGMA foreign_keys = OFF;").lite().header(NO_TX),
        case("down-data-loss", true, "the DOWN drops a table", "CREATE TABLE notes (id bigint PRIMARY KEY);").down("DROP TABLE notes;"),
        case("down-data-loss", false, "the DOWN drops an index", "CREATE INDEX CONCURRENTLY contacts_email ON contacts (email);").header(NO_TX).down("DROP INDEX CONCURRENTLY contacts_email;"),
    ]
}

fn migration(version: u64, name: &str, header: &str, up: &str, down: &str) -> Migration {
    let mut text = format!("{header}-- ============ UP MIGRATION ============\n{up}\n");
    if !down.is_empty() {
        text.push_str(&format!(
            "-- ============ DOWN MIGRATION ============\n{down}\n"
        ));
    }
    migrator_format::parse_file(&format!("{version}_{name}.sql"), &text)
        .unwrap_or_else(|e| panic!("case does not parse: {e}\n{text}"))
}

/// The SQL as shown in the snapshot: a statement longer than 300 bytes is cut, with its length.
fn shorten(sql: &str) -> String {
    if sql.len() <= 300 {
        sql.to_string()
    } else {
        format!("{}... ({} bytes)", &sql[..120], sql.len())
    }
}

/// Renders one case: its SQL and the rule's findings as `lint` prints them.
fn render(c: &Case, out: &mut String) {
    let mut migrations = Vec::new();
    if !c.before.is_empty() {
        migrations.push(migration(20240101000000, "before", "", c.before, ""));
    }
    migrations.push(migration(20240102000000, "case", c.header, c.up, c.down));
    let opts = Options {
        dialect: c.dialect,
        pg_version: c.pg,
    };
    let mut analyses = analyse_all(&migrations, opts);
    let mut last = analyses.pop().expect("the case's analysis");
    last.findings.retain(|f| f.id == c.id);
    let dialect = match c.dialect {
        Dialect::Postgres => format!("PostgreSQL {}", c.pg),
        Dialect::Sqlite => "SQLite".to_string(),
    };
    let _ = writeln!(
        out,
        "== {}: {} ({dialect})",
        if c.fires { "fires" } else { "silent" },
        c.label
    );
    if !c.before.is_empty() {
        let _ = writeln!(out, "-- before:\n{}", c.before);
    }
    let _ = writeln!(out, "{}{}", c.header, shorten(c.up));
    if !c.down.is_empty() {
        let _ = writeln!(out, "-- DOWN:\n{}", c.down);
    }
    let text = report::render_text(std::slice::from_ref(&last), "", Severity::Info);
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(" migrations, "))
        .collect();
    let _ = writeln!(out, "--> {} finding(s)", last.findings.len());
    for line in findings {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    assert_eq!(
        !last.findings.is_empty(),
        c.fires,
        "{} on case '{}': findings {:?}",
        c.id,
        c.label,
        last.findings
    );
}

#[test]
fn every_rule_message_matches_its_snapshot() {
    let all = cases();
    let mut failures = Vec::new();
    for rule in rule_catalog() {
        let mine: Vec<&Case> = all.iter().filter(|c| c.id == rule.id).collect();
        assert!(
            mine.iter().any(|c| c.fires) && mine.iter().any(|c| !c.fires),
            "{}: needs a positive and a negative case",
            rule.id
        );
        let mut out = format!("# {} ({}): {}\n\n", rule.id, rule.severity, rule.summary);
        for c in mine {
            render(c, &mut out);
        }
        let name = format!("rules/{}.txt", rule.id);
        if let Err(e) = std::panic::catch_unwind(|| common::assert_snapshot(&name, &out)) {
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| rule.id.to_string()),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        all.iter()
            .all(|c| rule_catalog().iter().any(|r| r.id == c.id)),
        "a case names an unknown rule"
    );
}
