//! JSON ↔ model conversions with Go's JSON names (the probe's HTTP contract).
//!
//! The model structs serialize with Go *field* names (PascalCase, what gob needs); Go's JSON
//! tags are the snake_case of those names for the flat structs the probe exchanges, so the
//! conversion renames top-level keys only. Nested maps (props, notify_props) and
//! AutocompleteData (which Go marshals with field names) are left as they are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mattermost::{
    Any, AutocompleteArg, AutocompleteData, AutocompleteDynamicListArg, AutocompleteStaticListArg,
    AutocompleteTextArg, Command,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A model value as Go's `encoding/json` would show it (top-level keys renamed).
pub fn to_go_json<T: Serialize>(value: &T) -> Value {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => {
            Value::Object(map.into_iter().map(|(k, v)| (json_name(&k), v)).collect())
        }
        Ok(other) => other,
        Err(e) => Value::String(format!("unserializable: {e}")),
    }
}

/// A list of model values.
pub fn list_to_go_json<T: Serialize>(values: &[T]) -> Value {
    Value::Array(values.iter().map(to_go_json).collect())
}

fn json_name(field: &str) -> String {
    match field {
        // FileInfo.CreatorId is tagged `json:"user_id"`.
        "CreatorId" => "user_id".to_owned(),
        other => mattermost::json_field_name(other),
    }
}

/// Reads a model value from Go-JSON keys (snake_case tags; Go field names also accepted).
pub fn from_go_json<T: Serialize + DeserializeOwned + Default>(
    value: &Value,
    what: &str,
) -> Result<T, String> {
    let Value::Object(input) = value else {
        return Err(format!("{what}: expected a JSON object"));
    };
    let known = match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => map,
        _ => return Err(format!("{what}: no field list")),
    };
    let mut renamed = Map::new();
    for (key, v) in input {
        let field = known
            .keys()
            .find(|f| json_name(f) == *key || *f == key)
            .ok_or_else(|| format!("{what}: unknown field {key:?}"))?;
        if !v.is_null() {
            renamed.insert(field.clone(), v.clone());
        }
    }
    serde_json::from_value(Value::Object(renamed)).map_err(|e| format!("{what}: {e}"))
}

/// A Command from Go JSON; `autocomplete_data` uses Go field names (Trigger, Arguments, …)
/// and each argument's `Data` is rebuilt as the registered Go type its `Type` names.
pub fn command_from_json(value: &Value) -> Result<Command, String> {
    let mut plain = value.clone();
    let autocomplete = plain
        .as_object_mut()
        .and_then(|m| m.remove("autocomplete_data"));
    let mut command: Command = from_go_json(&plain, "command")?;
    if let Some(data) = autocomplete.filter(|d| !d.is_null()) {
        command.autocomplete_data = Some(autocomplete_from_json(&data)?);
    }
    Ok(command)
}

fn autocomplete_from_json(value: &Value) -> Result<AutocompleteData, String> {
    let obj = value
        .as_object()
        .ok_or("autocomplete_data: expected an object")?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut data = AutocompleteData {
        trigger: text("Trigger"),
        hint: text("Hint"),
        help_text: text("HelpText"),
        role_id: text("RoleID"),
        ..AutocompleteData::default()
    };
    for arg in obj
        .get("Arguments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        data.arguments.push(autocomplete_arg_from_json(arg)?);
    }
    for sub in obj
        .get("SubCommands")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        data.sub_commands.push(autocomplete_from_json(sub)?);
    }
    Ok(data)
}

fn autocomplete_arg_from_json(value: &Value) -> Result<AutocompleteArg, String> {
    let obj = value
        .as_object()
        .ok_or("autocomplete argument: expected an object")?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let arg_type = text("Type");
    let raw = obj.get("Data").cloned().unwrap_or(Value::Null);
    let data = match arg_type.as_str() {
        "TextInput" => interface::<AutocompleteTextArg>("*model.AutocompleteTextArg", &raw)?,
        "StaticList" => {
            interface::<AutocompleteStaticListArg>("*model.AutocompleteStaticListArg", &raw)?
        }
        "DynamicList" => {
            interface::<AutocompleteDynamicListArg>("*model.AutocompleteDynamicListArg", &raw)?
        }
        other => return Err(format!("autocomplete argument: unknown Type {other:?}")),
    };
    Ok(AutocompleteArg {
        name: text("Name"),
        help_text: text("HelpText"),
        arg_type,
        required: obj
            .get("Required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        data,
    })
}

fn interface<T>(go_name: &str, raw: &Value) -> Result<Any, String>
where
    T: Serialize + DeserializeOwned + Default + mattermost::GobType,
{
    let value: T = if raw.is_null() {
        T::default()
    } else {
        serde_json::from_value(raw.clone()).map_err(|e| format!("{go_name}: {e}"))?
    };
    Any::new(go_name, &value).map_err(|e| format!("{go_name}: {e}"))
}

/// Base64 (standard, padded) like Go's JSON for `[]byte`.
pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes a base64 argument; null/missing → empty.
pub fn unb64(value: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => STANDARD
            .decode(s)
            .map_err(|e| format!("{what}: invalid base64: {e}")),
        Some(_) => Err(format!("{what}: expected a base64 string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mattermost::{FileInfo, Post};

    #[test]
    fn go_names_match_go_json_tags() {
        assert_eq!(json_name("IPAddress"), "ip_address");
        assert_eq!(json_name("FileIds"), "file_ids");
        assert_eq!(json_name("CreatorId"), "user_id");
    }

    #[test]
    fn post_round_trips_through_go_json() {
        let input = serde_json::json!({
            "channel_id": "c1", "message": "hi", "root_id": "r1",
            "props": {"from_bot": "true", "n": 3}
        });
        let post: Post = from_go_json(&input, "post").unwrap();
        assert_eq!(post.channel_id, "c1");
        assert_eq!(post.prop_str("from_bot").as_deref(), Some("true"));
        let out = to_go_json(&post);
        assert_eq!(out["message"], "hi");
        assert_eq!(out["root_id"], "r1");
        assert_eq!(out["props"]["n"], 3);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = from_go_json::<Post>(&serde_json::json!({"chanel_id": "x"}), "post").unwrap_err();
        assert!(err.contains("chanel_id"), "{err}");
    }

    #[test]
    fn file_info_creator_is_user_id() {
        let info = FileInfo {
            creator_id: "u".into(),
            ..FileInfo::default()
        };
        assert_eq!(to_go_json(&info)["user_id"], "u");
    }

    #[test]
    fn command_autocomplete_data_gets_registered_types() {
        let input = serde_json::json!({
            "trigger": "probe",
            "autocomplete_data": {"Trigger": "probe", "Arguments": [
                {"HelpText": "t", "Type": "TextInput", "Required": true, "Data": {"Hint": "h", "Pattern": ""}},
                {"Type": "StaticList", "Data": {"PossibleArguments": [{"Item": "a", "Hint": "", "HelpText": ""}]}}
            ]}
        });
        let cmd = command_from_json(&input).unwrap();
        let data = cmd.autocomplete_data.unwrap();
        assert_eq!(
            data.arguments[0].data.name(),
            Some("*model.AutocompleteTextArg")
        );
        assert_eq!(
            data.arguments[1].data.name(),
            Some("*model.AutocompleteStaticListArg")
        );
        assert_eq!(
            data.arguments[1].data.to_json()["PossibleArguments"][0]["Item"],
            "a"
        );
    }
}
