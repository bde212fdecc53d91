//! Where messages go: the run's one batch of user look-ups (for mentions and for direct
//! messages alike), and each distinct target resolved to a channel id against the
//! allow-list.

use std::collections::{BTreeSet, HashMap};

use crate::config::{AllowList, Target};
use crate::plan::Message;
use crate::port::{Directory, PortError, User};
use crate::render::UserCache;

/// The users a run needs, looked up once: by lower-cased e-mail and username.
#[derive(Debug, Default)]
pub struct Users {
    by_key: HashMap<String, User>,
}

impl Users {
    fn get(&self, key: &str) -> Option<&User> {
        self.by_key.get(&key.to_lowercase())
    }

    /// What `mattermost_user_lookup` reads while rendering.
    pub fn cache(&self) -> UserCache {
        let mut cache = UserCache::default();
        for (key, u) in &self.by_key {
            cache.insert(key, &u.username);
        }
        cache
    }
}

/// Looks up e-mails and usernames with one call each.
pub fn lookup_users(dir: &dyn Directory, wanted: &BTreeSet<String>) -> Result<Users, PortError> {
    let mut users = Users::default();
    let (emails, names): (Vec<String>, Vec<String>) =
        wanted.iter().cloned().partition(|w| w.contains('@'));
    if !emails.is_empty() {
        for u in dir.users_by_emails(&emails)? {
            users.by_key.insert(u.email.to_lowercase(), u);
        }
    }
    if !names.is_empty() {
        for u in dir.users_by_usernames(&names)? {
            users.by_key.insert(u.username.to_lowercase(), u);
        }
    }
    Ok(users)
}

/// Why a message cannot be routed; transient problems fail the run before it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pub message: String,
    pub transient: bool,
}

impl RouteError {
    fn permanent(message: String) -> Self {
        RouteError {
            message,
            transient: false,
        }
    }
}

impl From<PortError> for RouteError {
    fn from(e: PortError) -> Self {
        RouteError {
            transient: e.is_transient(),
            message: e.to_string(),
        }
    }
}

/// Each distinct target → a channel id, or why it cannot be posted to.
pub fn resolve_targets(
    dir: &dyn Directory,
    allow: &AllowList,
    users: &Users,
    messages: &[Message],
) -> HashMap<Target, Result<String, RouteError>> {
    let targets: BTreeSet<&Target> = messages.iter().map(|m| &m.target).collect();
    let mut out = HashMap::new();
    for t in targets {
        let r = resolve_one(dir, allow, t, users);
        out.insert(t.clone(), r);
    }
    out
}

fn resolve_one(
    dir: &dyn Directory,
    allow: &AllowList,
    t: &Target,
    users: &Users,
) -> Result<String, RouteError> {
    let missing = RouteError::permanent;
    match t {
        Target::Email(key) | Target::Username(key) => {
            if !allow.direct_messages {
                return Err(missing(format!(
                    "{t} would be a direct message, and this configuration has \
                     allow_direct_messages = false"
                )));
            }
            let user = users
                .get(key)
                .ok_or_else(|| missing(format!("no Mattermost user {t}")))?;
            Ok(dir.direct_channel(&user.id)?)
        }
        Target::ChannelId(id) => {
            let c = dir
                .channel_by_id(id)?
                .ok_or_else(|| missing(format!("no channel with id {id}")))?;
            if !allow.allows_channel(&c.team, &c.name) {
                return Err(missing(format!(
                    "channel {}/{} is not in allowed_channels",
                    c.team, c.name
                )));
            }
            Ok(c.id)
        }
        Target::TeamChannel { team, channel } => {
            if !allow.allows_channel(team, channel) {
                return Err(missing(format!("channel {t} is not in allowed_channels")));
            }
            dir.channel_by_name(team, channel)?
                .map(|c| c.id)
                .ok_or_else(|| {
                    missing(format!(
                        "no channel {t} (is the team/channel name right, and is the bot a member?)"
                    ))
                })
        }
    }
}
