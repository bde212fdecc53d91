//! HTTP source (JSON and CSV) against a small local HTTP server.

mod common;

use std::time::Duration;

use common::http::{Response, serve};
use common::*;
use datasync::row::{Cell, RowSet};
use datasync::source::{
    Connection, ConnectionKind, HttpAuth, HttpFormat, Query, Secret, SourceError, fetch,
};
use serde_json::json;

fn http_conn(url: &str) -> Connection {
    let mut c = connection(ConnectionKind::Http, url);
    c.connect_timeout = Duration::from_secs(5);
    c
}

fn json_query(path: &str, pointer: &str) -> Query {
    let mut q = sql_query("");
    q.sql = None;
    q.path = Some(path.into());
    q.json_pointer = pointer.into();
    q
}

fn csv_query(path: &str) -> Query {
    let mut q = json_query(path, "");
    q.format = HttpFormat::Csv;
    q
}

const NESTED: &str = r#"{"data": {"items": [
    {"id": 1, "name": "Ada 👋", "price": 12.50, "big": 123456789012345678901234567890,
     "exp": 1.5e3, "ok": true, "tags": ["a", "b"], "meta": {"k": null}},
    {"id": 2, "extra": "late column", "name": null},
    {"name": "نص عربي", "id": -9223372036854775808}
]}}"#;

#[test]
fn json_rows_at_a_pointer() {
    let server = serve(|_| Response::json(NESTED));
    let rows = fetch(
        &http_conn(&server.url()),
        &json_query("/v1/deals?x=1", "/data/items"),
    )
    .expect("fetch");
    assert_eq!(server.last_request().path, "/v1/deals?x=1");
    assert_eq!(
        rows.columns.to_vec(),
        vec![
            "id", "name", "price", "big", "exp", "ok", "tags", "meta", "extra"
        ]
    );
    assert_eq!(
        rows.rows[0],
        vec![
            Cell::Int(1),
            text("Ada 👋"),
            decimal("12.50"),
            decimal("123456789012345678901234567890"),
            decimal("1500"),
            Cell::Bool(true),
            Cell::json(json!(["a", "b"])),
            Cell::json(json!({"k": null})),
            Cell::Null,
        ]
    );
    assert_eq!(
        rows.rows[1],
        vec![
            Cell::Int(2),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            text("late column")
        ]
    );
    assert_eq!(cell(&rows, 2, "id"), &Cell::Int(i64::MIN));
    assert_eq!(cell(&rows, 2, "name"), &text("نص عربي"));
}

#[test]
fn user_agent_headers_and_auth_are_sent() {
    let server = serve(|r| match r.header("authorization") {
        Some("Bearer tok-123456") if r.header("x-api-key") == Some("hdr-987654") => {
            Response::json("[]")
        }
        _ => Response::status(401, "unauthorized"),
    });
    let mut conn = http_conn(&server.url());
    conn.headers = vec![("X-Api-Key".into(), Secret::new("hdr-987654"))];
    conn.auth = Some(HttpAuth::Bearer {
        token: Secret::new("tok-123456"),
    });
    let rows = fetch(&conn, &json_query("", "")).expect("authorised");
    assert_eq!(rows, RowSet::new(vec![], vec![]));
    let ua = server.last_request().header("user-agent").map(String::from);
    assert!(
        ua.as_deref()
            .is_some_and(|ua| ua.starts_with("mattermost-datasync/")),
        "{ua:?}"
    );

    conn.auth = Some(HttpAuth::Bearer {
        token: Secret::new("wrong-token-555"),
    });
    let err = fetch(&conn, &json_query("", "")).expect_err("wrong token");
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_error(
        &err,
        &["401", "unauthorized"],
        &["wrong-token-555", "hdr-987654"],
    );
}

