//! The buttons a sync may put on its change messages (`buttons = ["acknowledge", "snooze"]`)
//! and the marks a press leaves on the post.
//!
//! A press reaches the plugin's actions endpoint ([`ACTIONS_URL`]). What it acts on is read
//! from the post itself ([`ROW_PROP`]: the sync and the row's key), never from the request,
//! so a forged request can only name a post its sender can read.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::config::Buttons;

/// Where the server sends a press (the plugin's id is `datasync`).
pub const ACTIONS_URL: &str = "/plugins/datasync/api/v1/actions";
/// The post prop naming the sync and the row a message is about.
pub const ROW_PROP: &str = "datasync_row";
/// The post prop recording who acknowledged it, and when.
pub const ACKNOWLEDGED_PROP: &str = "datasync_acknowledged";
/// Action ids (letters only: the server's post-action route takes no others).
pub const ACKNOWLEDGE: &str = "acknowledge";
pub const SNOOZE: &str = "snooze";

/// The snooze times offered: the option's value, its label, and the length.
const SNOOZE_FOR: &[(&str, &str, i64)] = &[
    ("1h", "1 hour", 1),
    ("4h", "4 hours", 4),
    ("1d", "1 day", 24),
    ("7d", "1 week", 24 * 7),
];

/// The length and label of a snooze option (`None`: not one we offer).
pub fn snooze_choice(value: &str) -> Option<(Duration, &'static str)> {
    SNOOZE_FOR
        .iter()
        .find(|(v, _, _)| *v == value)
        .map(|(_, label, hours)| (Duration::hours(*hours), *label))
}

/// Adds the sync's buttons to a message about one row: an attachment of their own (the
/// message's text and attachments stay as the templates made them), and the row's identity.
pub fn add(props: &mut Map<String, Value>, sync: &str, row_key: &str, buttons: Buttons) {
    if !buttons.any() {
        return;
    }
    let integration = |action: &str| json!({"url": ACTIONS_URL, "context": {"do": action}});
    let mut actions = Vec::new();
    if buttons.acknowledge {
        actions.push(json!({
            "id": ACKNOWLEDGE,
            "name": "Acknowledge",
            "type": "button",
            "style": "primary",
            "integration": integration(ACKNOWLEDGE),
        }));
    }
    if buttons.snooze {
        let options: Vec<Value> = SNOOZE_FOR
            .iter()
            .map(|(value, label, _)| json!({"text": label, "value": value}))
            .collect();
        actions.push(json!({
            "id": SNOOZE,
            "name": "Snooze this row…",
            "type": "select",
            "options": options,
            "integration": integration(SNOOZE),
        }));
    }
    let attachment = json!({"fallback": "", "actions": actions});
    match props.get_mut("attachments") {
        Some(Value::Array(list)) => list.push(attachment),
        _ => {
            props.insert("attachments".into(), Value::Array(vec![attachment]));
        }
    }
    props.insert(ROW_PROP.into(), json!({"sync": sync, "key": row_key}));
}

/// The sync and row key a post is about (`None`: not a row message with buttons).
pub fn row_of(props: &Map<String, Value>) -> Option<(String, String)> {
    let row = props.get(ROW_PROP)?;
    let text = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
    Some((text("sync")?, text("key")?))
}

/// Who acknowledged a post, if anyone did.
pub fn acknowledged_by(props: &Map<String, Value>) -> Option<String> {
    let by = props.get(ACKNOWLEDGED_PROP)?.get("by")?.as_str()?;
    Some(by.to_owned())
}

/// Records an acknowledgement on a post's props: the line under the buttons, the record,
/// and no *Acknowledge* button any more.
pub fn acknowledge(props: &mut Map<String, Value>, by: &str, at: DateTime<Utc>) {
    let line = format!(
        ":white_check_mark: Acknowledged by @{by} at {}",
        at.format("%Y-%m-%d %H:%M UTC")
    );
    mark(props, &line, Some(ACKNOWLEDGE));
    props.insert(
        ACKNOWLEDGED_PROP.into(),
        json!({"by": by, "at": at.to_rfc3339()}),
    );
}

/// Records a snooze on a post's props: a line under the buttons (the buttons stay, so
/// someone can snooze it for longer or shorter).
pub fn snoozed(props: &mut Map<String, Value>, by: &str, until: DateTime<Utc>) {
    let line = format!(
        ":zzz: Snoozed by @{by} until {}",
        until.format("%Y-%m-%d %H:%M UTC")
    );
    mark(props, &line, None);
}

