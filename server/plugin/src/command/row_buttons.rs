//! The buttons a sync may put on its change messages: *Acknowledge* (anyone who may look
//! at syncs) and *Snooze this row* (operators).
//!
//! What a press acts on is read from the post, never from the request: the post must be
//! the bot's, about a row of a sync that still offers the button, in a channel the presser
//! can read. An acknowledgement and a snooze are marked on the post for the whole channel.

use chrono::{DateTime, Utc};
use datasync::buttons;
use datasync::config::SyncConfig;
use datasync::render::neutralise;
use datasync::snooze::{self, MAX_SNOOZED, Snooze};
use mattermost::Post;
use serde_json::{Map, Value};

use super::Cx;
use super::access::{Caller, Level};
use super::actions::RowPress;

/// Acts on a press of `what` on post `post_id` by `user_id`; the answer for the presser.
pub fn press(cx: &Cx<'_>, user_id: &str, post_id: &str, what: &RowPress) -> String {
    match try_press(cx, user_id, post_id, what) {
        Ok(answer) | Err(answer) => answer,
    }
}

fn try_press(cx: &Cx<'_>, user_id: &str, post_id: &str, what: &RowPress) -> Result<String, String> {
    let loaded = cx
        .shared
        .config()
        .ok_or("No valid configuration is running yet; try again in a moment.")?;
    let mut post = cx
        .api
        .get_post(post_id)
        .map_err(|_| "That message is gone.".to_owned())?;
    let mut props = post.props_json();
    let (name, row) = (post.user_id == cx.shared.bot_id())
        .then(|| buttons::row_of(&props))
        .flatten()
        .ok_or("That is not a Data Sync message about a row.")?;
    let caller = Caller::new(cx.api, &loaded.access, user_id, &post.channel_id, "")?;
    let needed = match what {
        RowPress::Acknowledge => Level::View,
        RowPress::Snooze(..) => Level::Operate,
    };
    if let Some(denied) = caller.lacks(needed) {
        return Err(denied);
    }
    let reads = cx
        .api
        .has_permission_to_channel(user_id, &post.channel_id, "read_channel")
        .unwrap_or(false);
    if !reads {
        return Err("You cannot read the channel that message is in.".into());
    }
    let sync = loaded
        .config
        .syncs
        .iter()
        .find(|s| s.name == name && offers(s, what))
        .ok_or_else(|| format!("**{name}** no longer offers this button."))?;
    let now = Utc::now();
    let answer = match what {
        RowPress::Acknowledge => {
            if let Some(by) = buttons::acknowledged_by(&props) {
                return Ok(format!("@{by} acknowledged this message already."));
            }
            buttons::acknowledge(&mut props, &caller.username, now);
            "Acknowledged: the message now shows it to everyone in the channel.".to_owned()
        }
        RowPress::Snooze(length, label) => {
            let until = now + *length;
            snooze_row(cx, sync, &row, &caller, (until, now))?;
            buttons::snoozed(&mut props, &caller.username, until);
            format!(
                "No messages about row `{}` of **{}** for {label}: until {}.",
                neutralise(&row),
                sync.name,
                super::show::when(until, now, caller.zone)
            )
        }
    };
    match (mark(cx, &mut post, &props), what) {
        (Ok(()), _) => Ok(answer),
        (Err(e), RowPress::Acknowledge) => Err(e),
        // The snooze holds whether or not the post shows it.
        (Err(e), RowPress::Snooze(..)) => Ok(format!("{answer}\n{e}")),
    }
}

fn offers(sync: &SyncConfig, what: &RowPress) -> bool {
    match what {
        RowPress::Acknowledge => sync.buttons.acknowledge,
        RowPress::Snooze(..) => sync.buttons.snooze,
    }
}

/// Stores the snooze of `row` until `until`.
fn snooze_row(
    cx: &Cx<'_>,
    sync: &SyncConfig,
    row: &str,
    caller: &Caller,
    (until, now): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), String> {
    let s = Snooze {
        by: caller.username.clone(),
        until,
    };
    match snooze::snooze(cx.port, &sync.name, row, &s, now) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "**{}** has {MAX_SNOOZED} rows snoozed already; wait for some snoozes to end.",
            sync.name
        )),
        Err(e) => Err(format!("Could not snooze the row: {e}")),
    }
}

/// Saves the marked props on the post.
fn mark(cx: &Cx<'_>, post: &mut Post, props: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in props {
        post.set_prop_json(k, v);
    }
    cx.api
        .update_post(post)
        .map(|_| ())
        .map_err(|e| format!("Could not mark the message: {e}"))
}
