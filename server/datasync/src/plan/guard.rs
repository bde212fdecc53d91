//! The flood guard: above `max_messages`, one summary per destination.

use super::{Input, Message, MessagePlan, finish_message};
use crate::config::{SyncConfig, Target};

/// Above `max_messages`, one summary per destination replaces the messages (edits of
/// earlier posts are kept: they add no post). When even one summary per destination would
/// be more than the limit, the run is refused rather than leaving destinations untold.
pub(super) fn flood_guard(sync: &SyncConfig, input: Input<'_>, plan: &mut MessagePlan) {
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
