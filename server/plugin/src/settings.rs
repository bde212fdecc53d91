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
/// What the System Console shows for a secret setting it does not reveal.
const SANITIZED: &str = "********************************";

/// The raw settings, as strings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settings {
    pub syncs: String,
    pub secrets: String,
    pub notice_channel: String,
    /// `TickSeconds` as written (not in the System Console; config.json only).
    pub tick_seconds: String,
}

/// A valid configuration, ready to run.
pub struct Loaded {
    pub config: Config,
    /// `(team, channel)` for failure notices; `None`: notices are logged.
    pub notice_channel: Option<(String, String)>,
    pub tick: Duration,
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
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
        }
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
        let tick = match self.tick_seconds.trim() {
            "" => DEFAULT_TICK,
            v => match v.parse::<f64>() {
                Ok(n) if (1.0..=3600.0).contains(&n) && n.fract() == 0.0 => {
                    Duration::from_secs(n as u64)
                }
                _ => {
                    problems.push(format!(
                        "TickSeconds: {v:?} is not a whole number of seconds from 1 to 3600"
                    ));
                    DEFAULT_TICK
                }
            },
        };
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
                syncs: Vec::new(),
                allow: AllowList::default(),
            })
        } else {
            config::parse(&self.syncs, &env)
        };
        match parsed {
            Ok(config) if problems.is_empty() => Ok(Loaded {
                config,
                notice_channel,
                tick,
            }),
            Ok(_) => Err(problems),
            Err(errors) => {
                problems.extend(errors.0.iter().map(|e| format!("Syncs: {e}")));
                Err(problems)
            }
        }
    }
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
