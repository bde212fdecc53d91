//! After a run: the log line, the sync's health, and a notice when it changed.

use datasync::notify;
use datasync::port::{Directory, Messaging, NewPost, PortError};
use datasync::run::RunReport;
use mattermost::Api;

use crate::ports::ApiPort;
use crate::settings::Loaded;

/// Logs the run (with the lease `holder`, so a cluster's runs can be told apart) and posts
/// a failure or recovery notice when the sync's health changed.
pub fn after_run(api: &Api, port: &ApiPort, loaded: &Loaded, holder: &str, report: &RunReport) {
    let r = &report.record;
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
    ];
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if r.ok {
        api.log_info("Data Sync: run finished", &pairs);
    } else {
        api.log_error("Data Sync: run failed", &pairs);
    }
    match notify::after_run(port, r) {
        Ok(Some(notice)) => post(api, port, loaded, &r.sync, &notice.text()),
        Ok(None) => {}
        Err(e) => api.log_error(
            "Data Sync: could not record the sync's health",
            &[("sync", &r.sync), ("error", &e.to_string())],
        ),
    }
}

/// Posts a notice as the bot into `NoticeChannel`, or logs it when none is set.
fn post(api: &Api, port: &ApiPort, loaded: &Loaded, sync: &str, text: &str) {
    let Some((team, channel)) = &loaded.notice_channel else {
        api.log_warn("Data Sync: notice", &[("sync", sync), ("notice", text)]);
        return;
    };
    let posted = port.channel_by_name(team, channel).and_then(|c| match c {
        Some(c) => port
            .create_post(&NewPost {
                channel_id: c.id,
                message: text.to_owned(),
                ..NewPost::default()
            })
            .map(|_| ()),
        None => Err(PortError::permanent(
            "GetChannelByNameForTeamName",
            format!("no channel {team}/{channel} (NoticeChannel)"),
        )),
    });
    if let Err(e) = posted {
        api.log_error(
            "Data Sync: could not post a notice; here it is",
            &[("sync", sync), ("notice", text), ("error", &e.to_string())],
        );
    }
}
