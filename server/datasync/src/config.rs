//! Configuration: one TOML document → a validated [`Config`].
//!
//! The document is parsed into toml's spanned tree (`DeTable`) and walked by hand rather
//! than deserialised with serde, because serde stops at the first problem while admins
//! need **every** problem at once, each with the sync, the field and the line. Raw settings
//! never leave this module: the rest of the engine sees only the typed [`Config`] (templates
//! compiled, schedules parsed, routing checked, secrets wrapped in [`Secret`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diff::DiffOptions;
use crate::render::{self, Template};
use crate::schedule::{self, Schedule};
use crate::source::{Connection, ConnectionKind, HttpAuth, HttpFormat, Query, Secret};

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

fn is_name(s: &str) -> bool {
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
}

pub const DEFAULT_MAX_MESSAGES: usize = 50;
pub const DEFAULT_MAX_ROWS: usize = 100_000;
/// Byte budget (decoded data) of an HTTP sync: the body is parsed whole.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
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
        cx.errors.push(ConfigError {
            owner: String::new(),
            field: String::new(),
            line,
            message: format!("malformed TOML: {}", e.message().trim()),
        });
    }
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let root = root.into_inner();
    let plan = read_config(&mut cx, &root);
    if cx.errors.is_empty() {
        Ok(plan)
    } else {
        cx.errors.sort_by_key(|e| e.line.unwrap_or(0));
        Err(ConfigErrors(cx.errors))
    }
}

// ---------------------------------------------------------------------------------------
// Walking the spanned tree.

/// Parsing context: the text (for lines), the env lookup and the errors so far.
struct Cx<'a> {
    line_starts: Vec<usize>,
    env: EnvLookup<'a>,
    errors: Vec<ConfigError>,
}

impl<'a> Cx<'a> {
    fn new(text: &str, env: EnvLookup<'a>) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Cx {
            line_starts,
            env,
            errors: Vec::new(),
        }
    }

    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    fn error(&mut self, owner: &str, field: &str, span: Option<Range<usize>>, message: String) {
        let line = span.map(|s| self.line(s.start));
        self.errors.push(ConfigError {
            owner: owner.to_string(),
            field: field.to_string(),
            line,
            message,
        });
    }
}

/// A string value with where it came from; `shown` is what errors may print
/// (the `${env:NAME}` reference, never the resolved value).
#[derive(Debug, Clone)]
struct Str {
    value: String,
    shown: String,
    span: Range<usize>,
    from_env: bool,
}

impl Str {
    /// A value the configuration did not spell out (a default).
    fn plain(value: &str) -> Str {
        Str {
            value: value.to_string(),
            shown: format!("{value:?}"),
            span: 0..0,
            from_env: false,
        }
    }
}

/// A table being read: remembers which keys were taken so the rest can be reported as
/// unknown fields.
struct Fields<'t, 'i> {
    table: &'t DeTable<'i>,
    owner: String,
    prefix: String,
    known: &'static [&'static str],
    span: Range<usize>,
}

type Item<'t, 'i> = &'t Spanned<DeValue<'i>>;

