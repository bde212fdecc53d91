//! The engine's ports to Mattermost, and an in-memory implementation of them.
//!
//! The engine never calls the plugin RPC API directly. It uses small traits split by
//! capability — [`Kv`] (state), [`Messaging`] (posts, files, read-back), [`Directory`]
//! (users, channels) and [`Logger`] — so each module depends on what it uses; [`Port`] is
//! all of them. Production implements them over the `mattermost` crate's API client; tests
//! and the dry run use [`MemoryPort`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A user as far as the engine cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
}

/// A channel with the names routing and the allow-list need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    /// Team name (URL slug); empty for direct and group messages.
    pub team: String,
    /// Channel name (URL slug).
    pub name: String,
}

/// A post to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewPost {
    pub channel_id: String,
    pub message: String,
    pub props: Map<String, Value>,
    /// Post id of the thread root when replying.
    pub root_id: Option<String>,
    pub file_ids: Vec<String>,
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What the caller should do about a failed call. The outbox decides by kind, never by
/// matching message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transport failure, timeout, 5xx, rate limit: the same call may work later.
    Transient,
    /// The request itself cannot work (channel gone, bot not a member, 4xx): retrying the
    /// same call will not help.
    Permanent,
    /// The server is too old for the call.
    Unsupported,
}

/// A failed call to Mattermost: which call, what kind of failure, what the server said.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("Mattermost {call}: {message}")]
pub struct PortError {
    pub call: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

impl PortError {
    /// A transient failure (the common case for transport problems).
    pub fn new(call: &'static str, message: impl Into<String>) -> Self {
        Self::of(call, ErrorKind::Transient, message)
    }

    pub fn permanent(call: &'static str, message: impl Into<String>) -> Self {
        Self::of(call, ErrorKind::Permanent, message)
    }

