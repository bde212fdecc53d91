//! PostgreSQL source against a real server (`DATASYNC_TEST_PG_URL`, started by
//! scripts/db/test.sh). Without the variable every test prints "skipped" and passes.

mod common;

use std::time::Duration;

use common::*;
use datasync::row::Cell;
use datasync::source::{ConnectionKind, SourceError, fetch};
use serde_json::json;

const VAR: &str = "DATASYNC_TEST_PG_URL";

fn setup(url: &str, sql: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("setup connect");
    client.batch_execute(sql).expect("setup SQL");
}

fn count(url: &str, table: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("count connect");
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .expect("count")
        .get(0)
}

fn run(url: &str, sql: &str) -> Result<datasync::row::RowSet, SourceError> {
    fetch(&connection(ConnectionKind::Postgres, url), &sql_query(sql))
}

#[test]
fn scalar_types_map_to_cells() {
    let Some(url) = server_url(VAR, "scalar_types_map_to_cells") else {
        return;
    };
    let t = unique("pg_types");
    setup(
        &url,
        &format!(
            "CREATE TABLE {t} (
                id int, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
                n numeric(38,10), tx text, vc varchar(20), bp char(5), nm name,
                j json, jb jsonb, d date, tm time, ts timestamp, tz timestamptz,
                u uuid, by bytea, ip inet, net cidr, mac macaddr);
             INSERT INTO {t} VALUES
               (1, true, -32768, 2147483647, 9223372036854775807, 1.5, -2.25,
                1234567890123456789012345678.1234567890, 'héllo 👋 你好 שלום', 'v', 'ab', 'nm',
                '{{\"a\": 1.50, \"b\": [true, null]}}', '{{\"z\": 12345678901234567890.5}}',
                '2026-11-21', '09:30:00.25', '2026-11-21 09:30:00',
                '2026-11-21 09:30:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                '\\x00ff10', '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03'),
               (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
        ),
    );
    let rows = run(&url, &format!("SELECT * FROM {t} ORDER BY id")).expect("fetch");
    assert_eq!(rows.columns.len(), 23);
    assert_eq!(rows.columns[0], "id");
    assert_eq!(rows.columns[22], "mac");
    let want = [
        ("b", Cell::Bool(true)),
        ("i2", Cell::Int(-32768)),
        ("i4", Cell::Int(2147483647)),
        ("i8", Cell::Int(i64::MAX)),
        ("f4", Cell::Float(1.5)),
        ("f8", Cell::Float(-2.25)),
        ("n", decimal("1234567890123456789012345678.1234567890")),
        ("tx", text("héllo 👋 你好 שלום")),
        ("vc", text("v")),
        ("bp", text("ab   ")),
        ("nm", text("nm")),
        ("d", Cell::Date("2026-11-21".into())),
        ("tm", Cell::Time("09:30:00.25".into())),
        ("ts", Cell::Timestamp("2026-11-21T09:30:00".into())),
        ("tz", Cell::Timestamp("2026-11-21T07:30:00Z".into())),
        ("u", text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ("by", Cell::Bytes(vec![0, 0xff, 0x10])),
        ("ip", text("192.168.0.1")),
        ("net", text("10.0.0.0/8")),
        ("mac", text("08:00:2b:01:02:03")),
    ];
    for (column, expected) in &want {
        assert_eq!(cell(&rows, 0, column), expected, "column {column}");
    }
    // json keeps the document (key order, exact numbers); jsonb normalises but stays exact.
    let Cell::Json(j) = cell(&rows, 0, "j") else {
        panic!("json column")
    };
    assert_eq!(j.to_string(), r#"{"a":1.50,"b":[true,null]}"#);
    let Cell::Json(jb) = cell(&rows, 0, "jb") else {
        panic!("jsonb column")
    };
    assert_eq!(jb.to_string(), r#"{"z":12345678901234567890.5}"#);
    // Every type's NULL is Null.
    for (i, value) in rows.rows[1].iter().enumerate().skip(1) {
        assert_eq!(value, &Cell::Null, "column {}", rows.columns[i]);
    }
}

#[test]
fn numeric_keeps_every_digit() {
    let Some(url) = server_url(VAR, "numeric_keeps_every_digit") else {
        return;
    };
    let rows = run(
        &url,
        "SELECT '9999999999999999999999999999.9999999999'::numeric(38,10) AS big,
                '-1234567890123456789012345678.0000000001'::numeric(38,10) AS neg,
                0::numeric(38,10) AS zero, 'NaN'::numeric AS nan,
                '0.000000000000000000000000000001'::numeric AS tiny,
                '1e30'::numeric AS huge, 'Infinity'::numeric AS inf,
                '-0.5'::numeric AS half",
    )
    .expect("fetch");
    let row = single_row(&rows);
    assert_eq!(
        row,
        vec![
            (
                "big".into(),
                decimal("9999999999999999999999999999.9999999999")
            ),
            (
                "neg".into(),
                decimal("-1234567890123456789012345678.0000000001")
            ),
            ("zero".into(), decimal("0.0000000000")),
            ("nan".into(), text("NaN")),
            ("tiny".into(), decimal("0.000000000000000000000000000001")),
            ("huge".into(), decimal("1000000000000000000000000000000")),
            ("inf".into(), text("Infinity")),
            ("half".into(), decimal("-0.5")),
        ]
    );
}

#[test]
fn floats_nan_and_infinity_become_text() {
    let Some(url) = server_url(VAR, "floats_nan_and_infinity_become_text") else {
        return;
    };
    let rows = run(
        &url,
        "SELECT 'NaN'::float8 AS a, '-Infinity'::float4 AS b, 0.1::float4 AS c",
    )
    .expect("fetch");
    assert_eq!(cell(&rows, 0, "a"), &text("NaN"));
    assert_eq!(cell(&rows, 0, "b"), &text("-Infinity"));
    // A `real` is its shortest round-trip text, not the widened 0.10000000149011612.
    assert_eq!(cell(&rows, 0, "c"), &Cell::Float(0.1));
}

#[test]
fn timestamptz_from_any_zone_is_utc() {
    let Some(url) = server_url(VAR, "timestamptz_from_any_zone_is_utc") else {
        return;
    };
    // The session zone must not matter: values travel as UTC microseconds.
    let rows = run(
        &url,
        "SELECT '2026-03-29 01:30:00 Europe/Berlin'::timestamptz AS berlin,
                '2026-11-21 23:59:59.123456-08'::timestamptz AS pst,
                'infinity'::timestamptz AS inf, '1999-12-31'::date AS d,
                '24:00'::time AS midnight",
    )
    .expect("fetch");
    assert_eq!(
        cell(&rows, 0, "berlin"),
        &Cell::Timestamp("2026-03-29T00:30:00Z".into())
    );
    assert_eq!(
        cell(&rows, 0, "pst"),
        &Cell::Timestamp("2026-11-22T07:59:59.123456Z".into())
    );
    assert_eq!(cell(&rows, 0, "inf"), &text("infinity"));
    assert_eq!(cell(&rows, 0, "d"), &Cell::Date("1999-12-31".into()));
    assert_eq!(cell(&rows, 0, "midnight"), &Cell::Time("24:00:00".into()));
}

#[test]
fn arrays_become_json_arrays() {
    let Some(url) = server_url(VAR, "arrays_become_json_arrays") else {
        return;
    };
    let rows = run(
        &url,
        "SELECT ARRAY[1, NULL, 3]::int[] AS ints,
                ARRAY['a', NULL, 'NULL', '👋 مرحبا']::text[] AS texts,
                ARRAY[[1.5, 2.25], [NULL, 4]]::numeric[] AS grid,
                '{}'::int[] AS empty,
                ARRAY['2026-01-02'::date] AS dates,
                ARRAY['\\x01'::bytea] AS blobs,
                ARRAY['1 day'::interval] AS intervals,
                NULL::int[] AS nothing",
    )
    .expect("fetch");
    assert_eq!(cell(&rows, 0, "ints"), &Cell::json(json!([1, null, 3])));
    assert_eq!(
        cell(&rows, 0, "texts"),
        &Cell::json(json!(["a", null, "NULL", "👋 مرحبا"]))
    );
    let Cell::Json(grid) = cell(&rows, 0, "grid") else {
        panic!("grid")
    };
    assert_eq!(grid.to_string(), "[[1.5,2.25],[null,4]]");
    assert_eq!(cell(&rows, 0, "empty"), &Cell::json(json!([])));
    assert_eq!(cell(&rows, 0, "dates"), &Cell::json(json!(["2026-01-02"])));
    assert_eq!(cell(&rows, 0, "blobs"), &Cell::json(json!(["AQ=="])));
    assert_eq!(cell(&rows, 0, "intervals"), &Cell::json(json!(["1 day"])));
    assert_eq!(cell(&rows, 0, "nothing"), &Cell::Null);
}

#[test]
fn other_types_arrive_as_their_text() {
    let Some(url) = server_url(VAR, "other_types_arrive_as_their_text") else {
        return;
    };
    let ty = unique("mood");
    setup(&url, &format!("CREATE TYPE {ty} AS ENUM ('sad', 'happy');"));
    let rows = run(
        &url,
        &format!(
            "SELECT 'happy'::{ty} AS mood, '1 year 2 mons 3 days 04:05:06'::interval AS iv,
                    point(1, 2) AS pt, int4range(1, 5) AS r, ROW(1, 'x') AS rec,
                    1 AS one, ARRAY['sad'::{ty}] AS moods, '09:30:00+02'::timetz AS tz;"
        ),
    )
    .expect("fetch");
    // Column names survive the text-cast wrapping, in order.
    assert_eq!(
        rows.columns.to_vec(),
        vec!["mood", "iv", "pt", "r", "rec", "one", "moods", "tz"]
    );
    assert_eq!(
        rows.rows[0],
        vec![
            text("happy"),
            text("1 year 2 mons 3 days 04:05:06"),
            text("(1,2)"),
            text("[1,5)"),
            text("(1,x)"),
            Cell::Int(1),
            Cell::json(json!(["sad"])),
            text("09:30:00+02"),
        ]
    );
}

#[test]
fn writes_are_rejected_and_nothing_changes() {
    let Some(url) = server_url(VAR, "writes_are_rejected_and_nothing_changes") else {
        return;
    };
    let t = unique("pg_ro");
    setup(
        &url,
        &format!("CREATE TABLE {t} (id int); INSERT INTO {t} VALUES (1);"),
    );
    for sql in [
        format!("INSERT INTO {t} VALUES (2) RETURNING id"),
        format!("UPDATE {t} SET id = 3 RETURNING id"),
        format!("WITH gone AS (DELETE FROM {t} RETURNING id) SELECT * FROM gone"),
    ] {
        let err = run(&url, &sql).expect_err("write must fail");
        assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
        assert_error(&err, &["read-only", "testsync", "testconn"], &[]);
    }
    // Several statements cannot smuggle a COMMIT past the read-only transaction.
    let err = run(&url, &format!("SELECT 1; COMMIT; DELETE FROM {t}")).expect_err("multi");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_eq!(count(&url, &t), 1);
}

#[test]
fn statement_timeout_is_reported_as_timeout() {
    let Some(url) = server_url(VAR, "statement_timeout_is_reported_as_timeout") else {
        return;
    };
    let mut query = sql_query("SELECT pg_sleep(5)");
    query.statement_timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let err = fetch(&connection(ConnectionKind::Postgres, &url), &query).expect_err("timeout");
    assert!(
        matches!(err, SourceError::Timeout { seconds: 1, .. }),
        "{err:?}"
    );
    // Generous bound: only proves the query was cancelled, not waited out.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn row_limit_stops_early() {
    let Some(url) = server_url(VAR, "row_limit_stops_early") else {
        return;
    };
    let conn = connection(ConnectionKind::Postgres, &url);
    let mut query = sql_query("SELECT g FROM generate_series(1, 1000000) g");
    query.max_rows = 10;
    let err = fetch(&conn, &query).expect_err("too many");
    assert!(
        matches!(err, SourceError::TooManyRows { limit: 10, .. }),
        "{err:?}"
    );
    query.sql = Some("SELECT g FROM generate_series(1, 10) g".into());
    let rows = fetch(&conn, &query).expect("exactly at the limit");
    assert_eq!(rows.rows.len(), 10);
    assert_eq!(rows.rows[9], vec![Cell::Int(10)]);
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
    assert_error(&err, &["refused", "testconn", "testsync"], &[&password]);

    let hole = black_hole();
    let mut conn = connection(
        ConnectionKind::Postgres,
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
fn bad_sql_and_parameters_are_query_errors() {
    let Some(url) = server_url(VAR, "bad_sql_and_parameters_are_query_errors") else {
        return;
    };
    let err = run(&url, "SELEC 1").expect_err("syntax");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_error(&err, &["syntax error", "42601"], &[&password_of(&url)]);
    let err = run(&url, "SELECT * FROM no_such_table_here").expect_err("missing table");
    assert_error(&err, &["no_such_table_here", "does not exist"], &[]);
    let err = run(&url, "SELECT $1::int").expect_err("parameter");
    assert_error(&err, &["parameters"], &[]);
    // A trailing comment must not swallow the text-cast wrapping.
    let rows = run(&url, "SELECT '1 day'::interval AS iv; -- the end").expect("comment");
    assert_eq!(rows.rows[0], vec![text("1 day")]);
}

#[test]
fn bad_connection_settings_are_connect_errors() {
    let Some(url) = server_url(VAR, "bad_connection_settings_are_connect_errors") else {
        return;
    };
    let err = run(&format!("{url}?sslmode=sometimes"), "SELECT 1").expect_err("sslmode");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(&err, &["sslmode", "sometimes"], &[&password_of(&url)]);
    let other_db = url.replacen("/datasync_test", "/no_such_database", 1);
    let err = run(&other_db, "SELECT 1").expect_err("database");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(&err, &["does not exist"], &[&password_of(&url)]);
    let err = run(&with_host(&url, "no-such-host.invalid:5432"), "SELECT 1").expect_err("dns");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(&err, &["no-such-host.invalid"], &[&password_of(&url)]);
}

#[test]
fn tls_modes() {
    let Some(url) = server_url(VAR, "tls_modes") else {
        return;
    };
    let Some(ca) = server_url("DATASYNC_TEST_PG_CA", "tls_modes") else {
        return;
    };
    let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let encrypted = |u: String| run(&u, sql).map(|rows| rows.rows[0][0].clone());
    assert_eq!(
        encrypted(format!("{url}?sslmode=require")).expect("require"),
        Cell::Bool(true)
    );
    assert_eq!(
        encrypted(format!("{url}?sslmode=disable")).expect("disable"),
        Cell::Bool(false)
    );
    // A self-signed certificate is not trusted by the public roots…
    let err = encrypted(format!("{url}?sslmode=verify-full")).expect_err("untrusted");
    assert_error(&err, &["TLS"], &[&password_of(&url)]);
    // …but is with sslrootcert, for the name it was issued to (localhost, not 127.0.0.1).
    let local = url.replacen("@127.0.0.1:", "@localhost:", 1);
    let full = format!("{local}?sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(encrypted(full).expect("verify-full"), Cell::Bool(true));
    let err = encrypted(format!("{url}?sslmode=verify-full&sslrootcert={ca}"))
        .expect_err("name mismatch");
    assert_error(&err, &["TLS"], &[]);
    let require_ca = format!("{url}?sslmode=require&sslrootcert={ca}");
    assert_eq!(
        encrypted(require_ca).expect("require + CA"),
        Cell::Bool(true)
    );
    let ca_only = format!("{url}?sslmode=verify-ca&sslrootcert={ca}");
    assert_eq!(encrypted(ca_only).expect("verify-ca"), Cell::Bool(true));
}

#[test]
fn test_connection_reports_the_server() {
    let Some(url) = server_url(VAR, "test_connection_reports_the_server") else {
        return;
    };
    let conn = connection(ConnectionKind::Postgres, &url);
    let version = datasync::source::test_connection(&conn, Duration::from_secs(10)).expect("ok");
    assert!(version.starts_with("PostgreSQL"), "{version}");
    let bad = connection(ConnectionKind::Postgres, &with_password(&url, "nope-nope"));
    let err = datasync::source::test_connection(&bad, Duration::from_secs(10)).expect_err("bad");
    assert_error(&err, &["authentication failed", "testconn"], &["nope-nope"]);
}

#[test]
fn real_values_keep_their_shortest_digits_in_arrays_too() {
    let Some(url) = server_url(VAR, "real_values_keep_their_shortest_digits_in_arrays_too") else {
        return;
    };
    let rows = run(
        &url,
        "SELECT 1.23456::real AS pi, ARRAY[0.1, 2.675]::real[] AS arr, 1e30::real AS big",
    )
    .expect("fetch");
    assert_eq!(cell(&rows, 0, "pi"), &Cell::Float(1.23456));
    assert_eq!(cell(&rows, 0, "arr"), &Cell::json(json!([0.1, 2.675])));
    assert_eq!(cell(&rows, 0, "big"), &Cell::Float(1e30));
}

/// Dates and timestamps outside four-digit years arrive as PostgreSQL prints them
/// (DateStyle ISO, TimeZone UTC), not as `+10000-…` or an error.
#[test]
fn far_dates_print_as_postgres_prints_them() {
    let Some(url) = server_url(VAR, "far_dates_print_as_postgres_prints_them") else {
        return;
    };
    let sql = "SELECT '10000-01-01'::date AS d1, '5874897-12-31'::date AS dmax,
                      '0044-03-15 BC'::date AS bc, '4713-01-01 BC'::date AS dmin,
                      '294276-12-31 23:59:59.999999'::timestamp AS tmax,
                      '12345-06-07 08:09:10.5+00'::timestamptz AS tz,
                      '0001-01-01 00:00:00 BC'::timestamp AS tbc,
                      '9999-12-31 23:59:59'::timestamp AS last_iso,
                      '-infinity'::date AS ninf";
    let rows = run(&url, sql).expect("fetch");
    for (column, want) in [
        ("d1", text("10000-01-01")),
        ("dmax", text("5874897-12-31")),
        ("bc", text("0044-03-15 BC")),
        ("dmin", text("4713-01-01 BC")),
        ("tmax", text("294276-12-31 23:59:59.999999")),
        ("tz", text("12345-06-07 08:09:10.5+00")),
        ("tbc", text("0001-01-01 00:00:00 BC")),
        ("last_iso", Cell::Timestamp("9999-12-31T23:59:59".into())),
        ("ninf", text("-infinity")),
    ] {
        assert_eq!(cell(&rows, 0, column), &want, "{column}");
    }
    // The same text PostgreSQL itself prints for the zone-less values.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let printed: Vec<String> = client
        .query_one(
            "SELECT '10000-01-01'::date::text, '0044-03-15 BC'::date::text,
                    '294276-12-31 23:59:59.999999'::timestamp::text,
                    '0001-01-01 00:00:00 BC'::timestamp::text",
            &[],
        )
        .map(|r| (0..4).map(|i| r.get::<_, String>(i)).collect())
        .expect("text");
    assert_eq!(
        printed,
        vec![
            "10000-01-01",
            "0044-03-15 BC",
            "294276-12-31 23:59:59.999999",
            "0001-01-01 00:00:00 BC"
        ]
    );
}

#[test]
fn a_result_without_rows_is_zero_rows_with_its_columns() {
    let Some(url) = server_url(VAR, "a_result_without_rows_is_zero_rows_with_its_columns") else {
        return;
    };
    let rows = run(&url, "SELECT 1 AS id, 'x' AS name WHERE false").expect("empty");
    assert_eq!(rows.columns.to_vec(), vec!["id", "name"]);
    assert!(rows.rows.is_empty());
}

/// Statements without result columns are refused before they run (`COMMIT` would end the
/// read-only transaction, `SET` would change the session).
#[test]
fn statements_that_are_not_queries_are_refused() {
    let Some(url) = server_url(VAR, "statements_that_are_not_queries_are_refused") else {
        return;
    };
    let t = unique("pg_nq");
    setup(
        &url,
        &format!(
            "CREATE TABLE {t} (id int); INSERT INTO {t} VALUES (1);
             CREATE PROCEDURE {t}_p() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {t}; END $$;"
        ),
    );
    for sql in [
        "COMMIT".to_string(),
        "BEGIN".to_string(),
        "ROLLBACK".to_string(),
        "SET statement_timeout = 0".to_string(),
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE".to_string(),
        "DO $$ BEGIN END $$".to_string(),
        "LISTEN somewhere".to_string(),
        format!("CALL {t}_p()"),
        format!("DELETE FROM {t}"),
        format!("CREATE TABLE {t}_x (a int)"),
    ] {
        let err = run(&url, &sql).expect_err(&sql);
        assert!(matches!(err, SourceError::Query { .. }), "{sql}: {err:?}");
        assert_error(&err, &["testsync", "not a query", "no columns"], &[]);
    }
    assert_eq!(count(&url, &t), 1);
}

#[test]
fn duplicate_column_names_are_refused_by_name() {
    let Some(url) = server_url(VAR, "duplicate_column_names_are_refused_by_name") else {
        return;
    };
    let t = unique("pg_dup");
    setup(
        &url,
        &format!("CREATE TABLE {t} (id int, v text); INSERT INTO {t} VALUES (1, 'a');"),
    );
    for sql in [
        format!("SELECT a.id, b.id, a.v, b.v FROM {t} a JOIN {t} b USING (v)"),
        "SELECT 1 AS id, 2 AS id".to_string(),
        // Columns needing a text cast go through a wrapped query: still refused.
        "SELECT interval '1 day' AS id, 2 AS id".to_string(),
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

/// `max_bytes` counts decoded values: one big `bytea`/`text`, or many rows.
#[test]
fn the_byte_budget_holds() {
    let Some(url) = server_url(VAR, "the_byte_budget_holds") else {
        return;
    };
    let conn = connection(ConnectionKind::Postgres, &url);
    for sql in [
        "SELECT repeat('x', 2000000) AS big",
        "SELECT decode(repeat('ab', 2000000), 'hex') AS big",
        "SELECT i, repeat('y', 1000) AS t FROM generate_series(1, 5000) AS i",
    ] {
        let mut query = sql_query(sql);
        query.max_bytes = 1 << 20;
        let Err(err) = fetch(&conn, &query) else {
            panic!("{sql}: read past the byte budget");
        };
        assert!(
            matches!(err, SourceError::TooLarge { .. }),
            "{sql}: {err:?}"
        );
        assert_error(&err, &["testsync", "1048576", "max_bytes"], &[]);
    }
    // int4 counts its 4 bytes on the wire: 1004 bytes a row, 1045 rows fit in 1 MiB.
    let mut query =
        sql_query("SELECT i, repeat('y', 1000) AS t FROM generate_series(1, 1044) AS i");
    query.max_bytes = 1 << 20;
    assert_eq!(fetch(&conn, &query).map(|r| r.rows.len()).ok(), Some(1044));
}