impl<'t, 'i> Fields<'t, 'i> {
    fn new(
        table: &'t DeTable<'i>,
        span: Range<usize>,
        owner: String,
        prefix: &str,
        known: &'static [&'static str],
    ) -> Self {
        Fields {
            table,
            owner,
            prefix: prefix.to_string(),
            known,
            span,
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn get(&self, name: &str) -> Option<Item<'t, 'i>> {
        debug_assert!(self.known.contains(&name), "{name} missing from known");
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == name)
            .map(|(_, v)| v)
    }

    fn err(&self, cx: &mut Cx<'_>, name: &str, span: Option<Range<usize>>, msg: String) {
        let field = self.path(name);
        cx.error(&self.owner, &field, span, msg);
    }

    /// Reports every key that is not a known field, suggesting the closest known name.
    fn finish(&self, cx: &mut Cx<'_>) {
        for (k, _) in self.table.iter() {
            let key = k.get_ref().as_ref();
            if self.known.contains(&key) {
                continue;
            }
            let hint = closest(key, self.known)
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            let known = self.known.join(", ");
            self.err(
                cx,
                key,
                Some(k.span()),
                format!("unknown field{hint}; known fields: {known}"),
            );
        }
    }

    fn string(&self, cx: &mut Cx<'_>, name: &str) -> Option<Str> {
        let item = self.get(name)?;
        self.as_string(cx, name, item)
    }

    fn as_string(&self, cx: &mut Cx<'_>, name: &str, item: Item<'_, '_>) -> Option<Str> {
        match item.get_ref() {
            DeValue::String(s) => resolve_env(cx, s, item.span()).map_err(|m| {
                self.err(cx, name, Some(item.span()), m);
            }),
            other => {
                self.err(
                    cx,
                    name,
                    Some(item.span()),
                    format!("expected a string, found {}", other.type_str()),
                );
                Err(())
            }
        }
        .ok()
    }

    fn required_string(&self, cx: &mut Cx<'_>, name: &str) -> Option<Str> {
        if self.get(name).is_none() {
            self.err(cx, name, Some(self.span.clone()), "is required".to_string());
            return None;
        }
        self.string(cx, name)
    }

    fn bool(&self, cx: &mut Cx<'_>, name: &str, default: bool) -> bool {
        match self.get(name) {
            None => default,
            Some(item) => match item.get_ref() {
                DeValue::Boolean(b) => *b,
                other => {
                    self.err(
                        cx,
                        name,
                        Some(item.span()),
                        format!("expected true or false, found {}", other.type_str()),
                    );
                    default
                }
            },
        }
    }

    fn integer(&self, cx: &mut Cx<'_>, name: &str, range: Range<i64>) -> Option<i64> {
        let item = self.get(name)?;
        let value = match item.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match value {
            Some(v) if range.contains(&v) => Some(v),
            _ => {
                let msg = format!(
                    "expected a whole number from {} to {}",
                    range.start,
                    range.end - 1
                );
                self.err(cx, name, Some(item.span()), msg);
                None
            }
        }
    }

    /// One of a few words, each standing for a value; absent: the first one.
    fn choice<T: Copy>(&self, cx: &mut Cx<'_>, name: &str, options: &[(&str, T)]) -> T {
        let first = options[0].1;
        let Some(s) = self.string(cx, name) else {
            return first;
        };
        if let Some((_, v)) = options.iter().find(|(word, _)| *word == s.value) {
            return *v;
        }
        let words: Vec<String> = options.iter().map(|(w, _)| format!("{w:?}")).collect();
        let msg = format!("{} is not one of {}", s.shown, words.join(", "));
        self.err(cx, name, Some(s.span), msg);
        first
    }

    /// `"30s"`, `"2m"` or a number of seconds.
    fn duration(&self, cx: &mut Cx<'_>, name: &str, default: Duration) -> Duration {
        let Some(item) = self.get(name) else {
            return default;
        };
        let parsed = match item.get_ref() {
            DeValue::Integer(i) => i.as_str().parse::<u64>().ok().map(Duration::from_secs),
            DeValue::String(s) => schedule::parse_duration(s).ok(),
            _ => None,
        };
        match parsed {
            Some(d) if d.as_secs() > 0 && d.as_secs() <= 86_400 => d,
            _ => {
                let msg = "expected a duration like \"30s\" or \"2m\", or a number of \
                           seconds (1s to 1d)"
                    .to_string();
                self.err(cx, name, Some(item.span()), msg);
                default
            }
        }
    }

    /// A string or an array of strings.
    fn string_list(&self, cx: &mut Cx<'_>, name: &str) -> Option<Vec<Str>> {
        let item = self.get(name)?;
        match item.get_ref() {
            DeValue::String(_) => self.as_string(cx, name, item).map(|s| vec![s]),
            DeValue::Array(items) => {
                let list: Vec<Str> = items
                    .iter()
                    .filter_map(|i| self.as_string(cx, name, i))
                    .collect();
                if list.is_empty() {
                    self.err(cx, name, Some(item.span()), "must not be empty".to_string());
                    return None;
                }
                Some(list)
            }
            other => {
                let msg = format!(
                    "expected a string or an array of strings, found {}",
                    other.type_str()
                );
                self.err(cx, name, Some(item.span()), msg);
                None
            }
        }
    }

    fn table(&self, cx: &mut Cx<'_>, name: &str) -> Option<(&'t DeTable<'i>, Range<usize>)> {
        let item = self.get(name)?;
        match item.get_ref() {
            DeValue::Table(t) => Some((t, item.span())),
            other => {
                let msg = format!("expected a table, found {}", other.type_str());
                self.err(cx, name, Some(item.span()), msg);
                None
            }
        }
    }

    fn sub(
        &self,
        cx: &mut Cx<'_>,
        name: &str,
        known: &'static [&'static str],
    ) -> Option<Fields<'t, 'i>> {
        let (t, span) = self.table(cx, name)?;
        Some(Fields::new(
            t,
            span,
            self.owner.clone(),
            &self.path(name),
            known,
        ))
    }

    fn template(&self, cx: &mut Cx<'_>, name: &str) -> Option<Template> {
        let s = self.string(cx, name)?;
        compile_at(cx, self, name, &s)
    }
}

fn compile_at(cx: &mut Cx<'_>, f: &Fields<'_, '_>, name: &str, s: &Str) -> Option<Template> {
    match render::compile(&s.value) {
        Ok(t) => Some(t),
        Err(e) => {
            f.err(
                cx,
                name,
                Some(s.span.clone()),
                format!("template does not parse: {e}"),
            );
            None
        }
    }
}

/// Replaces every `${env:NAME}` in a value (a whole value, or part of one such as the
/// password in a URL). Errors and `shown` keep the reference, never the value.
fn resolve_env(cx: &Cx<'_>, raw: &str, span: Range<usize>) -> Result<Str, String> {
    const OPEN: &str = "${env:";
    if !raw.contains(OPEN) {
        return Ok(Str {
            value: raw.to_string(),
            shown: format!("{raw:?}"),
            span,
            from_env: false,
        });
    }
    let mut value = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(OPEN) {
        value.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{:?} is not a valid environment reference", &rest[i..]))?;
        let name = &after[..end];
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "\"${{env:{name}}}\" is not a valid environment reference"
            ));
        }
        let resolved =
            (cx.env)(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        value.push_str(&resolved);
        rest = &after[end + 1..];
    }
    value.push_str(rest);
    let trimmed = raw.trim();
    let whole = trimmed.starts_with(OPEN) && trimmed.find('}') == Some(trimmed.len() - 1);
    Ok(Str {
        value: if whole {
            value.trim().to_string()
        } else {
            value
        },
        shown: if whole {
            trimmed.to_string()
        } else {
            format!("{raw:?}")
        },
        span,
        from_env: true,
    })
}

