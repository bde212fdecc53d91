//! List, status and history as Markdown, times in the caller's time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use datasync::config::{Routing, SyncConfig};
use datasync::notify;
use datasync::pause::{self, PausedSyncs};
use datasync::render::neutralise;
use datasync::run::{self, HistoryRecord};
use datasync::scheduler;
use datasync::snooze;
use mattermost::Api;

use super::Cx;
use super::access::Caller;
use crate::settings::Loaded;

/// The longest reply: a post holds 16,383 characters.
pub const MAX_REPLY: usize = 15_000;

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// `n` and the word, plural unless `n` is 1: `1 message`, `3 messages`.
pub fn count(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// A time as the caller reads it: `2026-11-30 10:15 CET (3 min ago)`.
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> String {
    let local = t.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z");
    let d = (t - now).num_seconds();
    let span = span(d.unsigned_abs());
    if d < -30 {
        format!("{local} ({span} ago)")
    } else if d > 30 {
        format!("{local} (in {span})")
    } else {
        format!("{local} (now)")
    }
}

/// A duration in words: `45 s`, `12 min`, `3 h 5 min`, `2 days`.
pub fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => match (secs / 3600, secs % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => match secs / 86_400 {
            1 => "1 day".into(),
            n => format!("{n} days"),
        },
    }
}

/// Names a channel id for people: `~channel` (its display name for DMs and groups).
pub fn channel_label(api: &Api, id: &str) -> String {
    if id.is_empty() {
        return "(not routed)".into();
    }
    match api.get_channel(id) {
        Ok(c) if c.channel_type == "O" || c.channel_type == "P" => format!("~{}", c.name),
        Ok(c) if !c.display_name.is_empty() => c.display_name,
        Ok(_) => "a direct message".into(),
        Err(_) => id.to_owned(),
    }
}

/// Where a sync posts, as configured.
fn target(sync: &SyncConfig) -> String {
    match &sync.routing {
        Routing::Fixed(t) => t.to_string(),
        Routing::Column(c) => format!("each row's `{c}`"),
    }
}

/// A sync's state in a few words: paused, running, failing, ok, never ran.
fn state(
    kv: &Cx<'_>,
    sync: &SyncConfig,
    paused: &PausedSyncs,
    last: Option<&HistoryRecord>,
    running: bool,
) -> String {
    if let Some(p) = paused.get(&sync.name) {
        return format!(":double_vertical_bar: paused by @{}", p.by);
    }
    if running {
        return ":arrows_counterclockwise: running".into();
    }
    match notify::failing_since(kv.port, &sync.name) {
        Ok(Some(_)) => ":x: failing".into(),
        _ => match last {
            Some(r) if r.ok => ":white_check_mark: ok".into(),
            Some(_) => ":x: failed".into(),
            None => "never ran".into(),
        },
    }
}

fn paused_syncs(cx: &Cx<'_>) -> PausedSyncs {
    pause::paused(cx.port).unwrap_or_default()
}

/// The last run in a few words.
fn last_run(r: &HistoryRecord, now: DateTime<Utc>, zone: Tz) -> String {
    let what = if r.baseline {
        "baseline".to_owned()
    } else {
        count(r.messages, "message")
    };
    format!("{}, {what}", when(r.started, now, zone))
}

/// Every sync the caller may see, one table row each.
pub fn list(cx: &Cx<'_>, caller: &Caller, loaded: &Loaded, now: DateTime<Utc>) -> String {
    let paused = paused_syncs(cx);
    let visible: Vec<&SyncConfig> = loaded
        .config
        .syncs
        .iter()
        .filter(|s| caller.sees(cx, s))
        .collect();
    if visible.is_empty() {
        return if loaded.config.syncs.is_empty() {
            "No syncs are configured yet: System Console → Plugins → Data Sync.".into()
        } else {
            "You cannot see any sync: none posts into a channel you can read.".into()
        };
    }
    let mut text = format!(
        "#### Data Sync: {}\n| Sync | Schedule | Posts to | State | Last run | Next run |\n| --- | --- | --- | --- | --- | --- |\n",
        count(visible.len(), "sync")
    );
    for s in visible {
        let history = run::history(cx.port, &s.name).unwrap_or_default();
        let (next, holder) = scheduler::status(cx.port, s, now).unwrap_or_default();
        let next = match (paused.contains_key(&s.name), next) {
            (true, _) => "paused".to_owned(),
            (false, Some(t)) => when(t, now, caller.zone),
            (false, None) => "only when run".to_owned(),
        };
        let row = format!(
            "| **{}** | {} | {} | {} | {} | {} |\n",
            s.name,
            s.schedule.describe(),
            target(s),
            state(cx, s, &paused, history.last(), !holder.is_empty()),
            history
                .last()
                .map_or("never".into(), |r| last_run(r, now, caller.zone)),
            next
        );
        if text.len() + row.len() > MAX_REPLY {
            text.push_str(
                "\n(more syncs than one post holds: ask for one with `/datasync status <sync>`)",
            );
            break;
        }
        text.push_str(&row);
    }
    text
}

