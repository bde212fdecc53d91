//! Mattermost model structs as they travel over gob.
//!
//! Field names on the wire are Go's exported field names (PascalCase of the Rust ident, with
//! explicit renames where Go spells an acronym: `IconURL`, `SiteURL`, `RoleID`, …). Only the
//! fields a plugin needs are declared: gob ignores fields the receiver does not know, so newer
//! servers with more fields decode fine, and zero values arrive as serde defaults.

use std::collections::BTreeMap;

use gob::Any;

/// Declares a gob-facing model struct with the derives and serde settings every model shares.
macro_rules! model {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, gob::GobType)]
        #[serde(rename_all = "PascalCase", default)]
        pub struct $name { $($body)* }
    };
}

/// A Go interface value holding `value` under its registered Go name. Encoding a plain model
/// struct to a gob value cannot fail in practice; should it ever, the failure is printed and
/// the value is nil rather than a panic inside a hook.
pub(crate) fn interface<T: serde::Serialize + gob::GobType>(go_name: &str, value: &T) -> Any {
    Any::new(go_name, value).unwrap_or_else(|e| {
        eprintln!("[ERROR] cannot encode {go_name} as an interface value: {e}");
        Any::nil()
    })
}

/// Go `map[string]interface{}` (model.StringInterface): values are gob interface values.
pub type StringInterface = BTreeMap<String, Any>;

model! {
    /// plugin.Context: per-request information the server passes to hooks.
    pub struct Context {
        pub session_id: String,
        pub request_id: String,
        /// `IPAddress` on the wire; 5.x servers name it `IpAddress`, read as well.
        #[serde(rename = "IPAddress", alias = "IpAddress")]
        pub ip_address: String,
        pub accept_language: String,
        pub user_agent: String,
    }
}

model! {
    /// model.AppError: the error type of the Mattermost API, in both directions.
    pub struct AppError {
        pub id: String,
        pub message: String,
        pub detailed_error: String,
        pub request_id: String,
        pub status_code: i64,
        #[serde(rename = "Where")]
        pub where_: String,
        pub skip_translation: bool,
    }
}

impl AppError {
    /// An error with an id (e.g. `app.plugin.hello.app_error`), message and HTTP status code.
    ///
    /// `SkipTranslation` is set: the server replaces the message of an error it passes on
    /// (a refused configuration save, a failed activation) with the translation of its id,
    /// and a plugin's ids are not in the server's translations, so the admin would see only
    /// the id. Servers older than the field ignore it.
    pub fn new(id: &str, message: &str, status_code: i64) -> Self {
        AppError {
            id: id.to_owned(),
            message: message.to_owned(),
            status_code,
            skip_translation: true,
            ..AppError::default()
        }
    }

