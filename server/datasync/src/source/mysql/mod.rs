//! MySQL and MariaDB.
//!
//! Each fetch: connect (on a helper thread, so `connect_timeout` also bounds a server that
//! accepts and never speaks) → session in UTC, utf8mb4, `sql_select_limit = max_rows + 1`,
//! the statement timeout (`max_execution_time` in ms on MySQL, `max_statement_time` in
//! seconds on MariaDB) → `SET SESSION TRANSACTION READ ONLY` + `START TRANSACTION READ
//! ONLY` → the query as a prepared statement (binary protocol: typed values, and exactly
//! one statement, so `SELECT 1; SET SESSION TRANSACTION READ WRITE; …` cannot run).
//!
//! A read-only transaction alone does not hold on MariaDB: a stored procedure may
//! `COMMIT`, switch the session to `READ WRITE` and write. So the statement is checked
//! before it runs: it must start with a reading keyword (`SELECT`, `WITH`, `VALUES`,
//! `TABLE`, `SHOW`, `DESCRIBE`, `EXPLAIN`, or `(`; not `CALL`, not an executable
//! `/*! … */` comment) and its prepared form must have result columns (`CALL`,
//! `SELECT … INTO OUTFILE`/`@var`, `SET`, `COMMIT` have none). Stored *functions* called
//! from a SELECT cannot commit, so the read-only transaction holds for them.
//!
//! Byte budget: the client's `max_allowed_packet` is the budget plus a little, so a row
//! larger than the budget is refused as it arrives, and values are counted as read.
//! `BIT(n)` is a number (`b'101'` is 5), as MySQL's own client shows it with `+0`; text
//! that is not valid UTF-8 becomes text with U+FFFD.
//!
//! TLS: besides the `mysql` crate's own URL parameters (`root_cert_path`, …) the URL may
//! say `ssl-mode=` (or `sslmode=`) `disabled|required|verify_ca|verify_identity` (also the
//! PostgreSQL spellings `disable|require|verify-ca|verify-full`) and `sslrootcert=<pem>`.

use std::sync::mpsc;

use mysql::consts::{ColumnFlags, ColumnType};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, Value};

pub(crate) mod config;

use self::config::options;
use super::{Budget, Cx, SCALAR_BYTES, SourceError};
use crate::row::{Cell, RowSink};

/// Character set number of binary strings (BLOB, BINARY, VARBINARY).
const BINARY_CHARSET: u16 = 63;

pub(super) fn fetch(cx: &Cx<'_>, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let sql = cx.sql()?;
    let (opts, target) = options(cx)?;
    let mut conn = connect(cx, opts, &target)?;
    prepare_session(cx, &mut conn)?;
    let result = read(cx, &mut conn, sql, sink);
    let _ = conn.query_drop("ROLLBACK");
    result
}

/// Connects on a helper thread: the handshake's reads are bounded only by the socket read
/// timeout (which must cover long queries), so the connect timeout is enforced here.
fn connect(cx: &Cx<'_>, opts: Opts, target: &str) -> Result<Conn, SourceError> {
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .name("datasync-mysql-connect".into())
        .spawn(move || {
            let _ = send.send(Conn::new(opts));
        })
        .map_err(|e| cx.connect_err(format!("starting the connect thread: {e}")))?;
    match receive.recv_timeout(cx.conn.connect_timeout) {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_error(cx, target, e)),
        Err(_) => Err(cx.connect_err(format!(
            "connecting to {target} timed out after {} s (no answer from the server)",
            super::seconds_rounded_up(cx.conn.connect_timeout)
        ))),
    }
}

