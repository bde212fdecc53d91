//! An HTTP connection's settings and a sync's HTTP fields: the URL's shape, `headers`,
//! `auth`, and a sync's `path`, `json_pointer` and `format`, read from the configuration
//! with the shared reader.

use crate::config::connection::KindRules;
use crate::config::reader::{Cx, Fields, Str, sorted};
use crate::source::Secret;

/// Byte budget (decoded data) of an HTTP sync: the body is parsed whole.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// What reading the configuration needs to know of HTTP connections.
pub(crate) const RULES: KindRules = KindRules {
    names: &["http", "https"],
    url_ok: |url| url.starts_with("http://") || url.starts_with("https://"),
    url_expected: "an http:// or https:// URL",
    default_max_bytes: DEFAULT_MAX_BYTES,
};

/// HTTP authentication.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpAuth {
    Basic { username: String, password: Secret },
    Bearer { token: Secret },
}

/// Body format of an HTTP source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpFormat {
    #[default]
    Json,
    Csv,
}

const AUTH_FIELDS: &[&str] = &["kind", "username", "password", "token"];

/// A connection's `headers` (read whatever its kind, so any other kind is told they do not
/// apply).
pub(crate) fn read_headers(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    is_http: bool,
) -> Vec<(String, Secret)> {
    let mut headers = Vec::new();
    if let Some(h) = f.sub(cx, "headers", &[]) {
        only_http(cx, f, "headers", &h, is_http);
        for (hname, item) in sorted(h.table) {
            if let Some(v) = h.as_string(cx, hname, item) {
                headers.push((hname.to_string(), Secret::new(v.value)));
            }
        }
    }
    headers
}

/// A connection's `auth` table (read whatever its kind, as `headers`).
pub(crate) fn read_auth(cx: &mut Cx<'_>, f: &Fields<'_, '_>, is_http: bool) -> Option<HttpAuth> {
    let a = f.sub(cx, "auth", AUTH_FIELDS)?;
    a.finish(cx);
    only_http(cx, f, "auth", &a, is_http);
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

fn only_http(cx: &mut Cx<'_>, f: &Fields<'_, '_>, field: &str, t: &Fields<'_, '_>, is_http: bool) {
    if !is_http {
        let msg = format!("only http connections take {field}");
        f.err(cx, field, Some(t.span.clone()), msg);
    }
}

/// A sync's HTTP fields as written. They are read whatever the connection's kind, so a
/// database sync that gives one is told it does not apply.
pub(crate) struct QueryFields {
    path: Option<Str>,
    json_pointer: Option<Str>,
    format: Option<Str>,
}

impl QueryFields {
    pub(crate) fn read(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> QueryFields {
        QueryFields {
            path: f.string(cx, "path"),
            json_pointer: f.string(cx, "json_pointer"),
            format: f.string(cx, "format"),
        }
    }

    /// A database sync: each field given is an error.
    pub(crate) fn refuse(&self, cx: &mut Cx<'_>, f: &Fields<'_, '_>) {
        for (field, v) in [
            ("path", &self.path),
            ("json_pointer", &self.json_pointer),
            ("format", &self.format),
        ] {
            if let Some(v) = v {
                let msg = "only http connections take this field".to_string();
                f.err(cx, field, Some(v.span.clone()), msg);
            }
        }
    }

    /// Checks the pointer and the format: the path, the pointer (`""`: the body itself)
    /// and the format (JSON unless said).
    pub(crate) fn finish(
        self,
        cx: &mut Cx<'_>,
        f: &Fields<'_, '_>,
    ) -> (Option<String>, String, HttpFormat) {
        if let Some(p) = &self.json_pointer
            && !(p.value.is_empty() || p.value.starts_with('/'))
        {
            let msg = format!(
                "{} is not a JSON pointer (\"\" or starting with \"/\")",
                p.shown
            );
            f.err(cx, "json_pointer", Some(p.span.clone()), msg);
        }
        let format = match self.format.as_ref().map(|s| s.value.as_str()) {
            None | Some("json") => HttpFormat::Json,
            Some("csv") => HttpFormat::Csv,
            Some(_) => {
                if let Some(s) = &self.format {
                    let msg = format!("{} is not \"json\" or \"csv\"", s.shown);
                    f.err(cx, "format", Some(s.span.clone()), msg);
                }
                HttpFormat::Json
            }
        };
        let path = self.path.map(|s| s.value);
        let pointer = self.json_pointer.map(|s| s.value).unwrap_or_default();
        (path, pointer, format)
    }
}

/// An http sync reads `path`; `sql` is an error.
pub(crate) fn refuse_sql(cx: &mut Cx<'_>, f: &Fields<'_, '_>, sql: Option<&Str>) {
    if let Some(s) = sql {
        f.err(
            cx,
            "sql",
            Some(s.span.clone()),
            "http connections take path, not sql".into(),
        );
    }
}
