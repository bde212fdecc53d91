//! PostgreSQL (and wire-compatible servers).
//!
//! Why tokio-postgres on a private current-thread runtime instead of the blocking
//! `postgres` wrapper: one `tokio::time::timeout` then bounds the whole connect (TCP, TLS,
//! startup, authentication); `postgres::Config::connect_timeout` bounds only the TCP
//! connect, so a server that accepts and never speaks would hang a worker forever.
//!
//! Each fetch: connect → `BEGIN READ ONLY` → `SET LOCAL statement_timeout` → prepare (one
//! statement only: the extended protocol refuses `SELECT 1; COMMIT; DELETE …`) → bind a
//! portal and execute it for at most `max_rows + 1` rows (the server never sends more) →
//! decode every value from the binary format by column type. Types without a decoder here
//! (interval, money, ranges, geometric, composite, …) are cast to `text` by wrapping the
//! query, so they arrive as PostgreSQL prints them.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveTime;
use futures_util::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Kind, Type};
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) mod config;

use self::config::{Settings, Verify};
use super::{Budget, Cx, SourceError, float_cell};
use crate::row::{Cell, RowSink};

/// Extra time the client waits beyond `statement_timeout` before giving up itself (a
/// server that ignores `statement_timeout`, or a dead network).
const CLIENT_GRACE: Duration = Duration::from_secs(5);

pub(super) fn fetch(cx: &Cx<'_>, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let sql = cx.sql()?;
    let settings = Settings::parse(cx)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cx.connect_err(format!("starting the PostgreSQL client runtime: {e}")))?;
    runtime.block_on(async {
        let mut client = connect(cx, &settings).await?;
        let cancel = client.cancel_token();
        let limit = cx.query.statement_timeout + CLIENT_GRACE;
        match tokio::time::timeout(limit, read(cx, &mut client, sql, sink)).await {
            Ok(result) => result,
            Err(_) => {
                // The server ignored statement_timeout (or the network died): ask it to
                // stop, best effort, so the query does not run on after we gave up.
                if let Ok(tls) = tls_connector(cx, &settings) {
                    let _ = tokio::time::timeout(cx.conn.connect_timeout, cancel.cancel_query(tls))
                        .await;
                }
                Err(cx.timeout())
            }
        }
    })
}

async fn connect(cx: &Cx<'_>, settings: &Settings) -> Result<Client, SourceError> {
    let tls = tls_connector(cx, settings)?;
    let timeout = cx.conn.connect_timeout;
    let attempt = settings.config.connect(tls);
    let (client, connection) = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(connect_error(cx, &settings.target, &e)),
        Err(_) => {
            return Err(cx.connect_err(format!(
                "connecting to {} timed out after {} s (no answer from the server)",
                settings.target,
                super::seconds_rounded_up(timeout)
            )));
        }
    };
    // The connection future moves the bytes; it ends when the client is dropped.
    tokio::spawn(connection);
    Ok(client)
}