    /// Adds the detailed error text (shown to admins, not end users).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detailed_error = detail.into();
        self
    }

    /// Wraps this error as a Go `error` interface value (`*model.AppError`).
    pub fn to_any(&self) -> Any {
        interface("*model.AppError", self)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Same shape as Go's AppError.Error(): "where: message, detail".
        if !self.where_.is_empty() {
            write!(f, "{}: ", self.where_)?;
        }
        write!(f, "{}", self.message)?;
        if !self.detailed_error.is_empty() {
            write!(f, ", {}", self.detailed_error)?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

model! {
    /// plugin.ErrorString: how Go sends a non-AppError `error` through RPC.
    pub struct ErrorString {
        pub code: i64,
        pub err: String,
    }
}

model! {
    /// model.Post. `props` values are Go interface values; use the helpers to set them.
    pub struct Post {
        pub id: String,
        pub create_at: i64,
        pub update_at: i64,
        pub edit_at: i64,
        pub delete_at: i64,
        pub is_pinned: bool,
        pub user_id: String,
        pub channel_id: String,
        pub root_id: String,
        pub original_id: String,
        pub message: String,
        pub message_source: String,
        #[serde(rename = "Type")]
        pub post_type: String,
        pub props: StringInterface,
        pub hashtags: String,
        pub file_ids: Vec<String>,
        pub pending_post_id: String,
        pub has_reactions: bool,
        pub remote_id: Option<String>,
        pub reply_count: i64,
        pub last_reply_at: i64,
        pub is_following: Option<bool>,
    }
}

impl Post {
    /// A post with a channel and message (the usual start for CreatePost).
    pub fn new(channel_id: &str, message: &str) -> Self {
        Post {
            channel_id: channel_id.to_owned(),
            message: message.to_owned(),
            ..Post::default()
        }
    }

    /// Sets a string prop (Go `string` in the interface map).
    pub fn set_prop_str(&mut self, key: &str, value: &str) {
        let value = serde_json::Value::String(value.to_owned());
        self.props.insert(key.to_owned(), Any::from_json(&value));
    }

    /// Sets any JSON-like prop; objects become `map[string]interface {}`, arrays
    /// `[]interface {}`, numbers int64/float64 as Go's JSON-less gob would carry them.
    pub fn set_prop_json(&mut self, key: &str, value: &serde_json::Value) {
        self.props.insert(key.to_owned(), Any::from_json(value));
    }

    /// The props as JSON, as the server would send them to a client: a typed value the
    /// server put there (attachments become `[]*model.SlackAttachment` when a post is
    /// saved) has its fields named as its JSON tags name them.
    pub fn props_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.props
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json_with(&json_field_name)))
            .collect()
    }

    /// A string prop, if present and a string.
    pub fn prop_str(&self, key: &str) -> Option<String> {
        self.props
            .get(key)
            .and_then(|v| v.to_json().as_str().map(str::to_owned))
    }

    /// Sets Slack-compatible attachments as `[]interface {}` of `map[string]interface {}`,
    /// which the server converts via JSON (avoids the `[]*model.SlackAttachment` struct tree).
    pub fn set_attachments(&mut self, attachments: &[serde_json::Value]) {
        let list = serde_json::Value::Array(attachments.to_vec());
        self.props
            .insert("attachments".to_owned(), Any::from_json(&list));
    }

    /// The thread root to reply under: the root id, or the post's own id for a root post.
    pub fn thread_root(&self) -> &str {
        if self.root_id.is_empty() {
            &self.id
        } else {
            &self.root_id
        }
    }
}

model! {
    /// model.CommandArgs: what the server passes to ExecuteCommand.
    pub struct CommandArgs {
        pub user_id: String,
        pub channel_id: String,
        pub team_id: String,
        pub root_id: String,
        pub parent_id: String,
        pub trigger_id: String,
        pub command: String,
        #[serde(rename = "SiteURL")]
        pub site_url: String,
        pub user_mentions: BTreeMap<String, String>,
        pub channel_mentions: BTreeMap<String, String>,
    }
}

model! {
    /// model.CommandResponse. `response_type` is "ephemeral" or "in_channel".
    pub struct CommandResponse {
        pub response_type: String,
        pub text: String,
        pub username: String,
        pub channel_id: String,
        #[serde(rename = "IconURL")]
        pub icon_url: String,
        #[serde(rename = "Type")]
        pub response_post_type: String,
        pub props: StringInterface,
        pub goto_location: String,
        pub trigger_id: String,
        pub skip_slack_parsing: bool,
    }
}

impl CommandResponse {
    /// An ephemeral response (only the invoking user sees it).
    pub fn ephemeral(text: &str) -> Self {
        CommandResponse {
            response_type: "ephemeral".to_owned(),
            text: text.to_owned(),
            ..CommandResponse::default()
        }
    }

    /// An in-channel response (posted for everyone).
    pub fn in_channel(text: &str) -> Self {
        CommandResponse {
            response_type: "in_channel".to_owned(),
            text: text.to_owned(),
            ..CommandResponse::default()
        }
    }
}

model! {
    /// model.Command: a slash command registration.
    pub struct Command {
        pub id: String,
        pub token: String,
        pub create_at: i64,
        pub update_at: i64,
        pub delete_at: i64,
        pub creator_id: String,
        pub team_id: String,
        pub trigger: String,
        pub method: String,
        pub username: String,
        #[serde(rename = "IconURL")]
        pub icon_url: String,
        pub auto_complete: bool,
        pub auto_complete_desc: String,
        pub auto_complete_hint: String,
        pub display_name: String,
        pub description: String,
        #[serde(rename = "URL")]
        pub url: String,
        pub plugin_id: String,
        pub autocomplete_data: Option<AutocompleteData>,
        pub autocomplete_icon_data: String,
    }
}

