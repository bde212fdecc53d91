//! Message plans: changes (or all rows) + a sync's templates → the messages to post.
//!
//! A plan is plain data: where each message goes (an unresolved [`Target`]), its text,
//! props, optional file and thread key. Resolving targets to channels, checking them
//! against the allow-list and posting is delivery's job ([`crate::run`]), so a plan can be
//! previewed or printed by the dry run without a server.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::config::{Attachments, Mode, Routing, SyncConfig, Target};
use crate::diff::{Changes, HeldRow};
use crate::render::{self, Context, Kind, LaxObject, RenderError, Template, Vars};
use crate::row::{Cell, RowSet};

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

fn changes(sync: &SyncConfig, c: &Changes, cx: &Context) -> MessagePlan {
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

fn thread_key(sync: &SyncConfig, row_key: &str) -> String {
    format!("{}\u{1f}{row_key}", sync.name)
}

/// A message with neither text nor attachments (a template that rendered only spaces).
fn is_blank(m: &Message) -> bool {
    render::is_blank(&m.message) && m.props.is_empty() && m.file.is_none()
}

/// One changed row as [`for_each_row`] hands it over.
type ChangedRowRef<'a> = (&'a [Cell], Option<&'a [Cell]>, &'a [String], Kind);

/// The message for one added, changed or removed row (None: the sync has no template for
/// this kind and nothing to edit). Errors name the template (routing errors the column).
fn change_message(
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

fn vars_clone<'a>(v: &Vars<'a>) -> Vars<'a> {
    Vars {
        row: v.row,
        previous: v.previous,
        changed: v.changed.clone(),
        kind: v.kind,
        extra: v.extra,
    }
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

fn rows_value(columns: &[String], rows: &[Vec<Cell>]) -> liquid::model::Value {
    liquid::model::Value::Array(
        rows.iter()
            .map(|r| liquid::model::Value::Object(LaxObject::from_row(columns, r).0))
            .collect(),
    )
}

