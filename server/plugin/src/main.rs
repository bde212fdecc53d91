//! Data Sync, the Mattermost plugin: the engine (`datasync`) joined to the plugin bindings
//! (`mattermost`). This crate is the only one that depends on both.
//!
//! - `ports`: the engine's ports over the plugin API, posting as the bot.
//! - `settings`: the System Console settings (`Syncs`, `Secrets`, `NoticeChannel`,
//!   `PostsPerSecond`, `Workers`, `MaxMessages`; `TickSeconds` and `LeaseSeconds` in
//!   config.json only) → a validated configuration.
//! - `assets`: the bot's profile image from the bundle.
//! - `ticker`: the ticker thread, the runs it starts (at most `Workers` at once), their
//!   leases and the gate they pass before each message (pacing, stop).
//! - `notices`: after a run: the log line, the sync's health, failure/recovery notices;
//!   the notice for an invalid configuration; what the bot tells whoever asked for a run.
//! - `command`: `/datasync` (parse, permissions, replies) and its autocomplete.
//!
//! Hooks: `OnConfigurationChange` swaps in a valid configuration and keeps the last good one
//! when the new one is invalid (every problem logged, and one notice per list of problems,
//! cluster-wide, where failure notices go); `ConfigurationWillBeSaved` rejects
//! an invalid one with the full list; `OnActivate` ensures the bot, registers `/datasync`
//! and starts the ticker; `OnDeactivate` stops it. `ExecuteCommand` answers `/datasync`;
//! `MessageHasBeenPosted` the same commands said to the bot; `ServeHTTP` serves the
//! command's autocomplete list of syncs.

mod assets;
mod command;
mod notices;
mod ports;
mod settings;
mod ticker;

use std::sync::{Arc, Mutex};

use mattermost::{
    Api, ApiError, AppError, Bot, CommandArgs, CommandResponse, ConfigToSave, Context, HttpRequest,
    Post, ResponseWriter,
};

use crate::command::access::Caller;
use crate::ports::ApiPort;
use crate::settings::{Settings, describe};
use crate::ticker::{Shared, Ticker};

/// The bundle ships static musl executables, whose own allocator is slow under
/// concurrent API calls (see rs-hello).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The plugin id in plugin.json (and the key of its settings in the server config).
pub const PLUGIN_ID: &str = "datasync";
/// The answer to anything asked before activation has made the bot.
const STARTING: &str = "Data Sync is starting; try again in a moment.";
/// The bot's username (people @-mention it).
const BOT_NAME: &str = "datasync";

#[derive(Default)]
struct DataSync {
    shared: Arc<Shared>,
    ticker: Mutex<Option<Ticker>>,
    /// Problems of a configuration given before the bot existed (the first
    /// OnConfigurationChange comes before OnActivate): announced once it does.
    unannounced: Mutex<Option<Vec<String>>>,
    /// Which channels are direct messages with the bot (the bot in conversation).
    direct: command::conversation::DirectChannels,
}

impl DataSync {
    fn stop_ticker(&self, api: &Api) {
        let old = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = old
            && !t.stop()
        {
            api.log_warn(
                "Data Sync: a run was still going at deactivation; it stops with the process",
                &[],
            );
        }
    }

    /// The port as the bot, once activation has made sure of it.
    fn port(&self, api: &Api) -> Option<ApiPort> {
        let bot_id = self.shared.bot_id();
        (!bot_id.is_empty()).then(|| ApiPort::new(api.clone(), bot_id))
    }

    /// Announces `problems` as the bot, or keeps them until activation.
    fn announce(&self, api: &Api, problems: Vec<String>) {
        match self.port(api) {
            Some(port) => {
                notices::config_invalid(api, &port, self.shared.config().as_deref(), &problems)
            }
            None => *self.unannounced.lock().unwrap_or_else(|p| p.into_inner()) = Some(problems),
        }
    }

