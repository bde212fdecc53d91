//! The typed API client: one method per `Plugin.<Name>` RPC of the server's plugin API.
//!
//! Each call sends `Z_<Name>Args {A, B, C…}` and decodes `Z_<Name>Returns` (protocol.md §6).
//! Struct names never matter on the wire, only field names and types, so the Rust structs
//! here are named after the Go ones for grepping.

use std::collections::BTreeMap;
use std::sync::Arc;

use gob::{Any, Bytes, Empty};
use goplugin::netrpc;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, check_app_error, check_error_any};
use crate::model::*;

/// Declares an args/returns struct with fields A, B, C… (PascalCase of a, b, c).
macro_rules! z {
    ($name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, gob::GobType)]
        #[serde(rename_all = "PascalCase", default)]
        #[allow(non_camel_case_types)]
        pub(crate) struct $name { $(pub $f: $t),* }
    };
}

z!(Z_BytesReturns { a: Bytes });
z!(Z_StringReturns { a: String });
z!(Z_StringErrReturns { a: String, b: Any });
z!(Z_ErrReturns { a: Any });
z!(Z_AppErrReturns { a: Option<AppError> });
z!(Z_BoolReturns { a: bool });
z!(Z_BoolAppErrReturns { a: bool, b: Option<AppError> });
z!(Z_MapReturns { a: BTreeMap<String, Any> });
z!(Z_MapArgs { a: BTreeMap<String, Any> });
z!(Z_StrArgs { a: String });
z!(Z_StrStrArgs {
    a: String,
    b: String
});
z!(Z_StrBoolArgs { a: String, b: bool });
z!(Z_StrStrBoolArgs {
    a: String,
    b: String,
    c: bool
});
z!(Z_StrBytesArgs {
    a: String,
    b: Bytes
});
z!(Z_CommandArgs { a: Option<Command> });
z!(Z_BotArgs { a: Option<Bot> });
z!(Z_BotReturns { a: Option<Bot>, b: Option<AppError> });
z!(Z_PatchBotArgs { a: String, b: Option<BotPatch> });
z!(Z_GetBotsArgs { a: Option<BotGetOptions> });
z!(Z_BotsReturns { a: Vec<Bot>, b: Option<AppError> });
z!(Z_PostArgs { a: Option<Post> });
z!(Z_StrPostArgs { a: String, b: Option<Post> });
z!(Z_PostReturns { a: Option<Post>, b: Option<AppError> });
z!(Z_PostOnlyReturns { a: Option<Post> });
z!(Z_ChannelReturns { a: Option<Channel>, b: Option<AppError> });
z!(Z_UserReturns { a: Option<User>, b: Option<AppError> });
z!(Z_TeamReturns { a: Option<Team>, b: Option<AppError> });
z!(Z_ChannelMemberReturns { a: Option<ChannelMember>, b: Option<AppError> });
z!(Z_PermissionArgs { a: String, b: Option<Permission> });
z!(Z_PermissionScopedArgs { a: String, b: String, c: Option<Permission> });
z!(Z_KVSetWithOptionsArgs {
    a: String,
    b: Bytes,
    c: PluginKVSetOptions
});
z!(Z_KVSetWithExpiryArgs {
    a: String,
    b: Bytes,
    c: i64
});
z!(Z_KVCompareAndSetArgs {
    a: String,
    b: Bytes,
    c: Bytes
});
z!(Z_KVListArgs { a: i64, b: i64 });
z!(Z_StringsAppErrReturns { a: Vec<String>, b: Option<AppError> });
z!(Z_UploadFileArgs {
    a: Bytes,
    b: String,
    c: String
});
z!(Z_FileInfoReturns { a: Option<FileInfo>, b: Option<AppError> });
z!(Z_LogArgs { a: String, b: Vec<Any> });
z!(Z_StringsArgs { a: Vec<String> });
z!(Z_UsersReturns { a: Vec<User>, b: Option<AppError> });
z!(Z_GetUsersArgs { a: Option<UserGetOptions> });
z!(Z_GetPostsSinceArgs { a: String, b: i64 });
z!(Z_GetPostsForChannelArgs {
    a: String,
    b: i64,
    c: i64
});
z!(Z_PostListReturns { a: Option<PostList>, b: Option<AppError> });
z!(Z_PublishPluginClusterEventArgs {
    a: PluginClusterEvent,
    b: PluginClusterEventSendOptions
});
z!(Z_PublishWebSocketEventArgs { a: String, b: BTreeMap<String, Any>, c: Option<WebsocketBroadcast> });