model! {
    /// model.AutocompleteData: a command or sub-command in the autocomplete tree.
    pub struct AutocompleteData {
        pub trigger: String,
        pub hint: String,
        pub help_text: String,
        #[serde(rename = "RoleID")]
        pub role_id: String,
        pub arguments: Vec<AutocompleteArg>,
        pub sub_commands: Vec<AutocompleteData>,
    }
}

impl AutocompleteData {
    /// A node with trigger, hint and help text.
    pub fn new(trigger: &str, hint: &str, help_text: &str) -> Self {
        AutocompleteData {
            trigger: trigger.to_owned(),
            hint: hint.to_owned(),
            help_text: help_text.to_owned(),
            ..AutocompleteData::default()
        }
    }

    /// Adds a positional free-text argument (positional text args must be required).
    pub fn add_text_argument(&mut self, help_text: &str, hint: &str, pattern: &str) {
        let data = AutocompleteTextArg {
            hint: hint.to_owned(),
            pattern: pattern.to_owned(),
        };
        self.arguments.push(AutocompleteArg {
            help_text: help_text.to_owned(),
            arg_type: "TextInput".to_owned(),
            required: true,
            data: interface("*model.AutocompleteTextArg", &data),
            ..AutocompleteArg::default()
        });
    }

    /// Adds a positional argument chosen from a fixed list.
    pub fn add_static_list_argument(
        &mut self,
        help_text: &str,
        required: bool,
        items: Vec<AutocompleteListItem>,
    ) {
        let data = AutocompleteStaticListArg {
            possible_arguments: items,
        };
        self.arguments.push(AutocompleteArg {
            help_text: help_text.to_owned(),
            arg_type: "StaticList".to_owned(),
            required,
            data: interface("*model.AutocompleteStaticListArg", &data),
            ..AutocompleteArg::default()
        });
    }

    /// Adds a positional argument whose choices the client fetches from `fetch_url`.
    pub fn add_dynamic_list_argument(&mut self, help_text: &str, fetch_url: &str, required: bool) {
        let data = AutocompleteDynamicListArg {
            fetch_url: fetch_url.to_owned(),
        };
        self.arguments.push(AutocompleteArg {
            help_text: help_text.to_owned(),
            arg_type: "DynamicList".to_owned(),
            required,
            data: interface("*model.AutocompleteDynamicListArg", &data),
            ..AutocompleteArg::default()
        });
    }

    /// Adds a sub-command node.
    pub fn add_command(&mut self, sub: AutocompleteData) {
        self.sub_commands.push(sub);
    }
}

model! {
    /// model.AutocompleteArg. `data` must be the registered pointer type matching `arg_type`.
    pub struct AutocompleteArg {
        pub name: String,
        pub help_text: String,
        #[serde(rename = "Type")]
        pub arg_type: String,
        pub required: bool,
        pub data: Any,
    }
}

model! {
    /// model.AutocompleteTextArg (`*model.AutocompleteTextArg` inside `AutocompleteArg.Data`).
    pub struct AutocompleteTextArg {
        pub hint: String,
        pub pattern: String,
    }
}

model! {
    /// model.AutocompleteListItem.
    pub struct AutocompleteListItem {
        pub item: String,
        pub hint: String,
        pub help_text: String,
    }
}

model! {
    /// model.AutocompleteStaticListArg.
    pub struct AutocompleteStaticListArg {
        pub possible_arguments: Vec<AutocompleteListItem>,
    }
}

model! {
    /// model.AutocompleteDynamicListArg.
    pub struct AutocompleteDynamicListArg {
        #[serde(rename = "FetchURL")]
        pub fetch_url: String,
    }
}

model! {
    /// model.Bot.
    pub struct Bot {
        pub user_id: String,
        pub username: String,
        pub display_name: String,
        pub description: String,
        pub owner_id: String,
        pub last_icon_update: i64,
        pub create_at: i64,
        pub update_at: i64,
        pub delete_at: i64,
    }
}

impl Bot {
    /// A bot definition for EnsureBotUser / CreateBot.
    pub fn new(username: &str, display_name: &str, description: &str) -> Self {
        Bot {
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            description: description.to_owned(),
            ..Bot::default()
        }
    }
}

