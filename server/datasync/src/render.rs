//! Rendering: Liquid templates over rows, compiled once, rendered many times.
//!
//! liquid-rust is strict about undefined variables, while the tools users come from are
//! lax (Zeotap leaves an unknown `{{field}}` as written). Two mechanisms make ours lax and
//! predictable without patching liquid:
//!
//! * At compile time, each output tag whose root is a *bare* name that is not one of our
//!   globals or a template-local variable (`{{ name }}`, `{{ email | upcase }}`) is wrapped
//!   as `{% if __ds_has["name"] %}…{% else %}{% raw %}…{% endraw %}{% endif %}`: at render
//!   time it shows the column when the result has one, or the tag exactly as written.
//! * At render time the globals and row objects are lax views ([`LaxObject`]) that answer
//!   `nil` for missing keys, so `{{ row.missing }}` and `{% if missing %}` render empty
//!   instead of failing the run.
//!
//! `mattermost_user_lookup` does no I/O: templates that use it are rendered once in
//! *collect* mode to learn the e-mails/usernames, the run resolves them in one batch
//! through the port, and the real rendering reads that cache (a thread-local set around the
//! render call, because liquid's filters cannot receive per-render state).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use liquid::model::{KStringCow, Object, Value};
use liquid_core::model::{DisplayCow, ObjectView, ScalarCow, State, ValueView};
use liquid_core::runtime::Runtime;
use liquid_core::{
    Display_filter, Error as LiquidError, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Result as LiquidResult,
};

use crate::row::Cell;

/// Largest single rendering (bytes). Far above a post's 16,383 characters, low enough that a
/// runaway `{% for %}` cannot eat memory.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Names the renderer provides; anything else bare is a column (or left as written).
const GLOBALS: &[&str] = &[
    "row",
    "previous",
    "changed",
    "kind",
    "sync",
    "run",
    "rows",
    "batch",
    "forloop",
    "tablerowloop",
    "__ds_has",
];
const KEYWORDS: &[&str] = &["true", "false", "nil", "null", "empty", "blank"];

/// A compiled template.
#[derive(Clone)]
pub struct Template {
    source: Arc<str>,
    compiled: Arc<liquid::Template>,
    uses_lookup: bool,
    column_refs: Vec<String>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .finish()
    }
}

impl Template {
    pub fn source(&self) -> &str {
        &self.source
    }
    /// Whether rendering needs user lookups first.
    pub fn uses_lookup(&self) -> bool {
        self.uses_lookup
    }
    /// Columns the template names (`row.x`, `row["x"]`, `previous.x`, bare `{{ x }}`).
    pub fn column_refs(&self) -> impl Iterator<Item = &str> {
        self.column_refs.iter().map(String::as_str)
    }
}

/// Why a rendering failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("sync {sync:?}, template {field}: output is larger than {limit} bytes")]
    TooLarge {
        sync: String,
        field: String,
        limit: usize,
    },
    #[error("sync {sync:?}, template {field}: {message}")]
    Liquid {
        sync: String,
        field: String,
        message: String,
    },
}

static PARSER: LazyLock<Result<liquid::Parser, String>> = LazyLock::new(|| {
    liquid::ParserBuilder::with_stdlib()
        .filter(UserLookup)
        .filter(DateTz)
        .filter(NumberWithDelimiter)
        .filter(Decimals)
        .filter(Sum)
        .build()
        .map_err(|e| e.to_string())
});

/// Compiles a template (once, at configuration time).
pub fn compile(source: &str) -> Result<Template, String> {
    let parser = PARSER.as_ref().map_err(Clone::clone)?;
    let scan = scan(source);
    // liquid-core 0.26 panics on a few malformed inputs (e.g. an unclosed `{% raw %}` in
    // some positions: "File shouldn't end before EOI"); a typo must not take the plugin down.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.parse(&scan.rewritten)
    }))
    .map_err(|_| {
        "the template could not be parsed (is a {% raw %} or {% comment %} block unclosed?)"
            .to_string()
    })?;
    let compiled = parsed.map_err(|e| first_line(&e.to_string()))?;
    Ok(Template {
        source: source.into(),
        compiled: Arc::new(compiled),
        uses_lookup: source.contains("mattermost_user_lookup"),
        column_refs: scan.column_refs,
    })
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------------
// The pre-scan.

