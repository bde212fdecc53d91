//! Sources: read a result from a database or HTTP endpoint, row by row, into a
//! [`RowSink`] (or whole into a [`RowSet`]).
//!
//! CONTRACT (owned by the sources work; other modules call only what is here):
//! `fetch_into(&Connection, &Query, &mut dyn RowSink) -> Result<(), SourceError>` pushes
//! the columns once, then each row as it is read; `fetch(&Connection, &Query) ->
//! Result<RowSet, SourceError>` collects them. Sources never talk to
//! Mattermost and never log secrets: connection URLs and auth values are [`Secret`]s whose
//! `Debug`/`Display` print `***`.
//!
//! One directory per driver, all blocking (each sync runs on a worker thread); beside each
//! driver, `config.rs` holds what its configuration means: the kind's names, URL shape and
//! `max_bytes` default (read by `config` with its crate-private reader); for PostgreSQL and
//! MySQL the URL's TLS parameters and the timeouts turned into driver settings at connect;
//! for HTTP the `headers`, `auth`, `path`, `json_pointer` and `format` fields and types.
//! - `postgres`: tokio-postgres on a private current-thread runtime, `BEGIN READ ONLY`,
//!   `SET LOCAL statement_timeout`, binary decoding per column type, rustls for TLS.
//! - `mysql`: MySQL/MariaDB through the `mysql` crate (binary protocol, one statement),
//!   read-only session + transaction, `max_execution_time` / `max_statement_time`.
//! - `sqlite`: rusqlite opened `SQLITE_OPEN_READ_ONLY` + `query_only`, interrupt on timeout.
//! - `http`: ureq GET returning JSON (rows at an RFC 6901 pointer) or CSV.
//!
//! Every driver streams rows and stops at `max_rows + 1` rows or past `max_bytes` of
//! decoded data, so a runaway query never loads unbounded data; every error goes through
//! `Scrub` so driver messages that echo a connection string cannot leak a password.
//!
//! Only queries run: a database statement must return columns (checked on the prepared
//! statement, before it runs), and no result may have two columns of one name.
//!
//! An empty result is zero rows, never an error: a query that matches nothing sends its
//! columns and no row; an HTTP JSON `[]` or an empty CSV body sends an empty column list
//! (nothing names the columns) and no row. A result with no columns is therefore always
//! an empty result.
//!
//! Text that is not valid UTF-8 becomes text with U+FFFD in place of the bad bytes, in
//! every source: it is what a person reads (base64 is not). Binary types stay `Bytes`.
//!
//! Type mapping (NULL is always `Null`; see each driver for details):
//!
//! | source type | cell |
//! |---|---|
//! | PG bool; MySQL none (TINYINT(1) is a number) | `Bool` |
//! | PG int2/4/8, oid; MySQL TINYINT…BIGINT, YEAR, BIT, unsigned ≤ i64::MAX; SQLite INTEGER; JSON integers | `Int` |
//! | PG float4/8; MySQL FLOAT/DOUBLE; SQLite REAL (NaN/±Infinity → `Text`; 4-byte floats through their shortest text, `real` 0.1 is 0.1) | `Float` |
//! | PG numeric; MySQL DECIMAL; BIGINT UNSIGNED and BIT(64) > i64::MAX; JSON non-integers and big integers | `Decimal` (exact text) |
//! | PG date; MySQL DATE (years 1–9999; others as PG prints them: `10000-01-01`, `0044-03-15 BC`, `infinity` → `Text`) | `Date` `2026-11-21` |
//! | PG time; MySQL TIME within a day | `Time` `09:30:00.5` |
//! | PG timestamp; MySQL DATETIME (years 1–9999, as for dates) | `Timestamp` `2026-11-21T09:30:00` |
//! | PG timestamptz; MySQL TIMESTAMP (session in UTC; far years → `Text` `12345-06-07 08:09:10+00`) | `Timestamp` `…Z` (UTC) |
//! | PG json/jsonb; MySQL JSON; JSON objects/arrays; PG arrays (elements mapped alike) | `Json` |
//! | PG bytea; MySQL BLOB/BINARY/VARBINARY/GEOMETRY; SQLite BLOB | `Bytes` |
//! | text types, PG uuid/inet/cidr/macaddr/enum/citext, every other PG type (its text), MySQL ENUM/SET, MariaDB JSON (LONGTEXT), CSV fields | `Text` |

pub(crate) mod http;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::time::Duration;