model! {
    /// model.BotPatch: `None` leaves a field unchanged (an empty string cannot be sent).
    pub struct BotPatch {
        pub username: Option<String>,
        pub display_name: Option<String>,
        pub description: Option<String>,
    }
}

model! {
    /// model.BotGetOptions for GetBots.
    pub struct BotGetOptions {
        pub owner_id: String,
        pub include_deleted: bool,
        pub only_orphaned: bool,
        pub page: i64,
        pub per_page: i64,
    }
}

model! {
    /// model.UserGetOptions for GetUsers (the filters plugins commonly use; the server
    /// ignores fields it does not know and defaults the ones left out).
    pub struct UserGetOptions {
        pub in_team_id: String,
        pub in_channel_id: String,
        pub inactive: bool,
        pub active: bool,
        pub role: String,
        pub page: i64,
        pub per_page: i64,
    }
}

model! {
    /// model.User (the fields plugins commonly read).
    pub struct User {
        pub id: String,
        pub create_at: i64,
        pub update_at: i64,
        pub delete_at: i64,
        pub username: String,
        pub auth_service: String,
        pub email: String,
        pub email_verified: bool,
        pub nickname: String,
        pub first_name: String,
        pub last_name: String,
        pub position: String,
        pub roles: String,
        pub props: BTreeMap<String, String>,
        pub notify_props: BTreeMap<String, String>,
        pub timezone: BTreeMap<String, String>,
        pub last_picture_update: i64,
        pub locale: String,
        pub mfa_active: bool,
        pub remote_id: Option<String>,
        pub last_activity_at: i64,
        pub is_bot: bool,
        pub bot_description: String,
        pub bot_last_icon_update: i64,
        pub terms_of_service_id: String,
        pub terms_of_service_create_at: i64,
        pub disable_welcome_email: bool,
        pub last_login: i64,
    }
}

model! {
    /// model.Channel. `channel_type` is "O" (open), "P" (private), "D" (direct), "G" (group).
    pub struct Channel {
        pub id: String,
        pub create_at: i64,
        pub update_at: i64,
        pub delete_at: i64,
        pub team_id: String,
        #[serde(rename = "Type")]
        pub channel_type: String,
        pub display_name: String,
        pub name: String,
        pub header: String,
        pub purpose: String,
        pub last_post_at: i64,
        pub total_msg_count: i64,
        pub extra_update_at: i64,
        pub creator_id: String,
        pub scheme_id: Option<String>,
        pub group_constrained: Option<bool>,
        pub shared: Option<bool>,
        pub total_msg_count_root: i64,
        #[serde(rename = "PolicyID")]
        pub policy_id: Option<String>,
        pub last_root_post_at: i64,
    }
}

model! {
    /// model.ChannelMember (returned by AddChannelMember).
    pub struct ChannelMember {
        pub channel_id: String,
        pub user_id: String,
        pub roles: String,
        pub last_viewed_at: i64,
        pub msg_count: i64,
        pub mention_count: i64,
        pub notify_props: BTreeMap<String, String>,
        pub last_update_at: i64,
        pub scheme_guest: bool,
        pub scheme_user: bool,
        pub scheme_admin: bool,
        pub explicit_roles: String,
    }
}

model! {
    /// model.Team (returned by GetTeamByName).
    pub struct Team {
        pub id: String,
        pub create_at: i64,
        pub update_at: i64,
        pub delete_at: i64,
        pub display_name: String,
        pub name: String,
        pub description: String,
        pub email: String,
        #[serde(rename = "Type")]
        pub team_type: String,
        pub company_name: String,
        pub allowed_domains: String,
        pub invite_id: String,
        pub allow_open_invite: bool,
    }
}

model! {
    /// model.FileInfo (returned by UploadFile).
    pub struct FileInfo {
        pub id: String,
        pub creator_id: String,
        pub post_id: String,
        pub channel_id: String,
        pub create_at: i64,
        pub update_at: i64,
        pub delete_at: i64,
        pub path: String,
        pub thumbnail_path: String,
        pub preview_path: String,
        pub name: String,
        pub extension: String,
        pub size: i64,
        pub mime_type: String,
        pub width: i64,
        pub height: i64,
        pub has_preview_image: bool,
        pub remote_id: Option<String>,
        pub archived: bool,
    }
}

