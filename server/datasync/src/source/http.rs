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

use super::{Cx, HttpAuth, HttpFormat, SourceError, excerpt};
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

fn url(cx: &Cx<'_>) -> String {
    let base = cx.conn.url.expose();
    match cx.query.path.as_deref().unwrap_or("") {
        "" => base.to_string(),
        path if base.ends_with('/') && path.starts_with('/') => {
            format!("{base}{}", path.trim_start_matches('/'))
        }
        path if !base.ends_with('/') && !path.starts_with(['/', '?']) => format!("{base}/{path}"),
        path => format!("{base}{path}"),
    }
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
    let mut response = request.call().map_err(|e| request_error(cx, &origin, e))?;
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
        let text = String::from_utf8_lossy(&start);
        return Err(cx.query_err(format!(
            "GET {origin}… answered HTTP {status}: {}",
            excerpt(text.trim(), ERROR_BODY_CHARS)
        )));
    }
    // ureq fails a read that *reaches* its limit, so allow one byte more and compare here.
    let limit = u64::try_from(cx.query.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let too_big = || {
        cx.bad_data(format!(
            "the response from {origin} is larger than the {} byte limit (max_bytes)",
            cx.query.max_bytes
        ))
    };
    let body = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => too_big(),
            e => request_error(cx, &origin, e),
        })?;
    if body.len() > cx.query.max_bytes {
        return Err(too_big());
    }
    Ok(body)
}

fn request_error(cx: &Cx<'_>, origin: &str, e: ureq::Error) -> SourceError {
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
            let detail = e.to_string();
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
    let mut doc: Value = serde_json::from_slice(body)
        .map_err(|e| cx.bad_data(format!("the response is not valid JSON: {e}")))?;
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

fn parse_csv(cx: &Cx<'_>, body: &[u8], sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(cx.bad_data("the CSV response is empty (expected a header row)"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| {
            cx.bad_data(format!(
                "the CSV header row is malformed: {}",
                csv_error(&e)
            ))
        })?
        .iter()
        .map(String::from)
        .collect();
    cx.send_columns(sink, columns)?;
    let mut count = 0;
    for record in reader.records() {
        let record =
            record.map_err(|e| cx.bad_data(format!("malformed CSV: {}", csv_error(&e))))?;
        count += 1;
        cx.check_rows(count)?;
        cx.send_row(
            sink,
            record
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        Cell::Null
                    } else {
                        Cell::Text(v.to_string())
                    }
                })
                .collect(),
        )?;
    }
    Ok(())
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
    fn origin_hides_userinfo_path_and_query() {
        assert_eq!(
            origin("https://u:p@api.example.com:8443/v1/x?token=abc"),
            "https://api.example.com:8443"
        );
        assert_eq!(origin("garbage"), "the configured URL");
    }
}
