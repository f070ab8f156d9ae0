//! The DDL reader on hand-written dumps in the shapes `pg_dump` and `sqlite3 .schema` print.

use super::*;

const PG_DUMP: &str = r#"--
-- PostgreSQL database dump
--

\restrict 3fUz7yQh1Kx9

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE SCHEMA audit;

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $_$
BEGIN
    NEW.updated_at := now(); -- a ; inside the body
    RETURN NEW;
END;
$_$;

CREATE TABLE public.orders (
    id bigint NOT NULL,
    status character varying(20) DEFAULT 'new'::character varying NOT NULL,
    tags text[] DEFAULT ARRAY[]::text[],
    total numeric(10,2) GENERATED ALWAYS AS ((price * (qty)::numeric)) STORED,
    price numeric(10,2),
    qty integer,
    updated_at timestamp with time zone,
    CONSTRAINT orders_status_check CHECK (((status)::text = ANY ((ARRAY['new'::character varying, 'paid'::character varying])::text[])))
);

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE audit.events (
    id integer NOT NULL,
    order_id bigint
);

COMMENT ON TABLE public.orders IS 'orders; with a semicolon';

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY audit.events
    ADD CONSTRAINT events_order_fk FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL NOT VALID;

CREATE UNIQUE INDEX orders_status_lower ON public.orders USING btree (lower((status)::text)) WHERE (qty > 0);

CREATE INDEX orders_tags ON public.orders USING gin (tags);

CREATE TRIGGER orders_touch BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.touch();

CREATE VIEW public.paid_orders AS
 SELECT id, total
   FROM public.orders
  WHERE ((status)::text = 'paid'::text);

\unrestrict 3fUz7yQh1Kx9
"#;

#[test]
fn reads_a_pg_dump() {
    let (schema, summary) = Schema::from_dump(PG_DUMP, Dialect::Postgres, "dump.sql").unwrap();
    assert_eq!(
        summary.skipped, 5,
        "SET, SELECT, CREATE SCHEMA, CREATE FUNCTION, COMMENT: {summary:?}"
    );
    let orders = schema.table("orders").unwrap();
    let id = orders.column("id").unwrap();
    assert_eq!(id.identity.as_deref(), Some("ALWAYS"));
    assert!(id.not_null);
    let total = orders.column("total").unwrap();
    assert!(total.generated.as_ref().unwrap().stored);
    assert_eq!(
        orders.column("tags").unwrap().default.as_deref(),
        Some("ARRAY[]::TEXT[]")
    );
    assert_eq!(orders.checks[0].columns, ["status"]);
    assert_eq!(orders.primary_key_columns(), ["id"]);
    let lower = &orders.indexes[0];
    assert_eq!(lower.name, "orders_status_lower");
    assert!(lower.unique && !lower.keys[0].is_column);
    assert_eq!(lower.columns, ["status", "qty"]);
    assert_eq!(orders.indexes[1].method.as_deref(), Some("gin"));
    assert_eq!(orders.triggers[0].name, "orders_touch");
    let events = schema.table("audit.events").unwrap();
    assert!(events.foreign_keys[0].not_valid);
    assert_eq!(events.foreign_keys[0].ref_table, "orders");
    assert_eq!(schema.referencing("orders").len(), 1);
    assert_eq!(schema.views_on("orders")[0].name, "paid_orders");
}

#[test]
fn an_unreadable_table_statement_names_its_line() {
    let text = "SET x = 1;\n\nCREATE TABLE t (\n  a int,\n  b frobnicate(\n);\n";
    let e = Schema::from_dump(text, Dialect::Postgres, "bad.sql").unwrap_err();
    assert_eq!((e.origin.as_str(), e.line), ("bad.sql", 3));
    assert!(e.to_string().starts_with("bad.sql:3: "), "{e}");
    let e =
        Schema::from_dump("CREATE INDEX i ON missing (a);", Dialect::Sqlite, "s.sql").unwrap_err();
    assert!(e.message.contains("missing"), "{e}");
}

#[test]
fn reads_sqlite_schema_output_and_follows_alterations() {
    let text = "CREATE TABLE sqlite_sequence(name,seq);
CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT NOT NULL /* inline comment */, b, UNIQUE (a, b));
CREATE INDEX t_b ON t (b) WHERE b IS NOT NULL;
CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN UPDATE t SET a = upper(NEW.a) WHERE id = NEW.id; END;
ALTER TABLE t RENAME COLUMN b TO c;
ALTER TABLE t RENAME TO u;";
    let (schema, _) = Schema::from_dump(text, Dialect::Sqlite, ".schema").unwrap();
    let u = schema.table("u").unwrap();
    assert!(schema.table("sqlite_sequence").is_none());
    assert_eq!(u.column("b"), None);
    assert_eq!(u.column("c").unwrap().data_type, "");
    assert_eq!(u.uniques[0].columns, ["a", "c"]);
    assert_eq!(u.indexes[0].predicate.as_deref(), Some("c IS NOT NULL"));
    assert_eq!(u.triggers[0].name, "t_ai");
    let mut s = schema.clone();
    ddl::apply_sql(&mut s, "ALTER TABLE u DROP COLUMN c", Dialect::Sqlite).unwrap();
    let u = s.table("u").unwrap();
    assert!(u.uniques.is_empty() && u.indexes.is_empty());
}
