//! `POST /call/<Method>`: runs one API method with arguments from a JSON object.
//! The contract (argument names, result shapes) is documented in README.md.

use std::collections::BTreeMap;

use mattermost::{
    Api, ApiError, Bot, BotGetOptions, BotPatch, PluginClusterEvent, PluginClusterEventSendOptions,
    PluginKVSetOptions, Post, PostList, WebsocketBroadcast,
};
use serde_json::{Value, json};

use crate::json::{b64, command_from_json, from_go_json, list_to_go_json, to_go_json, unb64};

/// What a call produced: a result value, and `ok` (the bool result for bool methods).
pub struct Outcome {
    pub result: Value,
    pub ok: bool,
}

/// A failure before or during the call.
pub enum CallFailure {
    /// The request was unusable (unknown method, missing/mistyped argument): HTTP 400.
    BadRequest(String),
    /// The API call failed: HTTP 200 with the error object.
    Api(ApiError),
}

impl From<ApiError> for CallFailure {
    fn from(e: ApiError) -> Self {
        CallFailure::Api(e)
    }
}

impl From<String> for CallFailure {
    fn from(e: String) -> Self {
        CallFailure::BadRequest(e)
    }
}

type CallResult = Result<Outcome, CallFailure>;

fn done(result: Value) -> CallResult {
    Ok(Outcome { result, ok: true })
}

fn flag(ok: bool) -> CallResult {
    Ok(Outcome {
        result: Value::Bool(ok),
        ok,
    })
}

/// Argument accessors with messages naming the argument.
struct Args<'a>(&'a Value);

impl Args<'_> {
    fn str(&self, name: &str) -> Result<String, String> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Ok(String::new()),
            Some(_) => Err(format!("argument {name}: expected a string")),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, String> {
        match self.0.get(name) {
            Some(Value::Bool(b)) => Ok(*b),
            None | Some(Value::Null) => Ok(false),
            Some(_) => Err(format!("argument {name}: expected a boolean")),
        }
    }

    fn int(&self, name: &str) -> Result<i64, String> {
        match self.0.get(name) {
            Some(v) if v.is_i64() => Ok(v.as_i64().unwrap_or(0)),
            None | Some(Value::Null) => Ok(0),
            Some(_) => Err(format!("argument {name}: expected an integer")),
        }
    }

    fn obj(&self, name: &str) -> Value {
        self.0.get(name).cloned().unwrap_or_else(|| json!({}))
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        unb64(self.0.get(name), &format!("argument {name}"))
    }

    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            v => unb64(v, &format!("argument {name}")).map(Some),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("argument {name}: expected strings"))
                })
                .collect(),
            Some(_) => Err(format!("argument {name}: expected an array of strings")),
        }
    }

    fn map(&self, name: &str) -> Result<BTreeMap<String, Value>, String> {
        match self.0.get(name) {
            Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(_) => Err(format!("argument {name}: expected an object")),
        }
    }

    /// `permission` as a string id or a Permission object `{"id": …}`.
    fn permission(&self) -> Result<String, String> {
        match self.0.get("permission") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Object(m)) => {
                Ok(m.get("id").and_then(Value::as_str).unwrap_or("").to_owned())
            }
            _ => Err("argument permission: expected a string or {\"id\": …}".to_owned()),
        }
    }

    fn post(&self) -> Result<Post, String> {
        from_go_json(&self.obj("post"), "argument post")
    }

    fn bot(&self) -> Result<Bot, String> {
        from_go_json(&self.obj("bot"), "argument bot")
    }
}

