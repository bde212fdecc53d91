//! HTTP(S) GET sources returning JSON or CSV.
//!
//! JSON: the value at `json_pointer` (RFC 6901) must be an array of objects; columns are
//! the union of keys in first-seen order, missing keys are NULL. Numbers keep their exact
//! text (serde_json's `arbitrary_precision`): integers that fit i64 are `Int`, everything
//! else `Decimal` text (exponents written out). CSV: the header row names the columns,
//! values are text and empty fields are NULL (CSV cannot tell "" from a missing value).
//!
//! Redirects are not followed: a custom header may hold an API key, and following a
//! redirect would hand it to whatever host the server names. A 3xx is reported instead.

use std::io::Read;

use indexmap::IndexSet;
use serde_json::{Map, Number, Value};

pub(crate) mod config;

use super::{Cx, HttpAuth, HttpFormat, SourceError, excerpt, percent_decode};
use crate::row::{Cell, RowSink};

/// How much of a non-2xx body goes into the error message.
const ERROR_BODY_CHARS: usize = 200;

pub(super) fn fetch(cx: &Cx<'_>, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let body = get(cx)?;
    match cx.query.format {
        HttpFormat::Json => parse_json(cx, &body, sink),
        HttpFormat::Csv => parse_csv(cx, &body, sink),
    }
}

/// GETs the base URL and reports the status and size (for "test a connection").
pub(super) fn probe(cx: &Cx<'_>) -> Result<String, SourceError> {
    let body = get(cx)?;
    Ok(format!("HTTP 2xx, {} bytes", body.len()))
}

/// The request URL: the connection's base URL with the sync's `path` appended to the
/// base's *path*. A base with a query string (`https://h/api?key=1`) keeps it, and the
/// path's own query joins it: `items?page=2` gives `https://h/api/items?key=1&page=2`.
fn url(cx: &Cx<'_>) -> String {
    join_url(cx.conn.url.expose(), cx.query.path.as_deref().unwrap_or(""))
}