async fn read(
    cx: &Cx<'_>,
    client: &mut Client,
    sql: &str,
    sink: &mut dyn RowSink,
) -> Result<(), SourceError> {
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(|e| query_error(cx, "starting a read-only transaction", &e))?;
    let millis = cx.query.statement_timeout.as_millis().max(1);
    tx.batch_execute(&format!("SET LOCAL statement_timeout = {millis}"))
        .await
        .map_err(|e| query_error(cx, "setting the statement timeout", &e))?;

    let original = tx
        .prepare(sql)
        .await
        .map_err(|e| query_error(cx, "preparing the query", &e))?;
    if !original.params().is_empty() {
        return Err(cx.query_err(
            "the query has parameters ($1, …); sources run queries without parameters",
        ));
    }
    let columns: Vec<String> = original
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    // Before anything runs: `COMMIT`, `SET`, `CALL` … prepare fine but return no columns.
    cx.check_query_columns(&columns)?;
    cx.send_columns(sink, columns.clone())?;
    let statement = match text_cast_query(sql, &original) {
        None => original,
        Some(wrapped) => tx
            .prepare(&wrapped)
            .await
            .map_err(|e| query_error(cx, "preparing the query (with text casts)", &e))?,
    };
    let decoders: Vec<Decoder> = statement
        .columns()
        .iter()
        .map(|c| decoder(c.type_()).unwrap_or(Decoder::Scalar(Scalar::Text)))
        .collect();

    let portal = tx
        .bind(&statement, &[])
        .await
        .map_err(|e| query_error(cx, "running the query", &e))?;
    let fetch_rows = i32::try_from(cx.query.max_rows.saturating_add(1)).unwrap_or(0);
    let stream = tx
        .query_portal_raw(&portal, fetch_rows)
        .await
        .map_err(|e| query_error(cx, "running the query", &e))?;
    let mut stream = std::pin::pin!(stream);
    let mut budget = Budget::new(cx.query);
    let mut count = 0;
    while let Some(row) = stream.next().await {
        let row = row.map_err(|e| query_error(cx, "reading rows", &e))?;
        count += 1;
        cx.check_rows(count)?;
        let mut cells = Vec::with_capacity(decoders.len());
        for (i, decoder) in decoders.iter().enumerate() {
            let Raw(bytes) = row
                .try_get::<_, Raw>(i)
                .map_err(|e| query_error(cx, "reading a value", &e))?;
            // Counted on the received bytes, before a cell is built from them. The driver
            // holds one whole row (PostgreSQL caps a value at 1 GB); the budget stops the
            // read at the first row past it.
            budget.spend(cx, bytes.map_or(0, <[u8]>::len), count)?;
            let cell = match bytes {
                None => Cell::Null,
                Some(bytes) => decoder.decode(bytes).map_err(|why| {
                    cx.bad_data(format!(
                        "row {count}, column {:?}: {why}",
                        columns.get(i).map_or("?", String::as_str)
                    ))
                })?,
            };
            cells.push(cell);
        }
        cx.send_row(sink, cells)?;
    }
    // Nothing was written (read-only), so ending the transaction either way is the same;
    // dropping the client closes the connection.
    let _ = tx.rollback().await;
    Ok(())
}

/// `SELECT q.c1, q.c2::text … FROM (<sql>) AS q(c1, c2, …)` when some column has no
/// binary decoder here. The alias list renames columns by position, so duplicate or odd
/// names in the user's query do not matter; the original names are kept for the result.
fn text_cast_query(sql: &str, statement: &Statement) -> Option<String> {
    let columns = statement.columns();
    if columns.iter().all(|c| decoder(c.type_()).is_some()) {
        return None;
    }
    let mut select = Vec::with_capacity(columns.len());
    let mut aliases = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let alias = format!("c{}", i + 1);
        let expr = match (decoder(column.type_()), column.type_().kind()) {
            (Some(_), _) => format!("datasync_q.{alias}"),
            (None, Kind::Array(_)) => format!("datasync_q.{alias}::text[]"),
            (None, _) => format!("datasync_q.{alias}::text"),
        };
        select.push(expr);
        aliases.push(alias);
    }
    let body = without_tail(sql);
    Some(format!(
        "SELECT {} FROM (\n{body}\n) AS datasync_q({})",
        select.join(", "),
        aliases.join(", ")
    ))
}

/// The query without trailing semicolons, whitespace and comments, so it can sit inside
/// parentheses. Strings, quoted identifiers, dollar quotes and comments are skipped as units
/// (a `;` or `--` inside them does not count). Prepare already accepted the query as one
/// statement, so every `;` outside those is trailing.
fn without_tail(sql: &str) -> &str {
    let b = sql.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let (mut i, mut end) = (0, 0);
    while let Some(c) = at(i) {
        match c {
            b'-' if at(i + 1) == Some(b'-') => {
                while at(i).is_some_and(|c| c != b'\n') {
                    i += 1;
                }
            }
            b'/' if at(i + 1) == Some(b'*') => {
                // PostgreSQL block comments nest.
                let mut depth = 0usize;
                while let Some(c) = at(i) {
                    if c == b'/' && at(i + 1) == Some(b'*') {
                        depth += 1;
                        i += 2;
                    } else if c == b'*' && at(i + 1) == Some(b'/') {
                        depth = depth.saturating_sub(1);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'\'' | b'"' => {
                i += 1;
                while let Some(d) = at(i) {
                    i += 1;
                    if d == c {
                        if at(i) == Some(c) {
                            i += 1; // a doubled quote stays inside
                        } else {
                            break;
                        }
                    }
                }
                end = i;
            }
            b'$' => {
                i = match dollar_tag(b, i) {
                    Some(tag) => sql
                        .get(i + tag.len()..)
                        .and_then(|rest| rest.find(tag))
                        .map_or(b.len(), |p| i + 2 * tag.len() + p),
                    None => i + 1,
                };
                end = i;
            }
            b';' => i += 1,
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                i += 1;
                end = i;
            }
        }
    }
    sql.get(..end).unwrap_or(sql)
}

/// `$tag$` or `$$` starting at `i`, if that is a dollar quote (not a `$1` parameter).
fn dollar_tag(b: &[u8], i: usize) -> Option<&str> {
    let rest = b.get(i + 1..)?;
    let len = rest
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))?;
    if rest.get(len) != Some(&b'$') || rest.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b.get(i..i + len + 2)?).ok()
}

