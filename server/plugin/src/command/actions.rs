//! Message actions: the buttons on a failure notice (*Run now*, *Pause*, *Show error*).
//!
//! A button press reaches the plugin as `POST /plugins/datasync/api/v1/actions` (the server
//! sets `Mattermost-User-Id` to whoever pressed it) with the action's context, and runs the
//! same subcommand `/datasync` would, under the same permissions. The answer is an
//! ephemeral text for the presser only.

use serde_json::{Map, Value, json};

use super::Sub;

/// The actions' endpoint under `/plugins/datasync`.
pub const ACTIONS_PATH: &str = "/api/v1/actions";
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
                "url": format!("/plugins/{}{ACTIONS_PATH}", crate::PLUGIN_ID),
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

/// The subcommand an action request asks for, and the channel it was pressed in; or what
/// is wrong with the request.
pub fn parse(body: &[u8]) -> Result<(Sub, String), String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
    let context = request.get("context").and_then(Value::as_object);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let sync = text(context.and_then(|c| c.get("sync")));
    if sync.is_empty() {
        return Err("the action names no sync".into());
    }
    let sub = match text(context.and_then(|c| c.get("do"))).as_str() {
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
    Ok((sub, text(request.get("channel_id"))))
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
    fn requests_parse_or_say_what_is_wrong() {
        let ok = br#"{"user_id":"forged","channel_id":"c1","context":{"do":"pause","sync":"s"}}"#;
        assert_eq!(parse(ok), Ok((Sub::Pause("s".into()), "c1".into())));
        for (body, want) in [
            (&b"{"[..], "not JSON"),
            (br#"{"context":{"do":"run"}}"#, "names no sync"),
            (
                br#"{"context":{"do":"drop","sync":"s"}}"#,
                "unknown action \"drop\"",
            ),
            (br#"[1]"#, "names no sync"),
        ] {
            let e = parse(body).expect_err(want);
            assert!(e.contains(want), "{e}");
        }
    }
}
