//! The document's top level: `[connections.*]`, `[syncs.*]`, `allowed_channels`,
//! `allow_direct_messages` and `[dry_run.users]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use super::connection::{CONNECTION_FIELDS, peek_kind, read_connection};
use super::reader::{Cx, Fields, each_table, sorted};
use super::sync::{SYNC_FIELDS, read_sync};
use super::transform::{TRANSFORM_FIELDS, read_transform};
use super::{AllowList, Config, DryRunUsers, is_name};

const TOP_FIELDS: &[&str] = &[
    "connections",
    "transforms",
    "syncs",
    "allowed_channels",
    "allow_direct_messages",
    "dry_run",
];
const DRY_RUN_FIELDS: &[&str] = &["users"];

pub(super) fn read_config(cx: &mut Cx<'_>, root: &DeTable<'_>) -> (Config, DryRunUsers) {
    let top = Fields::new(root, 0..0, String::new(), "", TOP_FIELDS);
    top.finish(cx);
    let allow = read_allow_list(cx, &top);
    let dry_run_users = read_dry_run(cx, &top);

    let mut connections = BTreeMap::new();
    let mut broken = BTreeMap::new();
    if let Some((table, _)) = top.table(cx, "connections") {
        each_table(cx, table, "connection", CONNECTION_FIELDS, |cx, name, f| {
            let before = cx.errors.len();
            match read_connection(cx, &f, name) {
                Some(c) if cx.errors.len() == before => {
                    connections.insert(name.to_string(), Arc::new(c));
                }
                // Already reported; syncs using it should not add "no such connection".
                _ => {
                    broken.insert(name.to_string(), peek_kind(f.table));
                }
            }
        });
    }

    let mut transforms = BTreeMap::new();
    if let Some((table, _)) = top.table(cx, "transforms") {
        each_table(cx, table, "transform", TRANSFORM_FIELDS, |cx, name, f| {
            // A broken one is reported; syncs using it are not told it does not exist.
            let t = read_transform(cx, &f, name).map(Arc::new);
            transforms.insert(name.to_string(), t);
        });
    }

    let mut syncs = Vec::new();
    match top.table(cx, "syncs") {
        Some((table, _)) => {
            let known = super::sync::Known {
                connections: &connections,
                broken: &broken,
                transforms: &transforms,
                allow: &allow,
            };
            each_table(cx, table, "sync", SYNC_FIELDS, |cx, name, f| {
                if let Some(s) = read_sync(cx, &f, name, &known) {
                    syncs.push(s);
                }
            });
        }
        None if top.get("syncs").is_none() => {
            cx.error("", "syncs", None, "no [syncs.<name>] defined".to_string());
        }
        None => {}
    }
    let plan = Config {
        connections,
        transforms: transforms
            .into_iter()
            .filter_map(|(name, t)| Some((name, t?)))
            .collect(),
        syncs,
        allow,
    };
    (plan, dry_run_users)
}

fn read_allow_list(cx: &mut Cx<'_>, top: &Fields<'_, '_>) -> AllowList {
    let mut allow = AllowList {
        direct_messages: top.bool(cx, "allow_direct_messages", true),
        ..AllowList::default()
    };
    let Some(item) = top.get("allowed_channels") else {
        return allow;
    };
    let DeValue::Array(items) = item.get_ref() else {
        let msg = "expected an array of \"team\" or \"team/channel\" names".to_string();
        top.err(cx, "allowed_channels", Some(item.span()), msg);
        return allow;
    };
    for i in items {
        let Some(s) = top.as_string(cx, "allowed_channels", i) else {
            continue;
        };
        match s.value.split_once('/') {
            Some((t, c)) if is_name(t) && is_name(c) => {
                allow.channels.insert((t.to_string(), c.to_string()));
            }
            None if is_name(&s.value) => {
                allow.teams.insert(s.value.clone());
            }
            _ => top.err(
                cx,
                "allowed_channels",
                Some(s.span),
                format!("{} is not a team name or \"team/channel\"", s.shown),
            ),
        }
    }
    allow
}

fn read_dry_run(cx: &mut Cx<'_>, top: &Fields<'_, '_>) -> BTreeMap<String, String> {
    let mut users = BTreeMap::new();
    let Some(dry) = top.sub(cx, "dry_run", DRY_RUN_FIELDS) else {
        return users;
    };
    dry.finish(cx);
    if let Some(f) = dry.sub(cx, "users", &[]) {
        for (email, item) in sorted(f.table) {
            match item.get_ref() {
                DeValue::String(u) => {
                    users.insert(email.to_lowercase(), u.trim_start_matches('@').to_string());
                }
                _ => f.err(
                    cx,
                    email,
                    Some(item.span()),
                    "expected a username".to_string(),
                ),
            }
        }
    }
    users
}