/// A value's raw binary bytes, decoded later by [`Decoder`].
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Char,
    Json,
    Jsonb,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Uuid,
    Bytea,
    Inet { cidr: bool },
    Mac,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Decoder {
    Scalar(Scalar),
    Array(Scalar),
}

fn scalar(ty: &Type) -> Option<Scalar> {
    let s = match *ty {
        Type::BOOL => Scalar::Bool,
        Type::INT2 => Scalar::Int2,
        Type::INT4 => Scalar::Int4,
        Type::INT8 => Scalar::Int8,
        Type::OID => Scalar::Oid,
        Type::FLOAT4 => Scalar::Float4,
        Type::FLOAT8 => Scalar::Float8,
        Type::NUMERIC => Scalar::Numeric,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Scalar::Text,
        Type::CHAR => Scalar::Char,
        Type::JSON => Scalar::Json,
        Type::JSONB => Scalar::Jsonb,
        Type::DATE => Scalar::Date,
        Type::TIME => Scalar::Time,
        Type::TIMESTAMP => Scalar::Timestamp,
        Type::TIMESTAMPTZ => Scalar::TimestampTz,
        Type::UUID => Scalar::Uuid,
        Type::BYTEA => Scalar::Bytea,
        Type::INET => Scalar::Inet { cidr: false },
        Type::CIDR => Scalar::Inet { cidr: true },
        Type::MACADDR | Type::MACADDR8 => Scalar::Mac,
        // Enums and citext send their text as the binary form.
        _ if matches!(ty.kind(), Kind::Enum(_)) || ty.name() == "citext" => Scalar::Text,
        _ => return None,
    };
    Some(s)
}

fn decoder(ty: &Type) -> Option<Decoder> {
    match ty.kind() {
        Kind::Array(element) => scalar(element).map(Decoder::Array),
        _ => scalar(ty).map(Decoder::Scalar),
    }
}

impl Decoder {
    fn decode(self, raw: &[u8]) -> Result<Cell, String> {
        match self {
            Decoder::Scalar(s) => decode_scalar(s, raw),
            Decoder::Array(s) => decode_array(s, raw).map(Cell::json),
        }
    }
}

/// Fixed-width big-endian reads that fail instead of panicking on short input.
fn take<const N: usize>(raw: &[u8], at: usize) -> Result<[u8; N], String> {
    raw.get(at..at + N)
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| format!("value is truncated ({} bytes)", raw.len()))
}

fn exact<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    if raw.len() != N {
        return Err(format!("expected {N} bytes, got {}", raw.len()));
    }
    take::<N>(raw, 0)
}