fn batch(sync: &SyncConfig, rows: &RowSet, cx: &Context) -> MessagePlan {
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
type PostText = (String, Map<String, Value>);

/// One batch's posts: header, rows and footer, split between rows when they do not fit in
/// one post (never cutting a row off).
fn batch_posts(
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

/// Packs `lines` into posts under the limit without splitting a line: `heading` opens the
/// first post, `repeat` opens each later one (a table's header row), `footer` closes the
/// last. `gap` separates heading and footer from the lines. When the heading leaves no room
/// for the next line, the heading gets a post of its own. Callers make sure that every line
/// fits in a post after `repeat`.
fn split_posts(
    heading: &str,
    repeat: &str,
    lines: &[String],
    gap: &str,
    footer: &str,
) -> Vec<String> {
    let heading = truncate_runes(heading, MAX_POST_RUNES);
    let mut posts = Vec::new();
    let mut current = join_nonempty(&heading, repeat, gap);
    let mut has_lines = false;
    for line in lines {
        if !fits(&current, "\n", line) {
            if has_lines {
                posts.push(std::mem::take(&mut current));
            } else if !heading.is_empty() {
                posts.push(heading.clone());
            }
            current = repeat.to_string();
        }
        push_part(&mut current, "\n", line);
        has_lines = true;
    }
    if !footer.is_empty() {
        if !fits(&current, gap, footer) {
            posts.push(std::mem::take(&mut current));
        }
        push_part(&mut current, gap, &truncate_runes(footer, MAX_POST_RUNES));
    }
    if !current.is_empty() || posts.is_empty() {
        posts.push(current);
    }
    posts
}

fn fits(current: &str, sep: &str, part: &str) -> bool {
    let sep = if current.is_empty() { 0 } else { runes(sep) };
    runes(current) + sep + runes(part) <= MAX_POST_RUNES
}

fn push_part(current: &mut String, sep: &str, part: &str) {
    if !current.is_empty() {
        current.push_str(sep);
    }
    current.push_str(part);
}

fn join_nonempty(a: &str, b: &str, gap: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (false, true) => a.to_string(),
        (false, false) => format!("{a}{gap}{b}"),
    }
}

/// Makes a cell safe inside a Markdown table row.
fn table_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

fn table(sync: &SyncConfig, rows: &RowSet, cx: &Context) -> MessagePlan {
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

fn table_line(
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

fn runes(s: &str) -> usize {
    s.chars().count()
}

/// Splits a table into posts under the limit, never inside a row, header row on every
/// part; the heading text opens the first part and the footer closes the last. A row too
/// long for any post is left out and reported (a cut row would break the table).
pub fn split_table(
    heading: &str,
    head_row: &str,
    lines: &[String],
    footer: &str,
    errors: &mut Vec<String>,
    sync: &str,
) -> Vec<String> {
    let room = MAX_POST_RUNES.saturating_sub(runes(head_row) + 1);
    let mut kept: Vec<String> = Vec::with_capacity(lines.len());
    for line in lines {
        if runes(line) > room {
            errors.push(format!(
                "sync {sync:?}: a table row of {} characters does not fit in one post; left out",
                runes(line)
            ));
        } else {
            kept.push(line.clone());
        }
    }
    if lines.is_empty() {
        kept.push("| _no rows_ |".to_string());
    }
    split_posts(heading, head_row, &kept, "\n\n", footer)
}

fn csv_file(sync: &SyncConfig, rows: &RowSet, cx: &Context) -> MessagePlan {
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

fn csv_cell(cell: &Cell) -> String {
    match cell {
        Cell::Int(_) | Cell::Float(_) | Cell::Decimal(_) => render::cell_text(cell),
        other => csv_safe(render::cell_text(other)),
    }
}

/// Prefixes text a spreadsheet would read as a formula with `'`.
fn csv_safe(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn sanitize_filename(name: &str, sync: &str) -> String {
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

const TRUNCATED: &str = "\n… (message truncated)";

/// `s` cut to `max` runes with a visible mark (unchanged if it fits).
fn truncate_runes(s: &str, max: usize) -> String {
    if runes(s) <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(runes(TRUNCATED));
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    format!("{}{TRUNCATED}", &s[..end])
}

/// Mattermost has no post prop that turns link previews off (`model/post.go` in
/// server/public v0.3.0 defines only `previewed_post`, for permalinks), so we do what
/// Hightouch documents for Mattermost: put bare URLs in backticks, which the server does not
/// unfurl. Markdown links `[text](url)` and `<url>` are left alone, and so is code: fenced
/// blocks and inline code spans are copied as they are.
pub fn suppress_previews(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut prose = String::new();
    let mut fence: Option<(char, usize)> = None;
    for line in s.split_inclusive('\n') {
        match fence {
            Some((ch, n)) => {
                out.push_str(line);
                if closes_fence(line, ch, n) {
                    fence = None;
                }
            }
            None => match opens_fence(line) {
                Some(f) => {
                    out.push_str(&suppress_inline(&std::mem::take(&mut prose)));
                    out.push_str(line);
                    fence = Some(f);
                }
                None => prose.push_str(line),
            },
        }
    }
    out.push_str(&suppress_inline(&prose));
    out
}

/// A fence line (up to three spaces, then three or more backticks or tildes): its character
/// and length.
fn opens_fence(line: &str) -> Option<(char, usize)> {
    let t = strip_indent(line)?;
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|c| *c == ch).count();
    let info = &t[n..];
    (n >= 3 && !(ch == '`' && info.contains('`'))).then_some((ch, n))
}

fn closes_fence(line: &str, ch: char, n: usize) -> bool {
    strip_indent(line).is_some_and(|t| {
        let run = t.chars().take_while(|c| *c == ch).count();
        run >= n && t[run..].trim().is_empty()
    })
}

fn strip_indent(line: &str) -> Option<&str> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces <= 3).then(|| &line[spaces..])
}

/// Backticks bare URLs in text outside fenced code, skipping inline code spans.
fn suppress_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with('`') {
            let n = rest.len() - rest.trim_start_matches('`').len();
            let span = code_span_len(rest, n).unwrap_or(n);
            out.push_str(&rest[..span]);
            i += span;
            continue;
        }
        if let Some(len) = bare_url_len(s, i) {
            out.push('`');
            out.push_str(&s[i..i + len]);
            out.push('`');
            i += len;
            continue;
        }
        let c = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..c]);
        i += c;
    }
    out
}

/// Length of an inline code span opened by `n` backticks at the start of `s`: up to the
/// next run of exactly `n` backticks.
fn code_span_len(s: &str, n: usize) -> Option<usize> {
    let mut at = n;
    while let Some(k) = s[at..].find('`') {
        let start = at + k;
        let run = s[start..].len() - s[start..].trim_start_matches('`').len();
        if run == n {
            return Some(start + run);
        }
        at = start + run;
    }
    None
}

