//! One sync: its connection and query, key and watched columns, schedule, routing,
//! sender, limits; the mode and attachments are read by `mode` and `attachments`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::attachments::read_attachments;
use super::connection::read_query;
use super::mode::read_mode;
use super::reader::{Cx, Fields, Str};
use super::{
    AllowList, Buttons, DEFAULT_MAX_MESSAGES, EmptyResult, FirstRun, Mode, Routing, Sender,
    SyncConfig, Target, TransformConfig,
};
use crate::diff::DiffOptions;
use crate::schedule::{self, Schedule};
use crate::source::{Connection, ConnectionKind};

pub(super) const SYNC_FIELDS: &[&str] = &[
    "connection",
    "sql",
    "path",
    "json_pointer",
    "format",
    "key",
    "watched",
    "schedule",
    "cron",
    "timezone",
    "mode",
    "templates",
    "batch_size",
    "table",
    "csv",
    "channel",
    "channel_column",
    "attachments",
    "sender",
    "link_previews",
    "first_run",
    "empty_result",
    "max_messages",
    "statement_timeout",
    "max_rows",
    "max_bytes",
    "enabled",
    "update_original",
    "buttons",
    "transform",
];
const SENDER_FIELDS: &[&str] = &["display_name", "icon_url", "icon_emoji"];

/// What a sync may refer to: the document's connections (and those that failed, already
/// reported), transforms (`None`: failed) and allow-list.
pub(super) struct Known<'a> {
    pub connections: &'a BTreeMap<String, Arc<Connection>>,
    pub broken: &'a BTreeMap<String, Option<ConnectionKind>>,
    pub transforms: &'a BTreeMap<String, Option<Arc<TransformConfig>>>,
    pub allow: &'a AllowList,
}

pub(super) fn read_sync(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
    known: &Known<'_>,
) -> Option<SyncConfig> {
    let Known {
        connections,
        broken,
        allow,
        ..
    } = *known;
    f.finish(cx);
    let before = cx.errors.len();
    let connection = read_sync_connection(cx, f, connections, broken);
    // A broken connection was reported already; still check the query fields if its
    // kind is known, so fixing the connection does not reveal a second round of errors.
    let kind = match &connection {
        Some(c) => Some(c.kind),
        None => f
            .get("connection")
            .and_then(|c| c.get_ref().as_str())
            .and_then(|c| broken.get(c).copied().flatten()),
    };
    let query = kind.map(|k| read_query(cx, f, name, k));
    let key: Vec<String> = column_names(cx, f, "key").unwrap_or_default();
    let watched = column_names(cx, f, "watched");
    let schedule = read_schedule(cx, f);
    let mode = read_mode(cx, f);
    let routing = read_routing(cx, f, allow, mode.as_ref());
    let attachments = read_attachments(cx, f);
    let sender = read_sender(cx, f);
    let first_run = f.choice(
        cx,
        "first_run",
        &[("baseline", FirstRun::Baseline), ("post", FirstRun::Post)],
    );
    let empty_result = f.choice(
        cx,
        "empty_result",
        &[("post", EmptyResult::Post), ("fail", EmptyResult::Fail)],
    );
    let max_messages = f
        .integer(cx, "max_messages", 1..10_001)
        .map_or(DEFAULT_MAX_MESSAGES, |n| n as usize);
    let link_previews = f.bool(cx, "link_previews", true);
    let enabled = f.bool(cx, "enabled", true);
    let update_original = f.bool(cx, "update_original", false);
    if update_original && !matches!(&mode, Some(Mode::Changes { added: Some(_), .. })) {
        let msg = "needs changes mode with an added template (it re-renders that template)".into();
        f.err(
            cx,
            "update_original",
            f.get("update_original").map(|i| i.span()),
            msg,
        );
    }
    let buttons = read_buttons(cx, f, mode.as_ref());
    let transform = read_transform_name(cx, f, known.transforms);

    if let Some(Mode::Changes { .. }) = &mode
        && key.is_empty()
    {
        let msg = "changes mode needs key columns to tell rows apart".to_string();
        f.err(cx, "key", Some(f.span.clone()), msg);
    }
    if watched.is_some() && !matches!(mode, Some(Mode::Changes { .. })) {
        let msg = "watched columns only apply to changes mode".to_string();
        f.err(cx, "watched", f.get("watched").map(|i| i.span()), msg);
    }
    if cx.errors.len() > before {
        return None;
    }
    Some(SyncConfig {
        name: name.to_string(),
        connection: connection?,
        query: query?,
        diff: DiffOptions {
            key,
            watched,
            ..DiffOptions::default()
        },
        schedule: schedule?,
        mode: mode?,
        routing: routing?,
        attachments,
        sender,
        link_previews,
        first_run,
        empty_result,
        max_messages,
        enabled,
        update_original,
        buttons,
        transform: transform?,
    })
}