/// The known field nearest to a typo (edit distance ≤ 2).
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let v = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(v);
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------------------
// The document.

const TOP_FIELDS: &[&str] = &[
    "connections",
    "syncs",
    "allowed_channels",
    "allow_direct_messages",
    "dry_run",
];
const CONNECTION_FIELDS: &[&str] = &["kind", "url", "headers", "auth", "connect_timeout"];
const AUTH_FIELDS: &[&str] = &["kind", "username", "password", "token"];
const SYNC_FIELDS: &[&str] = &[
    "connection",
    "sql",
    "path",
    "json_pointer",
    "format",
    "key",
    "watched",
    "schedule",
    "cron",
    "timezone",
    "mode",
    "templates",
    "batch_size",
    "table",
    "csv",
    "channel",
    "channel_column",
    "attachments",
    "sender",
    "link_previews",
    "first_run",
    "empty_result",
    "max_messages",
    "statement_timeout",
    "max_rows",
    "max_bytes",
    "enabled",
    "update_original",
];
const TEMPLATE_FIELDS: &[&str] = &[
    "added", "changed", "removed", "header", "row", "footer", "message",
];
const TABLE_FIELDS: &[&str] = &["columns"];
const COLUMN_FIELDS: &[&str] = &["title", "value", "column"];
const CSV_FIELDS: &[&str] = &["filename"];
const ATTACHMENT_FIELDS: &[&str] = &[
    "enabled",
    "color_added",
    "color_changed",
    "color_removed",
    "color",
    "title",
    "title_link",
    "fields",
];
const ATTACHMENT_FIELD_FIELDS: &[&str] = &["title", "value", "short"];
const SENDER_FIELDS: &[&str] = &["display_name", "icon_url", "icon_emoji"];
const DRY_RUN_FIELDS: &[&str] = &["users"];

fn read_config(cx: &mut Cx<'_>, root: &DeTable<'_>) -> (Config, DryRunUsers) {
    let top = Fields::new(root, 0..0, String::new(), "", TOP_FIELDS);
    top.finish(cx);
    let allow = read_allow_list(cx, &top);
    let dry_run_users = read_dry_run(cx, &top);

    let mut connections = BTreeMap::new();
    let mut broken = BTreeMap::new();
    if let Some((table, _)) = top.table(cx, "connections") {
        for (name, item) in sorted(table) {
            let owner = format!("connection {name:?}");
            let DeValue::Table(t) = item.get_ref() else {
                cx.error(
                    &owner,
                    "",
                    Some(item.span()),
                    "expected a table".to_string(),
                );
                continue;
            };
            let f = Fields::new(t, item.span(), owner, "", CONNECTION_FIELDS);
            let before = cx.errors.len();
            match read_connection(cx, &f, name) {
                Some(c) if cx.errors.len() == before => {
                    connections.insert(name.to_string(), Arc::new(c));
                }
                // Already reported; syncs using it should not add "no such connection".
                _ => {
                    broken.insert(name.to_string(), peek_kind(t));
                }
            }
        }
    }

    let mut syncs = Vec::new();
    match top.table(cx, "syncs") {
        Some((table, _)) => {
            for (name, item) in sorted(table) {
                let owner = format!("sync {name:?}");
                let DeValue::Table(t) = item.get_ref() else {
                    cx.error(
                        &owner,
                        "",
                        Some(item.span()),
                        "expected a table".to_string(),
                    );
                    continue;
                };
                let f = Fields::new(t, item.span(), owner, "", SYNC_FIELDS);
                if let Some(s) = read_sync(cx, &f, name, &connections, &broken, &allow) {
                    syncs.push(s);
                }
            }
        }
        None if top.get("syncs").is_none() => {
            cx.error("", "syncs", None, "no [syncs.<name>] defined".to_string());
        }
        None => {}
    }
    let plan = Config {
        connections,
        syncs,
        allow,
    };
    (plan, dry_run_users)
}

/// Table entries in document order (the map itself is sorted by key).
fn sorted<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t str, Item<'t, 'i>)> {
    let mut v: Vec<_> = table
        .iter()
        .map(|(k, v)| (k.get_ref().as_ref(), v))
        .collect();
    v.sort_by_key(|(_, v)| v.span().start);
    v
}

fn read_allow_list(cx: &mut Cx<'_>, top: &Fields<'_, '_>) -> AllowList {
    let mut allow = AllowList {
        direct_messages: top.bool(cx, "allow_direct_messages", true),
        ..AllowList::default()
    };
    let Some(item) = top.get("allowed_channels") else {
        return allow;
    };
    let DeValue::Array(items) = item.get_ref() else {
        let msg = "expected an array of \"team\" or \"team/channel\" names".to_string();
        top.err(cx, "allowed_channels", Some(item.span()), msg);
        return allow;
    };
    for i in items {
        let Some(s) = top.as_string(cx, "allowed_channels", i) else {
            continue;
        };
        match s.value.split_once('/') {
            Some((t, c)) if is_name(t) && is_name(c) => {
                allow.channels.insert((t.to_string(), c.to_string()));
            }
            None if is_name(&s.value) => {
                allow.teams.insert(s.value.clone());
            }
            _ => top.err(
                cx,
                "allowed_channels",
                Some(s.span),
                format!("{} is not a team name or \"team/channel\"", s.shown),
            ),
        }
    }
    allow
}