struct Scan {
    rewritten: String,
    column_refs: Vec<String>,
}

/// A piece of template source.
enum Piece<'a> {
    Text(&'a str),
    /// `{{ … }}` with its inner expression.
    Output(&'a str, &'a str),
    /// `{% … %}` with its inner text.
    Tag(&'a str, &'a str),
    /// A raw or comment block, kept verbatim.
    Verbatim(&'a str),
}

fn pieces(src: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = src;
    while !rest.is_empty() {
        let next = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = next else {
            out.push(Piece::Text(rest));
            break;
        };
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let tail = &rest[start..];
        let close = if tail.starts_with("{{") { "}}" } else { "%}" };
        let Some(end) = tail[2..].find(close).map(|e| e + 4) else {
            out.push(Piece::Text(tail));
            break;
        };
        let whole = &tail[..end];
        let inner = whole[2..end - 2].trim_matches('-').trim();
        if close == "}}" {
            out.push(Piece::Output(whole, inner));
            rest = &tail[end..];
            continue;
        }
        let word = inner.split_whitespace().next().unwrap_or("");
        if word == "raw" || word == "comment" {
            let closer = format!("end{word}");
            let after = &tail[end..];
            let stop = find_tag(after, &closer).map_or(tail.len(), |e| end + e);
            out.push(Piece::Verbatim(&tail[..stop]));
            rest = &tail[stop..];
            continue;
        }
        out.push(Piece::Tag(whole, inner));
        rest = &tail[end..];
    }
    out
}

/// End offset of the first `{% word %}` tag in `s`.
fn find_tag(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("{%") {
        let at = from + i;
        // Search after the opening `{%`, so `{%}` is not mistaken for a whole tag.
        let end = s[at + 2..].find("%}")? + at + 4;
        let inner = s[at + 2..end - 2].trim_matches('-').trim();
        if inner == word {
            return Some(end);
        }
        from = end;
    }
    None
}

fn ident_at(s: &str) -> Option<&str> {
    let first = s.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len());
    Some(&s[..end])
}

/// Variables a template binds itself (`assign`, `capture`, `for`, …).
fn locals(pieces: &[Piece<'_>]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in pieces {
        let Piece::Tag(_, inner) = p else { continue };
        let mut words = inner.split_whitespace();
        let tag = words.next().unwrap_or("");
        if matches!(
            tag,
            "assign" | "capture" | "for" | "tablerow" | "increment" | "decrement"
        ) && let Some(name) = words.next().and_then(ident_at)
        {
            out.insert(name.to_string());
        }
    }
    out
}

fn scan(src: &str) -> Scan {
    let pieces = pieces(src);
    let locals = locals(&pieces);
    let mut rewritten = String::with_capacity(src.len() + 64);
    let mut refs = BTreeSet::new();
    collect_row_refs(src, &mut refs);
    for p in &pieces {
        match p {
            Piece::Text(t) | Piece::Verbatim(t) | Piece::Tag(t, _) => rewritten.push_str(t),
            Piece::Output(whole, inner) => {
                let root = ident_at(inner).filter(|r| {
                    !GLOBALS.contains(r) && !KEYWORDS.contains(r) && !locals.contains(*r)
                });
                // `default` exists to handle missing values: let it see nil.
                let has_default = inner
                    .split('|')
                    .skip(1)
                    .any(|f| f.trim().starts_with("default"));
                match root {
                    Some(root) if !whole.contains("endraw") && !has_default => {
                        refs.insert(root.to_string());
                        rewritten.push_str(&format!(
                            "{{% if __ds_has[\"{root}\"] %}}{whole}{{% else %}}{{% raw %}}{whole}{{% endraw %}}{{% endif %}}"
                        ));
                    }
                    Some(root) => {
                        refs.insert(root.to_string());
                        rewritten.push_str(whole);
                    }
                    None => rewritten.push_str(whole),
                }
            }
        }
    }
    Scan {
        rewritten,
        column_refs: refs.into_iter().collect(),
    }
}

