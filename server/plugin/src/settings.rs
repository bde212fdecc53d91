//! The plugin's System Console settings → a validated configuration.
//!
//! Settings arrive as a JSON object whose keys the server lower-cases
//! (`LoadPluginConfiguration`, `PluginSettings.Plugins["datasync"]`). `Syncs` is the TOML
//! document `datasync validate` reads; `Secrets` holds `NAME=value` lines that `${env:NAME}`
//! references in the document resolve to before the process environment. No problem text
//! ever contains a secret value.

use std::collections::BTreeMap;
use std::time::Duration;

use datasync::config::{self, AllowList, Config};
use serde_json::Value;

/// How often the ticker looks for due syncs unless `TickSeconds` says otherwise.
pub const DEFAULT_TICK: Duration = Duration::from_secs(10);
/// How long a run's lease lasts between refreshes unless `LeaseSeconds` says otherwise: a
/// process killed while holding it blocks that sync this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Messages per second the bot posts unless `PostsPerSecond` says otherwise.
pub const DEFAULT_POSTS_PER_SECOND: u32 = 10;
/// Syncs that run at once unless `Workers` says otherwise.
pub const DEFAULT_WORKERS: usize = 4;
/// What the System Console shows for a secret setting it does not reveal.
const SANITIZED: &str = "********************************";

/// The raw settings, as strings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settings {
    pub syncs: String,
    pub secrets: String,
    pub notice_channel: String,
    /// `TickSeconds` and `LeaseSeconds` as written (not in the System Console; config.json
    /// only).
    pub tick_seconds: String,
    pub lease_seconds: String,
    pub posts_per_second: String,
    pub workers: String,
    pub max_messages: String,
    pub viewers: String,
    pub operators: String,
    pub mention_only: String,
}

/// A valid configuration, ready to run.
pub struct Loaded {
    pub config: Config,
    /// `(team, channel)` for failure notices; `None`: notices are logged.
    pub notice_channel: Option<(String, String)>,
    pub tick: Duration,
    pub lease: Duration,
    /// 0: no pacing.
    pub posts_per_second: u32,
    pub workers: usize,
    /// Who besides system admins may use `/datasync`.
    pub access: Access,
    /// The bot answers direct messages only when they mention it too.
    pub mention_only: bool,
}

/// A user or the members of a team, as named in `Viewers` and `Operators`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Team(String),
}

/// Who besides system admins may use `/datasync`: viewers its read-only subcommands,
/// operators also those that change something (operators are viewers too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub viewers: Vec<Principal>,
    pub operators: Vec<Principal>,
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Go's config holds numbers as float64: 10 arrives as 10.0 through one path and as
        // 10 through another; both read "10".
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    }
}