fn prepare_session(cx: &Cx<'_>, conn: &mut Conn) -> Result<(), SourceError> {
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .map_err(|e| query_error(cx, "reading the server version", e))?;
    let mariadb = version.is_some_and(|v| v.contains("MariaDB"));
    let timeout = cx.query.statement_timeout;
    let limit = u64::try_from(cx.query.max_rows)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let timeout_setting = if mariadb {
        format!(
            "SET SESSION max_statement_time = {:.3}",
            timeout.as_secs_f64()
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            timeout.as_millis().max(1)
        )
    };
    for statement in [
        "SET NAMES utf8mb4".to_string(),
        // TIMESTAMP values are then UTC and reported with `Z`.
        "SET SESSION time_zone = '+00:00'".to_string(),
        format!("SET SESSION sql_select_limit = {limit}"),
        timeout_setting,
        "SET SESSION TRANSACTION READ ONLY".to_string(),
        "START TRANSACTION READ ONLY".to_string(),
    ] {
        conn.query_drop(&statement)
            .map_err(|e| query_error(cx, "preparing the read-only session", e))?;
    }
    Ok(())
}

fn read(
    cx: &Cx<'_>,
    conn: &mut Conn,
    sql: &str,
    sink: &mut dyn RowSink,
) -> Result<(), SourceError> {
    check_statement(cx, sql)?;
    let statement = conn
        .prep(sql)
        .map_err(|e| query_error(cx, "preparing the query", e))?;
    let columns: Vec<mysql::Column> = statement.columns().to_vec();
    let names: Vec<String> = columns.iter().map(|c| c.name_str().into_owned()).collect();
    cx.check_query_columns(&names)?;
    let mut result = conn
        .exec_iter(&statement, ())
        .map_err(|e| query_error(cx, "running the query", e))?;
    cx.send_columns(sink, names)?;
    let mut budget = Budget::new(cx.query);
    let mut count = 0;
    for row in result.by_ref() {
        let row = row.map_err(|e| query_error(cx, "reading rows", e))?;
        count += 1;
        cx.check_rows(count)?;
        let values = row.unwrap_raw();
        let bytes = values.iter().flatten().map(value_bytes).sum();
        budget.spend(cx, bytes, count)?;
        let cells = values
            .into_iter()
            .zip(&columns)
            .map(|(value, column)| cell(value.unwrap_or(Value::NULL), column))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|why| cx.bad_data(format!("row {count}: {why}")))?;
        cx.send_row(sink, cells)?;
    }
    Ok(())
}

/// Statements a source may run: those that read. Checked on the first keyword after
/// comments; an executable comment (`/*! … */`, `/*M! … */`) is never skipped, since the
/// server runs what is inside it.
const READING_KEYWORDS: &[&str] = &[
    "select", "with", "values", "table", "show", "describe", "desc", "explain",
];

fn check_statement(cx: &Cx<'_>, sql: &str) -> Result<(), SourceError> {
    let start = skip_comments(sql);
    if start.starts_with('(') {
        return Ok(());
    }
    let word: String = start
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    if READING_KEYWORDS.contains(&word.as_str()) {
        return Ok(());
    }
    let shown = if word.is_empty() {
        super::excerpt(start, 12)
    } else {
        word.to_ascii_uppercase()
    };
    Err(cx.query_err(format!(
        "not a query: the statement starts with {shown:?}; sources run one SELECT (or \
         WITH, VALUES, TABLE, SHOW, DESCRIBE, EXPLAIN), never CALL or other statements"
    )))
}

/// `sql` after leading whitespace and comments (`-- `, `#`, `/* */`, not `/*!` or `/*M!`).
/// Anything this does not recognise stays, and is then refused as not a reading keyword.
fn skip_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        let next = if rest.starts_with("/*!") || rest.starts_with("/*M!") {
            return rest;
        } else if let Some(after) = rest.strip_prefix("/*") {
            after.find("*/").map_or("", |end| &after[end + 2..])
        } else if rest
            .strip_prefix("--")
            .is_some_and(|r| r.is_empty() || r.starts_with(char::is_whitespace))
        {
            rest.find('\n').map_or("", |end| &rest[end + 1..])
        } else if rest.starts_with('#') {
            rest.find('\n').map_or("", |end| &rest[end + 1..])
        } else {
            return rest;
        };
        rest = next.trim_start();
    }
}

/// What a value counts against the byte budget.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::NULL => 0,
        Value::Bytes(bytes) => bytes.len(),
        _ => SCALAR_BYTES,
    }
}

