//! `/datasync`: what admins and permitted users ask of Data Sync from chat.
//!
//! - `parse`: the words after the trigger → a [`Sub`]command, or what is wrong with them.
//! - `access`: who may do what ([`Level`]) and which syncs they may see.
//! - `show`: list, status and history as Markdown, times in the caller's time zone.
//! - `autocomplete`: the command's autocomplete tree and the dynamic list of sync names.
//! - `conversation`: the same commands in a direct message to the bot or an @-mention.
//! - `actions`: the buttons on failure notices (run now, pause, show the error).
//! - `row_buttons`: *Acknowledge* and *Snooze this row* on change messages.
//! - `transforms`: uploaded WebAssembly transform modules (list, add with a file).
//! - `api`: the same operations as JSON under `/plugins/datasync/api/v1/` (System Console).
//!
//! Every reply is Markdown for the caller alone. Runs go to the ticker (`Shared`), which
//! tells the caller how they went.

pub mod access;
pub mod actions;
pub mod api;
pub mod autocomplete;
pub mod conversation;
pub mod parse;
pub mod row_buttons;
pub mod show;
pub mod transforms;

use chrono::Utc;
use datasync::clock::{Clock, SystemClock};
use datasync::config::SyncConfig;
use datasync::gate::Open;
use datasync::pause::{self, Paused};
use datasync::render::neutralise;
use datasync::run::{self, Engine, RunMode, RunReport};
use datasync::scheduler::{self, Reason};
use datasync::state::StateError;
use mattermost::Api;

use crate::ports::ApiPort;
use crate::settings::{Loaded, Settings, describe};
use crate::ticker::{RunRequest, Shared};
use access::{Caller, Level};
pub use parse::{Sub, parse};

/// The command's trigger.
pub const TRIGGER: &str = "datasync";

/// What a subcommand works with.
pub struct Cx<'a> {
    pub api: &'a Api,
    pub port: &'a ApiPort,
    pub shared: &'a Shared,
    /// Wakes the ticker (a run was asked for).
    pub wake: &'a dyn Fn(),
}

/// Runs a subcommand for `caller`; the reply (Markdown).
pub fn execute(cx: &Cx<'_>, caller: &Caller, sub: Sub) -> String {
    if let Some(denied) = caller.denies(&sub) {
        return denied;
    }
    let Some(loaded) = cx.shared.config() else {
        return match sub {
            Sub::Help => help(caller),
            Sub::Validate => validate(cx),
            _ => "No valid configuration is running yet: `/datasync validate` shows what is wrong with the saved one.".into(),
        };
    };
    let now = SystemClock.now();
    match sub {
        Sub::Help => help(caller),
        Sub::Validate => validate(cx),
        Sub::List | Sub::Status(None) => show::list(cx, caller, &loaded, now),
        Sub::Status(Some(name)) => with_sync(cx, caller, &loaded, &name, |s| {
            show::status(cx, caller, s, now)
        }),
        Sub::History(name, n) => with_sync(cx, caller, &loaded, &name, |s| {
            show::history(cx, caller, s, n)
        }),
        Sub::Run(name) => with_sync(cx, caller, &loaded, &name, |s| run_now(cx, caller, s)),
        Sub::Preview(name) => with_sync(cx, caller, &loaded, &name, |s| preview(cx, &loaded, s)),
        Sub::Pause(name) => with_sync(cx, caller, &loaded, &name, |s| pause(cx, caller, s)),
        Sub::Resume(name) => with_sync(cx, caller, &loaded, &name, |s| resume(cx, caller, s)),
        Sub::Reset(name, confirmed) => with_sync(cx, caller, &loaded, &name, |s| {
            reset(cx, &loaded, s, confirmed)
        }),
        Sub::Test(name) => test(&loaded, &name),
        Sub::Transforms => transforms::list(cx, now),
        Sub::TransformAdd(name, _) => transforms::attach_a_file(&name),
    }
}

