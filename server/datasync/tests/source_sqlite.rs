//! SQLite source against real files in a temporary directory.

mod common;

use std::time::Duration;

use common::*;
use datasync::row::Cell;
use datasync::source::{ConnectionKind, SourceError, fetch, fetch_into};

fn database() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data.db");
    let db = rusqlite::Connection::open(&path).expect("create");
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, raw BLOB, n NUMERIC);
         INSERT INTO t VALUES (1, '👋 你好 שלום', 1.5, x'00ff', 10),
                              (2, NULL, NULL, NULL, NULL),
                              (3, 'big', 1e308, x'', 9223372036854775807);",
    )
    .expect("setup");
    (dir, path.to_string_lossy().into_owned())
}

fn run(path: &str, sql: &str) -> Result<datasync::row::RowSet, SourceError> {
    fetch(&connection(ConnectionKind::Sqlite, path), &sql_query(sql))
}

#[test]
fn storage_classes_map_to_cells() {
    let (_dir, path) = database();
    let rows = run(&path, "SELECT * FROM t ORDER BY id").expect("fetch");
    assert_eq!(
        rows.columns.to_vec(),
        vec!["id", "name", "score", "raw", "n"]
    );
    assert_eq!(
        rows.rows,
        vec![
            vec![
                Cell::Int(1),
                text("👋 你好 שלום"),
                Cell::Float(1.5),
                Cell::Bytes(vec![0, 0xff]),
                Cell::Int(10)
            ],
            vec![Cell::Int(2), Cell::Null, Cell::Null, Cell::Null, Cell::Null],
            vec![
                Cell::Int(3),
                text("big"),
                Cell::Float(1e308),
                Cell::Bytes(vec![]),
                Cell::Int(i64::MAX)
            ],
        ]
    );
    let rows = run(&path, "SELECT 9e999 AS inf, -9e999 AS neg").expect("infinity");
    assert_eq!(rows.rows[0], vec![text("Infinity"), text("-Infinity")]);
}

#[test]
fn the_file_is_read_only() {
    let (_dir, path) = database();
    for sql in [
        "INSERT INTO t (id) VALUES (9) RETURNING id",
        "DELETE FROM t RETURNING id",
    ] {
        let err = run(&path, sql).expect_err("write must fail");
        assert!(matches!(err, SourceError::Query { .. }), "{sql}: {err:?}");
        assert_error(&err, &["read-only", "testsync"], &[]);
    }
    let err = run(&path, "SELECT 1; DELETE FROM t").expect_err("two statements");
    assert_error(&err, &["more than one statement"], &[]);
    let db = rusqlite::Connection::open(&path).expect("open");
    let n: i64 = db
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 3);
}

#[test]
fn missing_or_foreign_files_are_connect_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.db");
    let err = run(&missing.to_string_lossy(), "SELECT 1").expect_err("missing");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(
        !missing.exists(),
        "a read-only source must not create the file"
    );
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database file, just some text....................................................................................").expect("write");
    let err = run(&junk.to_string_lossy(), "SELECT 1").expect_err("not a database");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
}