pub use self::http::config::{HttpAuth, HttpFormat};
use crate::row::{Columns, Row, RowSet, RowSetBuilder, RowSink};

/// A string that must never appear in logs, errors or command output.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The real value, for handing to a driver. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Which driver a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Postgres,
    Mysql,
    Sqlite,
    /// HTTP(S) GET returning JSON or CSV.
    Http,
}

/// A named, validated connection (built by the configuration layer).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The name the admin gave it, used in every error.
    pub name: String,
    pub kind: ConnectionKind,
    /// `postgres://user:pass@host:port/db?sslmode=require`, `mysql://…`, a SQLite file path
    /// (opened read-only), or the base URL of an HTTP source. May hold a password.
    pub url: Secret,
    /// Extra HTTP headers (values may be secrets).
    pub headers: Vec<(String, Secret)>,
    pub auth: Option<HttpAuth>,
    pub connect_timeout: Duration,
}

/// What to read, with its limits (built by the configuration layer from a sync).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The sync's name, used in every error.
    pub sync: String,
    /// SQL for database sources.
    pub sql: Option<String>,
    /// For HTTP: path (and query string) appended to the connection URL; may be empty.
    pub path: Option<String>,
    /// For HTTP JSON: RFC 6901 pointer to the array of row objects ("" = the body itself).
    pub json_pointer: String,
    pub format: HttpFormat,
    pub statement_timeout: Duration,
    /// More rows than this is an error (never a silent truncation).
    pub max_rows: usize,
    /// The byte budget of one fetch, counted on decoded data: an HTTP body after
    /// decompression; for databases the values as received (text and blob lengths;
    /// numbers, dates and booleans their binary size, at most 16 bytes). More is an error
    /// (`TooLarge`), never a silent truncation.
    pub max_bytes: usize,
}

/// Why a fetch failed. Messages name the sync and connection, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("sync {sync:?}: connection {connection:?}: {message}")]
    Connect {
        sync: String,
        connection: String,
        message: String,
    },
    #[error("sync {sync:?}: query failed: {message}")]
    Query { sync: String, message: String },
    #[error("sync {sync:?}: query timed out after {seconds} s")]
    Timeout { sync: String, seconds: u64 },
    #[error("sync {sync:?}: more than {limit} rows (row limit)")]
    TooManyRows { sync: String, limit: usize },
    /// The decoded result passed the byte budget (`max_bytes`); reading stopped there.
    #[error("sync {sync:?}: {what} is larger than the {limit} byte limit (max_bytes)")]
    TooLarge {
        sync: String,
        /// "the result after 120 rows", "the response from https://host".
        what: String,
        limit: usize,
    },
    #[error("sync {sync:?}: {message}")]
    BadData { sync: String, message: String },
    /// The [`RowSink`] refused the result (a duplicate key, a missing key column): the
    /// sink's own message, the source stopped reading there.
    #[error("sync {sync:?}: {message}")]
    Rejected { sync: String, message: String },
}

/// Reads the whole result of `query` from `conn`, read-only.
pub fn fetch(conn: &Connection, query: &Query) -> Result<RowSet, SourceError> {
    let mut rows = RowSetBuilder::new();
    fetch_into(conn, query, &mut rows)?;
    Ok(rows.finish())
}

/// Reads the result of `query` from `conn`, read-only, pushing the columns and then each
/// row into `sink` as it is read (nothing is kept here). The row limit is checked before a
/// row is pushed, so the sink never sees more than `max_rows` rows. On an error the sink
/// may already hold some rows; the caller discards them.
pub fn fetch_into(
    conn: &Connection,
    query: &Query,
    sink: &mut dyn RowSink,
) -> Result<(), SourceError> {
    let cx = Cx::new(conn, query);
    let result = match conn.kind {
        ConnectionKind::Postgres => postgres::fetch(&cx, sink),
        ConnectionKind::Mysql => mysql::fetch(&cx, sink),
        ConnectionKind::Sqlite => sqlite::fetch(&cx, sink),
        ConnectionKind::Http => http::fetch(&cx, sink),
    };
    result.map_err(|e| cx.scrub.error(e))
}