fn cell(value: Value, column: &mysql::Column) -> Result<Cell, String> {
    let ty = column.column_type();
    Ok(match value {
        Value::NULL => Cell::Null,
        Value::Int(i) => Cell::Int(i),
        Value::UInt(u) => match i64::try_from(u) {
            Ok(i) => Cell::Int(i),
            Err(_) => Cell::Decimal(u.to_string()),
        },
        // Through its shortest text, so FLOAT 0.1 stays 0.1 rather than 0.100000001….
        Value::Float(f) => super::float_cell(f.to_string().parse().unwrap_or(f.into())),
        Value::Double(d) => super::float_cell(d),
        Value::Date(y, mo, d, h, mi, s, us) => date_cell(ty, (y, mo, d), (h, mi, s, us)),
        Value::Time(negative, days, h, mi, s, us) => {
            let frac = fraction(us);
            if !negative && days == 0 {
                Cell::Time(format!("{h:02}:{mi:02}:{s:02}{frac}"))
            } else {
                // TIME is also a duration in MySQL (-838:59:59 … 838:59:59): keep its text.
                let hours = u64::from(days) * 24 + u64::from(h);
                let sign = if negative { "-" } else { "" };
                Cell::Text(format!("{sign}{hours:02}:{mi:02}:{s:02}{frac}"))
            }
        }
        Value::Bytes(bytes) => bytes_cell(ty, column, bytes)?,
    })
}

fn date_cell(ty: ColumnType, (y, mo, d): (u16, u8, u8), (h, mi, s, us): (u8, u8, u8, u32)) -> Cell {
    let date = format!("{y:04}-{mo:02}-{d:02}");
    if mo == 0 || d == 0 {
        // Zero dates (0000-00-00) are not dates: keep MySQL's text.
        return Cell::Text(if ty == ColumnType::MYSQL_TYPE_DATE {
            date
        } else {
            format!("{date} {h:02}:{mi:02}:{s:02}")
        });
    }
    match ty {
        ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => Cell::Date(date),
        ColumnType::MYSQL_TYPE_TIMESTAMP | ColumnType::MYSQL_TYPE_TIMESTAMP2 => {
            Cell::Timestamp(format!("{date}T{h:02}:{mi:02}:{s:02}{}Z", fraction(us)))
        }
        _ => Cell::Timestamp(format!("{date}T{h:02}:{mi:02}:{s:02}{}", fraction(us))),
    }
}

fn fraction(micros: u32) -> String {
    if micros == 0 {
        return String::new();
    }
    let digits = format!("{micros:06}");
    format!(".{}", digits.trim_end_matches('0'))
}

fn bytes_cell(ty: ColumnType, column: &mysql::Column, bytes: Vec<u8>) -> Result<Cell, String> {
    use ColumnType::*;
    let text = || String::from_utf8(bytes.clone());
    Ok(match ty {
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
            Cell::Decimal(text().map_err(|_| "DECIMAL value is not text")?)
        }
        MYSQL_TYPE_JSON => {
            Cell::json(serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))?)
        }
        MYSQL_TYPE_BIT => bit_cell(&bytes),
        MYSQL_TYPE_GEOMETRY => Cell::Bytes(bytes),
        _ if column.character_set() == BINARY_CHARSET
            && !column.flags().contains(ColumnFlags::NUM_FLAG) =>
        {
            Cell::Bytes(bytes)
        }
        // Numbers and dates sent as text (rare in the binary protocol) keep their text;
        // bytes that are not UTF-8 in a text column become U+FFFD.
        _ => Cell::Text(String::from_utf8_lossy(&bytes).into_owned()),
    })
}

/// `BIT(n)` (n ≤ 64) arrives as big-endian bytes; it is a number to the people reading it.
fn bit_cell(bytes: &[u8]) -> Cell {
    if bytes.len() > 8 {
        return Cell::Bytes(bytes.to_vec());
    }
    let value = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    match i64::try_from(value) {
        Ok(i) => Cell::Int(i),
        Err(_) => Cell::Decimal(value.to_string()),
    }
}