/// `transform = "<name>"`: `Some(None)` when there is none, `None` when it is wrong (or
/// names a transform that failed, reported there).
fn read_transform_name(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    transforms: &BTreeMap<String, Option<Arc<TransformConfig>>>,
) -> Option<Option<Arc<TransformConfig>>> {
    let Some(t) = f.string(cx, "transform") else {
        return Some(None);
    };
    match transforms.get(&t.value) {
        Some(found) => found.clone().map(Some),
        None => {
            let msg = no_such("transform", &t.shown, transforms.keys());
            f.err(cx, "transform", Some(t.span), msg);
            None
        }
    }
}

/// "no connection named "x" (defined: a, b)".
fn no_such<'a>(what: &str, shown: &str, defined: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = defined.map(String::as_str).collect();
    let names = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    format!("no {what} named {shown} (defined: {names})")
}

/// `buttons = ["acknowledge", "snooze"]`: only change messages are about one row.
fn read_buttons(cx: &mut Cx<'_>, f: &Fields<'_, '_>, mode: Option<&Mode>) -> Buttons {
    let mut buttons = Buttons::default();
    let Some(list) = f.string_list(cx, "buttons") else {
        return buttons;
    };
    for s in &list {
        match s.value.as_str() {
            "acknowledge" => buttons.acknowledge = true,
            "snooze" => buttons.snooze = true,
            _ => {
                let msg = format!(
                    "{} is not a button: give \"acknowledge\" and/or \"snooze\"",
                    s.shown
                );
                f.err(cx, "buttons", Some(s.span.clone()), msg);
            }
        }
    }
    if let Some(m) = mode
        && !matches!(m, Mode::Changes { .. })
    {
        let msg = format!(
            "{} mode posts about many rows at once; row buttons need changes mode",
            m.name()
        );
        f.err(cx, "buttons", f.get("buttons").map(|i| i.span()), msg);
    }
    buttons
}

/// A list of column names; an empty or blank name is an error (it can never match).
fn column_names(cx: &mut Cx<'_>, f: &Fields<'_, '_>, field: &str) -> Option<Vec<String>> {
    let list = f.string_list(cx, field)?;
    let mut names = Vec::with_capacity(list.len());
    for s in list {
        if s.value.trim().is_empty() {
            f.err(
                cx,
                field,
                Some(s.span),
                "a column name must not be empty".into(),
            );
        } else {
            names.push(s.value);
        }
    }
    Some(names)
}

fn read_sync_connection(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    connections: &BTreeMap<String, Arc<Connection>>,
    broken: &BTreeMap<String, Option<ConnectionKind>>,
) -> Option<Arc<Connection>> {
    let c = f.required_string(cx, "connection")?;
    match connections.get(&c.value) {
        Some(conn) => Some(conn.clone()),
        None if broken.contains_key(&c.value) => None,
        None => {
            let msg = no_such("connection", &c.shown, connections.keys());
            f.err(cx, "connection", Some(c.span), msg);
            None
        }
    }
}

