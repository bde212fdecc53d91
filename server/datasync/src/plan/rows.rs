//! Batch and table modes: every row on every run.

use super::{MAX_POST_RUNES, Message, MessagePlan, attachment, fixed_target, is_blank};
use serde_json::{Map, Value};

use super::split::{split_posts, split_table, truncate_runes};
use crate::config::{Mode, SyncConfig};
use crate::render::{self, Context, LaxObject, RenderError, Template, Vars};
use crate::row::{Cell, RowSet};

pub(super) fn rows_value(columns: &[String], rows: &[Vec<Cell>]) -> liquid::model::Value {
    liquid::model::Value::Array(
        rows.iter()
            .map(|r| liquid::model::Value::Object(LaxObject::from_row(columns, r).0))
            .collect(),
    )
}

pub(super) fn batch(sync: &SyncConfig, rows: &RowSet, cx: &Context) -> MessagePlan {
    let Mode::Batch { batch_size, .. } = &sync.mode else {
        return MessagePlan::default();
    };
    let target = match fixed_target(sync) {
        Ok(t) => t,
        Err(failed) => return *failed,
    };
    let mut plan = MessagePlan::default();
    let chunks: Vec<&[Vec<Cell>]> = rows.rows.chunks((*batch_size).max(1)).collect();
    let count = chunks.len();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let mut extra = liquid::model::Object::new();
        extra.insert("rows".into(), rows_value(&rows.columns, chunk));
        let mut b = liquid::model::Object::new();
        b.insert("number".into(), liquid::model::Value::scalar(n as i64 + 1));
        b.insert("count".into(), liquid::model::Value::scalar(count as i64));
        b.insert(
            "size".into(),
            liquid::model::Value::scalar(chunk.len() as i64),
        );
        extra.insert("batch".into(), liquid::model::Value::Object(b));
        match batch_posts(sync, &rows.columns, chunk, cx, &extra) {
            Ok(posts) => {
                for (message, props) in posts {
                    let mut m = Message::plain(target.clone(), message);
                    m.props = props;
                    if is_blank(&m) {
                        plan.skipped_empty += 1;
                    } else {
                        plan.messages.push(m);
                    }
                }
            }
            Err(e) => plan.errors.push(format!("batch {}: {e}", n + 1)),
        }
    }
    plan
}

/// A post's text and props.
pub(super) type PostText = (String, Map<String, Value>);

/// One batch's posts: header, rows and footer, split between rows when they do not fit in
/// one post (never cutting a row off).
pub(super) fn batch_posts(
    sync: &SyncConfig,
    columns: &[String],
    chunk: &[Vec<Cell>],
    cx: &Context,
    extra: &liquid::model::Object,
) -> Result<Vec<PostText>, RenderError> {
    let Mode::Batch {
        header,
        row,
        footer,
        ..
    } = &sync.mode
    else {
        return Ok(Vec::new());
    };
    let outer = Vars {
        extra: Some(extra),
        ..Vars::default()
    };
    let render_opt = |t: &Option<Template>, field: &str| -> Result<String, RenderError> {
        t.as_ref()
            .map_or(Ok(String::new()), |t| render::render(t, cx, &outer, field))
    };
    let head = render_opt(header, "templates.header")?;
    let foot = render_opt(footer, "templates.footer")?;
    let mut lines = Vec::with_capacity(chunk.len());
    for r in chunk {
        let obj = LaxObject::from_row(columns, r);
        let vars = Vars {
            row: Some(&obj),
            extra: Some(extra),
            ..Vars::default()
        };
        lines.push(render::render(row, cx, &vars, "templates.row")?);
    }
    // A row longer than a post is cut with a visible mark; the other rows are unaffected.
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| truncate_runes(&l, MAX_POST_RUNES))
        .collect();
    // Attachments carry the text in their own field, which has the same limit.
    let texts = split_posts(&head, "", &lines, "\n", &foot);
    texts
        .into_iter()
        .map(|text| match &sync.attachments {
            None => Ok((text, Map::new())),
            Some(a) => {
                let att = attachment(a, text, cx, &outer)?;
                let mut props = Map::new();
                props.insert("attachments".into(), Value::Array(vec![att]));
                Ok((String::new(), props))
            }
        })
        .collect()
}