#[test]
fn basic_auth() {
    let server = serve(|r| {
        // "alice:s3cr3t-pw" in base64.
        if r.header("authorization") == Some("Basic YWxpY2U6czNjcjN0LXB3") {
            Response::json(r#"[{"a": 1}]"#)
        } else {
            Response::status(403, "forbidden")
        }
    });
    let mut conn = http_conn(&server.url());
    conn.auth = Some(HttpAuth::Basic {
        username: "alice".into(),
        password: Secret::new("s3cr3t-pw"),
    });
    let rows = fetch(&conn, &json_query("", "")).expect("basic auth");
    assert_eq!(rows.rows, vec![vec![Cell::Int(1)]]);
    conn.auth = Some(HttpAuth::Basic {
        username: "alice".into(),
        password: Secret::new("not-the-pw"),
    });
    let err = fetch(&conn, &json_query("", "")).expect_err("wrong password");
    assert_error(&err, &["403"], &["not-the-pw"]);
}

#[test]
fn server_errors_show_status_and_a_short_excerpt() {
    let long = format!("database exploded {}", "x".repeat(5000));
    let server = serve(move |_| Response::status(503, &long));
    let url = format!(
        "http://user:url-pass-77@{}/base?token=query-secret-99",
        server.addr
    );
    let err = fetch(&http_conn(&url), &json_query("", "")).expect_err("503");
    assert_error(
        &err,
        &["503", "database exploded"],
        &["url-pass-77", "query-secret-99"],
    );
    assert!(
        err.to_string().len() < 600,
        "excerpt is short: {}",
        err.to_string().len()
    );

    let server = serve(|_| Response {
        headers: vec![("Location".into(), "http://elsewhere.invalid/".into())],
        ..Response::status(302, "")
    });
    let err = fetch(&http_conn(&server.url()), &json_query("", "")).expect_err("redirect");
    assert_error(&err, &["302", "redirect"], &[]);
}

#[test]
fn malformed_and_wrongly_shaped_json() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (r#"{"data": [1, 2"#, "", &["not valid JSON", "line 1"]),
        (
            r#"{"data": {"items": 5}}"#,
            "/data/items",
            &["expected an array", "a number"],
        ),
        (r#"{"data": {}}"#, "/data/items", &["nothing at that path"]),
        (r#"[{"a": 1}, "oops"]"#, "", &["element 1", "a string"]),
        (
            r#"{"a": 1}"#,
            "",
            &["expected an array", "the top level", "an object"],
        ),
    ];
    for (body, pointer, parts) in cases {
        let body = body.to_string();
        let server = serve(move |_| Response::json(&body));
        let err = fetch(&http_conn(&server.url()), &json_query("", pointer)).expect_err(pointer);
        assert!(matches!(err, SourceError::BadData { .. }), "{err:?}");
        assert_error(&err, parts, &[]);
    }
}

#[test]
fn limits_rows_bytes_and_time() {
    let items: Vec<_> = (0..50).map(|i| json!({ "i": i })).collect();
    let body = serde_json::to_string(&items).expect("json");
    let size = body.len();
    let server = serve(move |_| Response::json(&body));
    let conn = http_conn(&server.url());

    let mut query = json_query("", "");
    query.max_rows = 49;
    let err = fetch(&conn, &query).expect_err("rows");
    assert!(
        matches!(err, SourceError::TooManyRows { limit: 49, .. }),
        "{err:?}"
    );

    let mut query = json_query("", "");
    query.max_bytes = size - 1;
    let err = fetch(&conn, &query).expect_err("bytes");
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");
    assert_error(
        &err,
        &["testsync", "max_bytes", &(size - 1).to_string()],
        &[],
    );
    query.max_bytes = size;
    assert_eq!(
        fetch(&conn, &query).expect("exactly max_bytes").rows.len(),
        50
    );

    let slow = serve(|_| Response {
        delay: Duration::from_secs(5),
        ..Response::json("[]")
    });
    let mut query = json_query("", "");
    query.statement_timeout = Duration::from_secs(1);
    let err = fetch(&http_conn(&slow.url()), &query).expect_err("slow");
    assert!(matches!(err, SourceError::Timeout { .. }), "{err:?}");
}

#[test]
fn unreachable_hosts() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let err = fetch(&http_conn(&url), &json_query("", "")).expect_err("refused");
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert_error(&err, &["refused", "testconn"], &[]);
    // A server that accepts and never answers is a timeout, not a hang.
    let hole = black_hole();
    let mut query = json_query("", "");
    query.statement_timeout = Duration::from_secs(1);
    let err = fetch(&http_conn(&format!("http://{}", hole.addr)), &query).expect_err("hole");
    assert!(matches!(err, SourceError::Timeout { .. }), "{err:?}");
}

#[test]
fn csv_good_and_malformed() {
    let server = serve(|r| match r.path.as_str() {
        "/good.csv" => Response::ok(
            "text/csv",
            "\u{feff}id,name,note\n1,\"Smith, Jane\",\n2,李雷,\"multi\nline\"\n",
        ),
        "/ragged.csv" => Response::ok("text/csv", "a,b\n1,2\n3\n"),
        "/empty.csv" => Response::ok("text/csv", ""),
        _ => Response::ok("text/csv", b"a\n\xff\xfe\n".to_vec()),
    });
    let conn = http_conn(&server.url());
    let rows = fetch(&conn, &csv_query("/good.csv")).expect("good");
    assert_eq!(rows.columns.to_vec(), vec!["id", "name", "note"]);
    assert_eq!(
        rows.rows,
        vec![
            vec![text("1"), text("Smith, Jane"), Cell::Null],
            vec![text("2"), text("李雷"), text("multi\nline")],
        ]
    );
    let err = fetch(&conn, &csv_query("/ragged.csv")).expect_err("ragged");
    assert!(matches!(err, SourceError::BadData { .. }), "{err:?}");
    assert_error(&err, &["line 3", "1 fields", "header has 2"], &[]);
    // Bytes that are not UTF-8 become U+FFFD, as in every source.
    let rows = fetch(&conn, &csv_query("/latin1.csv")).expect("not utf-8");
    assert_eq!(rows.rows, vec![vec![text("\u{fffd}\u{fffd}")]]);

    let mut query = csv_query("/good.csv");
    query.max_rows = 1;
    let err = fetch(&conn, &query).expect_err("rows");
    assert!(matches!(err, SourceError::TooManyRows { .. }), "{err:?}");
}

#[test]
fn test_connection_gets_the_base_url() {
    let server = serve(|r| {
        if r.path == "/api" {
            Response::json("{}")
        } else {
            Response::status(404, "no")
        }
    });
    let ok = http_conn(&format!("{}/api", server.url()));
    let text = datasync::source::test_connection(&ok, Duration::from_secs(10)).expect("ok");
    assert!(text.contains("2 bytes"), "{text}");
    let missing = http_conn(&format!("{}/other", server.url()));
    let err =
        datasync::source::test_connection(&missing, Duration::from_secs(10)).expect_err("404");
    assert_error(&err, &["404"], &[]);
}

#[test]
fn echoed_credentials_are_scrubbed_from_errors() {
    // A broken server that echoes the request headers into its error page.
    let server = serve(|r| {
        let echo: Vec<String> = r.headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
        Response::status(400, &echo.join(" "))
    });
    let mut conn = http_conn(&server.url());
    conn.headers = vec![("X-Api-Key".into(), Secret::new("hdr-echo-4242"))];
    conn.auth = Some(HttpAuth::Basic {
        username: "bob".into(),
        password: Secret::new("echo-pw-1717"),
    });
    let err = fetch(&conn, &json_query("", "")).expect_err("400");
    // base64("bob:echo-pw-1717")
    assert_error(
        &err,
        &["400", "x-api-key=***"],
        &["hdr-echo-4242", "echo-pw-1717", "Ym9iOmVjaG8tcHctMTcxNw=="],
    );
}

/// An empty result is zero rows: JSON `[]` (no columns: nothing names them), a CSV body
/// with only a header (its columns) or with nothing at all (no columns).
#[test]
fn empty_results_are_zero_rows() {
    let server = serve(|r| match r.path.as_str() {
        "/empty.json" => Response::json("[]"),
        "/nested.json" => Response::json(r#"{"data": {"items": []}}"#),
        "/header.csv" => Response::ok("text/csv", "id,name\n"),
        "/blank.csv" => Response::ok("text/csv", " \r\n"),
        _ => Response::ok("text/csv", ""),
    });
    let conn = http_conn(&server.url());
    for (query, columns) in [
        (json_query("/empty.json", ""), vec![]),
        (json_query("/nested.json", "/data/items"), vec![]),
        (csv_query("/header.csv"), vec!["id", "name"]),
        (csv_query("/blank.csv"), vec![]),
        (csv_query("/nothing.csv"), vec![]),
    ] {
        let path = query.path.clone();
        let rows = fetch(&conn, &query).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(rows.columns.to_vec(), columns, "{path:?}");
        assert!(rows.rows.is_empty(), "{path:?}: {:?}", rows.rows);
    }
}

#[test]
fn duplicate_csv_headers_are_refused_by_name() {
    let server = serve(|_| Response::ok("text/csv", "id,name,id,x,name\n1,a,2,3,b\n"));
    let err = fetch(&http_conn(&server.url()), &csv_query("/dup.csv")).expect_err("duplicates");
    assert!(matches!(err, SourceError::BadData { .. }), "{err:?}");
    assert_error(
        &err,
        &["testsync", "more than one column named", "\"id\", \"name\""],
        &[],
    );
}

#[test]
fn invalid_utf8_in_json_becomes_replacement_characters() {
    let server = serve(|_| {
        Response::ok(
            "application/json",
            b"[{\"name\": \"caf\xe9 \xff\"}]".to_vec(),
        )
    });
    let rows = fetch(&http_conn(&server.url()), &json_query("", "")).expect("fetch");
    assert_eq!(rows.rows, vec![vec![text("caf\u{fffd} \u{fffd}")]]);
}

/// One gzip member holding `n` zero bytes.
fn gzip_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; n]).expect("gzip");
    encoder.finish().expect("gzip")
}

