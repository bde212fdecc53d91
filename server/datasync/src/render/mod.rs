//! Rendering: Liquid templates over rows, compiled once, rendered many times.
//!
//! - [`scan`]: the pre-scan that makes templates lax the way users expect (an unknown
//!   `{{field}}` is left as written, as Zeotap does) and marks every printed value.
//! - [`values`]: cells as Liquid values; lax row objects; JSON cells printed as JSON.
//! - [`filters`]: our filters and the per-rendering state they read.
//! - [`blocks`] and [`limits`]: bounded `for` and `capture`, and the budgets they charge.
//! - [`mentions`]: only the template author makes mentions; data never pings anyone.
//! - [`numbers`]: decimal text formatted exactly.
//!
//! At render time the globals and row objects are lax views that answer `nil` for missing
//! keys, so `{{ row.missing }}` and `{% if missing %}` render empty instead of failing.
//!
//! `mattermost_user_lookup` does no I/O: templates that use it are rendered once in
//! *collect* mode to learn the e-mails/usernames, the run resolves them in one batch
//! through the port, and the real rendering reads that cache.

mod blocks;
mod filters;
mod limits;
mod mentions;
mod numbers;
mod scan;
mod values;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use liquid::model::{KStringCow, Object, Value};
use liquid_core::model::{DisplayCow, ObjectView, State, ValueView};
use liquid_core::{Language, ParseFilter, Renderable};
use liquid_lib::stdlib;

use filters::{Bounded, ClockDate, LookupMode, RenderState};
pub use limits::{Limits, MAX_OUTPUT_BYTES, RunBudget, RunLimits};
pub use mentions::{convert_mentions, neutralise};
pub use values::{LaxObject, cell_text, cell_value};

/// A compiled template.
#[derive(Clone)]
pub struct Template {
    source: Arc<str>,
    compiled: Arc<liquid_core::Template>,
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
    /// A loop, time or memory budget ran out.
    #[error("sync {sync:?}, template {field}: {message}")]
    Limit {
        sync: String,
        field: String,
        message: String,
    },
    #[error("sync {sync:?}, template {field}: {message}")]
    Liquid {
        sync: String,
        field: String,
        message: String,
    },
}

/// The tags, blocks and filters templates may use: liquid's standard library without
/// `tablerow` (HTML), `include` and `render` (no partials), with our bounded `for` and
/// `capture`, every filter bounded, and `date` reading the run's clock.
static LANGUAGE: LazyLock<Language> = LazyLock::new(|| {
    let mut l = Language::empty();
    for (name, tag) in [
        ("assign", stdlib::AssignTag.into()),
        ("break", stdlib::BreakTag.into()),
        ("continue", stdlib::ContinueTag.into()),
        ("cycle", stdlib::CycleTag.into()),
        ("increment", stdlib::IncrementTag.into()),
        ("decrement", stdlib::DecrementTag.into()),
    ] as [(&str, Box<dyn liquid_core::ParseTag>); 6]
    {
        l.tags.register(name.to_string(), tag);
    }
    let blocks: [(&str, Box<dyn liquid_core::ParseBlock>); 8] = [
        ("raw", stdlib::RawBlock.into()),
        ("if", stdlib::IfBlock.into()),
        ("unless", stdlib::UnlessBlock.into()),
        ("ifchanged", stdlib::IfChangedBlock.into()),
        ("for", blocks::BoundedFor.into()),
        ("comment", stdlib::CommentBlock.into()),
        ("capture", blocks::BoundedCapture.into()),
        ("case", stdlib::CaseBlock.into()),
    ];
    for (name, block) in blocks {
        l.blocks.register(name.to_string(), block);
    }
    let filters: Vec<Box<dyn ParseFilter>> = vec![
        stdlib::Abs.into(),
        stdlib::Append.into(),
        stdlib::AtLeast.into(),
        stdlib::AtMost.into(),
        stdlib::Capitalize.into(),
        stdlib::Ceil.into(),
        stdlib::Compact.into(),
        stdlib::Concat.into(),
        Box::new(ClockDate(stdlib::Date.into())),
        stdlib::Default.into(),
        stdlib::DividedBy.into(),
        stdlib::Downcase.into(),
        stdlib::Escape.into(),
        stdlib::EscapeOnce.into(),
        stdlib::First.into(),
        stdlib::Floor.into(),
        stdlib::Join.into(),
        stdlib::Last.into(),
        stdlib::Lstrip.into(),
        stdlib::Map.into(),
        stdlib::Minus.into(),
        stdlib::Modulo.into(),
        stdlib::NewlineToBr.into(),
        stdlib::Plus.into(),
        stdlib::Prepend.into(),
        stdlib::Remove.into(),
        stdlib::RemoveFirst.into(),
        stdlib::Replace.into(),
        stdlib::ReplaceFirst.into(),
        stdlib::Reverse.into(),
        stdlib::Round.into(),
        stdlib::Rstrip.into(),
        stdlib::Size.into(),
        stdlib::Slice.into(),
        stdlib::Sort.into(),
        stdlib::SortNatural.into(),
        stdlib::Split.into(),
        stdlib::Strip.into(),
        stdlib::StripHtml.into(),
        stdlib::StripNewlines.into(),
        stdlib::Times.into(),
        stdlib::Truncate.into(),
        stdlib::TruncateWords.into(),
        stdlib::Uniq.into(),
        stdlib::Upcase.into(),
        stdlib::UrlDecode.into(),
        stdlib::UrlEncode.into(),
        stdlib::Where.into(),
        filters::UserLookup.into(),
        filters::DateTz.into(),
        filters::NumberWithDelimiter.into(),
        filters::Decimals.into(),
        filters::Sum.into(),
        filters::Out.into(),
    ];
    for f in filters {
        let name = f.reflection().name().to_string();
        l.filters.register(name, Box::new(Bounded(f)));
    }
    l
});