/// Checks that a connection works (for "test a connection"): runs a trivial query on
/// databases (`SELECT version()` and the like) or GETs an HTTP source's base URL, within
/// `timeout`. Returns a short description of what answered, e.g. the server version.
pub fn test_connection(conn: &Connection, timeout: Duration) -> Result<String, SourceError> {
    let sql = match conn.kind {
        ConnectionKind::Postgres => Some("SELECT version()"),
        ConnectionKind::Mysql => Some("SELECT VERSION()"),
        ConnectionKind::Sqlite => Some("SELECT 'SQLite ' || sqlite_version()"),
        ConnectionKind::Http => None,
    };
    let query = Query {
        sync: format!("(testing connection {})", conn.name),
        sql: sql.map(String::from),
        path: None,
        json_pointer: String::new(),
        format: HttpFormat::Json,
        statement_timeout: timeout,
        max_rows: 1,
        max_bytes: 1 << 20,
    };
    let cx = Cx::new(conn, &query);
    let result = match conn.kind {
        ConnectionKind::Http => http::probe(&cx),
        _ => fetch(conn, &query).map(|rows| match rows.rows.first().and_then(|r| r.first()) {
            Some(crate::row::Cell::Text(version)) => version.clone(),
            _ => "connected".to_string(),
        }),
    };
    result.map_err(|e| cx.scrub.error(e))
}

/// What every driver needs: the connection, the query, and error constructors that name
/// the sync and connection.
pub(crate) struct Cx<'a> {
    pub conn: &'a Connection,
    pub query: &'a Query,
    pub scrub: Scrub,
}

impl<'a> Cx<'a> {
    fn new(conn: &'a Connection, query: &'a Query) -> Self {
        let mut scrub = Scrub::for_connection(conn);
        // An HTTP sync's `path` may carry its own `?api_key=…`.
        if let Some(path) = query.path.as_deref() {
            scrub.add_query_values(path);
        }
        Cx { conn, query, scrub }
    }

    pub fn connect_err(&self, message: impl Into<String>) -> SourceError {
        SourceError::Connect {
            sync: self.query.sync.clone(),
            connection: self.conn.name.clone(),
            message: self.scrub.text(&message.into()),
        }
    }

    pub fn query_err(&self, message: impl Into<String>) -> SourceError {
        SourceError::Query {
            sync: self.query.sync.clone(),
            message: format!(
                "connection {:?}: {}",
                self.conn.name,
                self.scrub.text(&message.into())
            ),
        }
    }

    pub fn bad_data(&self, message: impl Into<String>) -> SourceError {
        SourceError::BadData {
            sync: self.query.sync.clone(),
            message: format!(
                "connection {:?}: {}",
                self.conn.name,
                self.scrub.text(&message.into())
            ),
        }
    }

    pub fn timeout(&self) -> SourceError {
        SourceError::Timeout {
            sync: self.query.sync.clone(),
            seconds: seconds_rounded_up(self.query.statement_timeout),
        }
    }

    /// The byte budget was passed; `what` says what was being read.
    pub fn too_large(&self, what: impl Into<String>) -> SourceError {
        SourceError::TooLarge {
            sync: self.query.sync.clone(),
            what: what.into(),
            limit: self.query.max_bytes,
        }
    }

    pub fn too_many_rows(&self) -> SourceError {
        SourceError::TooManyRows {
            sync: self.query.sync.clone(),
            limit: self.query.max_rows,
        }
    }

    /// The SQL text, or a clear error when a database sync has none.
    pub fn sql(&self) -> Result<&'a str, SourceError> {
        match self.query.sql.as_deref().map(str::trim) {
            Some(sql) if !sql.is_empty() => Ok(sql),
            _ => Err(self.query_err("no SQL query configured")),
        }
    }

    /// Checks a database statement's result columns before it runs: a statement without
    /// columns (`COMMIT`, `SET …`, `CALL …`, `VACUUM`, `SELECT … INTO …`) is not a query,
    /// and is refused before it can do anything.
    pub fn check_query_columns(&self, columns: &[String]) -> Result<(), SourceError> {
        if columns.is_empty() {
            return Err(self.query_err(
                "not a query: the statement returns no columns (COMMIT, SET, CALL, PRAGMA \
                 writes, SELECT … INTO and the like are refused); give one SELECT",
            ));
        }
        self.check_unique_columns(columns)
    }

    /// Two columns of one name would make the key use one and `row.<name>` the other.
    fn check_unique_columns(&self, columns: &[String]) -> Result<(), SourceError> {
        let duplicates = duplicate_names(columns);
        if duplicates.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = duplicates.iter().map(|d| format!("{d:?}")).collect();
        Err(self.bad_data(format!(
            "the result has more than one column named {}; give each column its own name \
             (SELECT a.id AS a_id, b.id AS b_id …)",
            shown.join(", ")
        )))
    }

    /// Hands the result's column names to the sink. An empty list is an empty result whose
    /// columns are unknown (an HTTP JSON `[]`, an empty CSV body): no row follows.
    pub fn send_columns(
        &self,
        sink: &mut dyn RowSink,
        columns: Vec<String>,
    ) -> Result<(), SourceError> {
        self.check_unique_columns(&columns)?;
        let columns: Columns = columns.into();
        sink.columns(columns).map_err(|m| self.rejected(m))
    }

    /// Hands one row to the sink.
    pub fn send_row(&self, sink: &mut dyn RowSink, row: Row) -> Result<(), SourceError> {
        sink.row(row).map_err(|m| self.rejected(m))
    }

    fn rejected(&self, message: String) -> SourceError {
        SourceError::Rejected {
            sync: self.query.sync.clone(),
            message,
        }
    }

    /// Fails with `TooManyRows` once `count` rows exceed the limit.
    pub fn check_rows(&self, count: usize) -> Result<(), SourceError> {
        if count > self.query.max_rows {
            Err(self.too_many_rows())
        } else {
            Ok(())
        }
    }
}