/// How long `test` waits for a connection.
pub(super) const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to a source and runs a trivial query (databases) or fetches its base URL.
fn test(loaded: &Loaded, name: &str) -> String {
    let Some(conn) = loaded.config.connections.get(name) else {
        let names: Vec<String> = loaded
            .config
            .connections
            .keys()
            .map(|n| format!("`{n}`"))
            .collect();
        return format!(
            "There is no connection named `{name}`. Connections: {}.",
            names.join(", ")
        );
    };
    let start = std::time::Instant::now();
    match datasync::source::test_connection(conn, TEST_TIMEOUT) {
        Ok(what) => format!(
            ":white_check_mark: Connection **{name}** works: {} (answered in {} ms).",
            neutralise(&what),
            start.elapsed().as_millis()
        ),
        Err(e) => format!(
            ":x: Connection **{name}** failed: {}",
            neutralise(&e.to_string())
        ),
    }
}

/// Calls `f` with the named sync if the caller may see it; else says why not.
fn with_sync(
    cx: &Cx<'_>,
    caller: &Caller,
    loaded: &Loaded,
    name: &str,
    f: impl FnOnce(&SyncConfig) -> String,
) -> String {
    match loaded.config.syncs.iter().find(|s| s.name == name) {
        Some(s) if caller.sees(cx, s) => f(s),
        Some(_) => format!(
            "You cannot see **{name}**: it posts into channels you cannot read (or into each row's own channel)."
        ),
        None => {
            let names: Vec<String> = loaded
                .config
                .syncs
                .iter()
                .filter(|s| caller.sees(cx, s))
                .map(|s| format!("`{}`", s.name))
                .collect();
            if names.is_empty() {
                format!("There is no sync named `{name}` that you can see.")
            } else {
                format!(
                    "There is no sync named `{name}`. Syncs: {}.",
                    names.join(", ")
                )
            }
        }
    }
}

fn help(caller: &Caller) -> String {
    let mut text = String::from(
        "#### /datasync\n\
         | Command | What it does |\n| --- | --- |\n\
         | `/datasync list` | every sync: schedule, channel, state, last and next run |\n\
         | `/datasync status [sync]` | one sync in detail: last run, its errors in full, next run |\n\
         | `/datasync history <sync> [n]` | the last n runs (default 10) |\n\
         | `/datasync validate` | checks the saved configuration |\n\
         | `/datasync run <sync>` | runs it now; you are told when it finishes |\n\
         | `/datasync preview <sync>` | what its next run would post, from the live source; nothing is posted or stored |\n\
         | `/datasync pause <sync>` | no scheduled runs until resumed (a delivery under way stops) |\n\
         | `/datasync resume <sync>` | back on its schedule |\n\
         | `/datasync reset <sync>` | forgets its state: the next run records a new baseline (asks first) |\n\
         | `/datasync test <connection>` | connects to a source and runs a trivial query |\n\
         | `/datasync transforms` | the uploaded transform modules |\n\
         | `transform add <name>` | in a direct message to the bot, with the `.wasm` file attached: uploads a transform module (system admins) |\n\
         | `/datasync help` | this table |\n",
    );
    text.push_str(match caller.level {
        Level::Admin => "\nYou are a system admin: you may use every command on every sync.",
        Level::Operate => {
            "\nYou may use every command on the syncs that post into channels you can read."
        }
        Level::View => {
            "\nYou may use `list`, `status`, `history`, `validate` and `help`, on the syncs that post into channels you can read."
        }
        Level::None => {
            "\nYou may not use Data Sync's commands: a system admin can add you to *Viewers* or *Operators* in System Console → Plugins → Data Sync."
        }
    });
    text
}

fn validate(cx: &Cx<'_>) -> String {
    let settings = match cx.api.load_plugin_configuration::<serde_json::Value>() {
        Ok(v) => Settings::from_json(&v),
        Err(e) => return format!("Could not read the settings: {e}"),
    };
    match settings.load() {
        Ok(loaded) => format!(
            ":white_check_mark: The saved configuration is valid: {}, {}.",
            show::count(loaded.config.syncs.len(), "sync"),
            show::count(loaded.config.connections.len(), "connection"),
        ),
        Err(problems) => format!(":x: {}", describe(&problems)),
    }
}