fn gzip_response(body: Vec<u8>) -> Response {
    let mut r = Response::ok("application/json", body);
    r.headers.push(("Content-Encoding".into(), "gzip".into()));
    r
}

/// `max_bytes` counts the decoded body: about 1 MB of gzip (1024 members of 1 MiB of
/// zeros; gzip readers decode members one after another) inflates to 1 GiB, and the read
/// stops at the limit, with an error naming the sync and the limit.
#[test]
fn gzip_bodies_are_limited_after_decompression() {
    let member = gzip_zeros(1 << 20);
    let bomb: Vec<u8> = member.repeat(1024);
    assert!(bomb.len() < 2 << 20, "the bomb is small: {}", bomb.len());
    let server = serve(move |r| match r.path.as_str() {
        "/bomb" => gzip_response(bomb.clone()),
        _ => {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder
                .write_all(br#"[{"id": 1}, {"id": 2}]"#)
                .expect("gzip");
            gzip_response(encoder.finish().expect("gzip"))
        }
    });
    let conn = http_conn(&server.url());
    let mut query = json_query("/bomb", "");
    query.max_bytes = 8 << 20;
    let started = std::time::Instant::now();
    let err = fetch(&conn, &query).expect_err("a gigabyte is over the limit");
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");
    assert_error(&err, &["testsync", "8388608", "max_bytes", "decoded"], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // A gzip body within the limit is decoded as usual.
    let rows = fetch(&conn, &json_query("/small", "")).expect("small gzip body");
    assert_eq!(rows.rows, vec![vec![Cell::Int(1)], vec![Cell::Int(2)]]);
    assert_eq!(
        server.last_request().header("accept-encoding"),
        Some("gzip"),
        "the client asks for gzip, so the limit must hold for it"
    );
}

/// A secret in the URL path (a webhook token), in the base URL's query or in the sync's
/// `path` query is not shown when the server echoes the request in an error page.
#[test]
fn secrets_in_the_url_are_not_echoed_from_error_bodies() {
    let server = serve(|r| {
        Response::status(
            404,
            &format!(
                "no route for GET {} (path {})",
                r.path,
                r.path.replace("%40", "@")
            ),
        )
    });
    let base = format!("{}/hooks/t0ken-5ecret-77/v1?key=base-key-991", server.url());
    let conn = http_conn(&base);
    let query = json_query("items/s3cr%40t-name?api_key=path-key-123", "");
    let err = fetch(&conn, &query).expect_err("404");
    assert_error(
        &err,
        &["testsync", "404", "no route"],
        &[
            "t0ken-5ecret-77",
            "base-key-991",
            "path-key-123",
            "s3cr%40t-name",
            "s3cr@t-name",
        ],
    );
    // The path joined the base *path*; both query strings were kept.
    assert_eq!(
        server.last_request().path,
        "/hooks/t0ken-5ecret-77/v1/items/s3cr%40t-name?key=base-key-991&api_key=path-key-123"
    );
}