/// The length of a bare URL starting at byte `i` of `s`, if one does.
fn bare_url_len(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let scheme = ["https://", "http://"].into_iter().find(|p| {
        rest.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })?;
    let before = &s[..i];
    let prev = before.chars().next_back();
    // Inside a word, a Markdown link target `](…)` or an autolink `<…>`: not bare.
    if prev.is_some_and(char::is_alphanumeric) || before.ends_with("](") || prev == Some('<') {
        return None;
    }
    let mut end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '`' | '"'))
        .unwrap_or(rest.len());
    let line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
    let emphasis = prev == Some('_') || opens_underscore_emphasis(line);
    // Trailing punctuation ends a sentence, not the URL; `)` and `]` only when unbalanced
    // (`https://en.wikipedia.org/wiki/Rust_(programming_language)` keeps its `)`); `_` only
    // when the URL is in `_emphasis_` (a URL may end with `_`).
    while end > scheme.len() {
        let url = &rest[..end];
        let last = url.chars().next_back().unwrap_or(' ');
        let trim = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '~' => true,
            '_' => emphasis,
            ')' => url.matches('(').count() < url.matches(')').count(),
            ']' => url.matches('[').count() < url.matches(']').count(),
            _ => false,
        };
        if !trim {
            break;
        }
        end -= last.len_utf8();
    }
    (end > scheme.len()).then_some(end)
}

/// Whether `line` has a `_` that opens emphasis (at a word start, before a non-space):
/// then a `_` right after a URL closes it rather than belonging to the URL.
fn opens_underscore_emphasis(line: &str) -> bool {
    let mut prev: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_'
            && !prev.is_some_and(char::is_alphanumeric)
            && chars.peek().is_some_and(|n| !n.is_whitespace())
        {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// Above `max_messages`, one summary per destination replaces the messages (edits of
/// earlier posts are kept: they add no post). When even one summary per destination would
/// be more than the limit, the run is refused rather than leaving destinations untold.
fn flood_guard(sync: &SyncConfig, input: Input<'_>, plan: &mut MessagePlan) {
    let n = plan.messages.iter().filter(|m| !m.edit_only).count();
    if n <= sync.max_messages {
        return;
    }
    let mut targets: Vec<Target> = Vec::new();
    for m in plan.messages.iter().filter(|m| !m.edit_only) {
        if !targets.contains(&m.target) {
            targets.push(m.target.clone());
        }
    }
    let name = &sync.name;
    if targets.len() > sync.max_messages {
        plan.refused = Some(format!(
            "sync {name:?}: {n} messages for {} destinations, more than max_messages = {}; \
             one summary per destination would still exceed it, so nothing was posted and \
             the changes stay pending. Raise max_messages to at least {} to deliver them.",
            targets.len(),
            sync.max_messages,
            targets.len()
        ));
        return;
    }
    let what = match input {
        Input::Changes(c) => format!(
            "{n} changes ({} added, {} changed, {} removed)",
            c.added.len(),
            c.changed.len(),
            c.removed.len()
        ),
        Input::Rows(r) => format!("{n} messages for {} rows", r.rows.len()),
    };
    let mut summaries = Vec::new();
    for target in targets {
        let here = plan
            .messages
            .iter()
            .filter(|m| !m.edit_only && m.target == target)
            .count();
        let text = format!(
            "**{name}**: {what} in this run, {here} of them for this channel. That is more than the limit of {} messages per run, so they are not posted one by one. See `/datasync history {name}` and `/datasync preview {name}`.",
            sync.max_messages
        );
        let mut m = Message::plain(target, text);
        finish_message(sync, &mut m);
        summaries.push(m);
    }
    let edits = plan.messages.drain(..).filter(|m| m.edit_only);
    plan.messages = edits.chain(summaries).collect();
    plan.summarized = Some(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_suppressed_for_bare_urls_only() {
        assert_eq!(
            suppress_previews("see https://x.io/a and [b](https://y.io) _https://z.io/c_."),
            "see `https://x.io/a` and [b](https://y.io) _`https://z.io/c`_."
        );
    }

    #[test]
    fn cells_escape_pipes_and_newlines() {
        assert_eq!(table_cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn truncation_keeps_limit() {
        let s = "é".repeat(20_000);
        let t = truncate_runes(&s, MAX_POST_RUNES);
        assert_eq!(t.chars().count(), MAX_POST_RUNES);
    }
}