fn connect_error(cx: &Cx<'_>, target: &str, e: mysql::Error) -> SourceError {
    match e {
        mysql::Error::MySqlError(db) => {
            let what = match db.code {
                1045 | 1044 | 1698 => "authentication failed",
                1049 => "the database does not exist",
                1040 | 1203 => "the server has too many connections",
                _ => "the server refused the connection",
            };
            cx.connect_err(format!(
                "{what} at {target}: {} (error {})",
                db.message, db.code
            ))
        }
        mysql::Error::IoError(io) => {
            let what = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused",
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    "connecting timed out"
                }
                _ => "cannot connect",
            };
            cx.connect_err(format!("{what} ({target}): {io}"))
        }
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((_, desc, kind)))) => {
            let what = match kind {
                std::io::ErrorKind::ConnectionRefused => "connection refused",
                std::io::ErrorKind::TimedOut => "connecting timed out",
                _ if desc.contains("lookup") => "host not found",
                _ => "cannot connect",
            };
            cx.connect_err(format!("{what} ({target}): {desc}"))
        }
        mysql::Error::TlsError(tls) => cx.connect_err(format!("TLS failed ({target}): {tls}")),
        mysql::Error::UrlError(url) => {
            cx.connect_err(format!("the connection URL is not valid: {url}"))
        }
        other => {
            let detail = other.to_string();
            let what = if detail.contains("certificate") || detail.to_lowercase().contains("tls") {
                "TLS failed"
            } else {
                "cannot connect"
            };
            cx.connect_err(format!("{what} ({target}): {detail}"))
        }
    }
}

fn query_error(cx: &Cx<'_>, doing: &str, e: mysql::Error) -> SourceError {
    match e {
        // The codec's error type is not re-exported by `mysql`; its text names the limit.
        mysql::Error::CodecError(codec) if codec.to_string().contains("max_allowed_packet") => {
            cx.too_large("a row of the result")
        }
        mysql::Error::DriverError(mysql::DriverError::PacketTooLarge) => {
            cx.too_large("a row of the result")
        }
        mysql::Error::MySqlError(db) => match db.code {
            // MySQL's max_execution_time, MariaDB's max_statement_time, interrupted query.
            3024 | 1969 | 1317 => cx.timeout(),
            1792 | 1290 => cx.query_err(format!(
                "the query tried to write, but sources run in a read-only transaction: {} (error {})",
                db.message, db.code
            )),
            1295 => cx.query_err(format!(
                "{doing}: this statement cannot run as a prepared statement: {}",
                db.message
            )),
            _ => cx.query_err(format!("{doing}: {} (error {}, SQLSTATE {})", db.message, db.code, db.state)),
        },
        mysql::Error::IoError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            cx.timeout()
        }
        mysql::Error::DriverError(mysql::DriverError::MismatchedStmtParams(expected, _)) => {
            cx.query_err(format!(
                "the query has {expected} parameter(s) (?); sources run queries without parameters"
            ))
        }
        other => cx.query_err(format!("{doing}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_skipped_but_executable_comments_are_not() {
        for (sql, rest) in [
            ("  SELECT 1", "SELECT 1"),
            ("-- note\nSELECT 1", "SELECT 1"),
            ("--\nSELECT 1", "SELECT 1"),
            ("# note\n /* a */ SELECT 1", "SELECT 1"),
            ("/*! CALL p() */", "/*! CALL p() */"),
            ("/*M!100000 CALL p() */", "/*M!100000 CALL p() */"),
            ("--CALL p()", "--CALL p()"),
            ("/* unterminated", ""),
        ] {
            assert_eq!(skip_comments(sql), rest, "{sql:?}");
        }
    }

    #[test]
    fn bit_values_are_numbers() {
        assert_eq!(bit_cell(&[0x0a, 0xaa]), Cell::Int(0x0aaa));
        assert_eq!(bit_cell(&[]), Cell::Int(0));
        assert_eq!(
            bit_cell(&[0xff; 8]),
            Cell::Decimal("18446744073709551615".into())
        );
    }
}
