//! Message plans: changes (or all rows) + a sync's templates → the messages to post.
//!
//! A plan is plain data: where each message goes (an unresolved [`Target`]), its text,
//! props, optional file and thread key. Resolving targets to channels, checking them
//! against the allow-list and posting is delivery's job ([`crate::run`]), so a plan can be
//! previewed or printed by the dry run without a server.

mod changes;
mod export;
mod guard;
mod previews;
mod rows;
mod split;

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::config::{Attachments, Mode, Routing, SyncConfig, Target};
use crate::diff::{Changes, HeldRow};
use crate::render::{self, Context, Kind, LaxObject, RenderError, Template, Vars};
use crate::row::{Cell, RowSet};

use changes::changes;
use export::csv_file;
pub use export::write_csv;
use guard::flood_guard;
pub use previews::suppress_previews;
use rows::{batch, table};
pub use split::split_table;
use split::{runes, truncate_runes};

/// Mattermost's post limit in characters (runes): `PostMessageMaxRunesV2`.
pub const MAX_POST_RUNES: usize = 16_383;

/// A file to upload and attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Whether a message starts a row's thread, replies in it, or closes it (the row is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadRole {
    Root,
    Reply,
    End,
}

/// Ties the messages about one row together: `key` is the sync name plus the row's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub key: String,
    pub role: ThreadRole,
}

/// One message to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub target: Target,
    pub message: String,
    pub props: Map<String, Value>,
    pub file: Option<File>,
    pub thread: Option<Thread>,
    /// The row's key (JSON array of the key values), for errors and history.
    pub row_key: Option<String>,
    /// `update_original`: the new text and props for the thread's first post.
    pub edit_root: Option<(String, Map<String, Value>)>,
    /// Only `edit_root` applies: no new post (a change without a `changed` template).
    pub edit_only: bool,
    /// What the snapshot keeps for this row if the message cannot be routed, so the next
    /// run retries it (changes mode).
    pub retry: Option<HeldRow>,
}

impl Message {
    /// A message about no row in particular (batch, table, csv, summaries).
    fn plain(target: Target, message: String) -> Message {
        Message {
            kind: Kind::Other,
            target,
            message,
            props: Map::new(),
            file: None,
            thread: None,
            row_key: None,
            edit_root: None,
            edit_only: false,
            retry: None,
        }
    }
}

/// What a run would post, and the rows that could not become messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePlan {
    pub messages: Vec<Message>,
    /// One line per problem (bad routing value, rendering error), naming sync and row.
    pub errors: Vec<String>,
    /// Set when the flood guard replaced this many messages with summaries.
    pub summarized: Option<usize>,
    /// Rows whose message could not be made (template or routing error): the snapshot
    /// keeps their previous state so the next run retries them.
    pub held: Vec<HeldRow>,
    /// Thread keys of removed rows that get no message: their threads are forgotten.
    pub forget_threads: Vec<String>,
    /// Messages not posted because they rendered empty (or only whitespace).
    pub skipped_empty: usize,
    /// The run must not go ahead (nothing posted, nothing committed), and why.
    pub refused: Option<String>,
}

/// What the plan is built from.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Changes mode: what changed since the last run.
    Changes(&'a Changes),
    /// Batch, table and csv modes: the whole result.
    Rows(&'a RowSet),
}

impl Input<'_> {
    pub fn columns(&self) -> &[String] {
        match self {
            Input::Changes(c) => &c.columns,
            Input::Rows(r) => &r.columns,
        }
    }
}

