//! Changes mode: one message per added, changed or removed row, threaded by row.

use super::{
    Input, Message, MessagePlan, Thread, ThreadRole, finish_text, for_each_row, is_blank,
    render_message, route, row_key,
};
use serde_json::Map;

use crate::buttons;
use crate::config::{Mode, SyncConfig};
use crate::diff::{Changes, HeldRow};
use crate::render::{Context, Kind, LaxObject, Vars};
use crate::row::Cell;

pub(super) fn changes(sync: &SyncConfig, c: &Changes, cx: &Context) -> MessagePlan {
    let mut plan = MessagePlan::default();
    let columns: &[String] = &c.columns;
    for_each_row(Input::Changes(c), |row, previous, changed_cols, kind| {
        let key = row_key(columns, row, &sync.diff.key);
        let retry = HeldRow {
            current: row.to_vec(),
            keep: match kind {
                Kind::Added => None,
                Kind::Changed => previous.map(<[Cell]>::to_vec),
                _ => Some(row.to_vec()),
            },
        };
        match change_message(sync, columns, cx, (row, previous, changed_cols, kind), &key) {
            Ok(Some(mut m)) if m.edit_only || !is_blank(&m) => {
                m.retry = Some(retry);
                add_buttons(sync, &key, &mut m);
                plan.messages.push(m);
            }
            Ok(Some(_)) => plan.skipped_empty += 1,
            Ok(None) if kind == Kind::Removed => plan.forget_threads.push(thread_key(sync, &key)),
            Ok(None) => {}
            Err(e) => {
                plan.errors.push(format!("row {key}: {e}"));
                plan.held.push(retry);
            }
        }
    });
    plan
}

/// The sync's buttons on an added or changed row's post, and on the thread's first post
/// when `update_original` re-renders it (a removed row is gone: nothing to act on).
fn add_buttons(sync: &SyncConfig, key: &str, m: &mut Message) {
    if m.kind == Kind::Removed {
        return;
    }
    if !m.edit_only {
        buttons::add(&mut m.props, &sync.name, key, sync.buttons);
    }
    if let Some((_, props)) = &mut m.edit_root {
        buttons::add(props, &sync.name, key, sync.buttons);
    }
}

pub(super) fn thread_key(sync: &SyncConfig, row_key: &str) -> String {
    format!("{}\u{1f}{row_key}", sync.name)
}

/// One changed row as [`for_each_row`] hands it over.
pub(super) type ChangedRowRef<'a> = (&'a [Cell], Option<&'a [Cell]>, &'a [String], Kind);

/// The message for one added, changed or removed row (None: the sync has no template for
/// this kind and nothing to edit). Errors name the template (routing errors the column).
pub(super) fn change_message(
    sync: &SyncConfig,
    columns: &[String],
    cx: &Context,
    (row, previous, changed_cols, kind): ChangedRowRef<'_>,
    key: &str,
) -> Result<Option<Message>, String> {
    let Mode::Changes {
        added,
        changed,
        removed,
    } = &sync.mode
    else {
        return Ok(None);
    };
    let (template, field, role) = match kind {
        Kind::Added => (added, "templates.added", ThreadRole::Root),
        Kind::Changed => (changed, "templates.changed", ThreadRole::Reply),
        _ => (removed, "templates.removed", ThreadRole::End),
    };
    let edits = kind == Kind::Changed && sync.update_original && added.is_some();
    if template.is_none() && !edits {
        return Ok(None);
    }
    let target = route(sync, columns, row).map_err(|e| format!("sync {:?}: {e}", sync.name))?;
    let row_obj = LaxObject::from_row(columns, row);
    let prev_obj = previous.map(|p| LaxObject::from_row(columns, p));
    let vars = Vars {
        row: Some(&row_obj),
        previous: prev_obj.as_ref(),
        changed: changed_cols.to_vec(),
        kind: Some(kind),
        extra: None,
    };
    let edit_root = match (edits, added) {
        (true, Some(t)) => {
            let current = Vars {
                kind: Some(Kind::Added),
                ..vars_clone(&vars)
            };
            let (text, props) = render_message(sync, t, "templates.added", cx, &current)
                .map_err(|e| e.to_string())?;
            Some((finish_text(sync, text), props))
        }
        _ => None,
    };
    let (message, props) = match template {
        Some(t) => render_message(sync, t, field, cx, &vars).map_err(|e| e.to_string())?,
        None => (String::new(), Map::new()),
    };
    Ok(Some(Message {
        kind,
        target,
        message,
        props,
        file: None,
        thread: Some(Thread {
            key: thread_key(sync, key),
            role,
        }),
        row_key: Some(key.to_string()),
        edit_root,
        edit_only: template.is_none(),
        retry: None,
    }))
}

pub(super) fn vars_clone<'a>(v: &Vars<'a>) -> Vars<'a> {
    Vars {
        row: v.row,
        previous: v.previous,
        changed: v.changed.clone(),
        kind: v.kind,
        extra: v.extra,
    }
}
