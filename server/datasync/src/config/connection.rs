//! A connection's shared fields (`kind`, `url`, `connect_timeout`) and a sync's query
//! (`sql`, limits), dispatched by source kind: what is particular to a kind (its names,
//! URL shape, `max_bytes` default, HTTP's headers, auth and fields) lives beside that
//! source, in `source/<kind>/config.rs`, built on the same reader.

use toml::de::DeTable;

use super::reader::{Cx, Fields, Str};
use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ROWS, DEFAULT_STATEMENT_TIMEOUT};
use crate::source::{Connection, ConnectionKind, Query, Secret, http, mysql, postgres, sqlite};

pub(super) const CONNECTION_FIELDS: &[&str] =
    &["kind", "url", "headers", "auth", "connect_timeout"];

/// What reading the configuration needs to know of one source kind; each kind declares
/// its own (`source/<kind>/config.rs`).
pub(crate) struct KindRules {
    /// The words `kind = "…"` accepts for it.
    pub(crate) names: &'static [&'static str],
    /// Whether a URL has the kind's shape.
    pub(crate) url_ok: fn(&str) -> bool,
    /// What the URL should look like, for the error (never the URL: it may hold a password).
    pub(crate) url_expected: &'static str,
    /// `max_bytes` when the sync does not say.
    pub(crate) default_max_bytes: usize,
}

fn rules(kind: ConnectionKind) -> &'static KindRules {
    match kind {
        ConnectionKind::Postgres => &postgres::config::RULES,
        ConnectionKind::Mysql => &mysql::config::RULES,
        ConnectionKind::Sqlite => &sqlite::config::RULES,
        ConnectionKind::Http => &http::config::RULES,
    }
}

/// The kind a `kind = "…"` word names.
fn kind_named(word: &str) -> Option<ConnectionKind> {
    [
        ConnectionKind::Postgres,
        ConnectionKind::Mysql,
        ConnectionKind::Sqlite,
        ConnectionKind::Http,
    ]
    .into_iter()
    .find(|&k| rules(k).names.contains(&word))
}

/// The kind of a connection that failed validation, if it says one.
pub(super) fn peek_kind(t: &DeTable<'_>) -> Option<ConnectionKind> {
    let (_, v) = t.iter().find(|(k, _)| k.get_ref().as_ref() == "kind")?;
    kind_named(v.get_ref().as_str()?)
}

pub(super) fn read_connection(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
) -> Option<Connection> {
    f.finish(cx);
    let kind = f.required_string(cx, "kind").and_then(|k| {
        let kind = kind_named(&k.value);
        if kind.is_none() {
            let msg = format!("{} is not one of postgres, mysql, sqlite, http", k.shown);
            f.err(cx, "kind", Some(k.span), msg);
        }
        kind
    });
    let url = f.required_string(cx, "url");
    let connect_timeout = f.duration(cx, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    let is_http = kind == Some(ConnectionKind::Http);
    let headers = http::config::read_headers(cx, f, is_http);
    let auth = http::config::read_auth(cx, f, is_http);
    if let (Some(url), Some(kind)) = (&url, kind) {
        check_url(cx, f, rules(kind), url);
    }
    Some(Connection {
        name: name.to_string(),
        kind: kind?,
        url: Secret::new(url?.value),
        headers,
        auth,
        connect_timeout,
    })
}

/// Checks the URL's shape without ever printing it (it may hold a password).
fn check_url(cx: &mut Cx<'_>, f: &Fields<'_, '_>, rules: &KindRules, url: &Str) {
    if !(rules.url_ok)(&url.value) {
        let msg = format!("expected {}", rules.url_expected);
        f.err(cx, "url", Some(url.span.clone()), msg);
    }
}

/// A sync's query: `sql` for databases, the HTTP fields for http, and the limits.
pub(super) fn read_query(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
    kind: ConnectionKind,
) -> Query {
    let sql = f.string(cx, "sql");
    let http_fields = http::config::QueryFields::read(cx, f);
    if kind == ConnectionKind::Http {
        http::config::refuse_sql(cx, f, sql.as_ref());
    } else {
        match &sql {
            None => f.err(
                cx,
                "sql",
                Some(f.span.clone()),
                "is required for database connections".into(),
            ),
            Some(s) if s.value.trim().is_empty() => {
                f.err(cx, "sql", Some(s.span.clone()), "must not be empty".into())
            }
            Some(_) => {}
        }
        http_fields.refuse(cx, f);
    }
    let (path, json_pointer, format) = http_fields.finish(cx, f);
    Query {
        sync: name.to_string(),
        sql: sql.map(|s| s.value),
        path,
        json_pointer,
        format,
        statement_timeout: f.duration(cx, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        max_rows: f
            .integer(cx, "max_rows", 1..10_000_001)
            .map_or(DEFAULT_MAX_ROWS, |n| n as usize),
        max_bytes: f
            .integer(cx, "max_bytes", 1024..1_073_741_825)
            .map_or(rules(kind).default_max_bytes, |n| n as usize),
    }
}