/// Runs `method` with `body` as arguments.
pub fn call(api: &Api, method: &str, body: &Value) -> CallResult {
    let a = Args(body);
    match method {
        "LoadPluginConfiguration" => {
            let raw = api.load_plugin_configuration_raw()?;
            let value = if raw.is_empty() {
                json!({})
            } else {
                serde_json::from_slice(&raw)
                    .map_err(|e| format!("configuration is not JSON: {e}"))?
            };
            done(value)
        }
        "GetConfig" => done(api.get_config()?),
        "GetPluginConfig" => done(json!(api.get_plugin_config()?)),
        "SavePluginConfig" => {
            api.save_plugin_config(&a.map("config")?)?;
            done(Value::Null)
        }
        "GetBundlePath" => done(json!(api.get_bundle_path()?)),
        "GetServerVersion" => done(json!(api.get_server_version()?)),
        "RegisterCommand" => {
            api.register_command(&command_from_json(&a.obj("command"))?)?;
            done(Value::Null)
        }
        "UnregisterCommand" => {
            api.unregister_command(&a.str("teamId")?, &a.str("trigger")?)?;
            done(Value::Null)
        }
        "EnsureBotUser" => done(json!(api.ensure_bot_user(&a.bot()?)?)),
        "EnsureBot" => match mattermost::ensure_bot(api, &a.bot()?) {
            Ok(id) => done(json!(id)),
            Err(mattermost::BotError::Api(e)) => Err(CallFailure::Api(e)),
            Err(other) => Err(CallFailure::BadRequest(other.to_string())),
        },
        "CreateBot" => done(to_go_json(&api.create_bot(&a.bot()?)?)),
        "GetBot" => done(to_go_json(
            &api.get_bot(&a.str("botUserId")?, a.bool("includeDeleted")?)?,
        )),
        "PatchBot" => {
            let patch: BotPatch = from_go_json(&a.obj("botPatch"), "argument botPatch")?;
            done(to_go_json(&api.patch_bot(&a.str("botUserId")?, &patch)?))
        }
        "GetBots" => {
            let options: BotGetOptions = from_go_json(&a.obj("options"), "argument options")?;
            done(list_to_go_json(&api.get_bots(&options)?))
        }
        "UpdateBotActive" => done(to_go_json(
            &api.update_bot_active(&a.str("botUserId")?, a.bool("active")?)?,
        )),
        "PermanentDeleteBot" => {
            api.permanent_delete_bot(&a.str("botUserId")?)?;
            done(Value::Null)
        }
        "SetProfileImage" => {
            api.set_profile_image(&a.str("userId")?, &a.bytes("data")?)?;
            done(Value::Null)
        }
        "CreatePost" => done(to_go_json(&api.create_post(&a.post()?)?)),
        "UpdatePost" => done(to_go_json(&api.update_post(&a.post()?)?)),
        "GetPost" => done(to_go_json(&api.get_post(&a.str("postId")?)?)),
        "SendEphemeralPost" => done(to_go_json(
            &api.send_ephemeral_post(&a.str("userId")?, &a.post()?)?,
        )),
        "UpdateEphemeralPost" => done(to_go_json(
            &api.update_ephemeral_post(&a.str("userId")?, &a.post()?)?,
        )),
        "DeletePost" => {
            api.delete_post(&a.str("postId")?)?;
            done(Value::Null)
        }
        "GetPostsSince" => done(post_list_json(
            &api.get_posts_since(&a.str("channelId")?, a.int("time")?)?,
        )),
        "GetPostsForChannel" => done(post_list_json(&api.get_posts_for_channel(
            &a.str("channelId")?,
            a.int("page")?,
            a.int("perPage")?,
        )?)),
        "DeleteEphemeralPost" => {
            api.delete_ephemeral_post(&a.str("userId")?, &a.str("postId")?)?;
            done(Value::Null)
        }
        "GetChannel" => done(to_go_json(&api.get_channel(&a.str("channelId")?)?)),
        "GetChannelByName" => done(to_go_json(&api.get_channel_by_name(
            &a.str("teamId")?,
            &a.str("name")?,
            a.bool("includeDeleted")?,
        )?)),
        "GetChannelByNameForTeamName" => done(to_go_json(&api.get_channel_by_name_for_team_name(
            &a.str("teamName")?,
            &a.str("channelName")?,
            a.bool("includeDeleted")?,
        )?)),
        "GetDirectChannel" => done(to_go_json(
            &api.get_direct_channel(&a.str("userId1")?, &a.str("userId2")?)?,
        )),
        "AddChannelMember" => done(to_go_json(
            &api.add_channel_member(&a.str("channelId")?, &a.str("userId")?)?,
        )),
        "GetUser" => done(to_go_json(&api.get_user(&a.str("userId")?)?)),
        "GetUserByEmail" => done(to_go_json(&api.get_user_by_email(&a.str("email")?)?)),
        "GetUserByUsername" => done(to_go_json(&api.get_user_by_username(&a.str("name")?)?)),
        "GetUsersByUsernames" => done(list_to_go_json(
            &api.get_users_by_usernames(&a.strings("usernames")?)?,
        )),
        "GetUsersByIds" => done(list_to_go_json(
            &api.get_users_by_ids(&a.strings("userIds")?)?,
        )),
        "GetTeam" => done(to_go_json(&api.get_team(&a.str("teamId")?)?)),
        "GetTeamByName" => done(to_go_json(&api.get_team_by_name(&a.str("name")?)?)),
        "HasPermissionTo" => flag(api.has_permission_to(&a.str("userId")?, &a.permission()?)?),
        "HasPermissionToChannel" => flag(api.has_permission_to_channel(
            &a.str("userId")?,
            &a.str("channelId")?,
            &a.permission()?,
        )?),
        "HasPermissionToTeam" => flag(api.has_permission_to_team(
            &a.str("userId")?,
            &a.str("teamId")?,
            &a.permission()?,
        )?),
        "KVGet" => done(
            api.kv_get(&a.str("key")?)?
                .map(|v| json!(b64(&v)))
                .unwrap_or(Value::Null),
        ),
        "KVSet" => {
            api.kv_set(&a.str("key")?, &a.bytes("value")?)?;
            done(Value::Null)
        }
        "KVSetWithOptions" => {
            let options = kv_options(&a.obj("options"))?;
            let value = a.opt_bytes("value")?;
            flag(api.kv_set_with_options(&a.str("key")?, value.as_deref(), &options)?)
        }
        "KVSetWithExpiry" => {
            api.kv_set_with_expiry(
                &a.str("key")?,
                &a.bytes("value")?,
                a.int("expireInSeconds")?,
            )?;
            done(Value::Null)
        }
        "KVCompareAndSet" => {
            let old = a.opt_bytes("oldValue")?;
            flag(api.kv_compare_and_set(&a.str("key")?, old.as_deref(), &a.bytes("newValue")?)?)
        }
        "KVDelete" => {
            api.kv_delete(&a.str("key")?)?;
            done(Value::Null)
        }
        "KVDeleteAll" => {
            api.kv_delete_all()?;
            done(Value::Null)
        }
        "KVList" => done(json!(api.kv_list(a.int("page")?, a.int("perPage")?)?)),
        "UploadFile" => done(to_go_json(&api.upload_file(
            &a.bytes("data")?,
            &a.str("channelId")?,
            &a.str("filename")?,
        )?)),
        "LogDebug" | "LogInfo" | "LogWarn" | "LogError" => {
            let level = match method {
                "LogDebug" => mattermost::LogLevel::Debug,
                "LogInfo" => mattermost::LogLevel::Info,
                "LogWarn" => mattermost::LogLevel::Warn,
                _ => mattermost::LogLevel::Error,
            };
            let pairs = key_value_pairs(body.get("keyValuePairs"))?;
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            api.log(level, &a.str("msg")?, &refs)?;
            done(Value::Null)
        }
        "PublishWebSocketEvent" => {
            let broadcast: WebsocketBroadcast =
                from_go_json(&a.obj("broadcast"), "argument broadcast")?;
            api.publish_websocket_event(&a.str("event")?, &a.map("payload")?, &broadcast)?;
            done(Value::Null)
        }
        "PublishPluginClusterEvent" => {
            let (event, options) = cluster_event_args(&a.obj("event"), &a.obj("options"))?;
            api.publish_plugin_cluster_event(&event, &options)?;
            done(Value::Null)
        }
        other => Err(CallFailure::BadRequest(format!("unknown method {other:?}"))),
    }
}