impl Settings {
    /// Reads a settings object; keys are matched case-insensitively.
    pub fn from_json(value: &Value) -> Settings {
        let map: BTreeMap<String, &Value> = value
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.to_lowercase(), v)).collect())
            .unwrap_or_default();
        let get = |k: &str| text(map.get(k).copied());
        Settings {
            syncs: get("syncs"),
            secrets: get("secrets"),
            notice_channel: get("noticechannel"),
            tick_seconds: get("tickseconds"),
            lease_seconds: get("leaseseconds"),
            posts_per_second: get("postspersecond"),
            workers: get("workers"),
            max_messages: get("maxmessages"),
            viewers: get("viewers"),
            operators: get("operators"),
            mention_only: get("mentiononly"),
        }
    }

    /// The settings as the server reads them back: a setting left out takes its default
    /// from plugin.json's `settings_schema` (`LoadPluginConfiguration` fills those in), so
    /// a save that leaves it out changes nothing.
    pub fn with_defaults(mut self) -> Settings {
        for (value, default) in [
            (
                &mut self.posts_per_second,
                DEFAULT_POSTS_PER_SECOND.to_string(),
            ),
            (&mut self.workers, DEFAULT_WORKERS.to_string()),
            (&mut self.mention_only, "false".to_owned()),
        ] {
            if value.trim().is_empty() {
                *value = default;
            }
        }
        self
    }

    /// The `Secrets` lines that parse, by name (the bad ones are problems of `load`).
    pub fn secret_values(&self) -> BTreeMap<String, String> {
        parse_secrets(&self.secrets).0
    }

    /// True when `Secrets` is the System Console's stand-in for an unchanged secret.
    pub fn secrets_sanitized(&self) -> bool {
        self.secrets.trim() == SANITIZED
    }

    /// Validates everything; on failure, every problem (never a secret value).
    pub fn load(&self) -> Result<Loaded, Vec<String>> {
        let mut problems = Vec::new();
        // The good lines still resolve: a bad line must not also make every reference
        // to a good one "not set".
        let (secrets, secret_problems) = parse_secrets(&self.secrets);
        problems.extend(secret_problems);
        let notice_channel = match self.notice_channel.trim() {
            "" => None,
            v => match v.split_once('/') {
                Some((team, channel))
                    if !team.trim().is_empty()
                        && !channel.trim().is_empty()
                        && !channel.contains('/') =>
                {
                    Some((team.trim().to_owned(), channel.trim().to_owned()))
                }
                _ => {
                    problems.push(format!(
                        "NoticeChannel: {v:?} is not \"team/channel\" (or empty for the log only)"
                    ));
                    None
                }
            },
        };
        let mut number = |key: &str, value: &str, range: std::ops::RangeInclusive<u64>| {
            whole_number(key, value, range).unwrap_or_else(|p| {
                problems.push(p);
                None
            })
        };
        let tick = number("TickSeconds", &self.tick_seconds, 1..=3600)
            .map_or(DEFAULT_TICK, Duration::from_secs);
        // Left empty, the lease follows a long tick rather than fail the check below.
        let lease = number("LeaseSeconds", &self.lease_seconds, 2..=3600)
            .map_or(DEFAULT_LEASE.max(tick * 2), Duration::from_secs);
        let posts_per_second = number("PostsPerSecond", &self.posts_per_second, 0..=1000)
            .map_or(DEFAULT_POSTS_PER_SECOND, |n| n as u32);
        let workers =
            number("Workers", &self.workers, 1..=16).map_or(DEFAULT_WORKERS, |n| n as usize);
        // 0 too means no cap: the System Console may save a cleared number field as 0.
        let max_messages = number("MaxMessages", &self.max_messages, 0..=10_000).filter(|&n| n > 0);
        let mention_only = match self.mention_only.trim() {
            "" | "false" => false,
            "true" => true,
            other => {
                problems.push(format!("MentionOnly: {other:?} is neither true nor false"));
                false
            }
        };
        let access = Access {
            viewers: principals("Viewers", &self.viewers, &mut problems),
            operators: principals("Operators", &self.operators, &mut problems),
        };
        if lease < tick * 2 {
            // The ticker refreshes leases once a tick: a shorter lease could expire
            // under a run that is still going.
            problems.push(format!(
                "LeaseSeconds: {} is less than twice TickSeconds ({})",
                lease.as_secs(),
                tick.as_secs()
            ));
        }
        let env = |name: &str| {
            secrets
                .get(name)
                .cloned()
                .or_else(|| config::process_env(name))
        };
        let parsed = if self.syncs.trim().is_empty() {
            // A fresh install: nothing to run, and nothing wrong.
            Ok(Config {
                connections: BTreeMap::new(),
                transforms: BTreeMap::new(),
                syncs: Vec::new(),
                allow: AllowList::default(),
            })
        } else {
            config::parse(&self.syncs, &env)
        };
        if let Ok(config) = &parsed {
            problems.extend(module_files(config));
        }
        match parsed {
            Ok(mut config) if problems.is_empty() => {
                if let Some(cap) = max_messages {
                    for sync in &mut config.syncs {
                        sync.max_messages = sync.max_messages.min(cap as usize);
                    }
                }
                Ok(Loaded {
                    config,
                    notice_channel,
                    tick,
                    lease,
                    posts_per_second,
                    workers,
                    access,
                    mention_only,
                })
            }
            Ok(_) => Err(problems),
            Err(errors) => {
                problems.extend(errors.0.iter().map(|e| format!("Syncs: {e}")));
                Err(problems)
            }
        }
    }
}

/// Transforms that name a module file: the command line's dry run reads files, the plugin
/// reads only uploaded modules (it must not read the server's file system).
fn module_files(config: &Config) -> Vec<String> {
    config
        .transforms
        .values()
        .filter(|t| matches!(t.module, config::ModuleRef::File(_)))
        .map(|t| {
            format!(
                "Syncs: transform {:?}, field \"module\": a file works only in `datasync dry-run`; \
                 upload the module (send it to the bot: transform add {}) and name it here",
                t.name, t.name
            )
        })
        .collect()
}