    pub fn of(call: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        PortError {
            call,
            kind,
            message: message.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

/// A recent post, as reconciliation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentPost {
    pub id: String,
    pub props: Map<String, Value>,
}

/// Everything the engine needs from Mattermost.
pub trait Port: Kv + Messaging + Directory + Logger {}
impl<T: Kv + Messaging + Directory + Logger> Port for T {}

/// The plugin's key-value store (state that survives restarts and is shared by nodes).
pub trait Kv: Send + Sync {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PortError>;
    fn kv_delete(&self, key: &str) -> Result<(), PortError>;
    /// Sets `key` to `new` only if it currently holds `old` (`None`: only if absent).
    fn kv_compare_and_set(
        &self,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, PortError>;
    /// Keys starting with `prefix` (for cleanup).
    fn kv_list(&self, prefix: &str) -> Result<Vec<String>, PortError>;
}

/// Posting as the bot.
pub trait Messaging: Send + Sync {
    /// Creates a post as the bot; returns the new post's id.
    fn create_post(&self, post: &NewPost) -> Result<String, PortError>;
    /// Replaces a post's message and props, keeping its delivery id
    /// ([`crate::outbox::DELIVERY_PROP`]).
    fn update_post(
        &self,
        post_id: &str,
        message: &str,
        props: &Map<String, Value>,
    ) -> Result<(), PortError>;
    /// Uploads a file into a channel; returns the file id to attach to a post.
    fn upload_file(&self, channel_id: &str, name: &str, bytes: &[u8]) -> Result<String, PortError>;
    /// The channel's posts created since `since` (reconciliation after a crash looks for a
    /// delivery id among them). May return more than asked; never fewer.
    fn recent_posts(
        &self,
        channel_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentPost>, PortError>;
}

/// Users and channels.
pub trait Directory: Send + Sync {
    /// Users with these e-mail addresses (unknown ones are simply absent). One call per batch.
    fn users_by_emails(&self, emails: &[String]) -> Result<Vec<User>, PortError>;
    /// Users with these usernames (unknown ones are simply absent). One call per batch.
    fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>, PortError>;
    fn channel_by_id(&self, id: &str) -> Result<Option<Channel>, PortError>;
    fn channel_by_name(&self, team: &str, name: &str) -> Result<Option<Channel>, PortError>;
    /// The direct channel between the bot and a user (created if needed); returns its id.
    fn direct_channel(&self, user_id: &str) -> Result<String, PortError>;
}

/// The server log.
pub trait Logger: Send + Sync {
    fn log(&self, level: LogLevel, message: &str);
}

/// A post the in-memory port holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPost {
    pub id: String,
    pub channel_id: String,
    pub message: String,
    pub props: Map<String, Value>,
    pub root_id: Option<String>,
    /// Files as (name, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// How many times the post was edited.
    pub edits: u32,
}

/// How many times each kind of call was made (tests check batching with it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub create_post: usize,
    pub update_post: usize,
    pub upload_file: usize,
    pub users_by_emails: usize,
    pub users_by_usernames: usize,
    pub channel_lookups: usize,
    pub direct_channel: usize,
    pub kv_get: usize,
    pub kv_set: usize,
}

#[derive(Debug, Default)]
struct MemoryState {
    users: Vec<User>,
    channels: Vec<Channel>,
    posts: Vec<StoredPost>,
    files: BTreeMap<String, (String, Vec<u8>)>,
    kv: BTreeMap<String, Vec<u8>>,
    logs: Vec<(LogLevel, String)>,
    calls: CallCounts,
    next_id: u64,
    /// Make `create_post` fail once this many posts exist (tests of delivery failures).
    fail_posts_after: Option<(usize, ErrorKind)>,
    /// Make user look-ups fail (tests of directory outages).
    fail_lookups: bool,
    /// Make compare-and-set fail after this many more successful ones (tests of a crash
    /// between a post and the cursor write).
    fail_cas_after: Option<usize>,
    /// Dry run: channels named by team/channel or id, and users named by username, exist
    /// as soon as they are asked for.
    auto_create: bool,
}

/// Mattermost in memory: users, channels, posts, files and a KV store.
#[derive(Debug, Default)]
pub struct MemoryPort {
    state: Mutex<MemoryState>,
}

/// A 26-character id like Mattermost's, deterministic for tests.
fn make_id(prefix: char, n: u64) -> String {
    format!("{prefix}{n:0>25}")
}

impl MemoryPort {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a user; returns its id.
    pub fn add_user(&self, username: &str, email: &str) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = make_id('u', s.next_id);
        s.users.push(User {
            id: id.clone(),
            username: username.to_string(),
            email: email.to_string(),
        });
        id
    }

    /// Adds a channel; returns its id.
    pub fn add_channel(&self, team: &str, name: &str) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = make_id('c', s.next_id);
        s.channels.push(Channel {
            id: id.clone(),
            team: team.to_string(),
            name: name.to_string(),
        });
        id
    }

    /// Every post so far, in creation order.
    pub fn posts(&self) -> Vec<StoredPost> {
        self.lock().posts.clone()
    }

    pub fn calls(&self) -> CallCounts {
        self.lock().calls.clone()
    }

    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.lock().logs.clone()
    }

    pub fn kv_keys(&self) -> Vec<String> {
        self.lock().kv.keys().cloned().collect()
    }

    /// A port for dry runs: any `team/channel`, channel id or username exists on demand
    /// (e-mail addresses resolve only for users added with [`MemoryPort::add_user`]).
    pub fn auto() -> Self {
        let port = Self::default();
        port.lock().auto_create = true;
        port
    }

    /// The whole KV store (for the dry run's state file).
    pub fn kv_export(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().kv.clone()
    }

    pub fn kv_import(&self, kv: BTreeMap<String, Vec<u8>>) {
        self.lock().kv = kv;
    }

    /// Makes every `create_post` after the first `n` successful ones fail transiently.
    pub fn fail_posts_after(&self, n: usize) {
        self.fail_posts_after_with(n, ErrorKind::Transient);
    }

    /// Makes every `create_post` after the first `n` successful ones fail with `kind`.
    pub fn fail_posts_after_with(&self, n: usize, kind: ErrorKind) {
        self.lock().fail_posts_after = Some((n, kind));
    }

    /// Lets posts through again.
    pub fn heal_posts(&self) {
        self.lock().fail_posts_after = None;
    }