/// Column names that occur more than once, each once, in result order.
fn duplicate_names(columns: &[String]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    let mut duplicates: Vec<&str> = Vec::new();
    for name in columns {
        if !seen.insert(name.as_str()) && !duplicates.contains(&name.as_str()) {
            duplicates.push(name);
        }
    }
    duplicates
}

/// Counts the decoded bytes of one fetch against `max_bytes`.
pub(crate) struct Budget {
    limit: usize,
    used: usize,
}

/// What a number, a date or a boolean counts: its in-memory size, not its text.
pub(crate) const SCALAR_BYTES: usize = 8;

impl Budget {
    pub fn new(query: &Query) -> Self {
        Budget {
            limit: query.max_bytes,
            used: 0,
        }
    }

    /// Spends `bytes`; fails once the total passes the limit. `row` is the row being read
    /// (1-based), for the error.
    pub fn spend(&mut self, cx: &Cx<'_>, bytes: usize, row: usize) -> Result<(), SourceError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(cx.too_large(format!("the result (at row {row})")));
        }
        Ok(())
    }
}

/// `1.2 s` reports as 2: a timeout message should never say "0 s".
fn seconds_rounded_up(d: Duration) -> u64 {
    let secs = d.as_secs();
    if d.subsec_nanos() > 0 { secs + 1 } else { secs }
}

/// Removes secret values from text that came from a driver or server.
///
/// Drivers sometimes echo the connection string or parts of it (user info, query
/// parameters); the password may also appear percent-encoded. Every message built from
/// foreign text passes through here before it leaves the source module.
#[derive(Default)] // no Debug: it holds the secrets
pub(crate) struct Scrub {
    secrets: Vec<String>,
}

impl Scrub {
    fn for_connection(conn: &Connection) -> Self {
        let mut scrub = Scrub::default();
        let url = conn.url.expose();
        if conn.kind == ConnectionKind::Sqlite {
            // A SQLite "URL" is a file path, often a secret of its own; SQLite echoes the
            // path it could not open (without a sqlite:// or sqlite: prefix).
            scrub.add(url);
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            scrub.add(path);
        } else if url.contains(['@', '?']) {
            // The whole URL only when it may carry a credential: a plain base URL
            // (`https://api.example.com`) is not secret and helps to read errors.
            scrub.add(url);
        }
        if let Some(password) = url_password(url) {
            scrub.add(&password);
            scrub.add(&percent_decode(&password));
        }
        scrub.add_query_values(url);
        for (_, value) in &conn.headers {
            scrub.add(value.expose());
        }
        match &conn.auth {
            Some(HttpAuth::Basic { username, password }) => {
                use base64::Engine as _;
                scrub.add(password.expose());
                // A server echoing our request headers would show the encoded pair.
                let pair = format!("{username}:{}", password.expose());
                scrub.add(&base64::engine::general_purpose::STANDARD.encode(pair));
            }
            Some(HttpAuth::Bearer { token }) => scrub.add(token.expose()),
            None => {}
        }
        scrub
    }

