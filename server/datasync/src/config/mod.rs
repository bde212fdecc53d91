//! Configuration: one TOML document → a validated [`Config`].
//!
//! The document is parsed into toml's spanned tree (`DeTable`) and walked by hand rather
//! than deserialised with serde, because serde stops at the first problem while admins
//! need **every** problem at once, each with the sync, the field and the line. Raw settings
//! never leave the configuration layer (this module, and each source's `config.rs`, which
//! reads that kind's fields with the crate-private reader): the rest of the engine sees only
//! the typed [`Config`] (templates compiled, schedules parsed, routing checked, secrets
//! wrapped in [`Secret`](crate::source::Secret)).
//!
//! One job per file:
//! - this file: the typed model the rest of the engine reads, and [`parse`];
//! - `reader`: the spanned-TOML reader (fields, types, `${env:NAME}`, typo hints), which
//!   knows nothing of syncs;
//! - `document`: the top level (connections, syncs, `allowed_channels`, `dry_run`);
//! - `connection`: a connection's shared fields and a sync's query, dispatched by source
//!   kind (each kind's own settings live beside it, in `source/<kind>/config.rs`);
//! - `sync`: one sync (connection, key, schedule, routing, sender, limits);
//! - `mode`: the mode and its templates (changes, batch, table, csv);
//! - `attachments`: Slack-compatible attachments;
//! - `checks`: a sync checked against a result's columns, once they are known.

mod attachments;
mod checks;
pub(crate) mod connection;
mod document;
mod mode;
pub(crate) mod reader;
mod sync;
mod transform;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use toml::de::DeTable;

use crate::diff::DiffOptions;
use crate::render::Template;
use crate::schedule::Schedule;
use crate::source::{Connection, Query};

pub use checks::{TemplateWarning, check_columns};
use reader::Cx;

/// Looks up an environment variable for `${env:NAME}` references (injectable for tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `sync "x"`, `connection "y"` or empty for top-level fields.
    pub owner: String,
    /// Dotted field path inside the owner, e.g. `templates.added`.
    pub field: String,
    /// 1-based line in the TOML document.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.owner.is_empty() {
            write!(f, "{}, ", self.owner)?;
        }
        if !self.field.is_empty() {
            write!(f, "field {:?}", self.field)?;
        }
        if let Some(line) = self.line {
            if self.field.is_empty() && self.owner.is_empty() {
                write!(f, "line {line}")?;
            } else {
                write!(f, " (line {line})")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub connections: BTreeMap<String, Arc<Connection>>,
    /// `[transforms.<name>]`, by name.
    pub transforms: BTreeMap<String, Arc<TransformConfig>>,
    /// Syncs in document order.
    pub syncs: Vec<SyncConfig>,
    pub allow: AllowList,
}

/// `[dry_run.users]`: e-mail → username, the user directory a dry run stands in for
/// Mattermost's. Only the command line reads it; the plugin accepts and ignores it.
pub type DryRunUsers = BTreeMap<String, String>;

impl Config {
    pub fn sync(&self, name: &str) -> Option<&SyncConfig> {
        self.syncs.iter().find(|s| s.name == name)
    }
}

/// Where syncs may post. Empty lists mean "anywhere the bot can post".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Whole teams (`"sales"`).
    pub teams: BTreeSet<String>,
    /// Single channels (`"sales/deals"`).
    pub channels: BTreeSet<(String, String)>,
    pub direct_messages: bool,
}

impl AllowList {
    pub fn is_open(&self) -> bool {
        self.teams.is_empty() && self.channels.is_empty()
    }

    /// Whether a team channel may receive posts.
    pub fn allows_channel(&self, team: &str, channel: &str) -> bool {
        self.is_open()
            || self.teams.contains(team)
            || self
                .channels
                .contains(&(team.to_string(), channel.to_string()))
    }
}

/// Where a message goes, before it is resolved to a channel id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A 26-character channel id.
    ChannelId(String),
    TeamChannel {
        team: String,
        channel: String,
    },
    /// A direct message to this username.
    Username(String),
    /// A direct message to the user with this e-mail.
    Email(String),
}

