//! MySQL/MariaDB source against a real server (`DATASYNC_TEST_MYSQL_URL`, started by
//! scripts/db/test.sh). Without the variable every test prints "skipped" and passes.

mod common;

use std::time::Duration;

use common::*;
use datasync::row::Cell;
use datasync::source::{ConnectionKind, SourceError, fetch};
use mysql::prelude::Queryable;
use serde_json::json;

const VAR: &str = "DATASYNC_TEST_MYSQL_URL";

fn admin(url: &str) -> mysql::Conn {
    let opts = mysql::Opts::from_url(url).expect("url");
    mysql::Conn::new(mysql::OptsBuilder::from_opts(opts).prefer_socket(false)).expect("connect")
}

fn setup(url: &str, statements: &[String]) {
    let mut conn = admin(url);
    for s in statements {
        conn.query_drop(s).expect("setup SQL");
    }
}

fn run(url: &str, sql: &str) -> Result<datasync::row::RowSet, SourceError> {
    fetch(&connection(ConnectionKind::Mysql, url), &sql_query(sql))
}

#[test]
fn column_types_map_to_cells() {
    let Some(url) = server_url(VAR, "column_types_map_to_cells") else {
        return;
    };
    let t = unique("my_types");
    setup(
        &url,
        &[
            format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, flag TINYINT(1), small SMALLINT,
                 big BIGINT, ubig BIGINT UNSIGNED, f FLOAT, d DOUBLE,
                 dec65 DECIMAL(65,30), vc VARCHAR(50), tx TEXT, blb BLOB, vb VARBINARY(8),
                 bits BIT(12), dt DATETIME(6), ts TIMESTAMP NULL, day DATE, tm TIME,
                 yr YEAR, en ENUM('a','b'), js JSON) CHARACTER SET utf8mb4"
            ),
            "SET time_zone = '+02:00'".into(),
            format!(
                "INSERT INTO {t} VALUES (1, 1, -32768, -9223372036854775808,
                 18446744073709551615, 0.1, -2.5,
                 '12345678901234567890123456789012345.123456789012345678901234567890',
                 '👋 你好 שלום', 'long text', X'00FF10', X'0102', b'101010101010',
                 '2026-11-21 09:30:00.123456', '2026-11-21 09:30:00', '2026-11-21',
                 '-12:30:05', 2026, 'b', '{{\"a\": [1, 2.50]}}')"
            ),
            format!("INSERT INTO {t} (id) VALUES (2)"),
        ],
    );
    let rows = run(&url, &format!("SELECT * FROM {t} ORDER BY id")).expect("fetch");
    let want = [
        ("flag", Cell::Int(1)),
        ("small", Cell::Int(-32768)),
        ("big", Cell::Int(i64::MIN)),
        ("ubig", decimal("18446744073709551615")),
        ("f", Cell::Float(0.1)),
        ("d", Cell::Float(-2.5)),
        (
            "dec65",
            decimal("12345678901234567890123456789012345.123456789012345678901234567890"),
        ),
        ("vc", text("👋 你好 שלום")),
        ("tx", text("long text")),
        ("blb", Cell::Bytes(vec![0, 0xff, 0x10])),
        ("vb", Cell::Bytes(vec![1, 2])),
        // BIT is a number (b'101010101010').
        ("bits", Cell::Int(0x0aaa)),
        ("dt", Cell::Timestamp("2026-11-21T09:30:00.123456".into())),
        // Inserted at +02:00, read back in UTC.
        ("ts", Cell::Timestamp("2026-11-21T07:30:00Z".into())),
        ("day", Cell::Date("2026-11-21".into())),
        ("tm", text("-12:30:05")),
        ("yr", Cell::Int(2026)),
        ("en", text("b")),
    ];
    for (column, expected) in &want {
        assert_eq!(cell(&rows, 0, column), expected, "column {column}");
    }
    // MySQL reports JSON columns as JSON; MariaDB stores JSON as LONGTEXT, so text.
    match cell(&rows, 0, "js") {
        Cell::Json(v) => assert_eq!(&**v, &json!({"a": [1, 2.50]})),
        Cell::Text(s) => assert!(s.contains("\"a\""), "{s}"),
        other => panic!("js: {other:?}"),
    }
    for (i, value) in rows.rows[1].iter().enumerate().skip(1) {
        assert_eq!(value, &Cell::Null, "column {}", rows.columns[i]);
    }
}

