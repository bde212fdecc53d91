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
//!   the notice for an invalid configuration.
//!
//! Hooks: `OnConfigurationChange` swaps in a valid configuration and keeps the last good one
//! when the new one is invalid (every problem logged, and one notice per list of problems,
//! cluster-wide, where failure notices go); `ConfigurationWillBeSaved` rejects
//! an invalid one with the full list; `OnActivate` ensures the bot and starts the ticker;
//! `OnDeactivate` stops it.

mod assets;
mod notices;
mod ports;
mod settings;
mod ticker;

use std::sync::{Arc, Mutex};

use mattermost::{Api, ApiError, AppError, Bot, ConfigToSave};

use crate::ports::ApiPort;
use crate::settings::{Settings, describe};
use crate::ticker::{Shared, Ticker};

/// The bundle ships static musl executables, whose own allocator is slow under
/// concurrent API calls (see rs-hello).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The plugin id in plugin.json (and the key of its settings in the server config).
const PLUGIN_ID: &str = "datasync";

#[derive(Default)]
struct DataSync {
    shared: Arc<Shared>,
    ticker: Mutex<Option<Ticker>>,
    /// Problems of a configuration given before the bot existed (the first
    /// OnConfigurationChange comes before OnActivate): announced once it does.
    unannounced: Mutex<Option<Vec<String>>>,
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
                "datasync",
                "Data Sync",
                "Posts what Data Sync finds in your databases and HTTP sources.",
            );
            let bot_id = mattermost::ensure_bot(api, &bot)
                .map_err(|e| AppError::new("datasync.ensure_bot", &e.to_string(), 500))?;
            assets::set_bot_profile_image(api, &bot_id);
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
                    if let Some(t) = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        t.wake();
                    }
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