impl Target {
    /// Reads a routing value: channel id, `team/channel`, `@username` or e-mail.
    pub fn parse(value: &str) -> Result<Target, String> {
        let v = value.trim();
        if let Some(user) = v.strip_prefix('@') {
            if is_name(user) {
                return Ok(Target::Username(user.to_string()));
            }
        } else if v.contains('@') {
            if v.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
            {
                return Ok(Target::Email(v.to_string()));
            }
        } else if let Some((team, channel)) = v.split_once('/') {
            if is_name(team) && is_name(channel) {
                return Ok(Target::TeamChannel {
                    team: team.to_string(),
                    channel: channel.to_string(),
                });
            }
        } else if is_id(v) {
            return Ok(Target::ChannelId(v.to_string()));
        }
        Err(format!(
            "{v:?} is not a channel id (26 characters), \"team/channel\", \"@username\" or an e-mail address"
        ))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::ChannelId(id) => f.write_str(id),
            Target::TeamChannel { team, channel } => write!(f, "{team}/{channel}"),
            Target::Username(u) => write!(f, "@{u}"),
            Target::Email(e) => f.write_str(e),
        }
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// How a sync's messages are routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    Fixed(Target),
    /// Per row, from this column.
    Column(String),
}

/// What happens on a sync's first run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstRun {
    /// Record the rows, post nothing (Hightouch's behaviour).
    #[default]
    Baseline,
    /// Post every row as added.
    Post,
}

/// Changes mode: what a result with no rows means when the last one had rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyResult {
    /// Every row was removed: post the removals (the flood guard still applies). Right for
    /// queries that list exceptions ("accounts whose usage dropped"), which empty out.
    Post,
    /// A source that suddenly returns nothing is broken (an API answering `[]` during an
    /// outage): fail the run, post nothing, keep the state.
    Fail,
}

/// A table column: its heading and the template that renders a cell.
#[derive(Debug, Clone)]
pub struct TableColumn {
    pub title: String,
    /// `None`: the column of the same name, as text.
    pub value: Option<Template>,
    pub column: Option<String>,
}

/// How a sync turns rows into messages.
#[derive(Debug, Clone)]
pub enum Mode {
    Changes {
        added: Option<Template>,
        changed: Option<Template>,
        removed: Option<Template>,
    },
    Batch {
        header: Option<Template>,
        row: Template,
        footer: Option<Template>,
        batch_size: usize,
    },
    Table {
        header: Option<Template>,
        footer: Option<Template>,
        /// Empty: every column of the result.
        columns: Vec<TableColumn>,
    },
    Csv {
        filename: Template,
        message: Option<Template>,
    },
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Changes { .. } => "changes",
            Mode::Batch { .. } => "batch",
            Mode::Table { .. } => "table",
            Mode::Csv { .. } => "csv",
        }
    }

    /// Every template of the mode, with its field name.
    pub fn templates<'a>(&'a self) -> Vec<(&'static str, &'a Template)> {
        let opt = |name: &'static str, t: &'a Option<Template>| t.as_ref().map(|t| (name, t));
        match self {
            Mode::Changes {
                added,
                changed,
                removed,
            } => [
                opt("templates.added", added),
                opt("templates.changed", changed),
                opt("templates.removed", removed),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Mode::Batch {
                header,
                row,
                footer,
                ..
            } => [
                opt("templates.header", header),
                Some(("templates.row", row)),
                opt("templates.footer", footer),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Mode::Table {
                header,
                footer,
                columns,
            } => [
                opt("templates.header", header),
                opt("templates.footer", footer),
            ]
            .into_iter()
            .flatten()
            .chain(
                columns
                    .iter()
                    .filter_map(|c| c.value.as_ref().map(|v| ("table.columns", v))),
            )
            .collect(),
            Mode::Csv { filename, message } => [
                Some(("csv.filename", filename)),
                opt("templates.message", message),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }
}

/// Slack-compatible attachment settings.
#[derive(Debug, Clone)]
pub struct Attachments {
    pub color_added: String,
    pub color_changed: String,
    pub color_removed: String,
    /// Colour for batch, table and csv messages.
    pub color_other: String,
    pub title: Option<Template>,
    pub title_link: Option<Template>,
    pub fields: Vec<AttachmentField>,
}

#[derive(Debug, Clone)]
pub struct AttachmentField {
    pub title: String,
    pub value: Template,
    pub short: bool,
}

/// Per-sync sender display (needs `from_webhook` and the server's override settings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    pub display_name: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
}

/// One validated sync.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub name: String,
    pub connection: Arc<Connection>,
    pub query: Query,
    pub diff: DiffOptions,
    pub schedule: Schedule,
    pub mode: Mode,
    pub routing: Routing,
    pub attachments: Option<Attachments>,
    pub sender: Sender,
    pub link_previews: bool,
    pub first_run: FirstRun,
    /// What a result with no rows means after one with rows (changes mode).
    pub empty_result: EmptyResult,
    /// Flood guard: above this many messages in one run, post one summary instead.
    pub max_messages: usize,
    /// Paused syncs do not run on their schedule (run-now still works).
    pub enabled: bool,
    /// Changes mode: when a row changes, also edit its thread's first post to show the
    /// row's current state (rendered with the `added` template).
    pub update_original: bool,
    /// Changes mode: the buttons on added and changed messages.
    pub buttons: Buttons,
    /// The transform its rows go through between the source and the diff.
    pub transform: Option<Arc<TransformConfig>>,
}

/// `[transforms.<name>]`: a WebAssembly module, its parameters and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfig {
    pub name: String,
    pub module: ModuleRef,
    /// A JSON object, given to the module once per run.
    pub params: String,
    pub limits: crate::transform::Limits,
}