#[test]
fn expressions_keep_precision() {
    let Some(url) = server_url(VAR, "expressions_keep_precision") else {
        return;
    };
    let rows = run(
        &url,
        "SELECT CAST('-0.000000000000000000000000000001' AS DECIMAL(65,30)) AS tiny,
                CAST(0 AS DECIMAL(10,2)) AS zero, 18446744073709551615 AS umax,
                CAST('09:05:01.5' AS TIME(1)) AS t, NULL AS n, 'x' AS x",
    )
    .expect("fetch");
    assert_eq!(
        rows.rows[0],
        vec![
            decimal("-0.000000000000000000000000000001"),
            decimal("0.00"),
            decimal("18446744073709551615"),
            Cell::Time("09:05:01.5".into()),
            Cell::Null,
            text("x"),
        ]
    );
    assert_eq!(
        rows.columns.to_vec(),
        vec!["tiny", "zero", "umax", "t", "n", "x"]
    );
}

#[test]
fn writes_are_rejected_and_nothing_changes() {
    let Some(url) = server_url(VAR, "writes_are_rejected_and_nothing_changes") else {
        return;
    };
    let t = unique("my_ro");
    setup(
        &url,
        &[
            format!("CREATE TABLE {t} (id INT)"),
            format!("INSERT INTO {t} VALUES (1)"),
        ],
    );
    for sql in [
        format!("INSERT INTO {t} VALUES (2)"),
        format!("UPDATE {t} SET id = 3"),
        format!("DELETE FROM {t}"),
    ] {
        let err = run(&url, &sql).expect_err("write must fail");
        assert!(matches!(err, SourceError::Query { .. }), "{sql}: {err:?}");
        assert_error(&err, &["not a query", "testsync", "testconn"], &[]);
    }
    // One statement only: no way to switch the session back to read-write.
    let err = run(
        &url,
        &format!("SET SESSION TRANSACTION READ WRITE; DELETE FROM {t}"),
    )
    .expect_err("multi");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    let mut conn = admin(&url);
    let n: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {t}"))
        .expect("count");
    assert_eq!(n, Some(1));
}