/// A whole number setting in `range`; `None` when left empty. The problem names the key.
fn whole_number(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    // The System Console saves numbers as JSON numbers, config.json may hold "5" or 5.0.
    match v.parse::<f64>() {
        Ok(n) if n.fract() == 0.0 && n >= 0.0 && range.contains(&(n as u64)) => Ok(Some(n as u64)),
        _ => Err(format!(
            "{key}: {v:?} is not a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

/// Users (`ann`, `@ann`) and teams (`team:sales`), separated by commas or spaces; a
/// problem for each entry that is neither.
fn principals(key: &str, value: &str, problems: &mut Vec<String>) -> Vec<Principal> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let mut out = Vec::new();
    for entry in value.split(|c: char| c == ',' || c.is_whitespace()) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let principal = match entry.strip_prefix("team:") {
            Some(team) => Principal::Team(team.to_lowercase()),
            None => Principal::User(entry.trim_start_matches('@').to_lowercase()),
        };
        match &principal {
            Principal::User(n) | Principal::Team(n) if name_ok(n) => out.push(principal),
            _ => problems.push(format!(
                "{key}: {entry:?} is neither a username nor team:<team name>"
            )),
        }
    }
    out
}

/// `NAME=value` lines; blank lines and `#` comments are skipped. Returns the good lines and
/// a problem for each bad one (naming the line, never its value).
fn parse_secrets(text: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((name, value))
                if !name.trim().is_empty()
                    && name
                        .trim()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.insert(name.trim().to_owned(), value.trim().to_owned());
            }
            _ => problems.push(format!(
                "Secrets, line {}: expected NAME=value (NAME of letters, digits and _)",
                i + 1
            )),
        }
    }
    (out, problems)
}