model! {
    /// model.Permission: only `id` matters to the server (e.g. "manage_system").
    pub struct Permission {
        pub id: String,
        pub name: String,
        pub description: String,
        pub scope: String,
    }
}

impl Permission {
    /// A permission by id, e.g. `Permission::id("manage_system")`.
    pub fn id(id: &str) -> Self {
        Permission {
            id: id.to_owned(),
            ..Permission::default()
        }
    }
}

model! {
    /// model.PluginKVSetOptions. `old_value` is only allowed with `atomic`.
    pub struct PluginKVSetOptions {
        pub atomic: bool,
        pub old_value: gob::Bytes,
        pub expire_in_seconds: i64,
    }
}

model! {
    /// model.WebsocketBroadcast: who receives a PublishWebSocketEvent.
    pub struct WebsocketBroadcast {
        pub omit_users: BTreeMap<String, bool>,
        pub user_id: String,
        pub channel_id: String,
        pub team_id: String,
        pub connection_id: String,
        pub omit_connection_id: String,
        pub contains_sanitized_data: bool,
        pub contains_sensitive_data: bool,
        pub reliable_cluster_send: bool,
    }
}

model! {
    /// model.PostList (GetPostsSince, GetPostsForChannel): `order` holds the ids of the
    /// listed posts, newest first; `posts` holds them and any thread roots they reply to.
    pub struct PostList {
        pub order: Vec<String>,
        pub posts: BTreeMap<String, Post>,
        pub next_post_id: String,
        pub prev_post_id: String,
        /// A `bool` on older servers, a `*bool` on newer ones; absent (nil) reads as false.
        pub has_next: bool,
        pub first_inaccessible_post_time: i64,
    }
}

impl PostList {
    /// The posts named by `order`, in that order (newest first).
    pub fn ordered(&self) -> impl Iterator<Item = &Post> {
        self.order.iter().filter_map(|id| self.posts.get(id))
    }
}

model! {
    /// model.PluginClusterEvent: a message to this plugin on the other nodes of a cluster.
    pub struct PluginClusterEvent {
        /// What the event is about (chosen by the plugin).
        pub id: String,
        pub data: gob::Bytes,
    }
}

impl PluginClusterEvent {
    /// An event with an id and a payload.
    pub fn new(id: &str, data: &[u8]) -> Self {
        PluginClusterEvent {
            id: id.to_owned(),
            data: gob::Bytes(data.to_vec()),
        }
    }
}

model! {
    /// model.PluginClusterEventSendOptions. `send_type` is [`CLUSTER_SEND_RELIABLE`] or
    /// [`CLUSTER_SEND_BEST_EFFORT`] (the server's default when empty); `target_id` empty =
    /// every other node.
    pub struct PluginClusterEventSendOptions {
        pub send_type: String,
        pub target_id: String,
    }
}

/// `model.PluginClusterEventSendTypeReliable`.
pub const CLUSTER_SEND_RELIABLE: &str = "reliable";
/// `model.PluginClusterEventSendTypeBestEffort`.
pub const CLUSTER_SEND_BEST_EFFORT: &str = "best_effort";

/// The server configuration about to be saved, as ConfigurationWillBeSaved receives it:
/// read-only, so a hook can only accept it unchanged or reject it (see
/// [`Hooks::configuration_will_be_saved`](crate::Hooks::configuration_will_be_saved)).
/// Decoded generically (model.Config is huge and differs between versions); the values are
/// what the server is about to store, secrets included.
#[derive(Debug, Clone, Default)]
pub struct ConfigToSave {
    value: Option<gob::Value>,
}

impl ConfigToSave {
    pub(crate) fn new(value: Option<gob::Value>) -> Self {
        ConfigToSave { value }
    }

    /// `PluginSettings.Plugins[<plugin_id>]`: one plugin's saved settings as a JSON object
    /// (keys as stored; the System Console stores them lower-cased), `None` when absent.
    pub fn plugin_settings(&self, plugin_id: &str) -> Option<serde_json::Value> {
        self.value
            .as_ref()?
            .field("PluginSettings")?
            .field("Plugins")?
            .field(plugin_id)
            .map(gob::Value::to_json)
    }