/// Every user a plan needs looked up, so the run can resolve them in one batch before
/// rendering: the values passed to `mattermost_user_lookup`, and the e-mail addresses and
/// usernames messages are routed to (direct messages).
pub fn wanted_users(sync: &SyncConfig, input: Input<'_>, cx: &Context) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let templates: Vec<&Template> = sync_templates(sync);
    let mentions = templates.iter().any(|t| t.uses_lookup());
    let columns = input.columns();
    let mut add_target = |t: Target| match t {
        Target::Email(key) | Target::Username(key) => {
            found.insert(key);
        }
        _ => {}
    };
    if let Routing::Fixed(t) = &sync.routing {
        add_target(t.clone());
    }
    let mut wanted = BTreeSet::new();
    for_each_row(input, |row, previous, _, kind| {
        if let Routing::Column(_) = &sync.routing
            && let Ok(t) = route(sync, columns, row)
        {
            add_target(t);
        }
        if !mentions {
            return;
        }
        let row = LaxObject::from_row(columns, row);
        let prev = previous.map(|p| LaxObject::from_row(columns, p));
        let vars = Vars {
            row: Some(&row),
            previous: prev.as_ref(),
            kind: Some(kind),
            ..Vars::default()
        };
        for t in &templates {
            render::collect_lookups(t, cx, &vars, &mut wanted);
        }
    });
    found.extend(wanted);
    found
}

fn sync_templates(sync: &SyncConfig) -> Vec<&Template> {
    let mut v: Vec<&Template> = sync.mode.templates().into_iter().map(|(_, t)| t).collect();
    if let Some(a) = &sync.attachments {
        v.extend(a.title.iter().chain(&a.title_link));
        v.extend(a.fields.iter().map(|f| &f.value));
    }
    v
}

fn for_each_row(input: Input<'_>, mut f: impl FnMut(&[Cell], Option<&[Cell]>, &[String], Kind)) {
    match input {
        Input::Changes(c) => {
            for r in &c.added {
                f(r, None, &[], Kind::Added);
            }
            for r in &c.changed {
                f(&r.row, Some(&r.previous), &r.changed_columns, Kind::Changed);
            }
            for r in &c.removed {
                f(r, Some(r), &[], Kind::Removed);
            }
        }
        Input::Rows(rows) => {
            for r in &rows.rows {
                f(r, None, &[], Kind::Other);
            }
        }
    }
}

/// Builds the messages of one run.
pub fn build(sync: &SyncConfig, input: Input<'_>, cx: &Context) -> MessagePlan {
    let mut plan = match (&sync.mode, input) {
        (Mode::Changes { .. }, Input::Changes(c)) => changes(sync, c, cx),
        (Mode::Batch { .. }, Input::Rows(r)) => batch(sync, r, cx),
        (Mode::Table { .. }, Input::Rows(r)) => table(sync, r, cx),
        (Mode::Csv { .. }, Input::Rows(r)) => csv_file(sync, r, cx),
        (mode, _) => MessagePlan {
            errors: vec![format!(
                "sync {:?}: {} mode was given the wrong input (engine bug)",
                sync.name,
                mode.name()
            )],
            ..MessagePlan::default()
        },
    };
    for m in &mut plan.messages {
        finish_message(sync, m);
    }
    flood_guard(sync, input, &mut plan);
    plan
}

/// The row's key values as a JSON array: `["acme"]`, `["eu", 42]`.
pub fn row_key(columns: &[String], row: &[Cell], key: &[String]) -> String {
    let values: Vec<Value> = key
        .iter()
        .map(|k| {
            columns
                .iter()
                .position(|c| c == k)
                .and_then(|i| row.get(i))
                .map_or(Value::Null, |c| match c {
                    Cell::Null => Value::Null,
                    Cell::Int(i) => json!(i),
                    other => Value::String(render::cell_text(other)),
                })
        })
        .collect();
    Value::Array(values).to_string()
}

/// A message with neither text nor attachments (a template that rendered only spaces).
fn is_blank(m: &Message) -> bool {
    render::is_blank(&m.message) && m.props.is_empty() && m.file.is_none()
}

/// Text (or attachment) for one row.
fn render_message(
    sync: &SyncConfig,
    t: &Template,
    field: &str,
    cx: &Context,
    vars: &Vars<'_>,
) -> Result<(String, Map<String, Value>), RenderError> {
    let text = render::render(t, cx, vars, field)?;
    let mut props = Map::new();
    match &sync.attachments {
        None => Ok((text, props)),
        Some(a) => {
            let att = attachment(a, text, cx, vars)?;
            props.insert("attachments".into(), Value::Array(vec![att]));
            Ok((String::new(), props))
        }
    }
}