/// Finds `row.x`, `row["x"]`, `previous.x`, `previous['x']` anywhere in the source.
fn collect_row_refs(src: &str, refs: &mut BTreeSet<String>) {
    for root in ["row", "previous"] {
        let mut from = 0;
        while let Some(i) = src[from..].find(root) {
            let at = from + i;
            from = at + root.len();
            let before_ok = src[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
            if !before_ok {
                continue;
            }
            let rest = &src[from..];
            if let Some(r) = rest.strip_prefix('.') {
                if let Some(name) = ident_at(r).filter(|n| *n != "size") {
                    refs.insert(name.to_string());
                }
            } else if let Some(r) = rest.strip_prefix('[') {
                let r = r.trim_start();
                if let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'')
                    && let Some(end) = r[1..].find(q)
                {
                    refs.insert(r[1..1 + end].to_string());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Values.

static NIL: Value = Value::Nil;

/// Converts one cell to a Liquid value. Exact numerics stay text so they print exactly.
pub fn cell_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Nil,
        Cell::Bool(b) => Value::scalar(*b),
        Cell::Int(i) => Value::scalar(*i),
        Cell::Float(f) => Value::scalar(*f),
        Cell::Decimal(s) => match s.parse::<i64>() {
            Ok(i) => Value::scalar(i),
            Err(_) => Value::scalar(s.clone()),
        },
        Cell::Text(s) | Cell::Date(s) | Cell::Time(s) | Cell::Timestamp(s) => {
            Value::scalar(s.clone())
        }
        Cell::Bytes(b) => {
            use base64::Engine;
            Value::scalar(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Cell::Json(j) => json_value(j),
    }
}

fn json_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::scalar(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::scalar(i)
            } else if let Some(f) = n.as_f64() {
                Value::scalar(f)
            } else {
                Value::scalar(n.to_string())
            }
        }
        serde_json::Value::String(s) => Value::scalar(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(json_value).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone().into(), json_value(v)))
                .collect(),
        ),
    }
}

/// A cell as plain text (tables, CSV, routing values).
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Json(j) => j.to_string(),
        other => cell_value(other).render().to_string(),
    }
}

/// An object that answers `nil` for keys it does not have (lax row access).
#[derive(Debug, Clone, Default)]
pub struct LaxObject(pub Object);

impl LaxObject {
    /// Builds a row object from column names and cells.
    pub fn from_row(columns: &[String], row: &[Cell]) -> Self {
        let mut o = Object::new();
        for (name, cell) in columns.iter().zip(row) {
            o.insert(name.clone().into(), cell_value(cell));
        }
        LaxObject(o)
    }
}

impl ValueView for LaxObject {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.0.render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.0.source()
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        self.0.query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.0.to_kstr()
    }
    fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for LaxObject {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.0.len() as i64
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        ObjectView::keys(&self.0)
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        ObjectView::values(&self.0)
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        ObjectView::iter(&self.0)
    }
    fn contains_key(&self, index: &str) -> bool {
        index != "size" || self.0.contains_key(index)
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        match self.0.get(index) {
            Some(v) => Some(v),
            None if index == "size" => None,
            None => Some(&NIL),
        }
    }
}

static EMPTY: LazyLock<LaxObject> = LazyLock::new(LaxObject::default);

/// Which change a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Added,
    Changed,
    Removed,
    /// Batch, table and csv messages, summaries.
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Changed => "changed",
            Kind::Removed => "removed",
            Kind::Other => "other",
        }
    }
}

/// Counts and time of the run, visible as `run`.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub time: DateTime<Utc>,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub total: usize,
}

/// E-mail/username → username, filled in one batch before rendering.
#[derive(Debug, Clone, Default)]
pub struct UserCache {
    map: HashMap<String, String>,
}