fn join_url(base: &str, path: &str) -> String {
    let (base, fragment) = match base.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (base, None),
    };
    let (base_path, base_query) = base.split_once('?').unwrap_or((base, ""));
    let (path, path_query) = path.split_once('?').unwrap_or((path, ""));
    let mut out = match path {
        "" => base_path.to_string(),
        _ if base_path.ends_with('/') && path.starts_with('/') => {
            format!("{base_path}{}", path.trim_start_matches('/'))
        }
        _ if !base_path.ends_with('/') && !path.starts_with('/') => format!("{base_path}/{path}"),
        _ => format!("{base_path}{path}"),
    };
    let queries: Vec<&str> = [base_query, path_query]
        .into_iter()
        .filter(|q| !q.is_empty())
        .collect();
    if !queries.is_empty() {
        out.push('?');
        out.push_str(&queries.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Removes the parts of the request URL from text the server sent back (an error page
/// that echoes the request): the URL, its path and query, user info, query values and
/// every path segment long enough to be a token (`/v1/hooks/<secret>/items`). Short
/// segments (`api`, `v1`, `items`) stay, so the text is still readable.
fn hide_request(text: &str, url: &str) -> String {
    const SEGMENT_MIN_CHARS: usize = 6;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let mut parts: Vec<String> = vec![url.to_string(), path_and_query.to_string()];
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        parts.push(userinfo.to_string());
        parts.extend(userinfo.split(':').map(String::from));
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    parts.extend(
        path.split('/')
            .filter(|s| s.chars().count() >= SEGMENT_MIN_CHARS)
            .map(String::from),
    );
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    parts.push(query.to_string());
    parts.extend(
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.to_string())),
    );
    let decoded: Vec<String> = parts.iter().map(|p| percent_decode(p)).collect();
    parts.extend(decoded);
    parts.retain(|p| p.chars().count() >= 3);
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    parts.dedup();
    let mut out = text.to_string();
    for part in &parts {
        if out.contains(part.as_str()) {
            out = out.replace(part.as_str(), "***");
        }
    }
    out
}

/// `scheme://host:port` of a URL: enough to say where we went, without user info, path or
/// query string (any of which may carry a credential).
fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "the configured URL".into();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

fn get(cx: &Cx<'_>) -> Result<Vec<u8>, SourceError> {
    let url = url(cx);
    let origin = origin(&url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(cx.conn.connect_timeout))
        .timeout_global(Some(cx.query.statement_timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(format!("mattermost-datasync/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.get(&url);
    for (name, value) in &cx.conn.headers {
        request = request.header(name.as_str(), value.expose());
    }
    match &cx.conn.auth {
        Some(HttpAuth::Basic { username, password }) => {
            use base64::Engine as _;
            let pair = format!("{username}:{}", password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header("Authorization", format!("Basic {encoded}"));
        }
        Some(HttpAuth::Bearer { token }) => {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        None => {}
    }
    let mut response = request
        .call()
        .map_err(|e| request_error(cx, &origin, &url, e))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(cx.query_err(format!(
            "GET {origin}… answered {status} (a redirect); redirects are not followed so \
             headers and credentials stay with the configured host: use the final URL"
        )));
    }
    if !status.is_success() {
        let mut start = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(4096)
            .read_to_end(&mut start);
        let text = hide_request(&String::from_utf8_lossy(&start), &url);
        return Err(cx.query_err(format!(
            "GET {origin}… answered HTTP {status}: {}",
            excerpt(text.trim(), ERROR_BODY_CHARS)
        )));
    }
    read_body(cx, &mut response, &origin, &url)
}

/// The body, decoded (gzip is undone by the reader), read only up to the byte budget:
/// the limit counts the bytes we hold, so a small compressed body that inflates to a
/// gigabyte stops at `max_bytes`.
fn read_body(
    cx: &Cx<'_>,
    response: &mut ureq::http::Response<ureq::Body>,
    origin: &str,
    url: &str,
) -> Result<Vec<u8>, SourceError> {
    let limit = u64::try_from(cx.query.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                return cx.timeout();
            }
            cx.connect_err(format!(
                "GET {origin}…: reading the response failed: {}",
                hide_request(&e.to_string(), url)
            ))
        })?;
    if body.len() > cx.query.max_bytes {
        return Err(cx.too_large(format!("the response from {origin} (decoded)")));
    }
    Ok(body)
}

fn request_error(cx: &Cx<'_>, origin: &str, url: &str, e: ureq::Error) -> SourceError {
    use ureq::Timeout;
    match e {
        ureq::Error::Timeout(Timeout::Connect | Timeout::Resolve) => cx.connect_err(format!(
            "connecting to {origin} timed out after {} s",
            super::seconds_rounded_up(cx.conn.connect_timeout)
        )),
        ureq::Error::Timeout(_) => cx.timeout(),
        ureq::Error::HostNotFound => cx.connect_err(format!("host not found: {origin}")),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            cx.connect_err(format!("connection refused by {origin}"))
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => cx.timeout(),
        ureq::Error::Http(_) => cx.connect_err(
            "a configured header name or value is not valid in HTTP (value not shown)",
        ),
        ureq::Error::BadUri(_) => cx.connect_err("the URL is not valid (URL not shown)"),
        e => {
            let detail = hide_request(&e.to_string(), url);
            let what = if detail.contains("certificate") || detail.to_lowercase().contains("tls") {
                "TLS failed"
            } else {
                "request failed"
            };
            cx.connect_err(format!("GET {origin}…: {what}: {detail}"))
        }
    }
}

/// The body is parsed whole (it is capped at `max_bytes`), then each object becomes a row
/// as it is pushed, so the objects and the cells never both exist for every row.
fn parse_json(cx: &Cx<'_>, body: &[u8], sink: &mut dyn RowSink) -> Result<(), SourceError> {
    // Bytes that are not UTF-8 become U+FFFD (a copy only when there are any), as in
    // every other source: readable text rather than a failed sync.
    let text = String::from_utf8_lossy(body);
    let mut doc: Value = serde_json::from_str(&text)
        .map_err(|e| cx.bad_data(format!("the response is not valid JSON: {e}")))?;
    drop(text);
    let pointer = cx.query.json_pointer.as_str();
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(cx.bad_data(format!(
            "json_pointer {pointer:?} must be empty or start with '/' (RFC 6901)"
        )));
    }
    let shown = if pointer.is_empty() {
        "the top level"
    } else {
        pointer
    };
    let found = doc.pointer_mut(pointer).map(Value::take).ok_or_else(|| {
        cx.bad_data(format!(
            "json_pointer {pointer:?}: nothing at that path in the response"
        ))
    })?;
    let Value::Array(items) = found else {
        return Err(cx.bad_data(format!(
            "expected an array of objects at {shown}, found {}",
            kind(&found)
        )));
    };
    cx.check_rows(items.len())?;
    let mut objects: Vec<Map<String, Value>> = Vec::with_capacity(items.len());
    let mut columns: IndexSet<String> = IndexSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(cx.bad_data(format!(
                "element {i} of the array at {shown} is {}, expected an object",
                kind(&item)
            )));
        };
        for key in object.keys() {
            if !columns.contains(key) {
                columns.insert(key.clone());
            }
        }
        objects.push(object);
    }
    // `[]` is an empty result: no columns (nothing names them) and no rows.
    let names: Vec<String> = columns.iter().cloned().collect();
    cx.send_columns(sink, names)?;
    for mut object in objects {
        let row = columns
            .iter()
            .map(|c| object.remove(c).map_or(Cell::Null, json_cell))
            .collect();
        cx.send_row(sink, row)?;
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn json_cell(v: Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Number(n) => number_cell(&n),
        Value::String(s) => Cell::Text(s),
        v @ (Value::Array(_) | Value::Object(_)) => Cell::json(v),
    }
}

fn number_cell(n: &Number) -> Cell {
    let text = n.to_string();
    let integral = !text.contains(['.', 'e', 'E']);
    match n.as_i64() {
        Some(i) if integral => Cell::Int(i),
        _ => Cell::Decimal(plain_decimal(&text)),
    }
}

/// `1.5e3` → `1500`, `-2.50E-2` → `-0.0250`: exact, without exponent. Absurd exponents
/// (beyond ±400) keep the original text rather than printing hundreds of zeros.
fn plain_decimal(text: &str) -> String {
    let Some((mantissa, exp)) = text.split_once(['e', 'E']) else {
        return text.to_string();
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return text.to_string();
    };
    if exp.abs() > 400 {
        return text.to_string();
    }
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let point = int_part.len() as i64 + exp;
    let mut out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    // Leading zeros of the integer part ("0015.0" → "15.0").
    let int_len = out.find('.').unwrap_or(out.len());
    let strip = out
        .get(..int_len.saturating_sub(1))
        .map_or(0, |s| s.len() - s.trim_start_matches('0').len());
    out.drain(..strip);
    if negative && out.chars().any(|c| matches!(c, '1'..='9')) {
        out.insert(0, '-');
    }
    out
}

/// A body with nothing but whitespace is an empty result without columns; a header
/// alone is an empty result with columns. Bytes that are not UTF-8 become U+FFFD.
fn parse_csv(cx: &Cx<'_>, body: &[u8], sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return cx.send_columns(sink, Vec::new());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let columns: Vec<String> = reader
        .byte_headers()
        .map_err(|e| {
            cx.bad_data(format!(
                "the CSV header row is malformed: {}",
                csv_error(&e)
            ))
        })?
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    cx.send_columns(sink, columns)?;
    let mut count = 0;
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| cx.bad_data(format!("malformed CSV: {}", csv_error(&e))))?;
        if !more {
            return Ok(());
        }
        count += 1;
        cx.check_rows(count)?;
        let row = record
            .iter()
            .map(|v| {
                if v.is_empty() {
                    Cell::Null
                } else {
                    Cell::Text(String::from_utf8_lossy(v).into_owned())
                }
            })
            .collect();
        cx.send_row(sink, row)?;
    }
}

