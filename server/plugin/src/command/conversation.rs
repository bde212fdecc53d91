//! The bot in conversation: a direct message to it, or an @-mention of it, takes the same
//! commands as `/datasync` in plain words (`status big_deals`, `run usage_drop`).
//!
//! Replies go to the post's thread: in the direct message as the bot's posts; in a channel
//! as an ephemeral post only the asker sees, since the channel's other members may not be
//! allowed to see what the asker may. Posts by bots and webhooks are never answered (two
//! bots must not talk forever), nor system messages.

use std::collections::HashMap;
use std::sync::Mutex;

use mattermost::{Api, Post};

/// Most channels remembered as "a DM with the bot or not" (then forgotten, and looked up
/// again): every post on the server comes through here, most of them in other channels.
const REMEMBERED_CHANNELS: usize = 10_000;

/// What the bot does with a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressed {
    /// Not for the bot.
    No,
    /// A command in a direct message with the bot: answer in the DM's thread.
    Direct(String),
    /// A command in a channel, with an @-mention: answer the asker alone, in the thread.
    Channel(String),
}

/// Which channels are direct messages with the bot.
#[derive(Default)]
pub struct DirectChannels {
    known: Mutex<HashMap<String, bool>>,
}

impl DirectChannels {
    /// Whether `channel_id` is a direct message between the bot and someone.
    fn is_direct(&self, api: &Api, bot_id: &str, channel_id: &str) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&direct) = known.get(channel_id) {
            return direct;
        }
        let Ok(channel) = api.get_channel(channel_id) else {
            return false; // not remembered: asked again next time
        };
        let direct = channel.channel_type == "D" && channel.name.split("__").any(|id| id == bot_id);
        if known.len() >= REMEMBERED_CHANNELS {
            known.clear();
        }
        known.insert(channel_id.to_owned(), direct);
        direct
    }

    /// What the bot does with `post`. `mention_only`: direct messages too must mention it.
    pub fn addressed(
        &self,
        api: &Api,
        post: &Post,
        bot: (&str, &str),
        mention_only: bool,
    ) -> Addressed {
        let (bot_id, bot_name) = bot;
        if post.user_id == bot_id
            || !post.post_type.is_empty()
            || post.prop_str("from_bot").is_some_and(|v| v == "true")
            || post.prop_str("from_webhook").is_some_and(|v| v == "true")
        {
            return Addressed::No;
        }
        let (mentioned, words) = without_mention(&post.message, bot_name);
        if mentioned || !mention_only {
            if self.is_direct(api, bot_id, &post.channel_id) {
                return Addressed::Direct(words);
            }
            if mentioned {
                return Addressed::Channel(words);
            }
        }
        Addressed::No
    }
}

/// Whether `text` mentions `@name` (as a whole word), and the text without the mentions.
pub fn without_mention(text: &str, name: &str) -> (bool, String) {
    let mut mentioned = false;
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| {
            let bare = w.trim_end_matches([',', ':', '.', '!', '?']);
            let hit = bare
                .strip_prefix('@')
                .is_some_and(|n| n.eq_ignore_ascii_case(name));
            mentioned |= hit;
            !hit
        })
        .collect();
    (mentioned, words.join(" "))
}

/// The reply to words the bot did not understand: short help.
pub fn not_understood(problem: &str) -> String {
    format!(
        "{problem}\n\nI understand the `/datasync` commands in plain words: `list`, `status <sync>`, \
         `history <sync>`, `run <sync>`, `preview <sync>`, `pause <sync>`, `resume <sync>`, \
         `validate`, `help`."
    )
}

/// The bot's reply as a post in `thread` of `channel_id`.
pub fn reply(post: &Post, bot_id: &str, text: &str) -> Post {
    let mut reply = Post::new(&post.channel_id, text);
    reply.user_id = bot_id.to_owned();
    reply.root_id = post.thread_root().to_owned();
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_whole_words_and_taken_out() {
        assert_eq!(
            without_mention("@datasync status big_deals", "datasync"),
            (true, "status big_deals".into())
        );
        assert_eq!(
            without_mention("hey @DataSync: run x!", "datasync"),
            (true, "hey run x!".into())
        );
        assert_eq!(
            without_mention("@datasyncer run x", "datasync"),
            (false, "@datasyncer run x".into())
        );
        assert_eq!(
            without_mention("status x", "datasync"),
            (false, "status x".into())
        );
    }
}