/// Compiles a template (once, at configuration time).
pub fn compile(source: &str) -> Result<Template, String> {
    let source = mentions::clean_source(source);
    let scan = scan::scan(&source)?;
    blocks::reset_nesting();
    // liquid-core 0.26 panics on a few malformed inputs (e.g. an unclosed `{% raw %}` in
    // some positions: "File shouldn't end before EOI"); a typo must not take the plugin down.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        liquid_core::parser::parse(&scan.rewritten, &LANGUAGE)
    }))
    .map_err(|_| {
        "the template could not be parsed (is a {% raw %} or {% comment %} block unclosed?)"
            .to_string()
    })?;
    let compiled = parsed.map_err(|e| first_line(&e.to_string()))?;
    Ok(Template {
        uses_lookup: source.contains("mattermost_user_lookup"),
        source: source.into(),
        compiled: Arc::new(liquid_core::Template::new(compiled)),
        column_refs: scan.column_refs,
    })
}

/// liquid's message on one line, without our rewrites (`__ds_out`, `__ds_has`), which the
/// author never wrote.
fn first_line(s: &str) -> String {
    let joined = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    hide_rewrites(&joined)
}

fn hide_rewrites(s: &str) -> String {
    let mut out = s.replace("__ds_out, ", "").replace(" | __ds_out", "");
    // `{% if __ds_has["x"] %}{{ x }}{% else %}{% raw %}{{ x }}{% endraw %}{% endif %}`
    // → `{{ x }}`.
    while let Some(start) = out.find("{% if __ds_has[") {
        let Some(open_end) = out[start..].find("%}").map(|e| start + e + 2) else {
            break;
        };
        out.replace_range(start..open_end, "");
        if let Some(a) = out[start..].find("{% else %}{% raw %}") {
            let a = start + a;
            if let Some(b) = out[a..].find("{% endraw %}{% endif %}") {
                out.replace_range(a..a + b + "{% endraw %}{% endif %}".len(), "");
            }
        }
    }
    out.replace("__ds_has", "columns")
}

