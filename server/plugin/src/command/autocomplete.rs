//! The command's registration: its autocomplete tree, with sync names offered from the
//! running configuration by a dynamic list the plugin serves (`SYNCS_PATH`), so the list
//! follows every configuration change without registering the command again.

use mattermost::{AutocompleteData, Command};
use serde_json::{Value, json};

use super::access::Caller;
use super::{Cx, TRIGGER};
use crate::settings::Loaded;

/// The dynamic lists' paths under `/plugins/datasync` (relative in the registration: the
/// server adds the plugin's prefix).
pub const SYNCS_PATH: &str = "/api/v1/autocomplete/syncs";
pub const CONNECTIONS_PATH: &str = "/api/v1/autocomplete/connections";

/// The `/datasync` registration, for every team.
pub fn command() -> Command {
    let mut root = AutocompleteData::new(
        TRIGGER,
        "[command]",
        "Data Sync: list, status, run, preview, pause, resume, history, reset, test, validate, help",
    );
    let plain = [
        (
            "list",
            "",
            "Every sync: schedule, channel, state, last and next run",
        ),
        ("validate", "", "Check the saved configuration"),
        ("help", "", "What each command does"),
    ];
    for (trigger, hint, help) in plain {
        root.add_command(AutocompleteData::new(trigger, hint, help));
    }
    let with_sync = [
        (
            "status",
            "[sync]",
            "One sync in detail (all of them without a name)",
            false,
        ),
        (
            "history",
            "<sync> [n]",
            "The last n runs of a sync (default 10)",
            true,
        ),
        (
            "run",
            "<sync>",
            "Run a sync now; you are told when it finishes",
            true,
        ),
        (
            "preview",
            "<sync>",
            "What a sync's next run would post (nothing is posted)",
            true,
        ),
        ("pause", "<sync>", "No scheduled runs until resumed", true),
        ("resume", "<sync>", "Back on its schedule", true),
        (
            "reset",
            "<sync>",
            "Forget a sync's state: its next run records a new baseline",
            true,
        ),
    ];
    for (trigger, hint, help, required) in with_sync {
        let mut sub = AutocompleteData::new(trigger, hint, help);
        sub.add_dynamic_list_argument("A sync", SYNCS_PATH.trim_start_matches('/'), required);
        root.add_command(sub);
    }
    let mut test = AutocompleteData::new(
        "test",
        "<connection>",
        "Connect to a source and run a trivial query",
    );
    test.add_dynamic_list_argument(
        "A connection",
        CONNECTIONS_PATH.trim_start_matches('/'),
        true,
    );
    root.add_command(test);
    Command {
        trigger: TRIGGER.to_owned(),
        auto_complete: true,
        auto_complete_desc: "Data Sync: see and run your syncs".to_owned(),
        auto_complete_hint: "[command]".to_owned(),
        display_name: "Data Sync".to_owned(),
        description: "See, run, preview, pause and resume Data Sync's syncs".to_owned(),
        autocomplete_data: Some(root),
        ..Command::default()
    }
}

/// A dynamic list's answer: names, each with a line of help (a sync's schedule, a
/// connection's kind).
pub fn items(names: &[(String, String)]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|(name, help)| json!({"Item": name, "Hint": "", "HelpText": help}))
            .collect(),
    )
}

/// What a dynamic list offers: the syncs the caller may see (with their schedules), or
/// every connection (with its kind).
pub fn names(
    cx: &Cx<'_>,
    caller: &Caller,
    loaded: &Loaded,
    connections: bool,
) -> Vec<(String, String)> {
    if connections {
        return loaded
            .config
            .connections
            .values()
            .map(|c| (c.name.clone(), format!("{:?}", c.kind).to_lowercase()))
            .collect();
    }
    loaded
        .config
        .syncs
        .iter()
        .filter(|s| caller.sees(cx, s))
        .map(|s| (s.name.clone(), s.schedule.describe()))
        .collect()
}