impl UserCache {
    pub fn insert(&mut self, key: &str, username: &str) {
        self.map.insert(key.to_lowercase(), username.to_string());
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(&key.to_lowercase()).map(String::as_str)
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// What every rendering of one run shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub sync: String,
    sync_value: Value,
    run_value: Value,
    has: LaxObject,
    pub users: Arc<UserCache>,
    pub max_output: usize,
}

impl Context {
    pub fn new(sync: &str, mode: &str, run: &RunInfo, columns: &[String]) -> Self {
        let mut s = Object::new();
        s.insert("name".into(), Value::scalar(sync.to_string()));
        s.insert("mode".into(), Value::scalar(mode.to_string()));
        let mut r = Object::new();
        r.insert(
            "time".into(),
            Value::scalar(run.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        r.insert(
            "date".into(),
            Value::scalar(run.time.format("%Y-%m-%d").to_string()),
        );
        for (k, v) in [
            ("added", run.added),
            ("changed", run.changed),
            ("removed", run.removed),
            ("total", run.total),
        ] {
            r.insert(k.into(), Value::scalar(v as i64));
        }
        let mut has = Object::new();
        for c in columns {
            has.insert(c.clone().into(), Value::scalar(true));
        }
        Context {
            sync: sync.to_string(),
            sync_value: Value::Object(s),
            run_value: Value::Object(r),
            has: LaxObject(has),
            users: Arc::new(UserCache::default()),
            max_output: MAX_OUTPUT_BYTES,
        }
    }
}

/// The per-message variables.
#[derive(Debug, Default)]
pub struct Vars<'a> {
    pub row: Option<&'a LaxObject>,
    pub previous: Option<&'a LaxObject>,
    /// Names of the changed columns.
    pub changed: Vec<String>,
    pub kind: Option<Kind>,
    /// Extra globals (`rows`, `batch`).
    pub extra: Option<&'a Object>,
}

/// The globals one rendering sees.
#[derive(Debug)]
struct Globals<'a> {
    cx: &'a Context,
    row: &'a LaxObject,
    previous: &'a LaxObject,
    changed: Value,
    kind: Value,
    extra: Option<&'a Object>,
}

const FIXED: &[&str] = &["row", "previous", "changed", "kind", "sync", "run"];

impl<'a> Globals<'a> {
    fn fixed(&self, name: &str) -> Option<&dyn ValueView> {
        Some(match name {
            "row" => self.row,
            "previous" => self.previous,
            "changed" => &self.changed,
            "kind" => &self.kind,
            "sync" => &self.cx.sync_value,
            "run" => &self.cx.run_value,
            "__ds_has" => &self.cx.has,
            _ => return None,
        })
    }
}

impl ValueView for Globals<'_> {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Borrowed(&"")
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Borrowed(&"")
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        matches!(state, State::Truthy)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_static("")
    }
    fn to_value(&self) -> Value {
        let mut o = Object::new();
        for k in FIXED {
            if let Some(v) = self.fixed(k) {
                o.insert((*k).into(), v.to_value());
            }
        }
        Value::Object(o)
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for Globals<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        FIXED.len() as i64
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        Box::new(FIXED.iter().map(|k| KStringCow::from_static(k)))
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(FIXED.iter().filter_map(|k| self.fixed(k)))
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        Box::new(
            FIXED
                .iter()
                .filter_map(|k| self.fixed(k).map(|v| (KStringCow::from_static(k), v))),
        )
    }
    fn contains_key(&self, _index: &str) -> bool {
        // Lax: every name exists; unknown ones are nil (output tags were rewritten to show
        // unknown bare names as written, so this only affects tags like `{% if x %}`).
        true
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        if let Some(v) = self.fixed(index) {
            return Some(v);
        }
        if let Some(v) = self.extra.and_then(|e| e.get(index)) {
            return Some(v);
        }
        self.row
            .0
            .get(index)
            .map(|v| v as &dyn ValueView)
            .or(Some(&NIL))
    }
}

// ---------------------------------------------------------------------------------------
// Rendering.

/// How `mattermost_user_lookup` behaves during one render.
enum LookupMode {
    Off,
    Collect(BTreeSet<String>),
    Resolve(Arc<UserCache>),
}

thread_local! {
    static LOOKUP: RefCell<LookupMode> = const { RefCell::new(LookupMode::Off) };
}