/// Log levels of the server log (LogDebug … LogError).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The plugin API client. Cheap to clone; safe to use from many threads at once (calls are
/// pipelined on one stream).
#[derive(Clone)]
pub struct Api {
    client: Arc<netrpc::Client>,
}

impl Api {
    /// Wraps a net/rpc client connected to the server's API stream.
    pub fn new(client: netrpc::Client) -> Self {
        Api {
            client: Arc::new(client),
        }
    }

    fn call<A, R>(&self, method: &'static str, args: &A) -> Result<R, ApiError>
    where
        A: serde::Serialize + gob::GobType,
        R: DeserializeOwned,
    {
        let rpc_name = format!("Plugin.{method}");
        self.client
            .call::<A, R>(&rpc_name, args)
            .map_err(|e| ApiError::from_call(method, e))
    }

    // ----- configuration and environment -----

    /// LoadPluginConfiguration: the raw JSON object (setting keys lower-cased).
    pub fn load_plugin_configuration_raw(&self) -> Result<Vec<u8>, ApiError> {
        let r: Z_BytesReturns = self.call("LoadPluginConfiguration", &Empty)?;
        Ok(r.a.0)
    }

    /// LoadPluginConfiguration decoded into `T` (use `#[serde(rename_all = "lowercase")]`).
    pub fn load_plugin_configuration<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let raw = self.load_plugin_configuration_raw()?;
        // An unconfigured plugin may get no bytes at all (gob omits empty slices).
        let raw = if raw.is_empty() { b"{}".to_vec() } else { raw };
        serde_json::from_slice(&raw).map_err(|e| ApiError::Rpc {
            method: "LoadPluginConfiguration",
            message: format!("configuration JSON does not match the expected shape: {e}"),
        })
    }

    /// GetConfig: the sanitized server configuration as JSON with Go field names as keys
    /// (`config["ServiceSettings"]["SiteURL"]`). Decoded generically because model.Config is
    /// huge and version-dependent; `[]byte` fields (e.g. `json.RawMessage`) become base64.
    pub fn get_config(&self) -> Result<serde_json::Value, ApiError> {
        let reply = self
            .client
            .call_value("Plugin.GetConfig", &Empty)
            .map_err(|e| ApiError::from_call("GetConfig", e))?;
        Ok(reply
            .field("A")
            .map(gob::Value::to_json)
            .unwrap_or(serde_json::Value::Null))
    }