/// One sync in detail: where it posts, its state, the last run with its errors in full.
pub fn status(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig, now: DateTime<Utc>) -> String {
    let paused = paused_syncs(cx);
    let history = run::history(cx.port, &sync.name).unwrap_or_default();
    let (next, holder) = scheduler::status(cx.port, sync, now).unwrap_or_default();
    let mut text = format!(
        "#### {}\n- **State:** {}\n- **Schedule:** {}\n- **Posts to:** {} ({} mode)\n",
        sync.name,
        state(cx, sync, &paused, history.last(), !holder.is_empty()),
        sync.schedule.describe(),
        target(sync),
        sync.mode.name(),
    );
    if let Some(p) = paused.get(&sync.name) {
        text.push_str(&format!(
            "- **Paused** by @{} at {}\n",
            p.by,
            when(p.at, now, caller.zone)
        ));
    }
    if let Ok(Some(since)) = notify::failing_since(cx.port, &sync.name) {
        text.push_str(&format!(
            "- **Failing since** {}\n",
            when(since, now, caller.zone)
        ));
    }
    if sync.buttons.snooze {
        text.push_str(&snoozed_rows(cx, caller, sync, now));
    }
    match (paused.contains_key(&sync.name), next) {
        (true, _) => {}
        (false, Some(t)) => {
            text.push_str(&format!("- **Next run:** {}\n", when(t, now, caller.zone)))
        }
        (false, None) => text.push_str("- **Next run:** only when run (`/datasync run`)\n"),
    }
    match history.last() {
        None => text.push_str("- **Last run:** never\n"),
        Some(r) => {
            text.push_str(&format!(
                "- **Last run:** {} in {}: {} rows read, {} added, {} changed, {} removed, {} posted{}\n",
                when(r.started, now, caller.zone),
                span_ms(r.duration_ms),
                r.rows,
                r.added,
                r.changed,
                r.removed,
                count(r.messages, "message"),
                if r.baseline { " (baseline)" } else { "" },
            ));
            for e in &r.errors {
                text.push_str(&format!("  - :x: {}\n", neutralise(e)));
            }
            for n in &r.notes {
                text.push_str(&format!("  - note: {}\n", neutralise(n)));
            }
        }
    }
    cut(&text, MAX_REPLY)
}

/// How many rows are snoozed, the first few with who snoozed them and until when.
fn snoozed_rows(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig, now: DateTime<Utc>) -> String {
    const SHOWN: usize = 5;
    let all = match snooze::snoozed(cx.port, &sync.name) {
        Ok(all) => all,
        Err(e) => {
            return format!(
                "- **Snoozed rows:** unknown: {}\n",
                neutralise(&e.to_string())
            );
        }
    };
    let active: Vec<_> = all.iter().filter(|(_, s)| s.until > now).collect();
    if active.is_empty() {
        return String::new();
    }
    let mut text = format!("- **Snoozed rows:** {}\n", active.len());
    for (row, s) in active.iter().take(SHOWN) {
        text.push_str(&format!(
            "  - `{}` by @{} until {}\n",
            cut(&neutralise(row), 80),
            s.by,
            when(s.until, now, caller.zone)
        ));
    }
    if active.len() > SHOWN {
        text.push_str(&format!("  - and {} more\n", active.len() - SHOWN));
    }
    text
}

fn span_ms(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        span(ms / 1000)
    }
}

/// The last `n` runs, newest first.
pub fn history(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig, n: usize) -> String {
    let records = match run::history(cx.port, &sync.name) {
        Ok(r) => r,
        Err(e) => return format!("Could not read the history of **{}**: {e}", sync.name),
    };
    if records.is_empty() {
        return format!("**{}** has not run yet.", sync.name);
    }
    let now = Utc::now();
    let mut text = format!(
        "#### {}: the last {}\n| Started | Took | Rows | Added | Changed | Removed | Messages | Result |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
        sync.name,
        count(n.min(records.len()), "run")
    );
    for r in records.iter().rev().take(n) {
        let result = match (r.ok, r.baseline, r.errors.first()) {
            (true, true, _) => "baseline".to_owned(),
            (true, false, None) => "ok".to_owned(),
            (true, false, Some(_)) => format!("ok, {} not posted", r.errors.len()),
            (false, _, Some(e)) => format!(":x: {}", neutralise(&cut(e, 200)).replace('|', "\\|")),
            (false, _, None) => ":x: failed".to_owned(),
        };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            when(r.started, now, caller.zone),
            span_ms(r.duration_ms),
            r.rows,
            r.added,
            r.changed,
            r.removed,
            r.messages,
            result
        ));
    }
    cut(&text, MAX_REPLY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans_read_plainly() {
        let now: DateTime<Utc> = "2026-11-30T10:00:00Z".parse().unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let t: DateTime<Utc> = "2026-11-30T09:57:00Z".parse().unwrap();
        assert_eq!(when(t, now, berlin), "2026-11-30 10:57 CET (3 min ago)");
        let later: DateTime<Utc> = "2026-11-30T12:05:00Z".parse().unwrap();
        assert_eq!(
            when(later, now, Tz::UTC),
            "2026-11-30 12:05 UTC (in 2 h 5 min)"
        );
        assert_eq!(when(now, now, Tz::UTC), "2026-11-30 10:00 UTC (now)");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(86_400 * 3), "3 days");
        assert_eq!(span_ms(1234), "1.2 s");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 10), "abc");
    }
}
