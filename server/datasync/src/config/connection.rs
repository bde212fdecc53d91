//! A connection's shared fields (`kind`, `url`, `connect_timeout`) and a sync's query,
//! dispatched by source kind.

use toml::de::DeTable;

use super::reader::{Cx, Fields, Str, sorted};
use super::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BYTES, DEFAULT_MAX_BYTES_DATABASE, DEFAULT_MAX_ROWS,
    DEFAULT_STATEMENT_TIMEOUT,
};
use crate::source::{Connection, ConnectionKind, HttpAuth, HttpFormat, Query, Secret};

pub(super) const CONNECTION_FIELDS: &[&str] =
    &["kind", "url", "headers", "auth", "connect_timeout"];
const AUTH_FIELDS: &[&str] = &["kind", "username", "password", "token"];

/// The kind of a connection that failed validation, if it says one.
pub(super) fn peek_kind(t: &DeTable<'_>) -> Option<ConnectionKind> {
    let (_, v) = t.iter().find(|(k, _)| k.get_ref().as_ref() == "kind")?;
    match v.get_ref().as_str()? {
        "postgres" | "postgresql" => Some(ConnectionKind::Postgres),
        "mysql" | "mariadb" => Some(ConnectionKind::Mysql),
        "sqlite" => Some(ConnectionKind::Sqlite),
        "http" | "https" => Some(ConnectionKind::Http),
        _ => None,
    }
}

pub(super) fn read_connection(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
) -> Option<Connection> {
    f.finish(cx);
    let kind = f.required_string(cx, "kind").and_then(|k| {
        let kind = match k.value.as_str() {
            "postgres" | "postgresql" => ConnectionKind::Postgres,
            "mysql" | "mariadb" => ConnectionKind::Mysql,
            "sqlite" => ConnectionKind::Sqlite,
            "http" | "https" => ConnectionKind::Http,
            _ => {
                let msg = format!("{} is not one of postgres, mysql, sqlite, http", k.shown);
                f.err(cx, "kind", Some(k.span), msg);
                return None;
            }
        };
        Some(kind)
    });
    let url = f.required_string(cx, "url");
    let connect_timeout = f.duration(cx, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    let is_http = kind == Some(ConnectionKind::Http);
    let mut headers = Vec::new();
    if let Some(h) = f.sub(cx, "headers", &[]) {
        if !is_http {
            f.err(
                cx,
                "headers",
                Some(h.span.clone()),
                "only http connections take headers".into(),
            );
        }
        for (hname, item) in sorted(h.table) {
            if let Some(v) = h.as_string(cx, hname, item) {
                headers.push((hname.to_string(), Secret::new(v.value)));
            }
        }
    }
    let auth = f.sub(cx, "auth", AUTH_FIELDS).and_then(|a| {
        a.finish(cx);
        if !is_http {
            f.err(
                cx,
                "auth",
                Some(a.span.clone()),
                "only http connections take auth".into(),
            );
        }
        read_auth(cx, &a)
    });
    if let (Some(url), Some(kind)) = (&url, kind) {
        check_url(cx, f, kind, url);
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
fn check_url(cx: &mut Cx<'_>, f: &Fields<'_, '_>, kind: ConnectionKind, url: &Str) {
    let v = url.value.as_str();
    let ok = match kind {
        ConnectionKind::Postgres => v.starts_with("postgres://") || v.starts_with("postgresql://"),
        ConnectionKind::Mysql => v.starts_with("mysql://"),
        ConnectionKind::Sqlite => !v.is_empty() && !v.contains("://"),
        ConnectionKind::Http => v.starts_with("http://") || v.starts_with("https://"),
    };
    if !ok {
        let expected = match kind {
            ConnectionKind::Postgres => "a postgres://user:password@host/db URL",
            ConnectionKind::Mysql => "a mysql://user:password@host/db URL",
            ConnectionKind::Sqlite => "a path to a SQLite file",
            ConnectionKind::Http => "an http:// or https:// URL",
        };
        f.err(
            cx,
            "url",
            Some(url.span.clone()),
            format!("expected {expected}"),
        );
    }
}

fn read_auth(cx: &mut Cx<'_>, a: &Fields<'_, '_>) -> Option<HttpAuth> {
    let kind = a.required_string(cx, "kind")?;
    match kind.value.as_str() {
        "basic" => Some(HttpAuth::Basic {
            username: a.required_string(cx, "username")?.value,
            password: Secret::new(a.required_string(cx, "password")?.value),
        }),
        "bearer" => Some(HttpAuth::Bearer {
            token: Secret::new(a.required_string(cx, "token")?.value),
        }),
        _ => {
            let msg = format!("{} is not \"basic\" or \"bearer\"", kind.shown);
            a.err(cx, "kind", Some(kind.span), msg);
            None
        }
    }
}

pub(super) fn read_query(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
    kind: ConnectionKind,
) -> Query {
    let sql = f.string(cx, "sql");
    let path = f.string(cx, "path");
    let pointer = f.string(cx, "json_pointer");
    let format = f.string(cx, "format");
    if kind == ConnectionKind::Http {
        if let Some(s) = &sql {
            f.err(
                cx,
                "sql",
                Some(s.span.clone()),
                "http connections take path, not sql".into(),
            );
        }
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
        for (field, v) in [
            ("path", &path),
            ("json_pointer", &pointer),
            ("format", &format),
        ] {
            if let Some(v) = v {
                let msg = "only http connections take this field".to_string();
                f.err(cx, field, Some(v.span.clone()), msg);
            }
        }
    }
    if let Some(p) = &pointer
        && !(p.value.is_empty() || p.value.starts_with('/'))
    {
        let msg = format!(
            "{} is not a JSON pointer (\"\" or starting with \"/\")",
            p.shown
        );
        f.err(cx, "json_pointer", Some(p.span.clone()), msg);
    }
    let format = match format.as_ref().map(|s| s.value.as_str()) {
        None | Some("json") => HttpFormat::Json,
        Some("csv") => HttpFormat::Csv,
        Some(_) => {
            if let Some(s) = &format {
                let msg = format!("{} is not \"json\" or \"csv\"", s.shown);
                f.err(cx, "format", Some(s.span.clone()), msg);
            }
            HttpFormat::Json
        }
    };
    Query {
        sync: name.to_string(),
        sql: sql.map(|s| s.value),
        path: path.map(|s| s.value),
        json_pointer: pointer.map(|s| s.value).unwrap_or_default(),
        format,
        statement_timeout: f.duration(cx, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        max_rows: f
            .integer(cx, "max_rows", 1..10_000_001)
            .map_or(DEFAULT_MAX_ROWS, |n| n as usize),
        max_bytes: f.integer(cx, "max_bytes", 1024..1_073_741_825).map_or(
            if kind == ConnectionKind::Http {
                DEFAULT_MAX_BYTES
            } else {
                DEFAULT_MAX_BYTES_DATABASE
            },
            |n| n as usize,
        ),
    }
}