/// PluginKVSetOptions has no JSON tags in Go: keys are `Atomic`, `OldValue` (base64),
/// `ExpireInSeconds`.
fn kv_options(value: &Value) -> Result<PluginKVSetOptions, String> {
    let obj = value
        .as_object()
        .ok_or("argument options: expected an object")?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "Atomic" | "OldValue" | "ExpireInSeconds") {
            return Err(format!("argument options: unknown field {key:?}"));
        }
    }
    Ok(PluginKVSetOptions {
        atomic: obj.get("Atomic").and_then(Value::as_bool).unwrap_or(false),
        old_value: mattermost::Bytes(unb64(obj.get("OldValue"), "options.OldValue")?),
        expire_in_seconds: obj
            .get("ExpireInSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    })
}

/// PostList as Go's JSON shows it: `order`, `posts` (id → Post), `next_post_id`, …
fn post_list_json(list: &PostList) -> Value {
    let posts: serde_json::Map<String, Value> = list
        .posts
        .iter()
        .map(|(id, post)| (id.clone(), to_go_json(post)))
        .collect();
    json!({
        "order": list.order, "posts": posts, "next_post_id": list.next_post_id,
        "prev_post_id": list.prev_post_id, "has_next": list.has_next,
        "first_inaccessible_post_time": list.first_inaccessible_post_time,
    })
}

/// PluginClusterEvent and its options have no JSON tags in Go: `{"Id", "Data" (base64)}`,
/// `{"SendType", "TargetId"}`.
fn cluster_event_args(
    event: &Value,
    options: &Value,
) -> Result<(PluginClusterEvent, PluginClusterEventSendOptions), String> {
    let known = |v: &Value, what: &str, fields: &[&str]| -> Result<(), String> {
        let obj = v
            .as_object()
            .ok_or(format!("argument {what}: expected an object"))?;
        match obj.keys().find(|k| !fields.contains(&k.as_str())) {
            Some(k) => Err(format!("argument {what}: unknown field {k:?}")),
            None => Ok(()),
        }
    };
    known(event, "event", &["Id", "Data"])?;
    known(options, "options", &["SendType", "TargetId"])?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let data = unb64(event.get("Data"), "event.Data")?;
    Ok((
        PluginClusterEvent::new(&text(event, "Id"), &data),
        PluginClusterEventSendOptions {
            send_type: text(options, "SendType"),
            target_id: text(options, "TargetId"),
        },
    ))
}

/// `["k1", "v1", "k2", "v2"]` → pairs (an odd count is an error).
fn key_value_pairs(value: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let Some(Value::Array(items)) = value else {
        return Ok(Vec::new());
    };
    let strings: Vec<String> = items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .collect();
    if !strings.len().is_multiple_of(2) {
        return Err("argument keyValuePairs: expected an even number of entries".to_owned());
    }
    Ok(strings
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect())
}

/// The JSON error object of the contract.
pub fn error_json(e: &ApiError) -> Value {
    let kind = match e {
        ApiError::App { .. } => "app",
        ApiError::Remote { .. } => "remote",
        ApiError::NotAvailable { .. } => "not_available",
        ApiError::Rpc { .. } => "rpc",
        ApiError::NotConnected { .. } => "not_connected",
    };
    match e.app_error() {
        Some(app) => json!({
            "kind": kind, "id": app.id, "message": app.message,
            "detailed_error": app.detailed_error, "status_code": app.status_code,
        }),
        None => json!({
            "kind": kind, "id": "", "message": e.to_string(),
            "detailed_error": "", "status_code": e.status_code(),
        }),
    }
}