fn attachment(
    a: &Attachments,
    text: String,
    cx: &Context,
    vars: &Vars<'_>,
) -> Result<Value, RenderError> {
    let color = match vars.kind {
        Some(Kind::Added) => &a.color_added,
        Some(Kind::Changed) => &a.color_changed,
        Some(Kind::Removed) => &a.color_removed,
        _ => &a.color_other,
    };
    let mut att = Map::new();
    att.insert("fallback".into(), Value::String(text.clone()));
    att.insert("color".into(), Value::String(color.clone()));
    if let Some(t) = &a.title {
        att.insert(
            "title".into(),
            Value::String(render::render(t, cx, vars, "attachments.title")?),
        );
    }
    if let Some(t) = &a.title_link {
        let link = render::render(t, cx, vars, "attachments.title_link")?;
        // Mattermost flags links that are not http(s); leave a bad one out rather than fail.
        if link.starts_with("https://") || link.starts_with("http://") {
            att.insert("title_link".into(), Value::String(link));
        }
    }
    att.insert("text".into(), Value::String(text));
    if !a.fields.is_empty() {
        let mut fields = Vec::new();
        for f in &a.fields {
            let value = render::render(&f.value, cx, vars, "attachments.fields")?;
            fields.push(json!({"title": f.title, "value": value, "short": f.short}));
        }
        att.insert("fields".into(), Value::Array(fields));
    }
    Ok(Value::Object(att))
}

fn route(sync: &SyncConfig, columns: &[String], row: &[Cell]) -> Result<Target, String> {
    match &sync.routing {
        Routing::Fixed(t) => Ok(t.clone()),
        Routing::Column(col) => {
            let i = columns
                .iter()
                .position(|c| c == col)
                .ok_or_else(|| format!("channel_column {col:?} is not in the result"))?;
            match row.get(i) {
                None | Some(Cell::Null) => Err(format!("channel_column {col:?} is empty")),
                Some(cell) => Target::parse(&render::cell_text(cell))
                    .map_err(|e| format!("channel_column {col:?}: {e}")),
            }
        }
    }
}

/// The channel of a mode that posts every row to one place; otherwise the plan to return:
/// no messages and the error.
fn fixed_target(sync: &SyncConfig) -> Result<Target, Box<MessagePlan>> {
    match &sync.routing {
        Routing::Fixed(t) => Ok(t.clone()),
        Routing::Column(_) => Err(Box::new(MessagePlan {
            errors: vec![format!(
                "sync {:?}: this mode needs a fixed channel",
                sync.name
            )],
            ..MessagePlan::default()
        })),
    }
}

/// Sender overrides, link previews and the post-size limit.
fn finish_message(sync: &SyncConfig, m: &mut Message) {
    let s = &sync.sender;
    if s.display_name.is_some() || s.icon_url.is_some() || s.icon_emoji.is_some() {
        // The webapp shows overrides only on posts marked as coming from a webhook.
        m.props.insert("from_webhook".into(), json!("true"));
        if let Some(n) = &s.display_name {
            m.props.insert("override_username".into(), json!(n));
        }
        if let Some(u) = &s.icon_url {
            m.props.insert("override_icon_url".into(), json!(u));
        }
        if let Some(e) = &s.icon_emoji {
            m.props.insert("override_icon_emoji".into(), json!(e));
        }
    }
    if let Some((_, props)) = &mut m.edit_root {
        for key in [
            "from_webhook",
            "override_username",
            "override_icon_url",
            "override_icon_emoji",
        ] {
            if let Some(v) = m.props.get(key) {
                props.insert(key.into(), v.clone());
            }
        }
    }
    m.message = finish_text(sync, std::mem::take(&mut m.message));
}

/// Link previews and the post-size limit.
fn finish_text(sync: &SyncConfig, mut text: String) -> String {
    if !sync.link_previews {
        text = suppress_previews(&text);
    }
    if runes(&text) > MAX_POST_RUNES {
        text = truncate_runes(&text, MAX_POST_RUNES);
    }
    text
}
