//! After a run: the log line, the sync's health, and a notice when it changed; and what
//! the bot tells whoever asked for a run.

use datasync::notify;
use datasync::port::{Directory, Messaging, NewPost, PortError};
use datasync::run::{RunMode, RunReport};
use mattermost::{Api, Post};
use serde_json::{Map, Value};

use crate::ports::ApiPort;
use crate::settings::Loaded;
use crate::ticker::RunRequest;

/// Logs the run (with the lease `holder`, so a cluster's runs can be told apart) and posts
/// a failure or recovery notice when the sync's health changed. A run that only resumed an
/// earlier delivery is logged if it did something, and says nothing about health (it did
/// not read the source).
pub fn after_run(
    api: &Api,
    port: &ApiPort,
    loaded: &Loaded,
    holder: &str,
    mode: RunMode,
    report: &RunReport,
) {
    let r = &report.record;
    let resumed = mode == RunMode::Resume;
    if resumed && r.did_nothing() {
        return;
    }
    let yes_no = |b: bool| if b { "true" } else { "false" };
    let pairs = [
        ("sync", r.sync.clone()),
        ("ok", yes_no(r.ok).to_owned()),
        ("baseline", yes_no(r.baseline).to_owned()),
        ("rows", r.rows.to_string()),
        ("added", r.added.to_string()),
        ("changed", r.changed.to_string()),
        ("removed", r.removed.to_string()),
        ("messages", r.messages.to_string()),
        ("errors", r.errors.join("; ")),
        ("notes", r.notes.join("; ")),
        ("holder", holder.to_owned()),
        ("resumed", yes_no(resumed).to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if r.ok {
        api.log_info("Data Sync: run finished", &pairs);
    } else {
        api.log_error("Data Sync: run failed", &pairs);
    }
    if resumed {
        return;
    }
    match notify::after_run(port, r) {
        Ok(Some(notice)) => {
            // A failure notice carries buttons: run now, pause, show the error.
            let props = match &notice {
                notify::Notice::Failing { sync, .. } => crate::command::actions::notice_props(sync),
                notify::Notice::Recovered { .. } => Map::new(),
            };
            post(
                api,
                port,
                loaded.notice_channel.as_ref(),
                &notice.text(),
                props,
            )
        }
        Ok(None) => {}
        Err(e) => api.log_error(
            "Data Sync: could not record the sync's health",
            &[("sync", &r.sync), ("error", &e.to_string())],
        ),
    }
}

/// Announces an invalid configuration (once per list of problems, cluster-wide) where the
/// last valid one sends its notices (`None`: none is running).
pub fn config_invalid(api: &Api, port: &ApiPort, last_good: Option<&Loaded>, problems: &[String]) {
    match notify::config_problems(port, problems, last_good.is_some()) {
        Ok(Some(text)) => post(
            api,
            port,
            last_good.and_then(|l| l.notice_channel.as_ref()),
            &text,
            Map::new(),
        ),
        Ok(None) => {}
        Err(e) => api.log_error(
            "Data Sync: could not record the configuration notice",
            &[("error", &e.to_string())],
        ),
    }
}

/// A valid configuration is running: a later invalid one is announced again.
pub fn config_valid(api: &Api, port: &ApiPort) {
    if let Err(e) = notify::config_valid(port) {
        api.log_warn(
            "Data Sync: could not clear the configuration notice",
            &[("error", &e.to_string())],
        );
    }
}

/// Posts a notice as the bot into the notice channel (`team`, `channel`), or, when none is
/// set, into a direct message to each system admin. What cannot be posted is logged with
/// the notice.
fn post(
    api: &Api,
    port: &ApiPort,
    notice_channel: Option<&(String, String)>,
    text: &str,
    props: Map<String, Value>,
) {
    let channels = match notice_channel {
        Some((team, channel)) => port.channel_by_name(team, channel).and_then(|c| match c {
            Some(c) => Ok(vec![c.id]),
            None => Err(PortError::permanent(
                "GetChannelByNameForTeamName",
                format!("no channel {team}/{channel} (NoticeChannel)"),
            )),
        }),
        None => port
            .system_admins()
            .and_then(|admins| admins.iter().map(|id| port.direct_channel(id)).collect()),
    };
    let posted = channels.and_then(|channels| {
        if channels.is_empty() {
            return Err(PortError::permanent(
                "GetUsers",
                "no NoticeChannel and no active system admin to tell".to_owned(),
            ));
        }
        channels.into_iter().try_for_each(|channel_id| {
            let post = NewPost {
                channel_id,
                message: text.to_owned(),
                props: props.clone(),
                ..NewPost::default()
            };
            port.create_post(&post).map(|_| ())
        })
    });
    if let Err(e) = posted {
        api.log_error(
            "Data Sync: could not post a notice; here it is",
            &[("notice", text), ("error", &e.to_string())],
        );
    }
}

/// Tells whoever asked for a run something only they see (an ephemeral post where they
/// asked). What cannot be told is logged.
pub fn tell(api: &Api, port: &ApiPort, to: &RunRequest, text: &str) {
    if to.channel_id.is_empty() {
        return; // asked through the HTTP API: the result is in the status
    }
    let mut post = Post::new(&to.channel_id, text);
    post.user_id = port.bot_id().to_owned();
    post.root_id = to.root_id.clone();
    if let Err(e) = api.send_ephemeral_post(&to.user_id, &post) {
        api.log_warn(
            "Data Sync: could not tell the user how their run went",
            &[("sync", &to.sync), ("error", &e.to_string())],
        );
    }
}

/// A finished run in one paragraph, for whoever asked for it.
pub fn run_result(report: &RunReport) -> String {
    let r = &report.record;
    let secs = r.duration_ms as f64 / 1000.0;
    let counts = format!(
        "{} rows read, {} added, {} changed, {} removed",
        r.rows, r.added, r.changed, r.removed
    );
    let mut text = if !r.ok {
        format!("**{}** failed after {secs:.1} s ({counts}):", r.sync)
    } else if r.baseline {
        format!(
            "**{}** finished in {secs:.1} s: baseline recorded, nothing posted ({counts}).",
            r.sync
        )
    } else {
        format!(
            "**{}** finished in {secs:.1} s: {} posted ({counts}).",
            r.sync,
            crate::command::show::count(r.messages, "message")
        )
    };
    for line in r.errors.iter().chain(&r.notes) {
        text.push_str("\n- ");
        text.push_str(&datasync::render::neutralise(line));
    }
    text
}
