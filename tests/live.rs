//! Live figures on both engines: table sizes, row estimates of UPDATE/DELETE, exact counts, and the
//! calibrated estimate of a migration, on real SQLite files and the throwaway PostgreSQL cluster.

use migrator::live::{self, analyse};
use migrator::Engine;
use migrator_tests::{sqlite_and_postgres, Db, Workspace};

/// `users` with `n` rows: every third has no email; an index on `name`.
fn users(db: &Db, n: u32) {
    let series = if db.is_postgres() {
        format!("SELECT i, 'user ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'u' || i || '@example.com' END FROM generate_series(1, {n}) AS i")
    } else {
        format!("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) SELECT i, 'user ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'u' || i || '@example.com' END FROM g")
    };
    db.exec(&format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
         INSERT INTO users (id, name, email) {series};
         CREATE INDEX users_name ON users (name);
         ANALYZE users;"
    ));
}

fn options(db: &Db, backend: &mut dyn Engine) -> analyse::Options {
    if db.is_postgres() {
        let version = backend.server_version().unwrap();
        let major = version
            .trim_start_matches("PostgreSQL ")
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        analyse::Options {
            dialect: analyse::Dialect::Postgres,
            pg_version: major,
        }
    } else {
        analyse::Options::new(analyse::Dialect::Sqlite)
    }
}