    /// Wakes the ticker (a configuration change, a run asked for, a pause).
    fn wake(&self) {
        if let Some(t) = self
            .ticker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            t.wake();
        }
    }

    /// Who is asking, with what they may do under the running configuration's settings.
    fn caller(
        &self,
        api: &Api,
        user_id: &str,
        channel_id: &str,
        root_id: &str,
    ) -> Result<Caller, String> {
        let access = self
            .shared
            .config()
            .map(|c| c.access.clone())
            .unwrap_or_default();
        Caller::new(api, &access, user_id, channel_id, root_id)
    }

    /// `/datasync …` for a caller; the reply.
    fn command(&self, api: &Api, text: &str, caller: &Caller) -> String {
        match command::parse(text) {
            Ok(sub) => self.execute(api, sub, caller),
            Err(e) => e,
        }
    }

    /// Calls `f` with what commands work with; `None` before activation made the bot.
    fn with_cx<T>(&self, api: &Api, f: impl FnOnce(&command::Cx<'_>) -> T) -> Option<T> {
        let port = self.port(api)?;
        let wake = || self.wake();
        let cx = command::Cx {
            api,
            port: &port,
            shared: &self.shared,
            wake: &wake,
        };
        Some(f(&cx))
    }

    /// Runs a subcommand for a caller; the reply.
    fn execute(&self, api: &Api, sub: command::Sub, caller: &Caller) -> String {
        self.with_cx(api, |cx| command::execute(cx, caller, sub))
            .unwrap_or_else(|| STARTING.into())
    }

    /// A button pressed on a notice (the same subcommand) or on a change message; answered
    /// to the presser alone.
    fn action(
        &self,
        api: &Api,
        r: &mut HttpRequest,
        w: &mut ResponseWriter,
    ) -> std::io::Result<()> {
        use command::actions;
        let Some(user_id) = r.user_id().map(str::to_owned) else {
            return w.send_json(401, &serde_json::json!({"error": "not logged in"}));
        };
        let body = match r.read_body(actions::MAX_REQUEST) {
            Ok(body) => body,
            Err(e) => return w.send_json(413, &serde_json::json!({"error": format!("the request is too large or unreadable: {e}")})),
        };
        let text = match actions::parse(&body) {
            Ok(actions::Press::Command(sub, channel_id)) => {
                match self.caller(api, &user_id, &channel_id, "") {
                    Ok(caller) => self.execute(api, sub, &caller),
                    Err(e) => e,
                }
            }
            Ok(actions::Press::Row { post_id, what }) => self
                .with_cx(api, |cx| {
                    command::row_buttons::press(cx, &user_id, &post_id, &what)
                })
                .unwrap_or_else(|| STARTING.into()),
            Err(e) => return w.send_json(400, &serde_json::json!({"error": e})),
        };
        w.send_json(200, &actions::answer(&text))
    }

    /// Answers a post that speaks to the bot: in a direct message as the bot, in a
    /// channel to the asker alone; in the post's thread either way.
    fn converse(&self, api: &Api, post: &Post) {
        use command::conversation::{self, Addressed};
        let bot_id = self.shared.bot_id();
        if bot_id.is_empty() {
            return;
        }
        let mention_only = self.shared.config().is_some_and(|c| c.mention_only);
        let (direct, words) =
            match self
                .direct
                .addressed(api, post, (&bot_id, BOT_NAME), mention_only)
            {
                Addressed::No => return,
                Addressed::Direct(words) => (true, words),
                Addressed::Channel(words) => (false, words),
            };
        let text = match (
            command::parse(&words),
            self.caller(api, &post.user_id, &post.channel_id, post.thread_root()),
        ) {
            (_, Err(e)) => e,
            (Err(problem), _) => conversation::not_understood(&problem),
            (Ok(_), Ok(caller)) => self.command(api, &words, &caller),
        };
        let reply = conversation::reply(post, &bot_id, &text);
        let sent = if direct {
            api.create_post(&reply).map(|_| ())
        } else {
            api.send_ephemeral_post(&post.user_id, &reply).map(|_| ())
        };
        if let Err(e) = sent {
            api.log_warn(
                "Data Sync: could not answer a message",
                &[("error", &e.to_string())],
            );
        }
    }

    /// An autocomplete list: the syncs the caller may see, or the connections.
    fn autocomplete(
        &self,
        api: &Api,
        r: &HttpRequest,
        w: &mut ResponseWriter,
        connections: bool,
    ) -> std::io::Result<()> {
        let Some(user_id) = r.user_id() else {
            return w.send_json(401, &serde_json::json!({"error": "not logged in"}));
        };
        let Some(loaded) = self.shared.config() else {
            return w.send_json(200, &serde_json::json!([]));
        };
        let caller = match self.caller(api, user_id, "", "") {
            Ok(c) => c,
            Err(e) => return w.send_json(500, &serde_json::json!({"error": e})),
        };
        let needs = if connections {
            command::Sub::Test(String::new())
        } else {
            command::Sub::List
        };
        if caller.denies(&needs).is_some() {
            return w.send_json(200, &serde_json::json!([]));
        }
        let names = self
            .with_cx(api, |cx| {
                command::autocomplete::names(cx, &caller, &loaded, connections)
            })
            .unwrap_or_default();
        w.send_json(200, &command::autocomplete::items(&names))
    }

    /// The HTTP API for the System Console: the caller from `Mattermost-User-Id`.
    fn http_api(
        &self,
        api: &Api,
        r: &mut HttpRequest,
        w: &mut ResponseWriter,
    ) -> std::io::Result<()> {
        use command::api::{self, Route};
        let Some(user_id) = r.user_id().map(str::to_owned) else {
            return w.send_json(401, &serde_json::json!({"error": "not logged in"}));
        };
        let route = match api::route(&r.method, r.path(), r.query()) {
            Ok(route) => route,
            Err((status, body)) => return w.send_json(status, &body),
        };
        let body = match route {
            Route::Validate => match r.read_body(api::MAX_BODY) {
                Ok(body) => body,
                Err(e) => return w.send_json(413, &serde_json::json!({"error": format!("the body is too large or unreadable: {e}")})),
            },
            _ => Vec::new(),
        };
        let caller = match self.caller(api, &user_id, "", "") {
            Ok(c) => c,
            Err(e) => return w.send_json(500, &serde_json::json!({"error": e})),
        };
        let (status, answer) = self
            .with_cx(api, |cx| api::handle(cx, &caller, route, &body))
            .unwrap_or_else(|| (503, serde_json::json!({"error": "Data Sync is starting"})));
        w.send_json(status, &answer)
    }

    /// The settings as the server has them now.
    fn current_settings(api: &Api) -> Result<Settings, ApiError> {
        let value: serde_json::Value = api.load_plugin_configuration()?;
        Ok(Settings::from_json(&value))
    }
}

