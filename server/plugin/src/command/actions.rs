//! Message actions: the buttons on a failure notice (*Run now*, *Pause*, *Show error*) and
//! on change messages (*Acknowledge*, *Snooze this row*, see `row_buttons`).
//!
//! A button press reaches the plugin as `POST /plugins/datasync/api/v1/actions` (the server
//! sets `Mattermost-User-Id` to whoever pressed it) with the action's context. A notice's
//! button runs the same subcommand `/datasync` would, under the same permissions. The
//! answer is an ephemeral text for the presser only.

use datasync::buttons::{self, ACTIONS_URL};
use serde_json::{Map, Value, json};

use super::Sub;

/// The actions' endpoint under `/plugins/datasync` ([`ACTIONS_URL`] in full).
pub const ACTIONS_PATH: &str = "/api/v1/actions";

/// What a press asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Press {
    /// A notice's button: the subcommand, and the channel it was pressed in.
    Command(Sub, String),
    /// A change message's button: the post it was pressed on, and what to do.
    Row { post_id: String, what: RowPress },
}

/// The buttons on a change message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowPress {
    Acknowledge,
    /// Snooze for the chosen option: its length and label ([`buttons::snooze_choice`]).
    Snooze(chrono::Duration, &'static str),
}
/// The largest action request read (the server sends a few hundred bytes).
pub const MAX_REQUEST: usize = 64 * 1024;

/// The props that put the buttons on a failure notice of `sync`.
pub fn notice_props(sync: &str) -> Map<String, Value> {
    let button = |id: &str, name: &str, what: &str, style: &str| {
        json!({
            "id": id,
            "name": name,
            "type": "button",
            "style": style,
            "integration": {
                "url": ACTIONS_URL,
                "context": {"do": what, "sync": sync},
            },
        })
    };
    let attachment = json!({
        "fallback": format!("Data Sync: {sync} is failing"),
        "actions": [
            button("runnow", "Run now", "run", "primary"),
            button("pause", "Pause", "pause", "default"),
            button("showerror", "Show error", "status", "default"),
        ],
    });
    let mut props = Map::new();
    props.insert("attachments".into(), Value::Array(vec![attachment]));
    props
}

/// What an action request asks for; or what is wrong with the request.
pub fn parse(body: &[u8]) -> Result<Press, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
    let context = request.get("context").and_then(Value::as_object);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let what = text(context.and_then(|c| c.get("do")));
    if let Some(row) = row_press(&what, context)? {
        let post_id = text(request.get("post_id"));
        if post_id.is_empty() {
            return Err("the action names no post".into());
        }
        return Ok(Press::Row { post_id, what: row });
    }
    let sync = text(context.and_then(|c| c.get("sync")));
    if sync.is_empty() {
        return Err("the action names no sync".into());
    }
    let sub = match what.as_str() {
        "run" => Sub::Run(sync),
        "pause" => Sub::Pause(sync),
        "status" => Sub::Status(Some(sync)),
        other => {
            return Err(format!(
                "unknown action {:?}",
                other.chars().take(40).collect::<String>()
            ));
        }
    };
    Ok(Press::Command(sub, text(request.get("channel_id"))))
}

/// A change message's button (`None`: not one), with the snooze option the server put in
/// the context.
fn row_press(what: &str, context: Option<&Map<String, Value>>) -> Result<Option<RowPress>, String> {
    Ok(Some(match what {
        buttons::ACKNOWLEDGE => RowPress::Acknowledge,
        buttons::SNOOZE => {
            let choice = context
                .and_then(|c| c.get("selected_option"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let Some((length, label)) = buttons::snooze_choice(choice) else {
                let choice: String = choice.chars().take(40).collect();
                return Err(format!("{choice:?} is not a snooze time on offer"));
            };
            RowPress::Snooze(length, label)
        }
        _ => return Ok(None),
    }))
}

/// The answer the server shows the presser.
pub fn answer(text: &str) -> Value {
    json!({ "ephemeral_text": text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buttons_name_their_sync_and_action() {
        let props = notice_props("big_deals");
        let actions = &props["attachments"][0]["actions"];
        assert_eq!(actions.as_array().map(Vec::len), Some(3));
        assert_eq!(
            actions[0]["integration"]["url"],
            "/plugins/datasync/api/v1/actions"
        );
        assert_eq!(actions[0]["integration"]["context"]["do"], "run");
        assert_eq!(actions[2]["integration"]["context"]["sync"], "big_deals");
    }

    #[test]
    fn the_engine_points_buttons_at_this_endpoint() {
        assert_eq!(
            ACTIONS_URL,
            format!("/plugins/{}{ACTIONS_PATH}", crate::PLUGIN_ID)
        );
    }

    #[test]
    fn requests_parse_or_say_what_is_wrong() {
        let ok = br#"{"user_id":"forged","channel_id":"c1","context":{"do":"pause","sync":"s"}}"#;
        assert_eq!(
            parse(ok),
            Ok(Press::Command(Sub::Pause("s".into()), "c1".into()))
        );
        let ack = br#"{"post_id":"p1","context":{"do":"acknowledge","sync":"ignored"}}"#;
        let row = |what| Press::Row {
            post_id: "p1".into(),
            what,
        };
        assert_eq!(parse(ack), Ok(row(RowPress::Acknowledge)));
        let snooze = br#"{"post_id":"p1","context":{"do":"snooze","selected_option":"4h"}}"#;
        assert_eq!(
            parse(snooze),
            Ok(row(RowPress::Snooze(chrono::Duration::hours(4), "4 hours")))
        );
        for (body, want) in [
            (&b"{"[..], "not JSON"),
            (br#"{"context":{"do":"run"}}"#, "names no sync"),
            (
                br#"{"context":{"do":"drop","sync":"s"}}"#,
                "unknown action \"drop\"",
            ),
            (br#"[1]"#, "names no sync"),
            (br#"{"context":{"do":"acknowledge"}}"#, "names no post"),
            (
                br#"{"post_id":"p","context":{"do":"snooze","selected_option":"9y"}}"#,
                "\"9y\" is not a snooze time on offer",
            ),
            (
                br#"{"post_id":"p","context":{"do":"snooze"}}"#,
                "\"\" is not a snooze time",
            ),
        ] {
            let e = parse(body).expect_err(want);
            assert!(e.contains(want), "{e}");
        }
    }
}
