//! A sync's mode and its templates: changes, batch, table (columns), csv (file name).

use toml::de::DeValue;

use super::reader::{Cx, Fields, Str, compile_at};
use super::{MAX_BATCH_SIZE, Mode, TableColumn};

const TEMPLATE_FIELDS: &[&str] = &[
    "added", "changed", "removed", "header", "row", "footer", "message",
];
const TABLE_FIELDS: &[&str] = &["columns"];
const COLUMN_FIELDS: &[&str] = &["title", "value", "column"];
const CSV_FIELDS: &[&str] = &["filename"];

pub(super) fn read_mode(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Mode> {
    let mode_str = f.string(cx, "mode");
    let mode = mode_str.as_ref().map_or("changes", |m| m.value.as_str());
    let templates = f.sub(cx, "templates", TEMPLATE_FIELDS);
    if let Some(t) = &templates {
        t.finish(cx);
    }
    let tpl = |cx: &mut Cx<'_>, field: &str| templates.as_ref().and_then(|t| t.template(cx, field));
    // Fields that belong to other modes are errors, not silently ignored.
    let allowed: &[&str] = match mode {
        "changes" => &["added", "changed", "removed"],
        "batch" => &["header", "row", "footer"],
        "table" => &["header", "footer"],
        "csv" => &["message"],
        _ => &[],
    };
    if let Some(t) = &templates {
        for (k, _) in t.table.iter() {
            let k_str = k.get_ref().as_ref();
            if TEMPLATE_FIELDS.contains(&k_str) && !allowed.contains(&k_str) && !allowed.is_empty()
            {
                let msg = format!(
                    "{mode} mode does not use this template (it uses: {})",
                    allowed.join(", ")
                );
                t.err(cx, k_str, Some(k.span()), msg);
            }
        }
    }
    let misplaced = |cx: &mut Cx<'_>, field: &str, wanted: &str| {
        if let Some(item) = f.get(field)
            && mode != wanted
        {
            let msg = format!("only {wanted} mode uses this field");
            f.err(cx, field, Some(item.span()), msg);
        }
    };
    misplaced(cx, "batch_size", "batch");
    misplaced(cx, "table", "table");
    misplaced(cx, "csv", "csv");
    match mode {
        "changes" => {
            let (added, changed, removed) =
                (tpl(cx, "added"), tpl(cx, "changed"), tpl(cx, "removed"));
            let any = ["added", "changed", "removed"]
                .iter()
                .any(|k| templates.as_ref().is_some_and(|t| t.get(k).is_some()));
            if !any {
                let msg = "changes mode needs at least one of added, changed, removed".into();
                f.err(cx, "templates", Some(f.span.clone()), msg);
            }
            Some(Mode::Changes {
                added,
                changed,
                removed,
            })
        }
        "batch" => {
            let batch_size = f
                .integer(cx, "batch_size", 1..MAX_BATCH_SIZE as i64 + 1)
                .map_or(MAX_BATCH_SIZE, |n| n as usize);
            let has_row = templates.as_ref().is_some_and(|t| t.get("row").is_some());
            if !has_row {
                let msg = "batch mode needs a row template".to_string();
                f.err(cx, "templates.row", Some(f.span.clone()), msg);
            }
            let (header, row, footer) = (tpl(cx, "header"), tpl(cx, "row"), tpl(cx, "footer"));
            Some(Mode::Batch {
                header,
                row: row?,
                footer,
                batch_size,
            })
        }
        "table" => {
            let columns = read_table_columns(cx, f);
            Some(Mode::Table {
                header: tpl(cx, "header"),
                footer: tpl(cx, "footer"),
                columns,
            })
        }
        "csv" => {
            let filename = match f.sub(cx, "csv", CSV_FIELDS) {
                Some(c) => {
                    c.finish(cx);
                    c.template(cx, "filename")
                }
                None => None,
            };
            // No filename: an empty template, which the plan turns into "<sync>.csv" (the
            // sync's name is data here, never template text: it may contain `{{`).
            let filename = match filename {
                Some(t) => t,
                None => compile_at(cx, f, "csv.filename", &Str::plain(""))?,
            };
            Some(Mode::Csv {
                filename,
                message: tpl(cx, "message"),
            })
        }
        other => {
            if let Some(s) = &mode_str {
                let msg = format!("{other:?} is not one of changes, batch, table, csv");
                f.err(cx, "mode", Some(s.span.clone()), msg);
            }
            None
        }
    }
}

fn read_table_columns(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Vec<TableColumn> {
    let Some(t) = f.sub(cx, "table", TABLE_FIELDS) else {
        return Vec::new();
    };
    t.finish(cx);
    let Some(item) = t.get("columns") else {
        return Vec::new();
    };
    let DeValue::Array(items) = item.get_ref() else {
        t.err(cx, "columns", Some(item.span()), "expected an array".into());
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in items {
        match i.get_ref() {
            DeValue::String(s) => out.push(TableColumn {
                title: s.to_string(),
                value: None,
                column: Some(s.to_string()),
            }),
            DeValue::Table(ct) => {
                let c = Fields::new(
                    ct,
                    i.span(),
                    t.owner.clone(),
                    "table.columns",
                    COLUMN_FIELDS,
                );
                c.finish(cx);
                let title = c.required_string(cx, "title").map(|s| s.value);
                let value = c.template(cx, "value");
                let column = c.string(cx, "column").map(|s| s.value);
                if value.is_none() && column.is_none() {
                    let msg = "each column needs value (a template) or column (a name)".into();
                    c.err(cx, "", Some(i.span()), msg);
                }
                if let Some(title) = title {
                    out.push(TableColumn {
                        title,
                        value,
                        column,
                    });
                }
            }
            other => {
                let msg = format!(
                    "expected a column name or a table, found {}",
                    other.type_str()
                );
                t.err(cx, "columns", Some(i.span()), msg);
            }
        }
    }
    out
}