fn sizes_counts_and_versions(_ws: &Workspace, db: &Db) {
    users(db, 3000);
    db.with_backend(|b| {
        let version = b.server_version().unwrap();
        assert!(version.starts_with(db.engine_name()), "{version}");
        assert!(version.chars().any(|c| c.is_ascii_digit()), "{version}");

        let exact = b
            .stats()
            .unwrap()
            .table_stats("users", true)
            .unwrap()
            .expect("users exists");
        assert_eq!((exact.rows, exact.exact), (3000, true));
        assert!(exact.table_bytes > 3000 * 20, "{exact:?}");
        assert!(exact.index_bytes > 3000 * 5, "{exact:?}");
        // Catalog figures after ANALYZE: the same count, not marked exact.
        let catalog = b
            .stats()
            .unwrap()
            .table_stats("users", false)
            .unwrap()
            .expect("users exists");
        assert_eq!((catalog.rows, catalog.exact), (3000, false), "{catalog:?}");

        assert_eq!(b.stats().unwrap().count_rows("users", None).unwrap(), 3000);
        assert_eq!(
            b.stats()
                .unwrap()
                .count_rows("users", Some("email"))
                .unwrap(),
            2000
        );

        // Missing and hostile names are data, never SQL.
        assert_eq!(b.stats().unwrap().table_stats("nope", false).unwrap(), None);
        let hostile = "users\"; DROP TABLE users; --";
        assert_eq!(b.stats().unwrap().table_stats(hostile, true).unwrap(), None);
        let err = b
            .stats()
            .unwrap()
            .count_rows(hostile, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("counting the rows of table"), "{err}");
        let err = b
            .stats()
            .unwrap()
            .count_rows("users", Some("email\") FROM users; DROP TABLE users; --"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("counting the rows of table users"), "{err}");
        assert_eq!(b.stats().unwrap().count_rows("users", None).unwrap(), 3000);
    });
}

fn row_estimates_of_updates_and_deletes(_ws: &Workspace, db: &Db) {
    users(db, 3000);
    db.with_backend(|b| {
        let some = b
            .stats()
            .unwrap()
            .estimate_rows("UPDATE users SET email = NULL WHERE id <= 300")
            .unwrap()
            .expect("an estimate");
        let all = b
            .stats()
            .unwrap()
            .estimate_rows("DELETE FROM users")
            .unwrap()
            .expect("an estimate");
        if db.is_postgres() {
            // The planner's estimate after ANALYZE.
            assert!((150..=600).contains(&some), "{some}");
            assert!((2700..=3300).contains(&all), "{all}");
        } else {
            // SQLite counts.
            assert_eq!((some, all), (300, 3000));
        }
        // Nothing to tell: not an UPDATE/DELETE, or a table a pending migration creates.
        assert_eq!(
            b.stats()
                .unwrap()
                .estimate_rows("SELECT * FROM users")
                .unwrap(),
            None
        );
        assert_eq!(
            b.stats()
                .unwrap()
                .estimate_rows("UPDATE not_yet SET a = 1 WHERE b = 2")
                .unwrap(),
            None
        );
        // A column an earlier statement adds: the rows its WHERE selects.
        let backfill = b
            .stats()
            .unwrap()
            .estimate_rows("UPDATE users SET not_yet = 1 WHERE id > 1500")
            .unwrap()
            .expect("an estimate");
        if db.is_postgres() {
            assert!((1000..=2000).contains(&backfill), "{backfill}");
        } else {
            assert_eq!(backfill, 1500);
        }
        // It only estimated: nothing changed.
        assert_eq!(
            b.stats()
                .unwrap()
                .count_rows("users", Some("email"))
                .unwrap(),
            2000
        );
        assert_eq!(b.stats().unwrap().count_rows("users", None).unwrap(), 3000);
    });
}

fn calibrated_estimate_of_a_migration(ws: &Workspace, db: &Db) {
    users(db, 20_000);
    ws.add(
        20250101000000,
        Some(7),
        "email_index",
        "ALTER TABLE users ADD COLUMN note TEXT;\nCREATE INDEX users_email ON users (email);\nUPDATE users SET note = 'x' WHERE id <= 5000;",
        Some("DROP INDEX users_email;"),
    );
    let set = ws.set();
    let migration = set.get(20250101000000).unwrap();
    db.with_backend(|b| {
        let calibration = live::calibrate(b).unwrap();
        // Two samples at least (the fit needs two sizes), the larger one measurable.
        assert!(calibration.rows >= 32_000, "{calibration:?}");
        assert!(calibration.row_bytes > 10.0, "{calibration:?}");
        assert!(
            calibration.index_key_bytes > calibration.index_narrow_key_bytes,
            "{calibration:?}"
        );
        // Every kind of work costs something at the sample's size.
        let at_sample = |c: &live::Cost| c.of(calibration.rows as f64, 1.0);
        for cost in [
            &calibration.scan,
            &calibration.index,
            &calibration.rewrite,
            &calibration.copy,
            &calibration.update,
            &calibration.delete,
        ] {
            assert!(
                at_sample(cost) > std::time::Duration::ZERO,
                "{calibration:?}"
            );
        }
        // The scratch tables are gone.
        assert_eq!(
            b.stats()
                .unwrap()
                .table_stats("_migrator_calibration", false)
                .unwrap(),
            None
        );
        assert_eq!(
            b.stats()
                .unwrap()
                .table_stats("_migrator_calibration_copy", false)
                .unwrap(),
            None
        );

        let analysis = analyse::analyse(migration, options(db, b));
        let e = live::estimate(b, migration, &analysis, &calibration).unwrap();
        assert_eq!(e.version, 20250101000000);
        assert_eq!((e.up.len(), e.down.len()), (3, 1));
        let [add, index, update] = &e.up[..] else {
            unreachable!()
        };
        // The index build reads 20,000 rows and needs room for the index; the metadata change does not.
        assert_eq!(index.rows, Some(20_000));
        assert!(index.space_bytes > 20_000 * 4, "{index:?}");
        assert!(index.duration > add.duration, "{index:?} vs {add:?}");
        assert_eq!(add.space_bytes, 0);
        assert!(index.blocks_writes, "{index:?}");
        // Counted exactly (the column it sets does not exist yet: the rows its WHERE selects).
        assert_eq!(update.rows, Some(5000), "{update:?}");
        assert_eq!(e.up_total, add.duration + index.duration + update.duration);
        assert!(e.lock_duration >= index.duration, "{e:?}");
        assert!(!e.downtime, "{e:?}");
        assert_eq!(e.tables.len(), 1);
        assert_eq!(e.tables[0].rows, 20_000);
        assert!(e.up.iter().all(|s| !s.measured));
    });
}

/// A table rebuild (create, copy, drop, rename, index): the estimate follows the rows into the new table,
/// so the index build on the renamed table is sized by the copied rows.
fn rebuild_follows_the_rows(ws: &Workspace, db: &Db) {
    users(db, 10_000);
    ws.add(
        20250102000000,
        Some(8),
        "rebuild_users",
        "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
INSERT INTO users_new (id, name, email) SELECT id, name, coalesce(email, '') FROM users WHERE id > 2000;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_name ON users (name);",
        None,
    );
    let set = ws.set();
    let migration = set.get(20250102000000).unwrap();
    db.with_backend(|b| {
        let calibration = live::calibrate(b).unwrap();
        let analysis = analyse::analyse(migration, options(db, b));
        let e = live::estimate(b, migration, &analysis, &calibration).unwrap();
        let [create, copy, drop, rename, index] = &e.up[..] else {
            panic!("{e:?}")
        };
        assert_eq!(create.rows, None);
        assert_eq!(copy.rows, Some(8000), "{copy:?}");
        assert!(copy.duration > create.duration, "{copy:?}");
        assert!(drop.duration >= calibration.metadata, "{drop:?}");
        assert_eq!(rename.duration, calibration.metadata);
        assert_eq!(index.rows, Some(8000), "{index:?}");
        assert!(index.duration > rename.duration, "{index:?}");
        // Key widths: the name column of the real table (statistics after ANALYZE).
        let name = b
            .stats()
            .unwrap()
            .key_width("users", &["name"])
            .unwrap()
            .expect("a width");
        assert!((6.0..=14.0).contains(&name), "{name}");
        assert_eq!(
            b.stats().unwrap().key_width("users", &["nope"]).unwrap(),
            None
        );
        assert_eq!(
            b.stats().unwrap().key_width("nope", &["name"]).unwrap(),
            None
        );
    });
}

/// `count_affected` counts exactly where the planner only guesses (an expression in the WHERE).
fn exact_counts_of_affected_rows(_ws: &Workspace, db: &Db) {
    users(db, 3000);
    db.with_backend(|b| {
        let sql = "UPDATE users SET email = NULL WHERE id % 3 = 1";
        assert_eq!(b.stats().unwrap().count_affected(sql).unwrap(), Some(1000));
        assert_eq!(
            b.stats()
                .unwrap()
                .count_affected("DELETE FROM users WHERE name LIKE 'user 1%'")
                .unwrap(),
            Some(1111)
        );
        assert_eq!(
            b.stats()
                .unwrap()
                .count_affected(
                    "INSERT INTO users (id, name) SELECT id + 3000, name FROM users WHERE id <= 10"
                )
                .unwrap(),
            Some(10)
        );
        assert_eq!(
            b.stats()
                .unwrap()
                .count_affected("DELETE FROM not_yet")
                .unwrap(),
            None
        );
        assert_eq!(b.stats().unwrap().count_affected("SELECT 1").unwrap(), None);
        assert_eq!(
            b.stats()
                .unwrap()
                .count_rows("users", Some("email"))
                .unwrap(),
            2000
        );
    });
}

/// The rows `SELECT` is cut from the statement's clauses as written: joins, `FROM` and `USING` lists,
/// upserts, `RETURNING` and `IS DISTINCT FROM` keep the count exact.
fn counts_follow_every_clause_that_chooses_rows(_ws: &Workspace, db: &Db) {
    users(db, 3000);
    let mut cases = vec![
        (
            "UPDATE users AS u SET email = t.name FROM (SELECT id, name FROM users WHERE id <= 5) AS t WHERE u.id = t.id",
            5,
        ),
        (
            "UPDATE users SET email = NULL WHERE email IS NOT NULL AND name IS DISTINCT FROM 'x' AND id <= 30",
            20,
        ),
        (
            "INSERT INTO users (id, name) VALUES (5001, 'a'), (5002, 'b') ON CONFLICT (id) DO NOTHING",
            2,
        ),
        (
            "DELETE FROM users WHERE id IN (SELECT id FROM users WHERE name LIKE 'user 2%') RETURNING id",
            1111,
        ),
    ];
    if db.is_postgres() {
        cases.push((
            "DELETE FROM users USING users AS other WHERE users.id = other.id + 1 AND other.id < 10",
            9,
        ));
    }
    db.with_backend(|b| {
        for (sql, rows) in cases {
            let counted = b.stats().unwrap().count_affected(sql);
            assert_eq!(counted.unwrap(), Some(rows), "{sql}");
        }
    });
}

sqlite_and_postgres!(
    rebuild_follows_the_rows,
    counts_follow_every_clause_that_chooses_rows,
    exact_counts_of_affected_rows,
    sizes_counts_and_versions,
    row_estimates_of_updates_and_deletes,
    calibrated_estimate_of_a_migration,
);
