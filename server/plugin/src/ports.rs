//! The engine's ports ([`Kv`], [`Messaging`], [`Directory`], [`Logger`]) over the plugin
//! API, posting as the bot.
//!
//! Every [`ApiError`] becomes a [`PortError`] with a kind the outbox acts on
//! ([`error_kind`]): transport failures, 5xx and 429 are transient; other AppErrors (4xx:
//! not found, forbidden) permanent; a method the server lacks is unsupported.

use chrono::{DateTime, Utc};
use datasync::port::{
    Channel, Directory, ErrorKind, Kv, LogLevel, Logger, Messaging, NewPost, PortError, RecentPost,
    User,
};
use mattermost::{Api, ApiError, Post};
use serde_json::{Map, Value};

/// Keys per KVList page.
const KV_PAGE: i64 = 1000;

/// What to do about a failed API call.
pub fn error_kind(e: &ApiError) -> ErrorKind {
    match e {
        ApiError::NotAvailable { .. } => ErrorKind::Unsupported,
        ApiError::App { error, .. } => match error.status_code {
            429 => ErrorKind::Transient,
            400..=499 => ErrorKind::Permanent,
            // 5xx, and an AppError without a status (nothing says the request is wrong).
            _ => ErrorKind::Transient,
        },
        // Transport failures, a reply that did not decode, another Go error value (a
        // database error in the server's store), the API not connected yet.
        ApiError::Rpc { .. } | ApiError::Remote { .. } | ApiError::NotConnected { .. } => {
            ErrorKind::Transient
        }
    }
}

/// The port error for a failed call.
pub fn port_error(call: &'static str, e: &ApiError) -> PortError {
    PortError::of(call, error_kind(e), e.to_string())
}

fn is_not_found(e: &ApiError) -> bool {
    e.app_error().is_some_and(|a| a.status_code == 404)
}

/// The engine's view of Mattermost: the API, posting as `bot_id`.
#[derive(Clone)]
pub struct ApiPort {
    api: Api,
    bot_id: String,
}

impl ApiPort {
    pub fn new(api: Api, bot_id: String) -> Self {
        ApiPort { api, bot_id }
    }

    /// The bot this port posts as.
    pub fn bot_id(&self) -> &str {
        &self.bot_id
    }

    /// The ids of the active system admins (the first 200: notices are for a few people).
    pub fn system_admins(&self) -> Result<Vec<String>, PortError> {
        let options = mattermost::UserGetOptions {
            role: "system_admin".into(),
            active: true,
            per_page: 200,
            ..Default::default()
        };
        let users = self
            .api
            .get_users(&options)
            .map_err(|e| port_error("GetUsers", &e))?;
        Ok(users
            .into_iter()
            .filter(|u| !u.is_bot)
            .map(|u| u.id)
            .collect())
    }
}

impl Kv for ApiPort {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.api.kv_get(key).map_err(|e| port_error("KVGet", &e))
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.api
            .kv_set(key, value)
            .map_err(|e| port_error("KVSet", &e))
    }

    fn kv_delete(&self, key: &str) -> Result<(), PortError> {
        self.api
            .kv_delete(key)
            .map_err(|e| port_error("KVDelete", &e))
    }

    fn kv_compare_and_set(
        &self,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, PortError> {
        self.api
            .kv_compare_and_set(key, old, new)
            .map_err(|e| port_error("KVCompareAndSet", &e))
    }

    fn kv_list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        let mut keys = Vec::new();
        for page in 0.. {
            let batch = self
                .api
                .kv_list(page, KV_PAGE)
                .map_err(|e| port_error("KVList", &e))?;
            let last = (batch.len() as i64) < KV_PAGE;
            keys.extend(batch.into_iter().filter(|k| k.starts_with(prefix)));
            if last {
                break;
            }
        }
        Ok(keys)
    }
}

impl Messaging for ApiPort {
    fn create_post(&self, post: &NewPost) -> Result<String, PortError> {
        let mut p = Post::new(&post.channel_id, &post.message);
        p.user_id = self.bot_id.clone();
        p.root_id = post.root_id.clone().unwrap_or_default();
        p.file_ids = post.file_ids.clone();
        for (k, v) in &post.props {
            p.set_prop_json(k, v);
        }
        self.api
            .create_post(&p)
            .map(|created| created.id)
            .map_err(|e| port_error("CreatePost", &e))
    }

    fn update_post(
        &self,
        post_id: &str,
        message: &str,
        props: &Map<String, Value>,
    ) -> Result<(), PortError> {
        let mut post = self
            .api
            .get_post(post_id)
            .map_err(|e| port_error("GetPost", &e))?;
        post.message = message.to_owned();
        // The props are replaced, except the server's own markers (from_bot, from_plugin, …)
        // and the delivery id the post was created with.
        post.props
            .retain(|k, _| k.starts_with("from_") || k == datasync::outbox::DELIVERY_PROP);
        for (k, v) in props {
            post.set_prop_json(k, v);
        }
        self.api
            .update_post(&post)
            .map(|_| ())
            .map_err(|e| port_error("UpdatePost", &e))
    }