/// Adds `line` to the text of the attachment that holds the buttons, and removes the
/// action `drop`. A post whose buttons were edited away gets the line in an attachment of
/// its own.
fn mark(props: &mut Map<String, Value>, line: &str, drop: Option<&str>) {
    let holds_ours = |a: &Value| {
        a.get("actions")
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(is_ours))
    };
    if !matches!(props.get("attachments"), Some(Value::Array(_))) {
        props.insert("attachments".into(), Value::Array(Vec::new()));
    }
    let Some(Value::Array(list)) = props.get_mut("attachments") else {
        return;
    };
    let Some(Value::Object(attachment)) = list.iter_mut().find(|a| holds_ours(a)) else {
        list.push(json!({"fallback": line, "text": line}));
        return;
    };
    let text = match attachment.get("text").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => format!("{t}\n{line}"),
        _ => line.to_owned(),
    };
    attachment.insert("text".into(), Value::String(text));
    if let (Some(id), Some(Value::Array(actions))) = (drop, attachment.get_mut("actions")) {
        actions.retain(|a| a.get("id").and_then(Value::as_str) != Some(id));
    }
}

fn is_ours(action: &Value) -> bool {
    action
        .get("integration")
        .and_then(|i| i.get("url"))
        .and_then(Value::as_str)
        == Some(ACTIONS_URL)
        && matches!(
            action.get("id").and_then(Value::as_str),
            Some(ACKNOWLEDGE | SNOOZE)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Buttons = Buttons {
        acknowledge: true,
        snooze: true,
    };

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn buttons_go_in_their_own_attachment_after_the_templates_ones() {
        let mut props = Map::new();
        props.insert("attachments".into(), json!([{"text": "deal"}]));
        add(&mut props, "big_deals", "[\"acme\"]", BOTH);
        let list = props["attachments"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["text"], "deal");
        let actions = list[1]["actions"].as_array().unwrap();
        assert_eq!(actions[0]["id"], "acknowledge");
        assert_eq!(actions[1]["type"], "select");
        assert_eq!(actions[1]["options"].as_array().unwrap().len(), 4);
        assert_eq!(actions[1]["integration"]["url"], ACTIONS_URL);
        assert_eq!(
            row_of(&props),
            Some(("big_deals".into(), "[\"acme\"]".into()))
        );
    }

    #[test]
    fn no_buttons_leave_the_props_alone() {
        let mut props = Map::new();
        add(&mut props, "s", "[1]", Buttons::default());
        assert!(props.is_empty());
        let only_snooze = Buttons {
            snooze: true,
            ..Buttons::default()
        };
        add(&mut props, "s", "[1]", only_snooze);
        assert_eq!(props["attachments"][0]["actions"][0]["id"], "snooze");
    }

    #[test]
    fn acknowledging_records_who_and_drops_its_button() {
        let mut props = Map::new();
        add(&mut props, "s", "[1]", BOTH);
        assert_eq!(acknowledged_by(&props), None);
        acknowledge(&mut props, "ann", at("2026-11-30T14:05:00Z"));
        assert_eq!(acknowledged_by(&props).as_deref(), Some("ann"));
        let att = &props["attachments"][0];
        assert_eq!(
            att["text"],
            ":white_check_mark: Acknowledged by @ann at 2026-11-30 14:05 UTC"
        );
        let ids: Vec<&str> = att["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["id"].as_str())
            .collect();
        assert_eq!(ids, ["snooze"]);
        snoozed(&mut props, "bob", at("2026-12-01T14:05:00Z"));
        assert_eq!(
            props["attachments"][0]["text"],
            ":white_check_mark: Acknowledged by @ann at 2026-11-30 14:05 UTC\n:zzz: Snoozed by @bob until 2026-12-01 14:05 UTC"
        );
    }

    #[test]
    fn a_post_whose_buttons_were_edited_away_still_gets_the_mark() {
        let mut props = Map::new();
        props.insert("attachments".into(), json!("not a list"));
        acknowledge(&mut props, "ann", at("2026-11-30T14:05:00Z"));
        assert!(
            props["attachments"][0]["text"]
                .as_str()
                .unwrap()
                .contains("@ann")
        );
        assert_eq!(row_of(&props), None);
    }

    #[test]
    fn snooze_choices() {
        assert_eq!(snooze_choice("4h"), Some((Duration::hours(4), "4 hours")));
        assert_eq!(snooze_choice("7d").map(|c| c.0), Some(Duration::days(7)));
        assert_eq!(snooze_choice("forever"), None);
    }
}