/// Sets the lookup mode for the duration of a closure, restoring it afterwards.
fn with_lookup<T>(mode: LookupMode, f: impl FnOnce() -> T) -> (T, LookupMode) {
    let old = LOOKUP.with(|l| std::mem::replace(&mut *l.borrow_mut(), mode));
    let out = f();
    let mode = LOOKUP.with(|l| std::mem::replace(&mut *l.borrow_mut(), old));
    (out, mode)
}

/// A writer that refuses to grow past a limit.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
    overflow: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.overflow = true;
            return Err(std::io::Error::other("output limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn render_raw(
    t: &Template,
    cx: &Context,
    vars: &Vars<'_>,
    field: &str,
) -> Result<String, RenderError> {
    let globals = Globals {
        cx,
        row: vars.row.unwrap_or(&EMPTY),
        previous: vars.previous.unwrap_or(&EMPTY),
        changed: Value::Array(
            vars.changed
                .iter()
                .map(|c| Value::scalar(c.clone()))
                .collect(),
        ),
        kind: Value::scalar(vars.kind.unwrap_or(Kind::Other).as_str()),
        extra: vars.extra,
    };
    let mut out = Capped {
        buf: Vec::with_capacity(256),
        limit: cx.max_output,
        overflow: false,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.compiled.render_to(&mut out, &globals)
    }));
    let Ok(result) = result else {
        return Err(RenderError::Liquid {
            sync: cx.sync.clone(),
            field: field.to_string(),
            message: "the template engine failed on this row (internal error)".to_string(),
        });
    };
    match result {
        Ok(()) => Ok(String::from_utf8_lossy(&out.buf).into_owned()),
        Err(_) if out.overflow => Err(RenderError::TooLarge {
            sync: cx.sync.clone(),
            field: field.to_string(),
            limit: cx.max_output,
        }),
        Err(e) => Err(RenderError::Liquid {
            sync: cx.sync.clone(),
            field: field.to_string(),
            message: first_line(&e.to_string()),
        }),
    }
}

/// Renders a template; `<@name>` mentions become `@name`.
pub fn render(
    t: &Template,
    cx: &Context,
    vars: &Vars<'_>,
    field: &str,
) -> Result<String, RenderError> {
    let out = if t.uses_lookup {
        with_lookup(LookupMode::Resolve(cx.users.clone()), || {
            render_raw(t, cx, vars, field)
        })
        .0?
    } else {
        render_raw(t, cx, vars, field)?
    };
    Ok(convert_mentions(&out))
}

/// Renders a template only to learn which values pass through `mattermost_user_lookup`.
pub fn collect_lookups(t: &Template, cx: &Context, vars: &Vars<'_>, into: &mut BTreeSet<String>) {
    if !t.uses_lookup {
        return;
    }
    let (_, mode) = with_lookup(LookupMode::Collect(BTreeSet::new()), || {
        render_raw(t, cx, vars, "")
    });
    if let LookupMode::Collect(found) = mode {
        into.extend(found);
    }
}

/// Slack-style `<@name>` (as Hightouch writes mentions) → Mattermost `@name`.
pub fn convert_mentions(s: &str) -> String {
    if !s.contains("<@") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("<@") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('>');
        let name = end.map(|e| &after[..e]).filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c))
        });
        match (name, end) {
            (Some(n), Some(e)) => {
                let n = n.trim_start_matches('@');
                if n.contains('@') {
                    // An e-mail the lookup could not resolve: show it, not a broken mention.
                    out.push_str(n);
                } else {
                    out.push('@');
                    out.push_str(n);
                }
                rest = &after[e + 1..];
            }
            _ => {
                out.push_str("<@");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// Filters.

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "mattermost_user_lookup",
    description = "E-mail address or username → @username (looked up before rendering).",
    parsed(UserLookupFilter)
)]
pub struct UserLookup;

#[derive(Debug, Default, Display_filter)]
#[name = "mattermost_user_lookup"]
struct UserLookupFilter;