fn read_schedule(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Schedule> {
    let every = f.string(cx, "schedule");
    let cron = f.string(cx, "cron");
    let zone = read_zone(cx, f);
    // The pattern is checked even when the zone is bad, so both are reported at once.
    let cron_zone = zone.flatten().unwrap_or(chrono_tz::UTC);
    let schedule = read_when(cx, f, every, cron, cron_zone);
    zone.and(schedule)
}

fn read_when(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    every: Option<Str>,
    cron: Option<Str>,
    zone: chrono_tz::Tz,
) -> Option<Schedule> {
    match (every, cron) {
        (Some(s), None) if s.value.trim() == "manual" => Some(Schedule::Manual),
        (Some(s), None) => match schedule::parse_interval(&s.value) {
            Ok(d) => Some(Schedule::Every(d)),
            Err(m) => {
                f.err(cx, "schedule", Some(s.span), m);
                None
            }
        },
        (None, Some(c)) => match schedule::parse_cron(&c.value, zone) {
            Ok(s) => Some(s),
            Err(m) => {
                f.err(cx, "cron", Some(c.span), m);
                None
            }
        },
        (Some(s), Some(_)) => {
            let msg = "give either schedule (\"every 5m\", \"manual\") or cron, not both".into();
            f.err(cx, "schedule", Some(s.span), msg);
            None
        }
        (None, None) => {
            let msg = "is required: \"every 5m\", \"manual\", or cron = \"0 9 * * MON-FRI\" with timezone".into();
            f.err(cx, "schedule", Some(f.span.clone()), msg);
            None
        }
    }
}

/// The `timezone` field, checked whatever the schedule (a bad zone is a mistake even where
/// it is not used yet). `None`: invalid (reported); `Some(None)`: not given.
fn read_zone(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Option<chrono_tz::Tz>> {
    let Some(zone) = f.string(cx, "timezone") else {
        return Some(None);
    };
    match schedule::parse_zone(&zone.value) {
        Ok(z) => Some(Some(z)),
        Err(m) => {
            f.err(cx, "timezone", Some(zone.span), m);
            None
        }
    }
}

fn read_routing(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    allow: &AllowList,
    mode: Option<&Mode>,
) -> Option<Routing> {
    let channel = f.string(cx, "channel");
    let column = f.string(cx, "channel_column");
    match (channel, column) {
        (Some(c), None) => match Target::parse(&c.value) {
            Ok(target) => {
                check_allowed(cx, f, allow, &target, &c);
                Some(Routing::Fixed(target))
            }
            Err(m) => {
                let m = if c.from_env {
                    format!("{} is not a channel", c.shown)
                } else {
                    m
                };
                f.err(cx, "channel", Some(c.span), m);
                None
            }
        },
        (None, Some(col)) => {
            if let Some(m) = mode
                && !matches!(m, Mode::Changes { .. })
            {
                let msg = format!(
                    "{} mode posts to one channel; per-row routing needs changes mode",
                    m.name()
                );
                f.err(cx, "channel_column", Some(col.span), msg);
                return None;
            }
            Some(Routing::Column(col.value))
        }
        (Some(c), Some(_)) => {
            f.err(
                cx,
                "channel",
                Some(c.span),
                "give channel or channel_column, not both".into(),
            );
            None
        }
        (None, None) => {
            let msg =
                "is required (a channel id or \"team/channel\"), or give channel_column".into();
            f.err(cx, "channel", Some(f.span.clone()), msg);
            None
        }
    }
}

fn check_allowed(cx: &mut Cx<'_>, f: &Fields<'_, '_>, allow: &AllowList, t: &Target, c: &Str) {
    let ok = match t {
        Target::TeamChannel { team, channel } => allow.allows_channel(team, channel),
        Target::Username(_) | Target::Email(_) => allow.direct_messages,
        // Checked when the id is resolved, at run time.
        Target::ChannelId(_) => true,
    };
    if !ok && matches!(t, Target::Username(_) | Target::Email(_)) {
        let msg = format!(
            "{} would be a direct message, and allow_direct_messages = false",
            c.shown
        );
        f.err(cx, "channel", Some(c.span.clone()), msg);
    } else if !ok {
        let msg = format!("{} is not in allowed_channels", c.shown);
        f.err(cx, "channel", Some(c.span.clone()), msg);
    }
}

fn read_sender(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Sender {
    let Some(s) = f.sub(cx, "sender", SENDER_FIELDS) else {
        return Sender::default();
    };
    s.finish(cx);
    let icon_url = s.string(cx, "icon_url").and_then(|u| {
        if u.value.starts_with("https://") || u.value.starts_with("http://") {
            Some(u.value)
        } else {
            s.err(
                cx,
                "icon_url",
                Some(u.span),
                format!("{} is not an http(s) URL", u.shown),
            );
            None
        }
    });
    let icon_emoji = s
        .string(cx, "icon_emoji")
        .map(|e| e.value.trim_matches(':').to_string());
    Sender {
        display_name: s.string(cx, "display_name").map(|d| d.value),
        icon_url,
        icon_emoji,
    }
}