#[test]
fn statement_timeout_is_reported_as_timeout() {
    let Some(url) = server_url(VAR, "statement_timeout_is_reported_as_timeout") else {
        return;
    };
    let t = unique("my_slow");
    setup(
        &url,
        &[
            format!("CREATE TABLE {t} (id INT)"),
            format!("INSERT INTO {t} VALUES (1),(2),(3)"),
        ],
    );
    // SLEEP per row in a table scan: MariaDB's max_statement_time and MySQL's
    // max_execution_time both interrupt it.
    let mut query = sql_query(&format!("SELECT id, SLEEP(3) FROM {t}"));
    query.statement_timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let err = fetch(&connection(ConnectionKind::Mysql, &url), &query).expect_err("timeout");
    assert!(
        matches!(err, SourceError::Timeout { seconds: 1, .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn row_limit_stops_early() {
    let Some(url) = server_url(VAR, "row_limit_stops_early") else {
        return;
    };
    let conn = connection(ConnectionKind::Mysql, &url);
    let sql = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500) SELECT n FROM s";
    let mut query = sql_query(sql);
    query.max_rows = 10;
    let err = fetch(&conn, &query).expect_err("too many");
    assert!(
        matches!(err, SourceError::TooManyRows { limit: 10, .. }),
        "{err:?}"
    );
    // An explicit LIMIT above the limit is caught too (sql_select_limit does not apply).
    query.sql = Some(format!("{sql} LIMIT 100"));
    let err = fetch(&conn, &query).expect_err("too many with LIMIT");
    assert!(matches!(err, SourceError::TooManyRows { .. }), "{err:?}");
    query.max_rows = 500;
    query.sql = Some(sql.into());
    let rows = fetch(&conn, &query).expect("at the limit");
    assert_eq!(rows.rows.len(), 500);
}

#[test]
fn unreachable_servers_fail_fast_and_clearly() {
    let Some(url) = server_url(VAR, "unreachable_servers_fail_fast_and_clearly") else {
        return;
    };
    let password = password_of(&url);
    let refused = with_host(&url, &format!("127.0.0.1:{}", closed_port()));
    let err = run(&refused, "SELECT 1").expect_err("refused");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(&err, &["refused", "testconn"], &[&password]);

    let hole = black_hole();
    let mut conn = connection(
        ConnectionKind::Mysql,
        &with_host(&url, &hole.addr.to_string()),
    );
    conn.connect_timeout = Duration::from_secs(1);
    let err = fetch(&conn, &sql_query("SELECT 1")).expect_err("black hole");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(&err, &["timed out"], &[&password]);
}

#[test]
fn bad_credentials_do_not_leak_the_password() {
    let Some(url) = server_url(VAR, "bad_credentials_do_not_leak_the_password") else {
        return;
    };
    let wrong = "Wr0ng-s3cret-pass";
    let err = run(&with_password(&url, wrong), "SELECT 1").expect_err("bad password");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(
        &err,
        &["authentication failed"],
        &[wrong, &password_of(&url)],
    );
}

#[test]
fn bad_sql_is_a_query_error() {
    let Some(url) = server_url(VAR, "bad_sql_is_a_query_error") else {
        return;
    };
    let err = run(&url, "SELECT 1 FROM WHERE").expect_err("syntax");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_error(&err, &["syntax", "1064"], &[&password_of(&url)]);
    let err = run(&url, "SELECT * FROM no_such_table_here").expect_err("missing");
    assert_error(&err, &["no_such_table_here"], &[]);
    let err = run(&url, "SELECT ?").expect_err("parameter");
    assert_error(&err, &["parameter"], &[]);
}

#[test]
fn tls_modes() {
    let Some(url) = server_url(VAR, "tls_modes") else {
        return;
    };
    let Some(ca) = server_url("DATASYNC_TEST_MYSQL_CA", "tls_modes") else {
        return;
    };
    let sql = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
               WHERE VARIABLE_NAME = 'Ssl_cipher'";
    let cipher = |u: String| {
        run(&u, sql).map(|rows| match rows.rows[0][0].clone() {
            Cell::Text(s) => s,
            other => panic!("cipher: {other:?}"),
        })
    };
    assert!(
        !cipher(format!("{url}?ssl-mode=required"))
            .expect("required")
            .is_empty()
    );
    assert!(
        cipher(format!("{url}?ssl-mode=disabled"))
            .expect("disabled")
            .is_empty()
    );
    // Public roots do not know the test CA.
    let err = cipher(format!("{url}?ssl-mode=verify_identity")).expect_err("untrusted");
    assert_error(&err, &["TLS"], &[&password_of(&url)]);
    let local = url.replacen("@127.0.0.1:", "@localhost:", 1);
    let full = format!("{local}?ssl-mode=verify_identity&sslrootcert={ca}");
    assert!(!cipher(full).expect("verify_identity").is_empty());
    let ca_only = format!("{url}?sslmode=verify-ca&sslrootcert={ca}");
    assert!(!cipher(ca_only).expect("verify-ca").is_empty());
    // required + a root certificate checks the chain but not the name (127.0.0.1 here).
    let required_ca = format!("{url}?ssl-mode=required&sslrootcert={ca}");
    assert!(!cipher(required_ca).expect("required + CA").is_empty());
    let err = cipher(format!("{url}?ssl-mode=sometimes")).expect_err("bad mode");
    assert_error(&err, &["ssl-mode"], &[]);
}

#[test]
fn test_connection_reports_the_server() {
    let Some(url) = server_url(VAR, "test_connection_reports_the_server") else {
        return;
    };
    let conn = connection(ConnectionKind::Mysql, &url);
    let version = datasync::source::test_connection(&conn, Duration::from_secs(10)).expect("ok");
    assert!(
        version.contains("MariaDB") || version.starts_with('8'),
        "{version}"
    );
    let bad = connection(ConnectionKind::Mysql, &with_password(&url, "nope-nope"));
    let err = datasync::source::test_connection(&bad, Duration::from_secs(10)).expect_err("bad");
    assert_error(&err, &["authentication failed", "testconn"], &["nope-nope"]);
}

#[test]
fn a_result_without_rows_is_zero_rows_with_its_columns() {
    let Some(url) = server_url(VAR, "a_result_without_rows_is_zero_rows_with_its_columns") else {
        return;
    };
    let rows = run(&url, "SELECT 1 AS id, 'x' AS name FROM DUAL WHERE 1 = 0").expect("empty");
    assert_eq!(rows.columns.to_vec(), vec!["id", "name"]);
    assert!(rows.rows.is_empty());
}

/// A stored procedure can end the read-only transaction and switch the session to READ
/// WRITE (MariaDB let it write a row): `CALL` is refused before it runs, and so is every
/// statement that is not a query, however it is dressed.
#[test]
fn procedures_and_other_statements_are_refused_before_running() {
    let Some(url) = server_url(
        VAR,
        "procedures_and_other_statements_are_refused_before_running",
    ) else {
        return;
    };
    let t = unique("my_proc");
    setup(
        &url,
        &[
            format!("CREATE TABLE {t} (id INT)"),
            format!(
                "CREATE PROCEDURE {t}_p() BEGIN COMMIT; SET SESSION TRANSACTION READ WRITE; \
                 START TRANSACTION READ WRITE; INSERT INTO {t} VALUES (66); COMMIT; \
                 SELECT 1 AS x; END"
            ),
        ],
    );
    // The procedure really writes when called outside a source.
    admin(&url)
        .query_drop(format!("CALL {t}_p()"))
        .expect("call as admin");
    admin(&url)
        .query_drop(format!("DELETE FROM {t}"))
        .expect("reset");
    for sql in [
        format!("CALL {t}_p()"),
        format!("call {t}_p"),
        format!("  /* note */ -- comment\n CALL {t}_p()"),
        format!("/*!CALL {t}_p() */"),
        format!("/*M!100000 CALL {t}_p() */"),
        format!("EXECUTE IMMEDIATE 'CALL {t}_p()'"),
        "SET @x = 1".to_string(),
        "COMMIT".to_string(),
        "DO 1".to_string(),
        format!("INSERT INTO {t} VALUES (2)"),
        format!("OPTIMIZE TABLE {t}"),
        "HANDLER x OPEN".to_string(),
    ] {
        let err = run(&url, &sql).expect_err(&sql);
        assert!(matches!(err, SourceError::Query { .. }), "{sql}: {err:?}");
        assert_error(&err, &["testsync", "not a query"], &[]);
    }
    // A SELECT that returns nothing to us is not a query either.
    for sql in ["SELECT 1 INTO @x", "SELECT 1 INTO @x FROM DUAL"] {
        let err = run(&url, sql).expect_err(sql);
        assert_error(&err, &["testsync", "not a query", "no columns"], &[]);
    }
    let mut conn = admin(&url);
    let n: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {t}"))
        .expect("count");
    assert_eq!(n, Some(0), "a refused statement wrote");
}

/// A stored function called from a SELECT cannot commit, so the read-only transaction
/// stops its write.
#[test]
fn a_function_that_writes_is_stopped_by_the_read_only_transaction() {
    let Some(url) = server_url(
        VAR,
        "a_function_that_writes_is_stopped_by_the_read_only_transaction",
    ) else {
        return;
    };
    let t = unique("my_func");
    setup(
        &url,
        &[
            format!("CREATE TABLE {t} (id INT)"),
            format!(
                "CREATE FUNCTION {t}_f() RETURNS INT MODIFIES SQL DATA \
                 BEGIN INSERT INTO {t} VALUES (7); RETURN 1; END"
            ),
        ],
    );
    let err = run(&url, &format!("SELECT {t}_f() AS x")).expect_err("write in a function");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_error(&err, &["testsync", "read-only"], &[]);
    let n: Option<i64> = admin(&url)
        .query_first(format!("SELECT COUNT(*) FROM {t}"))
        .expect("count");
    assert_eq!(n, Some(0));
}

#[test]
fn duplicate_column_names_are_refused_by_name() {
    let Some(url) = server_url(VAR, "duplicate_column_names_are_refused_by_name") else {
        return;
    };
    let t = unique("my_dup");
    setup(
        &url,
        &[
            format!("CREATE TABLE {t} (id INT, v TEXT)"),
            format!("INSERT INTO {t} VALUES (1, 'a')"),
        ],
    );
    for sql in [
        format!("SELECT a.id, b.id, a.v, b.v FROM {t} a JOIN {t} b ON a.id = b.id"),
        "SELECT 1 AS id, 2 AS id".to_string(),
    ] {
        let err = run(&url, &sql).expect_err(&sql);
        assert!(matches!(err, SourceError::BadData { .. }), "{sql}: {err:?}");
        assert_error(
            &err,
            &["testsync", "more than one column named \"id\""],
            &[],
        );
    }
}

#[test]
fn bit_columns_are_numbers() {
    let Some(url) = server_url(VAR, "bit_columns_are_numbers") else {
        return;
    };
    let t = unique("my_bit");
    setup(
        &url,
        &[
            format!("CREATE TABLE {t} (b1 BIT(1), b8 BIT(8), b64 BIT(64))"),
            format!(
                "INSERT INTO {t} VALUES (b'1', b'10000001', b'1{}')",
                "1".repeat(63)
            ),
        ],
    );
    let rows = run(&url, &format!("SELECT * FROM {t}")).expect("bit columns");
    assert_eq!(
        rows.rows,
        vec![vec![
            Cell::Int(1),
            Cell::Int(129),
            Cell::Decimal("18446744073709551615".into())
        ]]
    );
}

/// `max_bytes` counts decoded values: one big value (refused by the packet reader before
/// it is buffered whole), or many rows.
#[test]
fn the_byte_budget_holds() {
    let Some(url) = server_url(VAR, "the_byte_budget_holds") else {
        return;
    };
    let conn = connection(ConnectionKind::Mysql, &url);
    for sql in [
        "SELECT REPEAT('x', 4000000) AS big",
        // Recursion stops at 1000 levels by default: 900 rows of ~1 KB pass 512 KiB.
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 900) \
         SELECT i, REPEAT('y', 1000) AS t FROM r",
    ] {
        let mut query = sql_query(sql);
        query.max_bytes = 1 << 19;
        let Err(err) = fetch(&conn, &query) else {
            panic!("{sql}: read past the byte budget");
        };
        assert!(
            matches!(err, SourceError::TooLarge { .. }),
            "{sql}: {err:?}"
        );
        assert_error(&err, &["testsync", "524288", "max_bytes"], &[]);
    }
    let mut query = sql_query(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 500) \
         SELECT i, REPEAT('y', 1000) AS t FROM r",
    );
    query.max_bytes = 1 << 19;
    assert_eq!(fetch(&conn, &query).map(|r| r.rows.len()).ok(), Some(500));
}
