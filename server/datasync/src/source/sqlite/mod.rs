//! SQLite files, opened read-only.
//!
//! Read-only three times over: the file is opened with `SQLITE_OPEN_READ_ONLY` (so
//! attached databases are read-only too), `PRAGMA query_only` refuses any write statement,
//! and a prepared statement runs only if it returns columns and SQLite calls it read-only
//! (`sqlite3_stmt_readonly`), checked before the first step: `VACUUM INTO` would create
//! its output file while starting, before any read-only check inside SQLite fails.
//!
//! Byte budget: `SQLITE_LIMIT_LENGTH` is set to `max_bytes`, so SQLite itself refuses to
//! build a larger value (`randomblob(1000000000)` fails without allocating it), and the
//! values read are counted against `max_bytes` as they arrive.
//!
//! Text that is not valid UTF-8 (SQLite does not check) becomes text with U+FFFD in place
//! of the bad bytes: it is what a person reads, and base64 is not.
//! The statement timeout is a watchdog thread that calls `sqlite3_interrupt`; the
//! connect timeout becomes the busy timeout (waiting for a writer's lock).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};

pub(crate) mod config;

use super::{Budget, Cx, SCALAR_BYTES, SourceError};
use crate::row::{Cell, RowSink};

pub(super) fn fetch(cx: &Cx<'_>, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let sql = cx.sql()?;
    let db = open(cx)?;
    let watchdog = Watchdog::start(&db, cx.query.statement_timeout);
    let result = run(cx, &db, sql, sink);
    let timed_out = watchdog.stop();
    match result {
        Err(_) if timed_out => Err(cx.timeout()),
        other => other,
    }
}

fn open(cx: &Cx<'_>) -> Result<Connection, SourceError> {
    let url = cx.conn.url.expose();
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() {
        return Err(cx.connect_err("no SQLite file path configured"));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags).map_err(|e| {
        cx.connect_err(format!(
            "opening the SQLite file read-only failed (does it exist and is it readable?): {e}"
        ))
    })?;
    // The limit also bounds the SQL text, so it is never below the query's length.
    let length_limit = cx
        .query
        .max_bytes
        .max(cx.query.sql.as_deref().map_or(0, str::len) + 1);
    db.busy_timeout(cx.conn.connect_timeout)
        .and_then(|()| db.pragma_update(None, "query_only", true))
        .and_then(|()| {
            let limit = i32::try_from(length_limit).unwrap_or(i32::MAX);
            db.set_limit(Limit::SQLITE_LIMIT_LENGTH, limit).map(drop)
        })
        .map_err(|e| cx.connect_err(format!("preparing the SQLite connection: {e}")))?;
    // Opening is lazy: reading the schema is what finds out the file is not a database.
    db.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| cx.connect_err(format!("reading the SQLite file: {e}")))?;
    Ok(db)
}

fn run(cx: &Cx<'_>, db: &Connection, sql: &str, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    let mut stmt = db.prepare(sql).map_err(|e| query_error(cx, e))?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    cx.check_query_columns(&columns)?;
    if !stmt.readonly() {
        return Err(cx.query_err(
            "the query would write (SQLite says the statement is not read-only), but \
             sources are read-only",
        ));
    }
    let width = columns.len();
    cx.send_columns(sink, columns)?;
    let mut budget = Budget::new(cx.query);
    let mut count = 0;
    let mut rows = stmt.query([]).map_err(|e| query_error(cx, e))?;
    while let Some(row) = rows.next().map_err(|e| query_error(cx, e))? {
        count += 1;
        cx.check_rows(count)?;
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            let value = row.get_ref(i).map_err(|e| query_error(cx, e))?;
            budget.spend(cx, value_bytes(value), count)?;
            cells.push(cell(value));
        }
        cx.send_row(sink, cells)?;
    }
    Ok(())
}

/// What a value counts against the byte budget.
fn value_bytes(value: ValueRef<'_>) -> usize {
    match value {
        ValueRef::Null => 0,
        ValueRef::Integer(_) | ValueRef::Real(_) => SCALAR_BYTES,
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.len(),
    }
}

fn cell(value: ValueRef<'_>) -> Cell {
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => super::float_cell(f),
        // SQLite does not check encodings: bad bytes become U+FFFD, the rest stays readable.
        ValueRef::Text(bytes) => Cell::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Cell::Bytes(bytes.to_vec()),
    }
}

fn query_error(cx: &Cx<'_>, e: rusqlite::Error) -> SourceError {
    if e.sqlite_error_code() == Some(ErrorCode::TooBig) {
        return cx.too_large("a value of the result");
    }
    let read_only = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::AuthorizationForStatementDenied)
    ) || e.to_string().contains("query_only");
    if read_only {
        return cx.query_err(format!(
            "the query tried to write, but sources are read-only: {e}"
        ));
    }
    match e {
        rusqlite::Error::MultipleStatement => {
            cx.query_err("the query holds more than one statement; give exactly one")
        }
        rusqlite::Error::InvalidParameterCount(..) => cx.query_err(
            "the query has parameters (?, :name); sources run queries without parameters",
        ),
        e => cx.query_err(format!("SQLite: {e}")),
    }
}

/// Interrupts the connection when the statement timeout passes.
struct Watchdog {
    stop: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(db: &Connection, timeout: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let handle = db.get_interrupt_handle();
        let flag = Arc::clone(&fired);
        let thread = std::thread::Builder::new()
            .name("datasync-sqlite-timeout".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
                    flag.store(true, Ordering::SeqCst);
                    handle.interrupt();
                }
            })
            .ok();
        Watchdog {
            stop,
            fired,
            thread,
        }
    }

    /// Stops the watchdog; true when it had fired.
    fn stop(mut self) -> bool {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.fired.load(Ordering::SeqCst)
    }
}