    /// GetPluginConfig: this plugin's saved settings (stored keys, not lower-cased).
    pub fn get_plugin_config(&self) -> Result<BTreeMap<String, serde_json::Value>, ApiError> {
        let r: Z_MapReturns = self.call("GetPluginConfig", &Empty)?;
        Ok(r.a.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }

    /// SavePluginConfig: replaces this plugin's saved settings.
    pub fn save_plugin_config(
        &self,
        config: &BTreeMap<String, serde_json::Value>,
    ) -> Result<(), ApiError> {
        let a = config
            .iter()
            .map(|(k, v)| (k.clone(), Any::from_json(v)))
            .collect();
        let r: Z_AppErrReturns = self.call("SavePluginConfig", &Z_MapArgs { a })?;
        check_app_error("SavePluginConfig", r.a)
    }

    /// GetBundlePath: where the unpacked bundle lives (the process cwd is the server's).
    pub fn get_bundle_path(&self) -> Result<String, ApiError> {
        let r: Z_StringErrReturns = self.call("GetBundlePath", &Empty)?;
        check_error_any("GetBundlePath", &r.b)?;
        Ok(r.a)
    }

    /// GetServerVersion, e.g. "10.5.0".
    pub fn get_server_version(&self) -> Result<String, ApiError> {
        let r: Z_StringReturns = self.call("GetServerVersion", &Empty)?;
        Ok(r.a)
    }

    // ----- commands -----

    /// RegisterCommand: registers a slash command served by ExecuteCommand.
    pub fn register_command(&self, command: &Command) -> Result<(), ApiError> {
        let args = Z_CommandArgs {
            a: Some(command.clone()),
        };
        let r: Z_ErrReturns = self.call("RegisterCommand", &args)?;
        check_error_any("RegisterCommand", &r.a)
    }

    /// UnregisterCommand.
    pub fn unregister_command(&self, team_id: &str, trigger: &str) -> Result<(), ApiError> {
        let args = Z_StrStrArgs {
            a: team_id.to_owned(),
            b: trigger.to_owned(),
        };
        let r: Z_ErrReturns = self.call("UnregisterCommand", &args)?;
        check_error_any("UnregisterCommand", &r.a)
    }

    // ----- bots -----

    /// EnsureBotUser (server ≥ 5.36-ish): returns the bot user id. See also `ensure_bot`.
    pub fn ensure_bot_user(&self, bot: &Bot) -> Result<String, ApiError> {
        let args = Z_BotArgs {
            a: Some(bot.clone()),
        };
        let r: Z_StringErrReturns = self.call("EnsureBotUser", &args)?;
        check_error_any("EnsureBotUser", &r.b)?;
        Ok(r.a)
    }

    /// CreateBot.
    pub fn create_bot(&self, bot: &Bot) -> Result<Bot, ApiError> {
        let args = Z_BotArgs {
            a: Some(bot.clone()),
        };
        let r: Z_BotReturns = self.call("CreateBot", &args)?;
        required("CreateBot", r.a, r.b)
    }

    /// GetBot.
    pub fn get_bot(&self, bot_user_id: &str, include_deleted: bool) -> Result<Bot, ApiError> {
        let args = Z_StrBoolArgs {
            a: bot_user_id.to_owned(),
            b: include_deleted,
        };
        let r: Z_BotReturns = self.call("GetBot", &args)?;
        required("GetBot", r.a, r.b)
    }

    /// PatchBot.
    pub fn patch_bot(&self, bot_user_id: &str, patch: &BotPatch) -> Result<Bot, ApiError> {
        let args = Z_PatchBotArgs {
            a: bot_user_id.to_owned(),
            b: Some(patch.clone()),
        };
        let r: Z_BotReturns = self.call("PatchBot", &args)?;
        required("PatchBot", r.a, r.b)
    }

    /// GetBots.
    pub fn get_bots(&self, options: &BotGetOptions) -> Result<Vec<Bot>, ApiError> {
        let args = Z_GetBotsArgs {
            a: Some(options.clone()),
        };
        let r: Z_BotsReturns = self.call("GetBots", &args)?;
        check_app_error("GetBots", r.b)?;
        Ok(r.a)
    }

    /// UpdateBotActive.
    pub fn update_bot_active(&self, bot_user_id: &str, active: bool) -> Result<Bot, ApiError> {
        let args = Z_StrBoolArgs {
            a: bot_user_id.to_owned(),
            b: active,
        };
        let r: Z_BotReturns = self.call("UpdateBotActive", &args)?;
        required("UpdateBotActive", r.a, r.b)
    }

    /// PermanentDeleteBot.
    pub fn permanent_delete_bot(&self, bot_user_id: &str) -> Result<(), ApiError> {
        let r: Z_AppErrReturns = self.call("PermanentDeleteBot", &str_args(bot_user_id))?;
        check_app_error("PermanentDeleteBot", r.a)
    }

    /// SetProfileImage: `data` is a PNG/JPEG image.
    pub fn set_profile_image(&self, user_id: &str, data: &[u8]) -> Result<(), ApiError> {
        let args = Z_StrBytesArgs {
            a: user_id.to_owned(),
            b: Bytes(data.to_vec()),
        };
        let r: Z_AppErrReturns = self.call("SetProfileImage", &args)?;
        check_app_error("SetProfileImage", r.a)
    }

    // ----- posts -----

    /// CreatePost (the server adds `from_plugin`).
    pub fn create_post(&self, post: &Post) -> Result<Post, ApiError> {
        let r: Z_PostReturns = self.call("CreatePost", &post_args(post))?;
        required("CreatePost", r.a, r.b)
    }

    /// UpdatePost.
    pub fn update_post(&self, post: &Post) -> Result<Post, ApiError> {
        let r: Z_PostReturns = self.call("UpdatePost", &post_args(post))?;
        required("UpdatePost", r.a, r.b)
    }

    /// GetPost.
    pub fn get_post(&self, post_id: &str) -> Result<Post, ApiError> {
        let r: Z_PostReturns = self.call("GetPost", &str_args(post_id))?;
        required("GetPost", r.a, r.b)
    }

    /// DeletePost: soft-deletes a post (and, for a thread root, its replies); the post then
    /// has a `delete_at` and still shows up in `get_posts_since`.
    pub fn delete_post(&self, post_id: &str) -> Result<(), ApiError> {
        let r: Z_AppErrReturns = self.call("DeletePost", &str_args(post_id))?;
        check_app_error("DeletePost", r.a)
    }

    /// GetPostsSince: the posts of a channel created, edited or deleted after `time`
    /// (Unix milliseconds, compared with `update_at`), deleted ones included, plus the thread
    /// roots they reply to. `order` is newest first. The server returns at most 1000.
    pub fn get_posts_since(&self, channel_id: &str, time: i64) -> Result<PostList, ApiError> {
        let args = Z_GetPostsSinceArgs {
            a: channel_id.to_owned(),
            b: time,
        };
        let r: Z_PostListReturns = self.call("GetPostsSince", &args)?;
        required("GetPostsSince", r.a, r.b)
    }

    /// GetPostsForChannel: one page of a channel's (not deleted) posts, newest first; thread
    /// roots outside the page are in `posts` but not in `order`.
    pub fn get_posts_for_channel(
        &self,
        channel_id: &str,
        page: i64,
        per_page: i64,
    ) -> Result<PostList, ApiError> {
        let args = Z_GetPostsForChannelArgs {
            a: channel_id.to_owned(),
            b: page,
            c: per_page,
        };
        let r: Z_PostListReturns = self.call("GetPostsForChannel", &args)?;
        required("GetPostsForChannel", r.a, r.b)
    }

    /// SendEphemeralPost: shown only to `user_id`, not stored.
    pub fn send_ephemeral_post(&self, user_id: &str, post: &Post) -> Result<Post, ApiError> {
        let args = Z_StrPostArgs {
            a: user_id.to_owned(),
            b: Some(post.clone()),
        };
        let r: Z_PostOnlyReturns = self.call("SendEphemeralPost", &args)?;
        required("SendEphemeralPost", r.a, None)
    }

    /// UpdateEphemeralPost.
    pub fn update_ephemeral_post(&self, user_id: &str, post: &Post) -> Result<Post, ApiError> {
        let args = Z_StrPostArgs {
            a: user_id.to_owned(),
            b: Some(post.clone()),
        };
        let r: Z_PostOnlyReturns = self.call("UpdateEphemeralPost", &args)?;
        required("UpdateEphemeralPost", r.a, None)
    }

    /// DeleteEphemeralPost.
    pub fn delete_ephemeral_post(&self, user_id: &str, post_id: &str) -> Result<(), ApiError> {
        let args = Z_StrStrArgs {
            a: user_id.to_owned(),
            b: post_id.to_owned(),
        };
        let _: Empty = self.call("DeleteEphemeralPost", &args)?;
        Ok(())
    }

    // ----- channels, users, teams -----

    /// GetChannel.
    pub fn get_channel(&self, channel_id: &str) -> Result<Channel, ApiError> {
        let r: Z_ChannelReturns = self.call("GetChannel", &str_args(channel_id))?;
        required("GetChannel", r.a, r.b)
    }

    /// GetChannelByName (team id + channel name).
    pub fn get_channel_by_name(
        &self,
        team_id: &str,
        name: &str,
        include_deleted: bool,
    ) -> Result<Channel, ApiError> {
        let args = Z_StrStrBoolArgs {
            a: team_id.to_owned(),
            b: name.to_owned(),
            c: include_deleted,
        };
        let r: Z_ChannelReturns = self.call("GetChannelByName", &args)?;
        required("GetChannelByName", r.a, r.b)
    }

    /// GetChannelByNameForTeamName.
    pub fn get_channel_by_name_for_team_name(
        &self,
        team_name: &str,
        channel_name: &str,
        include_deleted: bool,
    ) -> Result<Channel, ApiError> {
        let args = Z_StrStrBoolArgs {
            a: team_name.to_owned(),
            b: channel_name.to_owned(),
            c: include_deleted,
        };
        let r: Z_ChannelReturns = self.call("GetChannelByNameForTeamName", &args)?;
        required("GetChannelByNameForTeamName", r.a, r.b)
    }

    /// GetDirectChannel (creates the DM channel if needed).
    pub fn get_direct_channel(&self, user_id1: &str, user_id2: &str) -> Result<Channel, ApiError> {
        let args = Z_StrStrArgs {
            a: user_id1.to_owned(),
            b: user_id2.to_owned(),
        };
        let r: Z_ChannelReturns = self.call("GetDirectChannel", &args)?;
        required("GetDirectChannel", r.a, r.b)
    }

    /// AddChannelMember.
    pub fn add_channel_member(
        &self,
        channel_id: &str,
        user_id: &str,
    ) -> Result<ChannelMember, ApiError> {
        let args = Z_StrStrArgs {
            a: channel_id.to_owned(),
            b: user_id.to_owned(),
        };
        let r: Z_ChannelMemberReturns = self.call("AddChannelMember", &args)?;
        required("AddChannelMember", r.a, r.b)
    }

    /// GetUser.
    pub fn get_user(&self, user_id: &str) -> Result<User, ApiError> {
        let r: Z_UserReturns = self.call("GetUser", &str_args(user_id))?;
        required("GetUser", r.a, r.b)
    }

    /// GetUserByEmail.
    pub fn get_user_by_email(&self, email: &str) -> Result<User, ApiError> {
        let r: Z_UserReturns = self.call("GetUserByEmail", &str_args(email))?;
        required("GetUserByEmail", r.a, r.b)
    }

    /// GetUserByUsername.
    pub fn get_user_by_username(&self, username: &str) -> Result<User, ApiError> {
        let r: Z_UserReturns = self.call("GetUserByUsername", &str_args(username))?;
        required("GetUserByUsername", r.a, r.b)
    }

    /// GetUsersByUsernames: the users that exist among `usernames` (unknown names are left
    /// out, not an error), in no particular order.
    pub fn get_users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>, ApiError> {
        let args = Z_StringsArgs {
            a: usernames.to_vec(),
        };
        let r: Z_UsersReturns = self.call("GetUsersByUsernames", &args)?;
        check_app_error("GetUsersByUsernames", r.b)?;
        Ok(r.a)
    }

    /// GetUsers: one page of the users matching `options` (e.g. every active system admin:
    /// `role: "system_admin"`, `active: true`).
    pub fn get_users(&self, options: &UserGetOptions) -> Result<Vec<User>, ApiError> {
        let args = Z_GetUsersArgs {
            a: Some(options.clone()),
        };
        let r: Z_UsersReturns = self.call("GetUsers", &args)?;
        check_app_error("GetUsers", r.b)?;
        Ok(r.a)
    }

    /// GetUsersByIds (server 9.8+): the users that exist among `user_ids`, in no particular
    /// order. Older servers answer [`ApiError::NotAvailable`]
    /// ([`ApiError::is_not_available`]); fall back to `get_user` per id there.
    pub fn get_users_by_ids(&self, user_ids: &[String]) -> Result<Vec<User>, ApiError> {
        let args = Z_StringsArgs {
            a: user_ids.to_vec(),
        };
        let r: Z_UsersReturns = self.call("GetUsersByIds", &args)?;
        check_app_error("GetUsersByIds", r.b)?;
        Ok(r.a)
    }

    /// GetTeam.
    pub fn get_team(&self, team_id: &str) -> Result<Team, ApiError> {
        let r: Z_TeamReturns = self.call("GetTeam", &str_args(team_id))?;
        required("GetTeam", r.a, r.b)
    }

    /// GetTeamByName.
    pub fn get_team_by_name(&self, name: &str) -> Result<Team, ApiError> {
        let r: Z_TeamReturns = self.call("GetTeamByName", &str_args(name))?;
        required("GetTeamByName", r.a, r.b)
    }

    // ----- permissions -----

    /// HasPermissionTo (system-wide permission).
    pub fn has_permission_to(&self, user_id: &str, permission: &str) -> Result<bool, ApiError> {
        let args = Z_PermissionArgs {
            a: user_id.to_owned(),
            b: Some(Permission::id(permission)),
        };
        let r: Z_BoolReturns = self.call("HasPermissionTo", &args)?;
        Ok(r.a)
    }

    /// HasPermissionToChannel.
    pub fn has_permission_to_channel(
        &self,
        user_id: &str,
        channel_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError> {
        self.scoped_permission("HasPermissionToChannel", user_id, channel_id, permission)
    }

    /// HasPermissionToTeam.
    pub fn has_permission_to_team(
        &self,
        user_id: &str,
        team_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError> {
        self.scoped_permission("HasPermissionToTeam", user_id, team_id, permission)
    }

    fn scoped_permission(
        &self,
        method: &'static str,
        user_id: &str,
        scope_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError> {
        let args = Z_PermissionScopedArgs {
            a: user_id.to_owned(),
            b: scope_id.to_owned(),
            c: Some(Permission::id(permission)),
        };
        let r: Z_BoolReturns = self.call(method, &args)?;
        Ok(r.a)
    }

    // ----- key-value store -----

    /// KVGet: `None` when the key is missing (or its value is empty: gob cannot tell).
    pub fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        z!(Z_KVGetReturns { a: Bytes, b: Option<AppError> });
        let r: Z_KVGetReturns = self.call("KVGet", &str_args(key))?;
        check_app_error("KVGet", r.b)?;
        Ok(if r.a.0.is_empty() { None } else { Some(r.a.0) })
    }

    /// KVSet.
    pub fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        let args = Z_StrBytesArgs {
            a: key.to_owned(),
            b: Bytes(value.to_vec()),
        };
        let r: Z_AppErrReturns = self.call("KVSet", &args)?;
        check_app_error("KVSet", r.a)
    }

    /// KVSetWithOptions: returns whether the value was set (false = atomic check failed).
    /// `value` None deletes.
    pub fn kv_set_with_options(
        &self,
        key: &str,
        value: Option<&[u8]>,
        options: &PluginKVSetOptions,
    ) -> Result<bool, ApiError> {
        let args = Z_KVSetWithOptionsArgs {
            a: key.to_owned(),
            b: Bytes(value.map(<[u8]>::to_vec).unwrap_or_default()),
            c: options.clone(),
        };
        let r: Z_BoolAppErrReturns = self.call("KVSetWithOptions", &args)?;
        check_app_error("KVSetWithOptions", r.b)?;
        Ok(r.a)
    }

    /// KVSetWithExpiry.
    pub fn kv_set_with_expiry(
        &self,
        key: &str,
        value: &[u8],
        expire_in_seconds: i64,
    ) -> Result<(), ApiError> {
        let args = Z_KVSetWithExpiryArgs {
            a: key.to_owned(),
            b: Bytes(value.to_vec()),
            c: expire_in_seconds,
        };
        let r: Z_AppErrReturns = self.call("KVSetWithExpiry", &args)?;
        check_app_error("KVSetWithExpiry", r.a)
    }

    /// KVCompareAndSet: `old_value` None = set only if absent.
    pub fn kv_compare_and_set(
        &self,
        key: &str,
        old_value: Option<&[u8]>,
        new_value: &[u8],
    ) -> Result<bool, ApiError> {
        let args = Z_KVCompareAndSetArgs {
            a: key.to_owned(),
            b: Bytes(old_value.map(<[u8]>::to_vec).unwrap_or_default()),
            c: Bytes(new_value.to_vec()),
        };
        let r: Z_BoolAppErrReturns = self.call("KVCompareAndSet", &args)?;
        check_app_error("KVCompareAndSet", r.b)?;
        Ok(r.a)
    }

    /// KVDelete.
    pub fn kv_delete(&self, key: &str) -> Result<(), ApiError> {
        let r: Z_AppErrReturns = self.call("KVDelete", &str_args(key))?;
        check_app_error("KVDelete", r.a)
    }

    /// KVDeleteAll: deletes every key of this plugin.
    pub fn kv_delete_all(&self) -> Result<(), ApiError> {
        let r: Z_AppErrReturns = self.call("KVDeleteAll", &Empty)?;
        check_app_error("KVDeleteAll", r.a)
    }

    /// KVList: one page of keys.
    pub fn kv_list(&self, page: i64, per_page: i64) -> Result<Vec<String>, ApiError> {
        let args = Z_KVListArgs {
            a: page,
            b: per_page,
        };
        let r: Z_StringsAppErrReturns = self.call("KVList", &args)?;
        check_app_error("KVList", r.b)?;
        Ok(r.a)
    }

    // ----- files -----

    /// UploadFile: stores `data` as a file in `channel_id` (attach it via `Post.file_ids`).
    pub fn upload_file(
        &self,
        data: &[u8],
        channel_id: &str,
        filename: &str,
    ) -> Result<FileInfo, ApiError> {
        let args = Z_UploadFileArgs {
            a: Bytes(data.to_vec()),
            b: channel_id.to_owned(),
            c: filename.to_owned(),
        };
        let r: Z_FileInfoReturns = self.call("UploadFile", &args)?;
        required("UploadFile", r.a, r.b)
    }

    /// GetFileInfo: a file's name, size and type (before reading it).
    pub fn get_file_info(&self, file_id: &str) -> Result<FileInfo, ApiError> {
        let r: Z_FileInfoReturns = self.call("GetFileInfo", &str_args(file_id))?;
        required("GetFileInfo", r.a, r.b)
    }

    /// GetFile: a file's contents (one a user attached to a post, say).
    pub fn get_file(&self, file_id: &str) -> Result<Vec<u8>, ApiError> {
        z!(Z_GetFileReturns { a: Bytes, b: Option<AppError> });
        let r: Z_GetFileReturns = self.call("GetFile", &str_args(file_id))?;
        check_app_error("GetFile", r.b)?;
        Ok(r.a.0)
    }

    // ----- logging and events -----

    /// Writes to the server log with key/value pairs (LogDebug/LogInfo/LogWarn/LogError).
    pub fn log(
        &self,
        level: LogLevel,
        message: &str,
        pairs: &[(&str, &str)],
    ) -> Result<(), ApiError> {
        let method = match level {
            LogLevel::Debug => "LogDebug",
            LogLevel::Info => "LogInfo",
            LogLevel::Warn => "LogWarn",
            LogLevel::Error => "LogError",
        };
        // Go sends every key and value as a string interface value.
        let b = pairs
            .iter()
            .flat_map(|(k, v)| [*k, *v])
            .map(|s| Any::from_json(&serde_json::Value::String(s.to_owned())))
            .collect();
        let args = Z_LogArgs {
            a: message.to_owned(),
            b,
        };
        let _: Empty = self.call(method, &args)?;
        Ok(())
    }

    /// LogDebug; a failure to log goes to stderr (there is nowhere better).
    pub fn log_debug(&self, message: &str, pairs: &[(&str, &str)]) {
        self.log_or_stderr(LogLevel::Debug, message, pairs);
    }

    /// LogInfo.
    pub fn log_info(&self, message: &str, pairs: &[(&str, &str)]) {
        self.log_or_stderr(LogLevel::Info, message, pairs);
    }

    /// LogWarn.
    pub fn log_warn(&self, message: &str, pairs: &[(&str, &str)]) {
        self.log_or_stderr(LogLevel::Warn, message, pairs);
    }

    /// LogError.
    pub fn log_error(&self, message: &str, pairs: &[(&str, &str)]) {
        self.log_or_stderr(LogLevel::Error, message, pairs);
    }

    fn log_or_stderr(&self, level: LogLevel, message: &str, pairs: &[(&str, &str)]) {
        if let Err(e) = self.log(level, message, pairs) {
            eprintln!("[{level:?}] {message} {pairs:?} (server log failed: {e})");
        }
    }

    /// PublishWebSocketEvent: delivered to clients as `custom_<pluginid>_<event>`.
    pub fn publish_websocket_event(
        &self,
        event: &str,
        payload: &BTreeMap<String, serde_json::Value>,
        broadcast: &WebsocketBroadcast,
    ) -> Result<(), ApiError> {
        let args = Z_PublishWebSocketEventArgs {
            a: event.to_owned(),
            b: payload
                .iter()
                .map(|(k, v)| (k.clone(), Any::from_json(v)))
                .collect(),
            c: Some(broadcast.clone()),
        };
        let _: Empty = self.call("PublishWebSocketEvent", &args)?;
        Ok(())
    }

    /// PublishPluginClusterEvent (server 5.36+): sends `event` to this plugin on the other
    /// nodes of a cluster (their `on_plugin_cluster_event` hook); on a single server it goes
    /// nowhere. `options.target_id` empty = every other node.
    pub fn publish_plugin_cluster_event(
        &self,
        event: &PluginClusterEvent,
        options: &PluginClusterEventSendOptions,
    ) -> Result<(), ApiError> {
        let args = Z_PublishPluginClusterEventArgs {
            a: event.clone(),
            b: options.clone(),
        };
        let r: Z_ErrReturns = self.call("PublishPluginClusterEvent", &args)?;
        check_error_any("PublishPluginClusterEvent", &r.a)
    }
}

fn str_args(a: &str) -> Z_StrArgs {
    Z_StrArgs { a: a.to_owned() }
}

fn post_args(post: &Post) -> Z_PostArgs {
    Z_PostArgs {
        a: Some(post.clone()),
    }
}

/// Turns `(A *T, B *AppError)` into a result; a reply with neither is a protocol error.
fn required<T>(
    method: &'static str,
    value: Option<T>,
    err: Option<AppError>,
) -> Result<T, ApiError> {
    check_app_error(method, err)?;
    value.ok_or_else(|| ApiError::Rpc {
        method,
        message: "the server returned neither a value nor an error".to_owned(),
    })
}