fn read_dry_run(cx: &mut Cx<'_>, top: &Fields<'_, '_>) -> BTreeMap<String, String> {
    let mut users = BTreeMap::new();
    let Some(dry) = top.sub(cx, "dry_run", DRY_RUN_FIELDS) else {
        return users;
    };
    dry.finish(cx);
    if let Some(f) = dry.sub(cx, "users", &[]) {
        for (email, item) in sorted(f.table) {
            match item.get_ref() {
                DeValue::String(u) => {
                    users.insert(email.to_lowercase(), u.trim_start_matches('@').to_string());
                }
                _ => f.err(
                    cx,
                    email,
                    Some(item.span()),
                    "expected a username".to_string(),
                ),
            }
        }
    }
    users
}

/// The kind of a connection that failed validation, if it says one.
fn peek_kind(t: &DeTable<'_>) -> Option<ConnectionKind> {
    let (_, v) = t.iter().find(|(k, _)| k.get_ref().as_ref() == "kind")?;
    match v.get_ref().as_str()? {
        "postgres" | "postgresql" => Some(ConnectionKind::Postgres),
        "mysql" | "mariadb" => Some(ConnectionKind::Mysql),
        "sqlite" => Some(ConnectionKind::Sqlite),
        "http" | "https" => Some(ConnectionKind::Http),
        _ => None,
    }
}