mattermost::hooks! {
    impl Hooks for DataSync {
        fn on_activate(&self, api: &Api) -> Result<(), AppError> {
            let bot = Bot::new(
                BOT_NAME,
                "Data Sync",
                "Posts what Data Sync finds in your databases and HTTP sources.",
            );
            let bot_id = mattermost::ensure_bot(api, &bot)
                .map_err(|e| AppError::new("datasync.ensure_bot", &e.to_string(), 500))?;
            assets::set_bot_profile_image(api, &bot_id);
            if let Err(e) = api.register_command(&command::autocomplete::command()) {
                api.log_warn("Data Sync: could not register /datasync", &[("error", &e.to_string())]);
            }
            self.shared.set_bot_id(bot_id);
            let unannounced = self.unannounced.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(problems) = unannounced {
                self.announce(api, problems);
            }
            self.stop_ticker(api);
            let ticker = Ticker::start(api.clone(), self.shared.clone()).map_err(|e| {
                AppError::new("datasync.ticker", &format!("could not start the ticker: {e}"), 500)
            })?;
            *self.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some(ticker);
            let syncs = self.shared.config().map_or(0, |c| c.config.syncs.len());
            api.log_info("Data Sync activated", &[("syncs", &syncs.to_string())]);
            Ok(())
        }

        fn on_deactivate(&self, api: &Api) -> Result<(), AppError> {
            self.stop_ticker(api);
            Ok(())
        }

        fn on_configuration_change(&self, api: &Api) -> Result<(), AppError> {
            // Errors are only logged: returning one before activation would keep the plugin
            // from starting, and the last good configuration should go on running.
            let settings = match Self::current_settings(api) {
                Ok(s) => s,
                Err(e) => {
                    api.log_error("Data Sync: could not read the settings", &[("error", &e.to_string())]);
                    return Ok(());
                }
            };
            match settings.load() {
                Ok(loaded) => {
                    let syncs = loaded.config.syncs.len().to_string();
                    self.shared.set_config(loaded);
                    api.log_info("Data Sync: configuration loaded", &[("syncs", &syncs)]);
                    *self.unannounced.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    notices::config_valid(api, &ApiPort::new(api.clone(), String::new()));
                    self.wake();
                }
                Err(problems) => {
                    for p in &problems {
                        api.log_error("Data Sync: configuration problem", &[("problem", p)]);
                    }
                    let what = if self.shared.config().is_some() {
                        "the last valid configuration keeps running"
                    } else {
                        "no valid configuration yet: nothing runs"
                    };
                    api.log_error(
                        &format!("Data Sync: the new configuration is invalid; {what}"),
                        &[("problems", &problems.len().to_string())],
                    );
                    self.announce(api, problems);
                }
            }
            Ok(())
        }

        fn execute_command(&self, api: &Api, _ctx: &Context, args: &CommandArgs)
            -> Result<CommandResponse, AppError>
        {
            let text = match self.caller(api, &args.user_id, &args.channel_id, &args.root_id) {
                Ok(caller) => self.command(api, &args.command, &caller),
                Err(e) => e,
            };
            Ok(CommandResponse::ephemeral(&text))
        }

        fn message_has_been_posted(&self, api: &Api, _ctx: &Context, post: &Post) {
            self.converse(api, post);
        }

        fn serve_http(&self, api: &Api, _ctx: &Context, r: &mut HttpRequest, w: &mut ResponseWriter) {
            let result = match (r.method.as_str(), r.path()) {
                ("GET", command::autocomplete::SYNCS_PATH) => self.autocomplete(api, r, w, false),
                ("GET", command::autocomplete::CONNECTIONS_PATH) => {
                    self.autocomplete(api, r, w, true)
                }
                ("POST", command::actions::ACTIONS_PATH) => self.action(api, r, w),
                (_, path) if path.starts_with(command::api::PREFIX) => self.http_api(api, r, w),
                _ => w.send_json(404, &serde_json::json!({"error": "no such endpoint"})),
            };
            if let Err(e) = result {
                api.log_warn("Data Sync: an HTTP response failed", &[("error", &e.to_string())]);
            }
        }

        fn configuration_will_be_saved(&self, api: &Api, new_config: &ConfigToSave)
            -> Result<(), AppError>
        {
            let Some(value) = new_config.plugin_settings(PLUGIN_ID) else {
                return Ok(());
            };
            let mut settings = Settings::from_json(&value).with_defaults();
            let current = Self::current_settings(api).ok().map(Settings::with_defaults);
            if settings.secrets_sanitized() {
                // The System Console sends a stand-in for an unchanged secret setting.
                settings.secrets = current.as_ref().map(|c| c.secrets.clone()).unwrap_or_default();
            }
            // Every save of any setting comes through here: settings of ours that did not
            // change (even if invalid, e.g. a variable missing from this node's environment)
            // must not block an unrelated save. OnConfigurationChange reports them.
            if current.as_ref() == Some(&settings) {
                return Ok(());
            }
            match settings.load() {
                Ok(_) => Ok(()),
                Err(problems) => Err(AppError::new(
                    "datasync.configuration.invalid",
                    &describe(&problems),
                    400,
                )),
            }
        }
    }
}

fn main() {
    mattermost::run(DataSync::default());
}