/// "line 3: found record with 2 fields, but the previous record has 3 fields".
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields where the header has {expected_len}",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        csv::ErrorKind::Utf8 { pos, .. } => format!(
            "line {}: not valid UTF-8",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        _ => match e.position() {
            Some(pos) => format!("line {}: {e}", pos.line()),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimal_writes_exponents_out() {
        for (input, want) in [
            ("1.5e3", "1500"),
            ("-2.50E-2", "-0.0250"),
            ("12.5", "12.5"),
            ("1e0", "1"),
            ("0.001e2", "0.1"),
            ("123e-1", "12.3"),
            ("1e999", "1e999"),
        ] {
            assert_eq!(plain_decimal(input), want, "{input}");
        }
    }

    #[test]
    fn paths_join_the_base_path_not_its_query() {
        for (base, path, want) in [
            ("https://h/api?key=1", "items", "https://h/api/items?key=1"),
            (
                "https://h/api?key=1",
                "/items?page=2",
                "https://h/api/items?key=1&page=2",
            ),
            (
                "https://h/api/?key=1",
                "/items",
                "https://h/api/items?key=1",
            ),
            ("https://h/api", "?page=2", "https://h/api?page=2"),
            ("https://h/api", "", "https://h/api"),
            ("https://h/api?key=1", "", "https://h/api?key=1"),
            ("https://h", "items", "https://h/items"),
            ("https://h/a#frag", "b", "https://h/a/b#frag"),
        ] {
            assert_eq!(join_url(base, path), want, "{base} + {path}");
        }
    }

    #[test]
    fn echoed_request_parts_are_hidden() {
        let url =
            "https://bob:pa55word@h/v1/hooks/abcdef123456/s3cr%40t-x/items?token=zyx987&page=2";
        let echoed = "no route GET /v1/hooks/abcdef123456/s3cr%40t-x/items?token=zyx987&page=2 \
                      (hook abcdef123456, token zyx987, user bob, pw pa55word, \
                      decoded s3cr@t-x)";
        let out = hide_request(echoed, url);
        for secret in [
            "abcdef123456",
            "zyx987",
            "pa55word",
            "s3cr@t-x",
            "s3cr%40t-x",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.starts_with("no route GET ***"), "{out}");
    }

    #[test]
    fn origin_hides_userinfo_path_and_query() {
        assert_eq!(
            origin("https://u:p@api.example.com:8443/v1/x?token=abc"),
            "https://api.example.com:8443"
        );
        assert_eq!(origin("garbage"), "the configured URL");
    }
}