fn read_connection(cx: &mut Cx<'_>, f: &Fields<'_, '_>, name: &str) -> Option<Connection> {
    f.finish(cx);
    let kind = f.required_string(cx, "kind").and_then(|k| {
        let kind = match k.value.as_str() {
            "postgres" | "postgresql" => ConnectionKind::Postgres,
            "mysql" | "mariadb" => ConnectionKind::Mysql,
            "sqlite" => ConnectionKind::Sqlite,
            "http" | "https" => ConnectionKind::Http,
            _ => {
                let msg = format!("{} is not one of postgres, mysql, sqlite, http", k.shown);
                f.err(cx, "kind", Some(k.span), msg);
                return None;
            }
        };
        Some(kind)
    });
    let url = f.required_string(cx, "url");
    let connect_timeout = f.duration(cx, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    let is_http = kind == Some(ConnectionKind::Http);
    let mut headers = Vec::new();
    if let Some(h) = f.sub(cx, "headers", &[]) {
        if !is_http {
            f.err(
                cx,
                "headers",
                Some(h.span.clone()),
                "only http connections take headers".into(),
            );
        }
        for (hname, item) in sorted(h.table) {
            if let Some(v) = h.as_string(cx, hname, item) {
                headers.push((hname.to_string(), Secret::new(v.value)));
            }
        }
    }
    let auth = f.sub(cx, "auth", AUTH_FIELDS).and_then(|a| {
        a.finish(cx);
        if !is_http {
            f.err(
                cx,
                "auth",
                Some(a.span.clone()),
                "only http connections take auth".into(),
            );
        }
        read_auth(cx, &a)
    });
    if let (Some(url), Some(kind)) = (&url, kind) {
        check_url(cx, f, kind, url);
    }
    Some(Connection {
        name: name.to_string(),
        kind: kind?,
        url: Secret::new(url?.value),
        headers,
        auth,
        connect_timeout,
    })
}

/// Checks the URL's shape without ever printing it (it may hold a password).
fn check_url(cx: &mut Cx<'_>, f: &Fields<'_, '_>, kind: ConnectionKind, url: &Str) {
    let v = url.value.as_str();
    let ok = match kind {
        ConnectionKind::Postgres => v.starts_with("postgres://") || v.starts_with("postgresql://"),
        ConnectionKind::Mysql => v.starts_with("mysql://"),
        ConnectionKind::Sqlite => !v.is_empty() && !v.contains("://"),
        ConnectionKind::Http => v.starts_with("http://") || v.starts_with("https://"),
    };
    if !ok {
        let expected = match kind {
            ConnectionKind::Postgres => "a postgres://user:password@host/db URL",
            ConnectionKind::Mysql => "a mysql://user:password@host/db URL",
            ConnectionKind::Sqlite => "a path to a SQLite file",
            ConnectionKind::Http => "an http:// or https:// URL",
        };
        f.err(
            cx,
            "url",
            Some(url.span.clone()),
            format!("expected {expected}"),
        );
    }
}

fn read_auth(cx: &mut Cx<'_>, a: &Fields<'_, '_>) -> Option<HttpAuth> {
    let kind = a.required_string(cx, "kind")?;
    match kind.value.as_str() {
        "basic" => Some(HttpAuth::Basic {
            username: a.required_string(cx, "username")?.value,
            password: Secret::new(a.required_string(cx, "password")?.value),
        }),
        "bearer" => Some(HttpAuth::Bearer {
            token: Secret::new(a.required_string(cx, "token")?.value),
        }),
        _ => {
            let msg = format!("{} is not \"basic\" or \"bearer\"", kind.shown);
            a.err(cx, "kind", Some(kind.span), msg);
            None
        }
    }
}

fn read_sync(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
    connections: &BTreeMap<String, Arc<Connection>>,
    broken: &BTreeMap<String, Option<ConnectionKind>>,
    allow: &AllowList,
) -> Option<SyncConfig> {
    f.finish(cx);
    let before = cx.errors.len();
    let connection = read_sync_connection(cx, f, connections, broken);
    // A broken connection was reported already; still check the query fields if its
    // kind is known, so fixing the connection does not reveal a second round of errors.
    let kind = match &connection {
        Some(c) => Some(c.kind),
        None => f
            .get("connection")
            .and_then(|c| c.get_ref().as_str())
            .and_then(|c| broken.get(c).copied().flatten()),
    };
    let query = kind.map(|k| read_query(cx, f, name, k));
    let key: Vec<String> = column_names(cx, f, "key").unwrap_or_default();
    let watched = column_names(cx, f, "watched");
    let schedule = read_schedule(cx, f);
    let mode = read_mode(cx, f);
    let routing = read_routing(cx, f, allow, mode.as_ref());
    let attachments = read_attachments(cx, f);
    let sender = read_sender(cx, f);
    let first_run = f.choice(
        cx,
        "first_run",
        &[("baseline", FirstRun::Baseline), ("post", FirstRun::Post)],
    );
    let empty_result = f.choice(
        cx,
        "empty_result",
        &[("post", EmptyResult::Post), ("fail", EmptyResult::Fail)],
    );
    let max_messages = f
        .integer(cx, "max_messages", 1..10_001)
        .map_or(DEFAULT_MAX_MESSAGES, |n| n as usize);
    let link_previews = f.bool(cx, "link_previews", true);
    let enabled = f.bool(cx, "enabled", true);
    let update_original = f.bool(cx, "update_original", false);
    if update_original && !matches!(&mode, Some(Mode::Changes { added: Some(_), .. })) {
        let msg = "needs changes mode with an added template (it re-renders that template)".into();
        f.err(
            cx,
            "update_original",
            f.get("update_original").map(|i| i.span()),
            msg,
        );
    }

    if let Some(Mode::Changes { .. }) = &mode
        && key.is_empty()
    {
        let msg = "changes mode needs key columns to tell rows apart".to_string();
        f.err(cx, "key", Some(f.span.clone()), msg);
    }
    if watched.is_some() && !matches!(mode, Some(Mode::Changes { .. })) {
        let msg = "watched columns only apply to changes mode".to_string();
        f.err(cx, "watched", f.get("watched").map(|i| i.span()), msg);
    }
    if cx.errors.len() > before {
        return None;
    }
    Some(SyncConfig {
        name: name.to_string(),
        connection: connection?,
        query: query?,
        diff: DiffOptions {
            key,
            watched,
            ..DiffOptions::default()
        },
        schedule: schedule?,
        mode: mode?,
        routing: routing?,
        attachments,
        sender,
        link_previews,
        first_run,
        empty_result,
        max_messages,
        enabled,
        update_original,
    })
}

/// A list of column names; an empty or blank name is an error (it can never match).
fn column_names(cx: &mut Cx<'_>, f: &Fields<'_, '_>, field: &str) -> Option<Vec<String>> {
    let list = f.string_list(cx, field)?;
    let mut names = Vec::with_capacity(list.len());
    for s in list {
        if s.value.trim().is_empty() {
            f.err(
                cx,
                field,
                Some(s.span),
                "a column name must not be empty".into(),
            );
        } else {
            names.push(s.value);
        }
    }
    Some(names)
}

fn read_sync_connection(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    connections: &BTreeMap<String, Arc<Connection>>,
    broken: &BTreeMap<String, Option<ConnectionKind>>,
) -> Option<Arc<Connection>> {
    let c = f.required_string(cx, "connection")?;
    match connections.get(&c.value) {
        Some(conn) => Some(conn.clone()),
        None if broken.contains_key(&c.value) => None,
        None => {
            let known: Vec<&str> = connections.keys().map(String::as_str).collect();
            let msg = format!(
                "no connection named {} (defined: {})",
                c.shown,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            f.err(cx, "connection", Some(c.span), msg);
            None
        }
    }
}

fn read_query(cx: &mut Cx<'_>, f: &Fields<'_, '_>, name: &str, kind: ConnectionKind) -> Query {
    let sql = f.string(cx, "sql");
    let path = f.string(cx, "path");
    let pointer = f.string(cx, "json_pointer");
    let format = f.string(cx, "format");
    if kind == ConnectionKind::Http {
        if let Some(s) = &sql {
            f.err(
                cx,
                "sql",
                Some(s.span.clone()),
                "http connections take path, not sql".into(),
            );
        }
    } else {
        match &sql {
            None => f.err(
                cx,
                "sql",
                Some(f.span.clone()),
                "is required for database connections".into(),
            ),
            Some(s) if s.value.trim().is_empty() => {
                f.err(cx, "sql", Some(s.span.clone()), "must not be empty".into())
            }
            Some(_) => {}
        }
        for (field, v) in [
            ("path", &path),
            ("json_pointer", &pointer),
            ("format", &format),
        ] {
            if let Some(v) = v {
                let msg = "only http connections take this field".to_string();
                f.err(cx, field, Some(v.span.clone()), msg);
            }
        }
    }
    if let Some(p) = &pointer
        && !(p.value.is_empty() || p.value.starts_with('/'))
    {
        let msg = format!(
            "{} is not a JSON pointer (\"\" or starting with \"/\")",
            p.shown
        );
        f.err(cx, "json_pointer", Some(p.span.clone()), msg);
    }
    let format = match format.as_ref().map(|s| s.value.as_str()) {
        None | Some("json") => HttpFormat::Json,
        Some("csv") => HttpFormat::Csv,
        Some(_) => {
            if let Some(s) = &format {
                let msg = format!("{} is not \"json\" or \"csv\"", s.shown);
                f.err(cx, "format", Some(s.span.clone()), msg);
            }
            HttpFormat::Json
        }
    };
    Query {
        sync: name.to_string(),
        sql: sql.map(|s| s.value),
        path: path.map(|s| s.value),
        json_pointer: pointer.map(|s| s.value).unwrap_or_default(),
        format,
        statement_timeout: f.duration(cx, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        max_rows: f
            .integer(cx, "max_rows", 1..10_000_001)
            .map_or(DEFAULT_MAX_ROWS, |n| n as usize),
        max_bytes: f.integer(cx, "max_bytes", 1024..1_073_741_825).map_or(
            if kind == ConnectionKind::Http {
                DEFAULT_MAX_BYTES
            } else {
                DEFAULT_MAX_BYTES_DATABASE
            },
            |n| n as usize,
        ),
    }
}

fn read_schedule(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Schedule> {
    let every = f.string(cx, "schedule");
    let cron = f.string(cx, "cron");
    let zone = read_zone(cx, f);
    // The pattern is checked even when the zone is bad, so both are reported at once.
    let cron_zone = zone.flatten().unwrap_or(chrono_tz::UTC);
    let schedule = read_when(cx, f, every, cron, cron_zone);
    zone.and(schedule)
}

fn read_when(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    every: Option<Str>,
    cron: Option<Str>,
    zone: chrono_tz::Tz,
) -> Option<Schedule> {
    match (every, cron) {
        (Some(s), None) if s.value.trim() == "manual" => Some(Schedule::Manual),
        (Some(s), None) => match schedule::parse_interval(&s.value) {
            Ok(d) => Some(Schedule::Every(d)),
            Err(m) => {
                f.err(cx, "schedule", Some(s.span), m);
                None
            }
        },
        (None, Some(c)) => match schedule::parse_cron(&c.value, zone) {
            Ok(s) => Some(s),
            Err(m) => {
                f.err(cx, "cron", Some(c.span), m);
                None
            }
        },
        (Some(s), Some(_)) => {
            let msg = "give either schedule (\"every 5m\", \"manual\") or cron, not both".into();
            f.err(cx, "schedule", Some(s.span), msg);
            None
        }
        (None, None) => {
            let msg = "is required: \"every 5m\", \"manual\", or cron = \"0 9 * * MON-FRI\" with timezone".into();
            f.err(cx, "schedule", Some(f.span.clone()), msg);
            None
        }
    }
}

/// The `timezone` field, checked whatever the schedule (a bad zone is a mistake even where
/// it is not used yet). `None`: invalid (reported); `Some(None)`: not given.
fn read_zone(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Option<chrono_tz::Tz>> {
    let Some(zone) = f.string(cx, "timezone") else {
        return Some(None);
    };
    match schedule::parse_zone(&zone.value) {
        Ok(z) => Some(Some(z)),
        Err(m) => {
            f.err(cx, "timezone", Some(zone.span), m);
            None
        }
    }
}

fn read_mode(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Mode> {
    let mode_str = f.string(cx, "mode");
    let mode = mode_str.as_ref().map_or("changes", |m| m.value.as_str());
    let templates = f.sub(cx, "templates", TEMPLATE_FIELDS);
    if let Some(t) = &templates {
        t.finish(cx);
    }
    let tpl = |cx: &mut Cx<'_>, field: &str| templates.as_ref().and_then(|t| t.template(cx, field));
    // Fields that belong to other modes are errors, not silently ignored.
    let allowed: &[&str] = match mode {
        "changes" => &["added", "changed", "removed"],
        "batch" => &["header", "row", "footer"],
        "table" => &["header", "footer"],
        "csv" => &["message"],
        _ => &[],
    };
    if let Some(t) = &templates {
        for (k, _) in t.table.iter() {
            let k_str = k.get_ref().as_ref();
            if TEMPLATE_FIELDS.contains(&k_str) && !allowed.contains(&k_str) && !allowed.is_empty()
            {
                let msg = format!(
                    "{mode} mode does not use this template (it uses: {})",
                    allowed.join(", ")
                );
                t.err(cx, k_str, Some(k.span()), msg);
            }
        }
    }
    let misplaced = |cx: &mut Cx<'_>, field: &str, wanted: &str| {
        if let Some(item) = f.get(field)
            && mode != wanted
        {
            let msg = format!("only {wanted} mode uses this field");
            f.err(cx, field, Some(item.span()), msg);
        }
    };
    misplaced(cx, "batch_size", "batch");
    misplaced(cx, "table", "table");
    misplaced(cx, "csv", "csv");
    match mode {
        "changes" => {
            let (added, changed, removed) =
                (tpl(cx, "added"), tpl(cx, "changed"), tpl(cx, "removed"));
            let any = ["added", "changed", "removed"]
                .iter()
                .any(|k| templates.as_ref().is_some_and(|t| t.get(k).is_some()));
            if !any {
                let msg = "changes mode needs at least one of added, changed, removed".into();
                f.err(cx, "templates", Some(f.span.clone()), msg);
            }
            Some(Mode::Changes {
                added,
                changed,
                removed,
            })
        }
        "batch" => {
            let batch_size = f
                .integer(cx, "batch_size", 1..MAX_BATCH_SIZE as i64 + 1)
                .map_or(MAX_BATCH_SIZE, |n| n as usize);
            let has_row = templates.as_ref().is_some_and(|t| t.get("row").is_some());
            if !has_row {
                let msg = "batch mode needs a row template".to_string();
                f.err(cx, "templates.row", Some(f.span.clone()), msg);
            }
            let (header, row, footer) = (tpl(cx, "header"), tpl(cx, "row"), tpl(cx, "footer"));
            Some(Mode::Batch {
                header,
                row: row?,
                footer,
                batch_size,
            })
        }
        "table" => {
            let columns = read_table_columns(cx, f);
            Some(Mode::Table {
                header: tpl(cx, "header"),
                footer: tpl(cx, "footer"),
                columns,
            })
        }
        "csv" => {
            let filename = match f.sub(cx, "csv", CSV_FIELDS) {
                Some(c) => {
                    c.finish(cx);
                    c.template(cx, "filename")
                }
                None => None,
            };
            // No filename: an empty template, which the plan turns into "<sync>.csv" (the
            // sync's name is data here, never template text: it may contain `{{`).
            let filename = match filename {
                Some(t) => t,
                None => compile_at(cx, f, "csv.filename", &Str::plain(""))?,
            };
            Some(Mode::Csv {
                filename,
                message: tpl(cx, "message"),
            })
        }
        other => {
            if let Some(s) = &mode_str {
                let msg = format!("{other:?} is not one of changes, batch, table, csv");
                f.err(cx, "mode", Some(s.span.clone()), msg);
            }
            None
        }
    }
}

fn read_table_columns(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Vec<TableColumn> {
    let Some(t) = f.sub(cx, "table", TABLE_FIELDS) else {
        return Vec::new();
    };
    t.finish(cx);
    let Some(item) = t.get("columns") else {
        return Vec::new();
    };
    let DeValue::Array(items) = item.get_ref() else {
        t.err(cx, "columns", Some(item.span()), "expected an array".into());
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in items {
        match i.get_ref() {
            DeValue::String(s) => out.push(TableColumn {
                title: s.to_string(),
                value: None,
                column: Some(s.to_string()),
            }),
            DeValue::Table(ct) => {
                let c = Fields::new(
                    ct,
                    i.span(),
                    t.owner.clone(),
                    "table.columns",
                    COLUMN_FIELDS,
                );
                c.finish(cx);
                let title = c.required_string(cx, "title").map(|s| s.value);
                let value = c.template(cx, "value");
                let column = c.string(cx, "column").map(|s| s.value);
                if value.is_none() && column.is_none() {
                    let msg = "each column needs value (a template) or column (a name)".into();
                    c.err(cx, "", Some(i.span()), msg);
                }
                if let Some(title) = title {
                    out.push(TableColumn {
                        title,
                        value,
                        column,
                    });
                }
            }
            other => {
                let msg = format!(
                    "expected a column name or a table, found {}",
                    other.type_str()
                );
                t.err(cx, "columns", Some(i.span()), msg);
            }
        }
    }
    out
}

fn read_routing(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    allow: &AllowList,
    mode: Option<&Mode>,
) -> Option<Routing> {
    let channel = f.string(cx, "channel");
    let column = f.string(cx, "channel_column");
    match (channel, column) {
        (Some(c), None) => match Target::parse(&c.value) {
            Ok(target) => {
                check_allowed(cx, f, allow, &target, &c);
                Some(Routing::Fixed(target))
            }
            Err(m) => {
                let m = if c.from_env {
                    format!("{} is not a channel", c.shown)
                } else {
                    m
                };
                f.err(cx, "channel", Some(c.span), m);
                None
            }
        },
        (None, Some(col)) => {
            if let Some(m) = mode
                && !matches!(m, Mode::Changes { .. })
            {
                let msg = format!(
                    "{} mode posts to one channel; per-row routing needs changes mode",
                    m.name()
                );
                f.err(cx, "channel_column", Some(col.span), msg);
                return None;
            }
            Some(Routing::Column(col.value))
        }
        (Some(c), Some(_)) => {
            f.err(
                cx,
                "channel",
                Some(c.span),
                "give channel or channel_column, not both".into(),
            );
            None
        }
        (None, None) => {
            let msg =
                "is required (a channel id or \"team/channel\"), or give channel_column".into();
            f.err(cx, "channel", Some(f.span.clone()), msg);
            None
        }
    }
}

fn check_allowed(cx: &mut Cx<'_>, f: &Fields<'_, '_>, allow: &AllowList, t: &Target, c: &Str) {
    let ok = match t {
        Target::TeamChannel { team, channel } => allow.allows_channel(team, channel),
        Target::Username(_) | Target::Email(_) => allow.direct_messages,
        // Checked when the id is resolved, at run time.
        Target::ChannelId(_) => true,
    };
    if !ok && matches!(t, Target::Username(_) | Target::Email(_)) {
        let msg = format!(
            "{} would be a direct message, and allow_direct_messages = false",
            c.shown
        );
        f.err(cx, "channel", Some(c.span.clone()), msg);
    } else if !ok {
        let msg = format!("{} is not in allowed_channels", c.shown);
        f.err(cx, "channel", Some(c.span.clone()), msg);
    }
}

fn read_attachments(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Attachments> {
    let a = f.sub(cx, "attachments", ATTACHMENT_FIELDS)?;
    a.finish(cx);
    if !a.bool(cx, "enabled", true) {
        return None;
    }
    let color = |cx: &mut Cx<'_>, name: &str, default: &str| match a.string(cx, name) {
        None => default.to_string(),
        Some(s) if is_color(&s.value) => s.value,
        Some(s) => {
            let msg = format!("{} is not good, warning, danger or #RRGGBB", s.shown);
            a.err(cx, name, Some(s.span), msg);
            default.to_string()
        }
    };
    let color_added = color(cx, "color_added", "good");
    let color_changed = color(cx, "color_changed", "warning");
    let color_removed = color(cx, "color_removed", "danger");
    let color_other = color(cx, "color", "#1c58d9");
    let mut fields = Vec::new();
    if let Some(item) = a.get("fields") {
        match item.get_ref() {
            DeValue::Array(items) => {
                for i in items {
                    let DeValue::Table(t) = i.get_ref() else {
                        a.err(
                            cx,
                            "fields",
                            Some(i.span()),
                            "expected a table {title, value}".into(),
                        );
                        continue;
                    };
                    let ff = Fields::new(
                        t,
                        i.span(),
                        a.owner.clone(),
                        "attachments.fields",
                        ATTACHMENT_FIELD_FIELDS,
                    );
                    ff.finish(cx);
                    let title = ff.required_string(cx, "title");
                    let value = if ff.get("value").is_some() {
                        ff.template(cx, "value")
                    } else {
                        ff.err(cx, "value", Some(i.span()), "is required".into());
                        None
                    };
                    let short = ff.bool(cx, "short", false);
                    if let (Some(title), Some(value)) = (title, value) {
                        fields.push(AttachmentField {
                            title: title.value,
                            value,
                            short,
                        });
                    }
                }
            }
            _ => a.err(
                cx,
                "fields",
                Some(item.span()),
                "expected an array of tables".into(),
            ),
        }
    }
    Some(Attachments {
        color_added,
        color_changed,
        color_removed,
        color_other,
        title: a.template(cx, "title"),
        title_link: a.template(cx, "title_link"),
        fields,
    })
}

fn is_color(s: &str) -> bool {
    matches!(s, "good" | "warning" | "danger")
        || (s.len() == 7 && s.starts_with('#') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit()))
}

fn read_sender(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Sender {
    let Some(s) = f.sub(cx, "sender", SENDER_FIELDS) else {
        return Sender::default();
    };
    s.finish(cx);
    let icon_url = s.string(cx, "icon_url").and_then(|u| {
        if u.value.starts_with("https://") || u.value.starts_with("http://") {
            Some(u.value)
        } else {
            s.err(
                cx,
                "icon_url",
                Some(u.span),
                format!("{} is not an http(s) URL", u.shown),
            );
            None
        }
    });
    let icon_emoji = s
        .string(cx, "icon_emoji")
        .map(|e| e.value.trim_matches(':').to_string());
    Sender {
        display_name: s.string(cx, "display_name").map(|d| d.value),
        icon_url,
        icon_emoji,
    }
}

/// A template reference to something that is not a column of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateWarning {
    pub sync: String,
    pub field: String,
    pub name: String,
}

impl fmt::Display for TemplateWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sync {:?}, field {:?}: {:?} is not a column of the result (it will be left as written or render empty)",
            self.sync, self.field, self.name
        )
    }
}

/// Checks a sync's templates, key, watched and routing columns against a result's columns
/// (known only after a query runs: preview, dry run, validate with a connection).
pub fn check_columns(sync: &SyncConfig, columns: &[String]) -> Vec<TemplateWarning> {
    let mut out = Vec::new();
    let has = |c: &str| columns.iter().any(|x| x == c);
    let mut warn = |field: &str, name: &str| {
        out.push(TemplateWarning {
            sync: sync.name.clone(),
            field: field.to_string(),
            name: name.to_string(),
        })
    };
    for k in &sync.diff.key {
        if !has(k) {
            warn("key", k);
        }
    }
    for w in sync.diff.watched.iter().flatten() {
        if !has(w) {
            warn("watched", w);
        }
    }
    if let Routing::Column(c) = &sync.routing
        && !has(c)
    {
        warn("channel_column", c);
    }
    let mut templates = sync.mode.templates();
    if let Some(a) = &sync.attachments {
        templates.extend(a.title.iter().map(|t| ("attachments.title", t)));
        templates.extend(a.title_link.iter().map(|t| ("attachments.title_link", t)));
        templates.extend(a.fields.iter().map(|f| ("attachments.fields", &f.value)));
    }
    if let Mode::Table { columns: cols, .. } = &sync.mode {
        for c in cols.iter().filter_map(|c| c.column.as_deref()) {
            if !has(c) {
                warn("table.columns", c);
            }
        }
    }
    for (field, t) in templates {
        for name in t.column_refs() {
            if !has(name) {
                warn(field, name);
            }
        }
    }
    out
}