    /// Query-string values (`?password=…`, `?api_key=…`) of `url` may be secrets; only
    /// well-known harmless driver options are left readable.
    fn add_query_values(&mut self, url: &str) {
        let Some((_, query)) = url.split_once('?') else {
            return;
        };
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && !HARMLESS_PARAMETERS.contains(&percent_decode(key).to_ascii_lowercase().as_str())
                && value.len() >= 4
            {
                self.add(value);
                self.add(&percent_decode(value));
            }
        }
    }

    fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a URL is replaced whole before its password is.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn text(&self, message: &str) -> String {
        let mut out = message.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    fn error(&self, e: SourceError) -> SourceError {
        match e {
            SourceError::Connect {
                sync,
                connection,
                message,
            } => SourceError::Connect {
                sync,
                connection,
                message: self.text(&message),
            },
            SourceError::Query { sync, message } => SourceError::Query {
                sync,
                message: self.text(&message),
            },
            SourceError::BadData { sync, message } => SourceError::BadData {
                sync,
                message: self.text(&message),
            },
            other => other,
        }
    }
}

/// URL parameters whose values are never secret, so errors may show them.
const HARMLESS_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "ssl_mode",
    "sslrootcert",
    "root_cert_path",
    "application_name",
    "connect_timeout",
    "host",
    "port",
    "dbname",
    "user",
    "prefer_socket",
    "tcp_connect_timeout_ms",
];

/// The raw (still percent-encoded) password of `scheme://user:password@host/…`.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end)?;
    let userinfo = authority.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_string())
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes.get(i), hex) {
            (Some(b'%'), Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (Some(&b), _) => {
                out.push(b);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A short, printable excerpt of foreign text for error messages.
pub(crate) fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// NaN and infinities are not JSON numbers; they become PostgreSQL's spelling as text.
pub(crate) fn float_cell(f: f64) -> crate::row::Cell {
    use crate::row::Cell;
    if f.is_nan() {
        Cell::Text("NaN".into())
    } else if f.is_infinite() {
        Cell::Text(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Cell::Float(f)
    }
}

/// Formats a cell of a nested structure (array element) as JSON, the way rows show it.
pub(crate) fn cell_to_json(cell: crate::row::Cell) -> serde_json::Value {
    use crate::row::Cell;
    use base64::Engine as _;
    use serde_json::Value;
    match cell {
        Cell::Null => Value::Null,
        Cell::Bool(b) => Value::Bool(b),
        Cell::Int(i) => Value::from(i),
        Cell::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cell::Decimal(d) => match serde_json::from_str::<serde_json::Number>(&d) {
            Ok(n) => Value::Number(n),
            Err(_) => Value::String(d),
        },
        Cell::Text(s) | Cell::Date(s) | Cell::Time(s) | Cell::Timestamp(s) => Value::String(s),
        Cell::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cell::Json(v) => *v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(url: &str) -> Connection {
        Connection {
            name: "c".into(),
            kind: ConnectionKind::Postgres,
            url: Secret::new(url),
            headers: vec![("X-Key".into(), Secret::new("hdr-secret"))],
            auth: Some(HttpAuth::Bearer {
                token: Secret::new("tok-secret"),
            }),
            connect_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn scrub_removes_url_password_headers_and_tokens() {
        let scrub = Scrub::for_connection(&conn("postgres://u:p%40ss@h/db?api_key=abcdef123"));
        let msg = "failed postgres://u:p%40ss@h/db?api_key=abcdef123 p@ss p%40ss hdr-secret tok-secret abcdef123";
        let out = scrub.text(msg);
        for secret in ["p@ss", "p%40ss", "hdr-secret", "tok-secret", "abcdef123"] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
        }
        assert!(out.starts_with("failed ***"));
    }

    #[test]
    fn scrub_keeps_harmless_driver_options_readable() {
        let scrub =
            Scrub::for_connection(&conn("postgres://h/db?sslmode=verify-full&key=k3y-value"));
        assert_eq!(
            scrub.text("sslmode verify-full rejected; key k3y-value"),
            "sslmode verify-full rejected; key ***"
        );
    }

    #[test]
    fn url_password_handles_missing_parts() {
        assert_eq!(url_password("mysql://u:pw@h:1/d"), Some("pw".into()));
        assert_eq!(url_password("mysql://u@h/d"), None);
        assert_eq!(url_password("mysql://h/d?x=a@b"), None);
        assert_eq!(url_password("no-scheme"), None);
        assert_eq!(url_password("mysql://u:p@ss@h/d"), Some("p@ss".into()));
    }

    #[test]
    fn percent_decode_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%40b%zz%4"), "a@b%zz%4");
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(seconds_rounded_up(Duration::from_millis(1200)), 2);
        assert_eq!(seconds_rounded_up(Duration::from_secs(3)), 3);
    }
}