/// Makes a cell safe inside a Markdown table row.
pub(super) fn table_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

pub(super) fn table(sync: &SyncConfig, rows: &RowSet, cx: &Context) -> MessagePlan {
    let Mode::Table {
        header,
        footer,
        columns,
    } = &sync.mode
    else {
        return MessagePlan::default();
    };
    let target = match fixed_target(sync) {
        Ok(t) => t,
        Err(failed) => return *failed,
    };
    let mut plan = MessagePlan::default();
    let rows_extra = {
        let mut e = liquid::model::Object::new();
        e.insert("rows".into(), rows_value(&rows.columns, &rows.rows));
        e
    };
    let outer = Vars {
        extra: Some(&rows_extra),
        ..Vars::default()
    };
    let render_opt = |t: &Option<Template>, field: &str| -> Result<String, RenderError> {
        t.as_ref()
            .map_or(Ok(String::new()), |t| render::render(t, cx, &outer, field))
    };
    let (head_text, foot_text) = match (
        render_opt(header, "templates.header"),
        render_opt(footer, "templates.footer"),
    ) {
        (Ok(h), Ok(f)) => (h, f),
        (Err(e), _) | (_, Err(e)) => {
            plan.errors.push(e.to_string());
            return plan;
        }
    };
    let titles: Vec<String> = if columns.is_empty() {
        // Column names can come from data (HTTP JSON keys): they must not mention anyone.
        rows.columns.iter().map(|c| render::neutralise(c)).collect()
    } else {
        columns.iter().map(|c| c.title.clone()).collect()
    };
    let head_row = format!(
        "| {} |\n|{}|",
        titles
            .iter()
            .map(|t| table_cell(t))
            .collect::<Vec<_>>()
            .join(" | "),
        titles.iter().map(|_| " --- ").collect::<Vec<_>>().join("|")
    );
    let mut lines = Vec::with_capacity(rows.rows.len());
    for r in &rows.rows {
        match table_line(columns, rows, r, cx) {
            Ok(l) => lines.push(l),
            Err(e) => plan.errors.push(e.to_string()),
        }
    }
    for text in split_table(
        &head_text,
        &head_row,
        &lines,
        &foot_text,
        &mut plan.errors,
        &sync.name,
    ) {
        plan.messages.push(Message::plain(target.clone(), text));
    }
    plan
}

pub(super) fn table_line(
    columns: &[crate::config::TableColumn],
    rows: &RowSet,
    r: &[Cell],
    cx: &Context,
) -> Result<String, RenderError> {
    let cells: Vec<String> = if columns.is_empty() {
        r.iter()
            .map(|c| table_cell(&render::neutralise(&render::cell_text(c))))
            .collect()
    } else {
        let obj = LaxObject::from_row(&rows.columns, r);
        let vars = Vars {
            row: Some(&obj),
            ..Vars::default()
        };
        let mut out = Vec::with_capacity(columns.len());
        for c in columns {
            let text = match (&c.value, &c.column) {
                (Some(t), _) => render::render(t, cx, &vars, "table.columns")?,
                (None, Some(name)) => rows
                    .column_index(name)
                    .and_then(|i| r.get(i))
                    .map(|c| render::neutralise(&render::cell_text(c)))
                    .unwrap_or_default(),
                (None, None) => String::new(),
            };
            out.push(table_cell(&text));
        }
        out
    };
    Ok(format!("| {} |", cells.join(" | ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_newlines() {
        assert_eq!(table_cell("a|b\nc"), "a\\|b c");
    }
}