    /// Makes compare-and-set fail (transiently) after `n` more successful calls; `None`
    /// lets it work again.
    pub fn fail_cas_after(&self, n: Option<usize>) {
        self.lock().fail_cas_after = n;
    }

    /// Makes user look-ups fail (transiently) or work again.
    pub fn fail_lookups(&self, fail: bool) {
        self.lock().fail_lookups = fail;
    }

    /// A channel's "team/name" (or the DM's name) for printing.
    pub fn channel_label(&self, id: &str) -> String {
        let s = self.lock();
        match s.channels.iter().find(|c| c.id == id) {
            Some(c) if c.team.is_empty() => c.name.clone(),
            Some(c) => format!("{}/{}", c.team, c.name),
            None => id.to_string(),
        }
    }
}

impl Messaging for MemoryPort {
    fn create_post(&self, post: &NewPost) -> Result<String, PortError> {
        let mut s = self.lock();
        s.calls.create_post += 1;
        if let Some((n, kind)) = s.fail_posts_after
            && s.posts.len() >= n
        {
            return Err(PortError::of(
                "CreatePost",
                kind,
                "server unavailable (test)",
            ));
        }
        if !s.channels.iter().any(|c| c.id == post.channel_id) {
            return Err(PortError::permanent("CreatePost", "channel not found"));
        }
        let mut files = Vec::new();
        for id in &post.file_ids {
            match s.files.get(id) {
                Some(f) => files.push(f.clone()),
                None => return Err(PortError::permanent("CreatePost", "file not found")),
            }
        }
        let id = match post
            .props
            .get(crate::outbox::DELIVERY_PROP)
            .and_then(Value::as_str)
        {
            // Ids follow the delivery id, so a dry run's state file (threads) stays valid
            // across runs that each start a fresh port.
            Some(delivery) => format!("p{}", &crate::state::stable_hash(delivery)[..25]),
            None => {
                s.next_id += 1;
                make_id('p', s.next_id)
            }
        };
        s.posts.push(StoredPost {
            id: id.clone(),
            channel_id: post.channel_id.clone(),
            message: post.message.clone(),
            props: post.props.clone(),
            root_id: post.root_id.clone(),
            files,
            edits: 0,
        });
        Ok(id)
    }

    fn recent_posts(
        &self,
        channel_id: &str,
        _since: DateTime<Utc>,
    ) -> Result<Vec<RecentPost>, PortError> {
        // In memory every post of the channel counts as recent: a superset is allowed.
        Ok(self
            .lock()
            .posts
            .iter()
            .filter(|p| p.channel_id == channel_id)
            .map(|p| RecentPost {
                id: p.id.clone(),
                props: p.props.clone(),
            })
            .collect())
    }

    fn update_post(
        &self,
        post_id: &str,
        message: &str,
        props: &Map<String, Value>,
    ) -> Result<(), PortError> {
        let mut s = self.lock();
        s.calls.update_post += 1;
        let post = s
            .posts
            .iter_mut()
            .find(|p| p.id == post_id)
            .ok_or_else(|| PortError::permanent("UpdatePost", "post not found"))?;
        post.message = message.to_string();
        post.props.retain(|k, _| k == crate::outbox::DELIVERY_PROP);
        post.props.extend(props.clone());
        post.edits += 1;
        Ok(())
    }

    fn upload_file(&self, channel_id: &str, name: &str, bytes: &[u8]) -> Result<String, PortError> {
        let mut s = self.lock();
        s.calls.upload_file += 1;
        if !s.channels.iter().any(|c| c.id == channel_id) {
            return Err(PortError::permanent("UploadFile", "channel not found"));
        }
        s.next_id += 1;
        let id = make_id('f', s.next_id);
        s.files
            .insert(id.clone(), (name.to_string(), bytes.to_vec()));
        Ok(id)
    }
}

impl Directory for MemoryPort {
    fn users_by_emails(&self, emails: &[String]) -> Result<Vec<User>, PortError> {
        let mut s = self.lock();
        s.calls.users_by_emails += 1;
        if s.fail_lookups {
            return Err(PortError::new(
                "GetUsersByEmails",
                "server unavailable (test)",
            ));
        }
        Ok(s.users
            .iter()
            .filter(|u| emails.iter().any(|e| e.eq_ignore_ascii_case(&u.email)))
            .cloned()
            .collect())
    }

    fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>, PortError> {
        let mut s = self.lock();
        s.calls.users_by_usernames += 1;
        if s.fail_lookups {
            return Err(PortError::new(
                "GetUsersByUsernames",
                "server unavailable (test)",
            ));
        }
        if s.auto_create {
            for name in usernames {
                if !s
                    .users
                    .iter()
                    .any(|u| u.username.eq_ignore_ascii_case(name))
                {
                    s.next_id += 1;
                    let id = make_id('u', s.next_id);
                    s.users.push(User {
                        id,
                        username: name.clone(),
                        email: String::new(),
                    });
                }
            }
        }
        Ok(s.users
            .iter()
            .filter(|u| {
                usernames
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&u.username))
            })
            .cloned()
            .collect())
    }

    fn channel_by_id(&self, id: &str) -> Result<Option<Channel>, PortError> {
        let mut s = self.lock();
        s.calls.channel_lookups += 1;
        if let Some(c) = s.channels.iter().find(|c| c.id == id) {
            return Ok(Some(c.clone()));
        }
        if !s.auto_create {
            return Ok(None);
        }
        // A dry run cannot know which team an id belongs to.
        let c = Channel {
            id: id.to_string(),
            team: "(unknown team)".into(),
            name: id.to_string(),
        };
        s.channels.push(c.clone());
        Ok(Some(c))
    }

    fn channel_by_name(&self, team: &str, name: &str) -> Result<Option<Channel>, PortError> {
        let mut s = self.lock();
        s.calls.channel_lookups += 1;
        if let Some(c) = s.channels.iter().find(|c| c.team == team && c.name == name) {
            return Ok(Some(c.clone()));
        }
        if !s.auto_create {
            return Ok(None);
        }
        s.next_id += 1;
        let c = Channel {
            id: make_id('c', s.next_id),
            team: team.to_string(),
            name: name.to_string(),
        };
        s.channels.push(c.clone());
        Ok(Some(c))
    }

    fn direct_channel(&self, user_id: &str) -> Result<String, PortError> {
        let mut s = self.lock();
        s.calls.direct_channel += 1;
        let user = s
            .users
            .iter()
            .find(|u| u.id == user_id)
            .cloned()
            .ok_or_else(|| PortError::permanent("GetDirectChannel", "user not found"))?;
        let name = format!("@{}", user.username);
        if let Some(c) = s
            .channels
            .iter()
            .find(|c| c.team.is_empty() && c.name == name)
        {
            return Ok(c.id.clone());
        }
        s.next_id += 1;
        let id = make_id('d', s.next_id);
        s.channels.push(Channel {
            id: id.clone(),
            team: String::new(),
            name,
        });
        Ok(id)
    }
}

impl Kv for MemoryPort {
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        let mut s = self.lock();
        s.calls.kv_get += 1;
        Ok(s.kv.get(key).cloned())
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        let mut s = self.lock();
        s.calls.kv_set += 1;
        s.kv.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn kv_delete(&self, key: &str) -> Result<(), PortError> {
        self.lock().kv.remove(key);
        Ok(())
    }

    fn kv_compare_and_set(
        &self,
        key: &str,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, PortError> {
        let mut s = self.lock();
        match s.fail_cas_after {
            Some(0) => {
                return Err(PortError::new(
                    "KVCompareAndSet",
                    "server unavailable (test)",
                ));
            }
            Some(n) => s.fail_cas_after = Some(n - 1),
            None => {}
        }
        if s.kv.get(key).map(Vec::as_slice) != old {
            return Ok(false);
        }
        s.kv.insert(key.to_string(), new.to_vec());
        Ok(true)
    }

    fn kv_list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        Ok(self
            .lock()
            .kv
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
}

impl Logger for MemoryPort {
    fn log(&self, level: LogLevel, message: &str) {
        self.lock().logs.push((level, message.to_string()));
    }
}
