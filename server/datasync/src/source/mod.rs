//! Sources: read a whole result from a database or HTTP endpoint into a [`RowSet`].
//!
//! CONTRACT (owned by the sources work; other modules call only what is here):
//! `fetch(&Connection, &Query) -> Result<RowSet, SourceError>`. Sources never talk to
//! Mattermost and never log secrets: connection URLs and auth values are [`Secret`]s whose
//! `Debug`/`Display` print `***`.

use std::time::Duration;

use crate::row::RowSet;

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

/// HTTP authentication.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAuth {
    Basic { username: String, password: Secret },
    Bearer { token: Secret },
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

/// Body format of an HTTP source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpFormat {
    #[default]
    Json,
    Csv,
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
    /// For HTTP: largest body accepted.
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
    #[error("sync {sync:?}: {message}")]
    BadData { sync: String, message: String },
}

/// Reads the whole result of `query` from `conn`, read-only.
pub fn fetch(conn: &Connection, query: &Query) -> Result<RowSet, SourceError> {
    Err(SourceError::Connect {
        sync: query.sync.clone(),
        connection: conn.name.clone(),
        message: format!("{:?} sources are not built yet", conn.kind),
    })
}
