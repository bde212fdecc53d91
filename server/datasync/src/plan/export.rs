//! CSV mode: the whole result as a file, safe to open in a spreadsheet.

use super::{File, Message, MessagePlan, fixed_target};
use crate::config::{Mode, SyncConfig};
use crate::render::{self, Context, Vars};
use crate::row::{Cell, RowSet};

pub(super) fn csv_file(sync: &SyncConfig, rows: &RowSet, cx: &Context) -> MessagePlan {
    let Mode::Csv { filename, message } = &sync.mode else {
        return MessagePlan::default();
    };
    let target = match fixed_target(sync) {
        Ok(t) => t,
        Err(failed) => return *failed,
    };
    let mut plan = MessagePlan::default();
    let vars = Vars::default();
    let name = match render::render(filename, cx, &vars, "csv.filename") {
        Ok(n) => sanitize_filename(&n, &sync.name),
        Err(e) => {
            plan.errors.push(e.to_string());
            return plan;
        }
    };
    let text = match message
        .as_ref()
        .map(|m| render::render(m, cx, &vars, "templates.message"))
    {
        None => String::new(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            plan.errors.push(e.to_string());
            return plan;
        }
    };
    match write_csv(rows) {
        Ok(bytes) => plan.messages.push(Message {
            file: Some(File { name, bytes }),
            ..Message::plain(target, text)
        }),
        Err(e) => plan
            .errors
            .push(format!("sync {:?}: writing the CSV file: {e}", sync.name)),
    }
    plan
}

/// The whole result as CSV (RFC 4180, header row first).
///
/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
/// as a formula (`=cmd|' /C calc'!A0`), so such text cells and column names get a leading
/// `'`, as OWASP recommends ("CSV Injection"). Typed numbers (`-5` from a numeric column)
/// are numbers, not formulas: they stay as they are, so the export still sums.
pub fn write_csv(rows: &RowSet) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(rows.columns.iter().map(|c| csv_safe(c.clone())))?;
    for r in &rows.rows {
        w.write_record(r.iter().map(csv_cell))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

pub(super) fn csv_cell(cell: &Cell) -> String {
    match cell {
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(_) => render::cell_text(cell),
        other => csv_safe(render::cell_text(other)),
    }
}

/// Prefixes text a spreadsheet would read as a formula with `'`.
pub(super) fn csv_safe(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

pub(super) fn sanitize_filename(name: &str, sync: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        format!("{sync}.csv")
    } else {
        cleaned
    }
}