impl Filter for UserLookupFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> LiquidResult<Value> {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let key = input.to_kstr().trim().trim_start_matches('@').to_string();
        LOOKUP.with(|l| match &mut *l.borrow_mut() {
            LookupMode::Collect(set) => {
                if !key.is_empty() {
                    set.insert(key.clone());
                }
                Ok(Value::scalar(key))
            }
            LookupMode::Resolve(users) => Ok(Value::scalar(match users.get(&key) {
                Some(u) => format!("@{u}"),
                None => key,
            })),
            LookupMode::Off => Ok(Value::scalar(key)),
        })
    }
}

#[derive(Debug, FilterParameters)]
struct DateTzArgs {
    #[parameter(description = "strftime format.", arg_type = "str")]
    format: Expression,
    #[parameter(
        description = "IANA time zone, e.g. Europe/Berlin (default UTC).",
        arg_type = "str"
    )]
    zone: Option<Expression>,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "date_tz",
    description = "Formats a timestamp in an IANA time zone.",
    parameters(DateTzArgs),
    parsed(DateTzFilter)
)]
pub struct DateTz;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "date_tz"]
struct DateTzFilter {
    #[parameters]
    args: DateTzArgs,
}

impl Filter for DateTzFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        let args = self.args.evaluate(runtime)?;
        let zone: Tz = match &args.zone {
            Some(z) => z
                .parse()
                .map_err(|_| LiquidError::with_msg(format!("date_tz: unknown time zone {z:?}")))?,
            None => Tz::UTC,
        };
        let Some(t) = parse_time(input) else {
            return Ok(input.to_value());
        };
        let mut s = String::new();
        use std::fmt::Write as _;
        write!(s, "{}", t.with_timezone(&zone).format(&args.format))
            .map_err(|_| LiquidError::with_msg(format!("date_tz: bad format {:?}", args.format)))?;
        Ok(Value::scalar(s))
    }
}

/// Reads ISO-8601 timestamps (zoned or naive = UTC), dates, and Unix seconds.
fn parse_time(input: &dyn ValueView) -> Option<DateTime<Utc>> {
    let scalar = input.as_scalar()?;
    if let Some(i) = scalar.to_integer().filter(|_| !is_text(&scalar)) {
        return Utc.timestamp_opt(i, 0).single();
    }
    let s = scalar.to_kstr();
    let s = s.trim();
    if s == "now" {
        return Some(Utc::now());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn is_text(s: &ScalarCow<'_>) -> bool {
    s.type_name() == "string"
}

#[derive(Debug, FilterParameters)]
struct DelimiterArgs {
    #[parameter(description = "Thousands separator (default \",\").", arg_type = "str")]
    delimiter: Option<Expression>,
    #[parameter(description = "Decimal separator (default \".\").", arg_type = "str")]
    separator: Option<Expression>,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "number_with_delimiter",
    description = "1234567.5 → 1,234,567.5",
    parameters(DelimiterArgs),
    parsed(DelimiterFilter)
)]
pub struct NumberWithDelimiter;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "number_with_delimiter"]
struct DelimiterFilter {
    #[parameters]
    args: DelimiterArgs,
}

impl Filter for DelimiterFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        let args = self.args.evaluate(runtime)?;
        let text = input.to_kstr().to_string();
        let delim = args.delimiter.as_deref().unwrap_or(",");
        let sep = args.separator.as_deref().unwrap_or(".");
        Ok(match split_number(&text) {
            Some((sign, int, frac)) => {
                let mut out = String::from(sign);
                out.push_str(&group(int, delim));
                if let Some(f) = frac {
                    out.push_str(sep);
                    out.push_str(f);
                }
                Value::scalar(out)
            }
            None => input.to_value(),
        })
    }
}

/// `-1234.50` → ("-", "1234", Some("50")); None if it is not a plain decimal number.
fn split_number(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && frac.is_none_or(digits)).then_some((sign, int, frac))
}

fn group(int: &str, delim: &str) -> String {
    let mut out = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push_str(delim);
        }
        out.push(c);
    }
    out
}