/// Whether a rendering shows nothing (empty, or only whitespace and invisible characters):
/// such a message is not worth posting.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
            )
    })
}

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
    /// The run's time: what `run.time` and `"now"` (in `date_tz` and `date`) mean.
    now: DateTime<Utc>,
    pub users: Arc<UserCache>,
    /// Bounds of each rendering.
    pub limits: Limits,
    /// What is left of the run's rendering budget, shared by every rendering with this
    /// context (replace it to hand a run its own budget).
    pub budget: Arc<RunBudget>,
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
            has: LaxObject::from_object(has),
            now: run.time,
            users: Arc::new(UserCache::default()),
            limits: Limits::default(),
            budget: Arc::new(RunBudget::default()),
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
        match ObjectView::get(self.row, index) {
            Some(v) => Some(v),
            None => Some(values::nil()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering.

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

/// A number no template can predict, so data cannot forge a resolved mention.
fn fresh_nonce() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    SEED.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Renders with the lookup mode given; returns the raw output (with data markers) and the
/// state the filters left (the collected look-ups).
fn render_raw(
    t: &Template,
    cx: &Context,
    vars: &Vars<'_>,
    field: &str,
    lookup: LookupMode,
) -> (Result<(String, u64), RenderError>, RenderState) {
    let globals = Globals {
        cx,
        row: vars.row.unwrap_or(&values::EMPTY),
        previous: vars.previous.unwrap_or(&values::EMPTY),
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
        limit: cx.limits.max_output,
        overflow: false,
    };
    let nonce = fresh_nonce();
    let mut json_texts = HashMap::new();
    for o in [vars.row, vars.previous].into_iter().flatten() {
        o.json_texts(&mut json_texts);
    }
    let state = RenderState {
        lookup,
        now: cx.now,
        nonce,
        json_texts,
    };
    let ((result, exceeded), state) = filters::with_state(state, || {
        limits::with_budget(cx.limits, &cx.budget, || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let runtime = liquid_core::runtime::RuntimeBuilder::new()
                    .set_globals(&globals)
                    .build();
                t.compiled.render_to(&mut out, &runtime)
            }))
        })
    });
    let error = |message: String| RenderError::Liquid {
        sync: cx.sync.clone(),
        field: field.to_string(),
        message,
    };
    let result = match (result, exceeded) {
        (_, Some(message)) => Err(RenderError::Limit {
            sync: cx.sync.clone(),
            field: field.to_string(),
            message,
        }),
        (Err(_), None) => Err(error(
            "the template engine failed on this row (internal error)".to_string(),
        )),
        (Ok(Ok(())), None) => Ok((String::from_utf8_lossy(&out.buf).into_owned(), nonce)),
        (Ok(Err(_)), None) if out.overflow => Err(RenderError::TooLarge {
            sync: cx.sync.clone(),
            field: field.to_string(),
            limit: cx.limits.max_output,
        }),
        (Ok(Err(e)), None) => Err(error(first_line(&e.to_string()))),
    };
    (result, state)
}

/// Renders a template into message text: `<@name>` mentions the author wrote become
/// `@name`; nothing from data can mention anyone (see [`mentions`]).
pub fn render(
    t: &Template,
    cx: &Context,
    vars: &Vars<'_>,
    field: &str,
) -> Result<String, RenderError> {
    let lookup = if t.uses_lookup {
        LookupMode::Resolve(cx.users.clone())
    } else {
        LookupMode::Off
    };
    let (raw, nonce) = render_raw(t, cx, vars, field, lookup).0?;
    Ok(mentions::finish(&raw, nonce))
}

/// Renders a template only to learn which values pass through `mattermost_user_lookup`.
pub fn collect_lookups(t: &Template, cx: &Context, vars: &Vars<'_>, into: &mut BTreeSet<String>) {
    if !t.uses_lookup {
        return;
    }
    let (_, state) = render_raw(t, cx, vars, "", LookupMode::Collect(BTreeSet::new()));
    if let LookupMode::Collect(found) = state.lookup {
        into.extend(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Cell;

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
            "{% for i in (1..2) %}",
            "{% endfor %}",
            "{% capture c %}",
            "{% cycle ",
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
    fn blank_renders() {
        assert!(is_blank(""));
        assert!(is_blank(" \n\t\u{200B}\u{2060}"));
        assert!(!is_blank(" x "));
    }
}