/// Hands a run of `sync` to the ticker and wakes it; the caller is told the result where
/// they asked (nowhere when their channel is empty: the HTTP API).
pub(super) fn queue_run(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig) {
    cx.shared.request_run(RunRequest {
        sync: sync.name.clone(),
        user_id: caller.user_id.clone(),
        channel_id: caller.channel_id.clone(),
        root_id: caller.root_id.clone(),
    });
    (cx.wake)();
}

/// Pauses (by the caller, now) or resumes `sync`, waking the ticker when that changed
/// something; whether it did.
pub(super) fn set_pause(
    cx: &Cx<'_>,
    caller: &Caller,
    sync: &SyncConfig,
    paused: bool,
) -> Result<bool, StateError> {
    let pause = paused.then(|| Paused {
        by: caller.username.clone(),
        at: Utc::now(),
    });
    let changed = pause::set_paused(cx.port, &sync.name, pause)?;
    if changed {
        (cx.wake)();
    }
    Ok(changed)
}

fn run_now(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig) -> String {
    queue_run(cx, caller, sync);
    format!(
        "Running **{}** now; you will be told here when it finishes.",
        sync.name
    )
}

/// What the sync's next run would post now, from the live source; nothing is posted or
/// stored.
pub fn preview_report(cx: &Cx<'_>, loaded: &Loaded, sync: &SyncConfig) -> RunReport {
    let engine = Engine {
        port: cx.port,
        clock: &SystemClock,
        fetch: &run::real_fetch,
        allow: &loaded.config.allow,
        gate: &Open,
    };
    run::run_sync(&engine, sync, RunMode::Preview)
}

/// The next run's messages as they would be posted, as text.
fn preview(cx: &Cx<'_>, loaded: &Loaded, sync: &SyncConfig) -> String {
    let report = preview_report(cx, loaded, sync);
    let label = |id: &str| show::channel_label(cx.api, id);
    let text = datasync::report::text(&report, &label);
    let mut reply = format!(
        "Preview of **{}**: what its next run would post now (nothing was posted or stored).\n```\n{}```",
        sync.name,
        text.replace("```", "ʼʼʼ")
    );
    if reply.len() > show::MAX_REPLY {
        reply = show::cut(&reply, show::MAX_REPLY);
        reply.push_str("\n```\n(cut: the preview is longer than one post)");
    }
    reply
}

fn pause(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig) -> String {
    match set_pause(cx, caller, sync, true) {
        Ok(true) => format!(
            "Paused **{}**: no scheduled runs until `/datasync resume {}` (a delivery under way stops before its next message).",
            sync.name, sync.name
        ),
        Ok(false) => format!("**{}** is paused already.", sync.name),
        Err(e) => format!("Could not pause **{}**: {e}", sync.name),
    }
}

fn resume(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig) -> String {
    match set_pause(cx, caller, sync, false) {
        Ok(true) => format!("Resumed **{}**: it runs on its schedule again.", sync.name),
        Ok(false) => format!("**{}** was not paused.", sync.name),
        Err(e) => format!("Could not resume **{}**: {e}", sync.name),
    }
}

/// Forgets a sync's state, holding its lease meanwhile so no run of it is going on.
fn reset(cx: &Cx<'_>, loaded: &Loaded, sync: &SyncConfig, confirmed: bool) -> String {
    let name = &sync.name;
    if !confirmed {
        return format!(
            "Reset forgets everything **{name}** knows: its snapshot, undelivered messages, threads and history. \
             Its next run records a new baseline and posts nothing. To go ahead: `/datasync reset {name} confirm`"
        );
    }
    let holder = format!("reset-{}", std::process::id());
    let lease = match scheduler::claim(
        cx.port,
        sync,
        &holder,
        Reason::Now,
        Utc::now(),
        loaded.lease,
    ) {
        Ok(Ok(lease)) => lease,
        Ok(Err(_)) => return format!("**{name}** is running; reset it when the run has finished."),
        Err(e) => return format!("Could not reset **{name}**: {e}"),
    };
    let result = run::reset(cx.port, name);
    let _ = lease.release(cx.port, true);
    match result {
        Ok(()) => format!("Reset **{name}**: its next run records a new baseline."),
        Err(e) => format!("Could not reset **{name}** completely: {e}"),
    }
}
