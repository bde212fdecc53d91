//! Helpers shared by the `source_*` integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use datasync::row::{Cell, RowSet};
use datasync::source::{Connection, ConnectionKind, HttpFormat, Query, Secret, SourceError};

/// Set to `1` to skip the tests that need a database server when running `cargo test`
/// by hand without one. Nothing sets it: under `make test` (`scripts/db/test.sh`) a
/// missing server is a failure, never a silent pass.
pub const SKIP_VAR: &str = "DATASYNC_SKIP_DB_TESTS";

/// The URL in `var`. Without it the test fails, unless [`SKIP_VAR`] asks to skip (then
/// `None`, after saying so).
pub fn server_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") => {
            eprintln!("skipped: {test}: {var} is not set and {SKIP_VAR}=1");
            None
        }
        _ => panic!(
            "{test}: {var} is not set; run the database tests through scripts/db/test.sh \
             (make test does), or set {SKIP_VAR}=1 to skip them"
        ),
    }
}

pub fn connection(kind: ConnectionKind, url: &str) -> Connection {
    Connection {
        name: "testconn".into(),
        kind,
        url: Secret::new(url),
        headers: Vec::new(),
        auth: None,
        connect_timeout: Duration::from_secs(10),
    }
}

pub fn sql_query(sql: &str) -> Query {
    Query {
        sync: "testsync".into(),
        sql: Some(sql.into()),
        path: None,
        json_pointer: String::new(),
        format: HttpFormat::Json,
        statement_timeout: Duration::from_secs(30),
        max_rows: 10_000,
        max_bytes: 10 << 20,
    }
}

/// A table name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A loopback port that refuses connections (bound, then closed).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A server that accepts connections and never says a word. The listener lives as long
/// as the returned guard; accepted sockets are kept open until then.
pub struct BlackHole {
    pub addr: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

pub fn black_hole() -> BlackHole {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let thread = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    BlackHole {
        addr,
        _thread: thread,
    }
}

/// The only row of a result, by column name.
pub fn single_row(rows: &RowSet) -> Vec<(String, Cell)> {
    assert_eq!(rows.rows.len(), 1, "expected one row, got {:?}", rows.rows);
    rows.columns
        .iter()
        .cloned()
        .zip(rows.rows[0].iter().cloned())
        .collect()
}

pub fn cell<'a>(rows: &'a RowSet, row: usize, column: &str) -> &'a Cell {
    let i = rows
        .column_index(column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", rows.columns));
    &rows.rows[row][i]
}

pub fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

pub fn decimal(s: &str) -> Cell {
    Cell::Decimal(s.into())
}

/// Asserts the error's Display contains all `parts` and none of `secrets`.
pub fn assert_error(err: &SourceError, parts: &[&str], secrets: &[&str]) {
    let shown = err.to_string();
    for part in parts {
        assert!(
            shown.contains(part),
            "error {shown:?} should contain {part:?}"
        );
    }
    for secret in secrets {
        assert!(
            !shown.contains(secret),
            "error {shown:?} leaks the secret {secret:?}"
        );
        assert!(
            !format!("{err:?}").contains(secret),
            "error {err:?} (Debug) leaks the secret {secret:?}"
        );
    }
}

/// The password part of `scheme://user:password@host/…`.
pub fn password_of(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or("");
    let userinfo = rest.split_once('@').map(|x| x.0).unwrap_or("");
    userinfo
        .split_once(':')
        .map(|x| x.1)
        .unwrap_or("")
        .to_string()
}

/// `url` with its password replaced.
pub fn with_password(url: &str, password: &str) -> String {
    let old = password_of(url);
    url.replacen(&format!(":{old}@"), &format!(":{password}@"), 1)
}

/// `url` pointing at another `host:port`.
pub fn with_host(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, after) = rest.split_once('@').expect("userinfo");
    let path = after.find('/').map(|i| &after[i..]).unwrap_or("");
    format!("{scheme}://{userinfo}@{host_port}{path}")
}

pub mod http;