/// The problems as one message (ConfigurationWillBeSaved's answer, the log).
pub fn describe(problems: &[String]) -> String {
    let n = problems.len();
    let mut text = format!(
        "Data Sync: {n} problem{} in the configuration:",
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        text.push_str("\n- ");
        text.push_str(p);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = r#"
[connections.db]
kind = "sqlite"
url = "${env:DS_TEST_DB}"

[syncs.deals]
connection = "db"
sql = "SELECT id FROM deals"
key = "id"
schedule = "every 10s"
channel = "acme/alerts"

[syncs.deals.templates]
added = "new {{ row.id }}"
"#;

    #[test]
    fn settings_compare_as_the_server_reads_them_back() {
        let saved = Settings::from_json(&json!({"Syncs": "x", "TickSeconds": 1.0}));
        let read_back = Settings::from_json(
            &json!({"syncs": "x", "tickseconds": 1, "postspersecond": 10, "workers": 4}),
        );
        assert_eq!(saved.tick_seconds, "1");
        assert_eq!(saved.with_defaults(), read_back.with_defaults());
    }

    #[test]
    fn plugin_json_defaults_are_the_ones_with_defaults_fills_in() {
        let manifest: Value =
            serde_json::from_str(include_str!("../../../plugin.json")).expect("plugin.json");
        let defaults: BTreeMap<String, Value> = manifest["settings_schema"]["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap_or("").to_owned(),
                    s["default"].clone(),
                )
            })
            .collect();
        let filled = Settings::from_json(&json!(defaults)).with_defaults();
        assert_eq!(filled, Settings::default().with_defaults());
    }

    #[test]
    fn viewers_and_operators_are_users_and_teams() {
        let s = Settings {
            viewers: "ann, @Bob\tteam:Sales,,".into(),
            operators: "team:data-ops".into(),
            ..Settings::default()
        };
        let access = s.load().expect("valid").access;
        assert_eq!(
            access.viewers,
            [
                Principal::User("ann".into()),
                Principal::User("bob".into()),
                Principal::Team("sales".into())
            ]
        );
        assert_eq!(access.operators, [Principal::Team("data-ops".into())]);
        let bad = Settings {
            viewers: "ann, team:, b@d".into(),
            ..Settings::default()
        };
        let problems = bad.load().err().expect("invalid");
        assert_eq!(
            problems,
            [
                "Viewers: \"team:\" is neither a username nor team:<team name>",
                "Viewers: \"b@d\" is neither a username nor team:<team name>"
            ]
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_values_lenient() {
        let s = Settings::from_json(&json!({"Syncs": "x", "secrets": null, "TICKSECONDS": 2}));
        assert_eq!(s.syncs, "x");
        assert_eq!(s.secrets, "");
        assert_eq!(s.tick_seconds, "2");
    }

    #[test]
    fn secrets_resolve_before_the_environment() {
        let s = Settings {
            syncs: DOC.into(),
            secrets: "# comment\n\nDS_TEST_DB = /tmp/secret-path.db\n".into(),
            notice_channel: "acme/ops".into(),
            tick_seconds: "1".into(),
            ..Settings::default()
        };
        let loaded = s.load().unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(loaded.config.syncs.len(), 1);
        assert_eq!(loaded.tick, Duration::from_secs(1));
        assert_eq!(
            loaded.notice_channel,
            Some(("acme".to_owned(), "ops".to_owned()))
        );
    }

    #[test]
    fn every_problem_is_reported_without_secret_values() {
        let s = Settings {
            syncs: DOC.replace("every 10s", "every 5 parsecs"),
            secrets: "DS_TEST_DB=/very/secret\nnot a pair hunter2".into(),
            notice_channel: "nochannel".into(),
            tick_seconds: "0".into(),
            ..Settings::default()
        };
        let problems = s.load().err().expect("invalid");
        let all = describe(&problems);
        assert!(all.contains("Secrets, line 2"), "{all}");
        assert!(all.contains("NoticeChannel"), "{all}");
        assert!(all.contains("TickSeconds"), "{all}");
        assert!(all.contains("schedule"), "{all}");
        assert!(
            !all.contains("hunter2") && !all.contains("/very/secret"),
            "{all}"
        );
    }

    #[test]
    fn a_bad_secrets_line_does_not_hide_the_good_ones() {
        let s = Settings {
            syncs: DOC.into(),
            secrets: "DS_TEST_DB=/tmp/x.db\nhunter2 without a name\n".into(),
            ..Settings::default()
        };
        let problems = s.load().err().expect("invalid");
        assert_eq!(
            problems,
            vec![
                "Secrets, line 2: expected NAME=value (NAME of letters, digits and _)".to_string()
            ]
        );
    }

    #[test]
    fn runtime_numbers_have_defaults_ranges_and_a_lease_longer_than_two_ticks() {
        let with = |pairs: Value| Settings::from_json(&pairs).load();
        let loaded = with(json!({})).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(
            (loaded.lease, loaded.posts_per_second, loaded.workers),
            (DEFAULT_LEASE, DEFAULT_POSTS_PER_SECOND, DEFAULT_WORKERS)
        );
        let loaded = with(
            json!({"TickSeconds": 1, "LeaseSeconds": "3", "PostsPerSecond": 0, "Workers": 16.0}),
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(
            (
                loaded.lease.as_secs(),
                loaded.posts_per_second,
                loaded.workers
            ),
            (3, 0, 16)
        );
        let problems = with(
            json!({"LeaseSeconds": 15, "PostsPerSecond": -1, "Workers": 0, "MaxMessages": "lots"}),
        )
        .err()
        .expect("invalid");
        let all = describe(&problems);
        for want in [
            "LeaseSeconds: 15 is less than twice TickSeconds (10)",
            "PostsPerSecond: \"-1\" is not a whole number from 0 to 1000",
            "Workers: \"0\" is not a whole number from 1 to 16",
            "MaxMessages: \"lots\"",
        ] {
            assert!(all.contains(want), "{want} in {all}");
        }
    }

    #[test]
    fn module_files_are_for_the_dry_run_only() {
        let s = Settings {
            syncs: format!("[transforms.mask]\nmodule = \"./mask.wasm\"\n{DOC}"),
            secrets: "DS_TEST_DB=/tmp/x.db".into(),
            ..Settings::default()
        };
        let problems = s.load().err().expect("refused");
        assert!(
            problems.iter().any(|p| p.contains(
                "transform \"mask\", field \"module\": a file works only in `datasync dry-run`"
            )),
            "{problems:?}"
        );
        let uploaded = Settings {
            syncs: format!("[transforms.mask]\nmodule = \"mask\"\n{DOC}"),
            ..s
        };
        assert!(uploaded.load().is_ok());
    }

    #[test]
    fn max_messages_caps_each_syncs_limit() {
        let s = Settings {
            syncs: DOC.replace("schedule", "max_messages = 500\nschedule"),
            secrets: "DS_TEST_DB=/tmp/x.db".into(),
            max_messages: "20".into(),
            ..Settings::default()
        };
        let loaded = s.load().unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(loaded.config.syncs[0].max_messages, 20);
        let uncapped = Settings {
            max_messages: "0".into(),
            ..s
        };
        let loaded = uncapped.load().unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(loaded.config.syncs[0].max_messages, 500);
    }

    #[test]
    fn an_empty_document_runs_nothing() {
        let loaded = Settings::default()
            .load()
            .unwrap_or_else(|p| panic!("{p:?}"));
        assert!(loaded.config.syncs.is_empty());
        assert_eq!(loaded.tick, DEFAULT_TICK);
        assert!(loaded.notice_channel.is_none());
    }

    #[test]
    fn sanitized_secrets_are_recognised() {
        let s = Settings {
            secrets: SANITIZED.into(),
            ..Settings::default()
        };
        assert!(s.secrets_sanitized());
    }
}