/// Where a transform's module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRef {
    /// Uploaded to the plugin under this name.
    Uploaded(String),
    /// Stored in the plugin by its SHA-256 (lowercase hex).
    Hash(String),
    /// A file: the command line's dry run and validation.
    File(std::path::PathBuf),
}

/// The buttons a sync puts on its added and changed messages (`buttons = [...]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buttons {
    /// *Acknowledge*: edits the post to say who acknowledged it, and when.
    pub acknowledge: bool,
    /// *Snooze this row*: no messages about the row for a chosen time.
    pub snooze: bool,
}

impl Buttons {
    pub fn any(&self) -> bool {
        self.acknowledge || self.snooze
    }
}

pub const DEFAULT_MAX_MESSAGES: usize = 50;
pub const DEFAULT_MAX_ROWS: usize = 100_000;
/// Byte budget (decoded data) of an HTTP sync (declared with the HTTP source).
pub use crate::source::http::config::DEFAULT_MAX_BYTES;
/// Byte budget (decoded values) of a database sync: rows stream, so it can be larger.
pub const DEFAULT_MAX_BYTES_DATABASE: usize = 256 * 1024 * 1024;
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_BATCH_SIZE: usize = 20;

/// Parses and validates a whole configuration document.
pub fn parse(text: &str, env: EnvLookup<'_>) -> Result<Config, ConfigErrors> {
    parse_with_dry_run(text, env).map(|(plan, _)| plan)
}

/// [`parse`], and the `[dry_run.users]` table for the command line.
pub fn parse_with_dry_run(
    text: &str,
    env: EnvLookup<'_>,
) -> Result<(Config, DryRunUsers), ConfigErrors> {
    let mut cx = Cx::new(text, env);
    let (root, parse_errors) = DeTable::parse_recoverable(text);
    for e in parse_errors {
        let line = e.span().map(|s| cx.line(s.start));
        let mut message = format!("malformed TOML: {}", e.message().trim());
        // "duplicate key" alone does not say which: name it (a key or table name, never
        // a value).
        if message.ends_with("duplicate key")
            && let Some(key) = e.span().and_then(|s| text.get(s))
        {
            let key = key
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim();
            if !key.is_empty() && !key.contains(['\n', '=']) {
                message.push_str(&format!(" `{key}` (a name given twice)"));
            }
        }
        cx.errors.push(ConfigError {
            owner: String::new(),
            field: String::new(),
            line,
            message,
        });
    }
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let root = root.into_inner();
    let plan = document::read_config(&mut cx, &root);
    cx.scrub_errors();
    if cx.errors.is_empty() {
        Ok(plan)
    } else {
        cx.errors.sort_by_key(|e| e.line.unwrap_or(0));
        Err(ConfigErrors(cx.errors))
    }
}