    /// The whole configuration as JSON with Go field names (`["ServiceSettings"]["SiteURL"]`);
    /// `null` when the server sent none.
    pub fn to_json(&self) -> serde_json::Value {
        self.value
            .as_ref()
            .map(gob::Value::to_json)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// The JSON name of a field of Mattermost's models: its Go name in snake case
/// (`TitleLink` → `title_link`, `ImageURL` → `image_url`, `Id` → `id`), which is what
/// their JSON tags say for the props' values; `SlackAttachment.Timestamp` is the one
/// exception there (`ts`).
pub fn json_field_name(go: &str) -> String {
    if go == "Timestamp" {
        return "ts".into();
    }
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 4);
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `value` with our gob encoder and decodes it as the RPC layer does.
    fn round_trip<T: gob::Encodable, R: serde::de::DeserializeOwned>(value: &T) -> R {
        let mut enc = gob::Encoder::new();
        let mut out = Vec::new();
        value.encode_into(&mut enc, &mut out).expect("encode");
        let decoded = gob::Decoder::new()
            .decode_value(&mut out.as_slice())
            .expect("decode");
        gob::from_value(decoded).expect("from_value")
    }

    model! {
        /// plugin.Context as 5.x servers define it.
        pub struct OldContext {
            pub session_id: String,
            pub request_id: String,
            pub ip_address: String,
            pub accept_language: String,
            pub user_agent: String,
        }
    }

    #[test]
    fn go_field_names_become_their_json_names() {
        for (go, json) in [
            ("Id", "id"),
            ("TitleLink", "title_link"),
            ("ImageURL", "image_url"),
            ("URL", "url"),
            ("DataSource", "data_source"),
            ("IPAddress", "ip_address"),
            ("PolicyID", "policy_id"),
            ("CreateAt", "create_at"),
            ("Timestamp", "ts"),
            ("text", "text"),
        ] {
            assert_eq!(json_field_name(go), json, "{go}");
        }
    }

    #[test]
    fn context_ip_address_decodes_under_both_names() {
        let old = OldContext {
            ip_address: "10.0.0.7".into(),
            user_agent: "ua".into(),
            ..OldContext::default()
        };
        // Sanity: the 5.x spelling really is "IpAddress" on the wire.
        assert!(
            serde_json::to_value(&old)
                .unwrap()
                .get("IpAddress")
                .is_some()
        );
        let ctx: Context = round_trip(&old);
        assert_eq!(ctx.ip_address, "10.0.0.7");
        assert_eq!(ctx.user_agent, "ua");
        let new = Context {
            ip_address: "192.0.2.1".into(),
            ..Context::default()
        };
        let ctx: Context = round_trip(&new);
        assert_eq!(ctx.ip_address, "192.0.2.1");
    }

    #[test]
    fn post_list_orders_posts_and_reads_nil_has_next() {
        let mut list = PostList::default();
        for (id, msg) in [("b", "newer"), ("a", "older")] {
            list.order.push(id.into());
            list.posts.insert(id.into(), Post::new("c", msg));
        }
        list.posts.insert("root".into(), Post::new("c", "root"));
        let back: PostList = round_trip(&list);
        let msgs: Vec<&str> = back.ordered().map(|p| p.message.as_str()).collect();
        assert_eq!(msgs, ["newer", "older"]);
        assert_eq!(back.posts.len(), 3);
        assert!(!back.has_next);
    }

    #[test]
    fn config_to_save_reads_plugin_settings() {
        use gob::Value as V;
        let settings = V::Map(vec![(
            V::String("datasync".into()),
            V::Map(vec![(
                V::String("syncs".into()),
                V::String("[[sync]]".into()),
            )]),
        )]);
        let config = V::Struct(vec![(
            "PluginSettings".into(),
            V::Struct(vec![("Plugins".into(), settings)]),
        )]);
        let view = ConfigToSave::new(Some(config));
        assert_eq!(
            view.plugin_settings("datasync"),
            Some(serde_json::json!({"syncs": "[[sync]]"}))
        );
        assert_eq!(view.plugin_settings("other"), None);
        assert_eq!(
            view.to_json()["PluginSettings"]["Plugins"]["datasync"]["syncs"],
            "[[sync]]"
        );
        assert_eq!(ConfigToSave::default().plugin_settings("datasync"), None);
        assert!(ConfigToSave::default().to_json().is_null());
    }
}