#[test]
fn timeout_interrupts_a_runaway_query() {
    let (_dir, path) = database();
    let mut query = sql_query(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT max(i) FROM r",
    );
    query.statement_timeout = Duration::from_secs(1);
    let err = fetch(&connection(ConnectionKind::Sqlite, &path), &query).expect_err("timeout");
    assert!(
        matches!(err, SourceError::Timeout { seconds: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn row_limit_and_bad_sql() {
    let (_dir, path) = database();
    let conn = connection(ConnectionKind::Sqlite, &path);
    let mut query = sql_query(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r",
    );
    query.max_rows = 100;
    let err = fetch(&conn, &query).expect_err("unbounded result");
    assert!(
        matches!(err, SourceError::TooManyRows { limit: 100, .. }),
        "{err:?}"
    );
    let err = run(&path, "SELECT nope FROM t").expect_err("bad column");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_error(&err, &["no such column"], &[]);
    let err = run(&path, "SELECT ?1").expect_err("parameter");
    assert_error(&err, &["parameters"], &[]);
}

#[test]
fn test_connection_reports_the_version() {
    let (_dir, path) = database();
    let conn = connection(ConnectionKind::Sqlite, &path);
    let version = datasync::source::test_connection(&conn, Duration::from_secs(10)).expect("ok");
    assert!(version.starts_with("SQLite 3."), "{version}");
}

/// Records what a source pushes and refuses the row numbered `refuse_at` (1-based).
struct Recorder {
    columns: Vec<String>,
    rows: Vec<datasync::row::Row>,
    refuse_at: usize,
}

impl datasync::row::RowSink for Recorder {
    fn columns(&mut self, columns: datasync::row::Columns) -> Result<(), String> {
        self.columns = columns.to_vec();
        Ok(())
    }
    fn row(&mut self, row: datasync::row::Row) -> Result<(), String> {
        if self.rows.len() + 1 == self.refuse_at {
            return Err(format!("refused row {}", self.refuse_at));
        }
        self.rows.push(row);
        Ok(())
    }
}

#[test]
fn rows_stream_into_a_sink_which_can_stop_the_read() {
    let (_dir, path) = database();
    let conn = connection(ConnectionKind::Sqlite, &path);
    let query = sql_query("SELECT id FROM t ORDER BY id");
    let mut sink = Recorder {
        columns: Vec::new(),
        rows: Vec::new(),
        refuse_at: 2,
    };
    let err = fetch_into(&conn, &query, &mut sink).expect_err("refused");
    assert!(
        matches!(&err, SourceError::Rejected { message, .. } if message == "refused row 2"),
        "{err:?}"
    );
    assert_eq!(sink.columns, ["id"]);
    assert_eq!(sink.rows, vec![vec![Cell::Int(1)]]);

    // The row limit is checked before a row is pushed: the sink never sees more.
    let mut query = sql_query("SELECT id FROM t ORDER BY id");
    query.max_rows = 2;
    let mut sink = Recorder {
        columns: Vec::new(),
        rows: Vec::new(),
        refuse_at: 0,
    };
    let err = fetch_into(&conn, &query, &mut sink).expect_err("limit");
    assert!(
        matches!(err, SourceError::TooManyRows { limit: 2, .. }),
        "{err:?}"
    );
    assert_eq!(sink.rows.len(), 2);
}

#[test]
fn a_result_without_rows_is_zero_rows_with_its_columns() {
    let (_dir, path) = database();
    let rows = run(&path, "SELECT id, name FROM t WHERE id > 100").expect("empty");
    assert_eq!(rows.columns.to_vec(), vec!["id", "name"]);
    assert!(rows.rows.is_empty());
}

/// Statements without result columns are refused before they run, and nothing SQLite calls
/// a write runs either: `VACUUM INTO` must not even create its output file.
#[test]
fn statements_that_are_not_queries_are_refused_before_running() {
    let (dir, path) = database();
    let copy = dir.path().join("copy.db");
    let vacuum_into = format!("VACUUM INTO '{}'", copy.display());
    let attach = format!("ATTACH '{}' AS other", dir.path().join("new.db").display());
    for sql in [
        vacuum_into.as_str(),
        "VACUUM",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "PRAGMA user_version = 7",
        "PRAGMA query_only = 0",
        attach.as_str(),
        "CREATE TABLE x (a)",
        "DELETE FROM t",
    ] {
        let err = run(&path, sql).expect_err(sql);
        assert!(matches!(err, SourceError::Query { .. }), "{sql}: {err:?}");
        assert_error(&err, &["testsync", "not a query", "no columns"], &[]);
    }
    let err = run(&path, "PRAGMA journal_mode = WAL").expect_err("a pragma that writes");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert!(!copy.exists(), "VACUUM INTO created {}", copy.display());
    assert!(!dir.path().join("new.db").exists(), "ATTACH created a file");
    assert!(
        !dir.path().join("data.db-wal").exists(),
        "the journal mode changed"
    );
    let db = rusqlite::Connection::open(&path).expect("open");
    let (n, version): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM t), (SELECT user_version FROM pragma_user_version)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert_eq!((n, version), (3, 0));
    // Reading pragmas are queries.
    let rows = run(&path, "PRAGMA table_info(t)").expect("a reading pragma");
    assert_eq!(rows.rows.len(), 5);
}

#[test]
fn duplicate_column_names_are_refused_by_name() {
    let (_dir, path) = database();
    for sql in [
        "SELECT a.id, b.id, a.name FROM t a JOIN t b ON a.id = b.id",
        "SELECT 1 AS id, 2 AS id",
    ] {
        let err = run(&path, sql).expect_err(sql);
        assert!(matches!(err, SourceError::BadData { .. }), "{sql}: {err:?}");
        assert_error(
            &err,
            &["testsync", "more than one column named \"id\""],
            &[],
        );
    }
    // Names differing in case are different columns (templates and keys are exact).
    let rows = run(&path, "SELECT 1 AS id, 2 AS ID").expect("case differs");
    assert_eq!(rows.columns.to_vec(), vec!["id", "ID"]);
}

/// `max_bytes` bounds a single huge value inside SQLite (it is never built) and the sum
/// of many small ones.
#[test]
fn the_byte_budget_holds_for_one_huge_value_and_for_many_rows() {
    let (_dir, path) = database();
    let conn = connection(ConnectionKind::Sqlite, &path);
    let mut query = sql_query("SELECT randomblob(1000000000) AS big");
    query.max_bytes = 1 << 20;
    let started = std::time::Instant::now();
    let err = fetch(&conn, &query).expect_err("a gigabyte blob");
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");
    assert_error(&err, &["testsync", "1048576", "max_bytes"], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let mut query = sql_query(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 3000)
         SELECT i, zeroblob(1000) AS b FROM r",
    );
    query.max_bytes = 1 << 20;
    let Err(err) = fetch(&conn, &query) else {
        panic!("many rows read past the byte budget");
    };
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");
    // 1008 bytes a row (1000 + 8): the 1041st row passes 1 MiB.
    assert_error(&err, &["at row 1041", "1048576"], &[]);
    query.max_bytes = 3000 * 1008;
    assert_eq!(
        fetch(&conn, &query).expect("exactly the budget").rows.len(),
        3000
    );
}

#[test]
fn invalid_utf8_text_becomes_replacement_characters() {
    let (_dir, path) = database();
    let rows = run(&path, "SELECT CAST(x'41ff42' AS TEXT) AS t, x'41ff42' AS b").expect("fetch");
    assert_eq!(
        rows.rows,
        vec![vec![
            text("A\u{fffd}B"),
            Cell::Bytes(vec![0x41, 0xff, 0x42])
        ]]
    );
}