/// Text as a person reads it: a SQL_ASCII database can hold bytes that are not UTF-8;
/// they become U+FFFD rather than failing the sync or turning the value into base64.
fn utf8(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// A `real` through its shortest round-trip text, so 0.1 stays 0.1 instead of the
/// widened f64 0.10000000149011612.
fn float4(f: f32) -> Cell {
    float_cell(f.to_string().parse().unwrap_or(f64::from(f)))
}

fn decode_scalar(s: Scalar, raw: &[u8]) -> Result<Cell, String> {
    Ok(match s {
        Scalar::Bool => Cell::Bool(exact::<1>(raw)?[0] != 0),
        Scalar::Int2 => Cell::Int(i16::from_be_bytes(exact(raw)?).into()),
        Scalar::Int4 => Cell::Int(i32::from_be_bytes(exact(raw)?).into()),
        Scalar::Int8 => Cell::Int(i64::from_be_bytes(exact(raw)?)),
        Scalar::Oid => Cell::Int(u32::from_be_bytes(exact(raw)?).into()),
        Scalar::Float4 => float4(f32::from_be_bytes(exact(raw)?)),
        Scalar::Float8 => float_cell(f64::from_be_bytes(exact(raw)?)),
        Scalar::Numeric => numeric(raw)?,
        Scalar::Text | Scalar::Char => Cell::Text(utf8(raw)),
        Scalar::Json => Cell::json(json(raw)?),
        Scalar::Jsonb => match raw.split_first() {
            Some((1, rest)) => Cell::json(json(rest)?),
            _ => return Err("unknown jsonb format version".into()),
        },
        Scalar::Date => date(i32::from_be_bytes(exact(raw)?)),
        Scalar::Time => Cell::Time(time_of_day(i64::from_be_bytes(exact(raw)?))?),
        Scalar::Timestamp => timestamp(i64::from_be_bytes(exact(raw)?), false)?,
        Scalar::TimestampTz => timestamp(i64::from_be_bytes(exact(raw)?), true)?,
        Scalar::Uuid => Cell::Text(uuid(&exact::<16>(raw)?)),
        Scalar::Bytea => Cell::Bytes(raw.to_vec()),
        Scalar::Inet { cidr } => Cell::Text(inet(raw, cidr)?),
        Scalar::Mac => Cell::Text(
            raw.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        ),
    })
}

fn json(raw: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(raw).map_err(|e| format!("invalid JSON from the server: {e}"))
}

/// The binary NUMERIC format: ndigits, weight (of the first base-10000 digit), sign,
/// display scale, then the base-10000 digits. Printed exactly, with `dscale` decimals.
fn numeric(raw: &[u8]) -> Result<Cell, String> {
    let ndigits = i16::from_be_bytes(take(raw, 0)?);
    let weight = i16::from_be_bytes(take(raw, 2)?);
    let sign = u16::from_be_bytes(take(raw, 4)?);
    let dscale = u16::from_be_bytes(take(raw, 6)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok(Cell::Text("NaN".into())),
        0xD000 => return Ok(Cell::Text("Infinity".into())),
        0xF000 => return Ok(Cell::Text("-Infinity".into())),
        other => return Err(format!("unknown numeric sign {other:#x}")),
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| "negative numeric digit count")?;
    if raw.len() != 8 + 2 * ndigits || dscale > 0x3FFF {
        return Err("numeric value has an invalid length".into());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let d = i16::from_be_bytes(take(raw, 8 + 2 * i)?);
        if !(0..10000).contains(&d) {
            return Err(format!("numeric digit {d} out of range"));
        }
        digits.push(d);
    }
    let weight = i32::from(weight);
    let digit_at = |group: i32| -> i16 {
        usize::try_from(group)
            .ok()
            .and_then(|g| digits.get(g).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 && digits.iter().any(|&d| d != 0) {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit_at(0).to_string());
        for group in 1..=weight {
            out.push_str(&format!("{:04}", digit_at(group)));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::new();
        let mut group = weight + 1;
        while fraction.len() < usize::from(dscale) {
            fraction.push_str(&format!("{:04}", digit_at(group)));
            group += 1;
        }
        fraction.truncate(usize::from(dscale));
        out.push_str(&fraction);
    }
    Ok(Cell::Decimal(out))
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const EPOCH_2000_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Year, month, day of a day count from 1970-01-01 (proleptic Gregorian, astronomical
/// years: 0 is 1 BC). Howard Hinnant's `civil_from_days`, exact for every i64 day count
/// PostgreSQL can send (chrono stops at year 262143; PostgreSQL goes to 5874897).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A calendar date as PostgreSQL prints it, and whether it fits ISO-8601's four-digit
/// years (1–9999): only then is it a `Date`/`Timestamp` cell; `10000-01-01` and
/// `0044-03-15 BC` stay PostgreSQL's text, so no later stage misreads them.
struct Day {
    text: String,
    bc: bool,
    iso: bool,
}

fn day(days_since_2000: i64) -> Day {
    let (year, month, day) = civil_from_days(days_since_2000 + EPOCH_2000_DAYS);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    Day {
        text: format!("{shown:04}-{month:02}-{day:02}"),
        bc,
        iso: (1..=9999).contains(&year),
    }
}

fn date(days: i32) -> Cell {
    match days {
        i32::MAX => Cell::Text("infinity".into()),
        i32::MIN => Cell::Text("-infinity".into()),
        _ => {
            let d = day(days.into());
            match (d.iso, d.bc) {
                (true, _) => Cell::Date(d.text),
                (false, false) => Cell::Text(d.text),
                (false, true) => Cell::Text(format!("{} BC", d.text)),
            }
        }
    }
}

fn time_of_day(micros: i64) -> Result<String, String> {
    if micros == 86_400_000_000 {
        return Ok("24:00:00".into());
    }
    let secs = u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| "time out of range")?;
    let frac = micros.rem_euclid(1_000_000);
    let t = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).ok_or("time out of range")?;
    Ok(format!("{}{}", t.format("%H:%M:%S"), fraction(frac)))
}

/// `.5`, `.123456`, or nothing: PostgreSQL's own way of printing fractional seconds.
fn fraction(micros: i64) -> String {
    if micros == 0 {
        return String::new();
    }
    let digits = format!("{micros:06}");
    format!(".{}", digits.trim_end_matches('0'))
}

fn timestamp(micros: i64, utc: bool) -> Result<Cell, String> {
    match micros {
        i64::MAX => return Ok(Cell::Text("infinity".into())),
        i64::MIN => return Ok(Cell::Text("-infinity".into())),
        _ => {}
    }
    let d = day(micros.div_euclid(MICROS_PER_DAY));
    let clock = time_of_day(micros.rem_euclid(MICROS_PER_DAY))?;
    Ok(match (d.iso, utc) {
        (true, true) => Cell::Timestamp(format!("{}T{clock}Z", d.text)),
        (true, false) => Cell::Timestamp(format!("{}T{clock}", d.text)),
        // PostgreSQL's own text (DateStyle ISO, TimeZone UTC).
        (false, _) => {
            let zone = if utc { "+00" } else { "" };
            let era = if d.bc { " BC" } else { "" };
            Cell::Text(format!("{} {clock}{zone}{era}", d.text))
        }
    })
}

fn uuid(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_string();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

fn inet(raw: &[u8], cidr: bool) -> Result<String, String> {
    let [family, bits, _is_cidr, len] = take::<4>(raw, 0)?;
    let addr = raw.get(4..).unwrap_or_default();
    if addr.len() != usize::from(len) {
        return Err("inet value has an invalid length".into());
    }
    let (text, max_bits) = match family {
        2 => {
            let b: [u8; 4] = addr.try_into().map_err(|_| "bad IPv4 address")?;
            (std::net::Ipv4Addr::from(b).to_string(), 32)
        }
        3 => {
            let b: [u8; 16] = addr.try_into().map_err(|_| "bad IPv6 address")?;
            (std::net::Ipv6Addr::from(b).to_string(), 128)
        }
        other => return Err(format!("unknown inet family {other}")),
    };
    Ok(if cidr || bits != max_bits {
        format!("{text}/{bits}")
    } else {
        text
    })
}

/// Arrays become JSON arrays (nested for several dimensions), elements mapped like columns.
fn decode_array(element: Scalar, raw: &[u8]) -> Result<Value, String> {
    let ndim = i32::from_be_bytes(take(raw, 0)?);
    // Bytes 4..8: has-nulls flag; 8..12: element type OID (known from the column type).
    if ndim == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    let ndim = usize::try_from(ndim)
        .ok()
        .filter(|n| *n <= 6)
        .ok_or("array has an invalid number of dimensions")?;
    let mut dims = Vec::with_capacity(ndim);
    for d in 0..ndim {
        let len = i32::from_be_bytes(take(raw, 12 + 8 * d)?);
        dims.push(usize::try_from(len).map_err(|_| "negative array dimension")?);
    }
    let mut at = 12 + 8 * ndim;
    let total = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .filter(|t| *t <= raw.len() / 4 + 1)
        .ok_or("array dimensions do not match its length")?;
    let mut elements = Vec::with_capacity(total);
    for _ in 0..total {
        let len = i32::from_be_bytes(take(raw, at)?);
        at += 4;
        if len < 0 {
            elements.push(Value::Null);
            continue;
        }
        let len = usize::try_from(len).map_err(|_| "bad element length")?;
        let bytes = raw.get(at..at + len).ok_or("array element is truncated")?;
        at += len;
        elements.push(super::cell_to_json(decode_scalar(element, bytes)?));
    }
    Ok(nest(&dims, &mut elements.into_iter()))
}

fn nest(dims: &[usize], elements: &mut impl Iterator<Item = Value>) -> Value {
    match dims.split_first() {
        None => elements.next().unwrap_or(Value::Null),
        Some((&n, [])) => Value::Array(elements.take(n).collect()),
        Some((&n, rest)) => Value::Array((0..n).map(|_| nest(rest, elements)).collect()),
    }
}

fn connect_error(cx: &Cx<'_>, target: &str, e: &tokio_postgres::Error) -> SourceError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let what = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            "authentication failed"
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            "the database does not exist"
        } else {
            "the server refused the connection"
        };
        return cx.connect_err(format!("{what} at {target}: {}", db.message()));
    }
    let detail = error_chain(e);
    let what = if detail.contains("refused") {
        "connection refused"
    } else if detail.contains("lookup address") {
        "host not found"
    } else if detail.contains("certificate") || detail.contains("TLS") || detail.contains("tls") {
        "TLS failed"
    } else if detail.contains("timed out") || detail.contains("timeout") {
        "connecting timed out"
    } else {
        "cannot connect"
    };
    cx.connect_err(format!("{what} ({target}): {detail}"))
}

fn query_error(cx: &Cx<'_>, doing: &str, e: &tokio_postgres::Error) -> SourceError {
    let Some(db) = e.as_db_error() else {
        if e.is_closed() {
            return cx.query_err(format!("{doing}: the server closed the connection"));
        }
        return cx.query_err(format!("{doing}: {}", error_chain(e)));
    };
    if *db.code() == SqlState::QUERY_CANCELED {
        return cx.timeout();
    }
    let mut message = format!("{doing}: {} (SQLSTATE {})", db.message(), db.code().code());
    if *db.code() == SqlState::READ_ONLY_SQL_TRANSACTION {
        message = format!(
            "the query tried to write, but sources run in a read-only transaction: {}",
            db.message()
        );
    }
    if let Some(detail) = db.detail() {
        message.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        message.push_str(&format!("; hint: {hint}"));
    }
    if let Some(tokio_postgres::error::ErrorPosition::Original(pos)) = db.position() {
        message.push_str(&format!("; at character {pos}"));
    }
    cx.query_err(message)
}

/// An error and its causes, `a: b: c`, for errors that wrap io or TLS errors.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

fn tls_connector(cx: &Cx<'_>, settings: &Settings) -> Result<MakeRustlsConnect, SourceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match settings.verify {
        Verify::None => Arc::new(NoVerify(Arc::clone(&provider))),
        Verify::Chain | Verify::Full => {
            let roots = root_store(cx, settings.root_cert.as_deref())?;
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| cx.connect_err(format!("building the TLS verifier: {e}")))?;
            Arc::new(WebPki {
                inner,
                check_name: settings.verify == Verify::Full,
            })
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cx.connect_err(format!("configuring TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(cx: &Cx<'_>, path: Option<&str>) -> Result<rustls::RootCertStore, SourceError> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = path else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cx.connect_err(format!("reading sslrootcert {path:?}: {e}")))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(cx.connect_err(format!("sslrootcert {path:?} holds no usable certificate")));
    }
    Ok(roots)
}

/// libpq's `sslmode=require`: encrypt, but accept any certificate. Handshake signatures are
/// still checked, so the session key really belongs to whoever holds the certificate.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// WebPKI verification; for `verify-ca` a name mismatch alone is accepted.
#[derive(Debug)]
struct WebPki {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for WebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_decodes_exactly() {
        let cases = [
            (numeric_bytes(1, 0, 2, &[12, 3456, 7800]), "123456.78"),
            (numeric_bytes(-1, 0x4000, 5, &[12]), "-0.00120"),
            (numeric_bytes(0, 0, 0, &[]), "0"),
            (numeric_bytes(0, 0, 3, &[]), "0.000"),
            (numeric_bytes(2, 0, 0, &[1]), "100000000"),
            (numeric_bytes(-2, 0, 10, &[1]), "0.0000000100"),
        ];
        for (bytes, want) in cases {
            assert_eq!(numeric(&bytes), Ok(Cell::Decimal(want.into())));
        }
        assert_eq!(
            numeric(&numeric_bytes(0, 0xC000, 0, &[])),
            Ok(Cell::Text("NaN".into()))
        );
        assert!(numeric(&[0, 1]).is_err());
        assert!(numeric(&numeric_bytes(0, 0, 0, &[12000])).is_err());
    }

    #[test]
    fn query_tails_are_cut_without_touching_strings() {
        for (sql, want) in [
            ("SELECT 1", "SELECT 1"),
            ("SELECT 1;  ", "SELECT 1"),
            ("SELECT 1; -- done;\n", "SELECT 1"),
            ("SELECT 1 /* a /* nested */ c */ ;;", "SELECT 1"),
            ("SELECT ';--' AS x -- c", "SELECT ';--' AS x"),
            ("SELECT $q$ ; -- $q$ AS y;", "SELECT $q$ ; -- $q$ AS y"),
            ("SELECT $$it's$$", "SELECT $$it's$$"),
            ("SELECT \"a;b\" FROM t", "SELECT \"a;b\" FROM t"),
            ("SELECT 'it''s'; /* end", "SELECT 'it''s'"),
            ("SELECT 'unterminated", "SELECT 'unterminated"),
            ("SELECT '👋' -- 注释", "SELECT '👋'"),
            ("SELECT 1 AS é", "SELECT 1 AS é"),
            ("SELECT $1", "SELECT $1"),
            ("", ""),
        ] {
            assert_eq!(without_tail(sql), want, "{sql}");
        }
    }

    #[test]
    fn times_print_like_postgres() {
        assert_eq!(time_of_day(34_200_500_000).as_deref(), Ok("09:30:00.5"));
        assert_eq!(
            timestamp(0, true),
            Ok(Cell::Timestamp("2000-01-01T00:00:00Z".into()))
        );
        assert_eq!(date(-1), Cell::Date("1999-12-31".into()));
        assert_eq!(date(i32::MAX), Cell::Text("infinity".into()));
        // Beyond four-digit years: PostgreSQL's text, not chrono's `+10000`.
        assert_eq!(date(2_921_940), Cell::Text("10000-01-01".into()));
        assert_eq!(date(-729_755), Cell::Date("0001-12-31".into()));
        assert_eq!(date(-730_120), Cell::Text("0001-12-31 BC".into()));
        // The largest timestamp PostgreSQL accepts, past chrono's range.
        assert_eq!(
            timestamp(9_223_371_331_199_999_999, true),
            Ok(Cell::Text("294276-12-31 23:59:59.999999+00".into()))
        );
        assert_eq!(
            timestamp(-63_082_285_200_000_000, false),
            Ok(Cell::Text("0001-12-31 23:00:00 BC".into()))
        );
    }

    /// Random bytes through every decoder: errors are fine, panics are not.
    #[test]
    fn decoders_never_panic_on_random_bytes() {
        let scalars = [
            Scalar::Bool,
            Scalar::Int2,
            Scalar::Int4,
            Scalar::Int8,
            Scalar::Oid,
            Scalar::Float4,
            Scalar::Float8,
            Scalar::Numeric,
            Scalar::Text,
            Scalar::Char,
            Scalar::Json,
            Scalar::Jsonb,
            Scalar::Date,
            Scalar::Time,
            Scalar::Timestamp,
            Scalar::TimestampTz,
            Scalar::Uuid,
            Scalar::Bytea,
            Scalar::Inet { cidr: false },
            Scalar::Mac,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Plausible array headers now and then, so element decoding is reached too.
            if len >= 20 && next() % 2 == 0 {
                raw[..4].copy_from_slice(&1i32.to_be_bytes());
                raw[12..16].copy_from_slice(&((next() % 4) as i32).to_be_bytes());
            }
            for s in scalars {
                let _ = Decoder::Scalar(s).decode(&raw);
                let _ = Decoder::Array(s).decode(&raw);
            }
        }
    }

    #[test]
    fn arrays_reject_garbage_without_panicking() {
        for raw in [
            &[][..],
            &[0, 0, 0, 1],
            &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 127, 0, 0, 0],
        ] {
            assert!(decode_array(Scalar::Int4, raw).is_err());
        }
    }
}