    fn upload_file(&self, channel_id: &str, name: &str, bytes: &[u8]) -> Result<String, PortError> {
        self.api
            .upload_file(bytes, channel_id, name)
            .map(|f| f.id)
            .map_err(|e| port_error("UploadFile", &e))
    }

    fn recent_posts(
        &self,
        channel_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentPost>, PortError> {
        let list = self
            .api
            .get_posts_since(channel_id, since.timestamp_millis())
            .map_err(|e| port_error("GetPostsSince", &e))?;
        // Deleted posts count: a delivered message someone deleted must not come back.
        Ok(list
            .posts
            .values()
            .filter(|p| p.channel_id == channel_id)
            .map(|p| RecentPost {
                id: p.id.clone(),
                props: p.props_json(),
            })
            .collect())
    }
}

fn user(u: mattermost::User) -> User {
    User {
        id: u.id,
        username: u.username,
        email: u.email,
    }
}

impl Directory for ApiPort {
    fn users_by_emails(&self, emails: &[String]) -> Result<Vec<User>, PortError> {
        // The API has no batched look-up by e-mail: one call per address.
        let mut out = Vec::new();
        for email in emails {
            match self.api.get_user_by_email(email) {
                Ok(u) => out.push(user(u)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(port_error("GetUserByEmail", &e)),
            }
        }
        Ok(out)
    }

    fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>, PortError> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        match self.api.get_users_by_usernames(usernames) {
            Ok(users) => Ok(users.into_iter().map(user).collect()),
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(port_error("GetUsersByUsernames", &e)),
        }
    }

    fn channel_by_id(&self, id: &str) -> Result<Option<Channel>, PortError> {
        let c = match self.api.get_channel(id) {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(port_error("GetChannel", &e)),
        };
        // Direct and group messages belong to no team.
        let team = if c.team_id.is_empty() {
            String::new()
        } else {
            self.api
                .get_team(&c.team_id)
                .map_err(|e| port_error("GetTeam", &e))?
                .name
        };
        Ok(Some(Channel {
            id: c.id,
            team,
            name: c.name,
        }))
    }

    fn channel_by_name(&self, team: &str, name: &str) -> Result<Option<Channel>, PortError> {
        match self
            .api
            .get_channel_by_name_for_team_name(team, name, false)
        {
            Ok(c) => Ok(Some(Channel {
                id: c.id,
                team: team.to_owned(),
                name: c.name,
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(port_error("GetChannelByNameForTeamName", &e)),
        }
    }

    fn direct_channel(&self, user_id: &str) -> Result<String, PortError> {
        self.api
            .get_direct_channel(&self.bot_id, user_id)
            .map(|c| c.id)
            .map_err(|e| port_error("GetDirectChannel", &e))
    }
}

impl Logger for ApiPort {
    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => self.api.log_debug(message, &[]),
            LogLevel::Info => self.api.log_info(message, &[]),
            LogLevel::Warn => self.api.log_warn(message, &[]),
            LogLevel::Error => self.api.log_error(message, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mattermost::AppError;

    fn app(status: i64) -> ApiError {
        ApiError::App {
            method: "CreatePost",
            error: Box::new(AppError::new("some.id", "what the server said", status)),
        }
    }

    #[test]
    fn api_errors_map_to_kinds() {
        for (status, kind) in [
            (500, ErrorKind::Transient),
            (502, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (429, ErrorKind::Transient),
            (0, ErrorKind::Transient),
            (400, ErrorKind::Permanent),
            (401, ErrorKind::Permanent),
            (403, ErrorKind::Permanent),
            (404, ErrorKind::Permanent),
            (413, ErrorKind::Permanent),
        ] {
            assert_eq!(error_kind(&app(status)), kind, "status {status}");
        }
        let rpc = ApiError::Rpc {
            method: "KVGet",
            message: "stream closed".into(),
        };
        assert_eq!(error_kind(&rpc), ErrorKind::Transient);
        let remote = ApiError::Remote {
            method: "KVSet",
            type_name: "*pq.Error".into(),
            message: "connection reset".into(),
        };
        assert_eq!(error_kind(&remote), ErrorKind::Transient);
        let old = ApiError::NotAvailable {
            method: "GetUsersByIds",
        };
        assert_eq!(error_kind(&old), ErrorKind::Unsupported);
        let early = ApiError::NotConnected { method: "KVGet" };
        assert_eq!(error_kind(&early), ErrorKind::Transient);
    }

    #[test]
    fn port_errors_keep_call_and_message() {
        let e = port_error("CreatePost", &app(403));
        assert_eq!(e.call, "CreatePost");
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("what the server said"), "{}", e.message);
        assert!(e.message.contains("403"), "{}", e.message);
        assert!(
            !port_error("CreatePost", &app(503))
                .kind
                .eq(&ErrorKind::Permanent)
        );
    }

    #[test]
    fn only_404_means_absent() {
        assert!(is_not_found(&app(404)));
        assert!(!is_not_found(&app(403)));
        assert!(!is_not_found(&app(500)));
        assert!(!is_not_found(&ApiError::Rpc {
            method: "GetUserByEmail",
            message: "EOF".into()
        }));
    }
}