#[derive(Debug, FilterParameters)]
struct DecimalsArgs {
    #[parameter(description = "Digits after the decimal point.", arg_type = "integer")]
    places: Expression,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "decimals",
    description = "Fixed number of decimals: 3.14159 | decimals: 2 → 3.14",
    parameters(DecimalsArgs),
    parsed(DecimalsFilter)
)]
pub struct Decimals;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "decimals"]
struct DecimalsFilter {
    #[parameters]
    args: DecimalsArgs,
}

impl Filter for DecimalsFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> LiquidResult<Value> {
        let args = self.args.evaluate(runtime)?;
        let places = usize::try_from(args.places.clamp(0, 12)).unwrap_or(0);
        let text = input.to_kstr().to_string();
        let Some((sign, int, frac)) = split_number(&text) else {
            return Ok(input.to_value());
        };
        let frac = frac.unwrap_or("");
        if frac.len() <= places {
            // Exact: pad, never round through a float.
            let mut out = format!("{sign}{int}");
            if places > 0 {
                out.push('.');
                out.push_str(frac);
                out.extend(std::iter::repeat_n('0', places - frac.len()));
            }
            return Ok(Value::scalar(out));
        }
        let f: f64 = text
            .trim()
            .parse()
            .map_err(|_| LiquidError::with_msg("decimals: not a number"))?;
        Ok(Value::scalar(format!("{f:.places$}")))
    }
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "sum",
    description = "Sum of an array of numbers (Shopify's `sum`, missing from liquid-rust).",
    parsed(SumFilter)
)]
pub struct Sum;

#[derive(Debug, Default, Display_filter)]
#[name = "sum"]
struct SumFilter;

impl Filter for SumFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> LiquidResult<Value> {
        let Some(arr) = input.as_array() else {
            return Err(LiquidError::with_msg("sum: input is not an array"));
        };
        let (mut int, mut float, mut is_float) = (0i64, 0f64, false);
        for v in arr.values() {
            let Some(s) = v.as_scalar() else { continue };
            match (s.to_integer(), s.to_float()) {
                (Some(i), _) if !is_float => match int.checked_add(i) {
                    Some(n) => int = n,
                    None => {
                        is_float = true;
                        float = int as f64 + i as f64;
                    }
                },
                (_, Some(f)) => {
                    if !is_float {
                        is_float = true;
                        float = int as f64;
                    }
                    float += f;
                }
                _ => {}
            }
        }
        Ok(if is_float {
            Value::scalar(float)
        } else {
            Value::scalar(int)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context {
        Context::new("s", "changes", &RunInfo::default(), &["name".to_string()])
    }

    #[test]
    fn rewrite_keeps_unknown_bare_names() {
        let t = compile("Hi {{ name }} {{unknown}} {{ row.x }}!").unwrap();
        let row = LaxObject::from_row(&["name".into()], &[Cell::Text("Ann".into())]);
        let v = Vars {
            row: Some(&row),
            ..Vars::default()
        };
        assert_eq!(render(&t, &cx(), &v, "t").unwrap(), "Hi Ann {{unknown}} !");
    }

    #[test]
    fn odd_sources_never_panic() {
        // Silence the expected panic messages from inside liquid.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let pieces = [
            "{{",
            "}}",
            "{%",
            "%}",
            "{%}",
            "{% raw %}",
            "{% endraw %}",
            "{% comment %}",
            "x",
            "é",
            "-",
            "name",
            " ",
            "|",
            "\"",
            "row.",
            "[",
            "'",
        ];
        // Every sequence of up to three pieces: compile may fail, but must not panic.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let _ = compile(&format!("{a}{b}{c}"));
                }
            }
        }
        std::panic::set_hook(hook);
    }

    #[test]
    fn mentions() {
        assert_eq!(
            convert_mentions("hi <@bob> and <@@ann>"),
            "hi @bob and @ann"
        );
        assert_eq!(convert_mentions("<@a@b.com> <@ x>"), "a@b.com <@ x>");
    }

    #[test]
    fn numbers() {
        assert_eq!(group("1234567", ","), "1,234,567");
        assert_eq!(split_number("-12.5"), Some(("-", "12", Some("5"))));
        assert_eq!(split_number("1e5"), None);
    }
}
