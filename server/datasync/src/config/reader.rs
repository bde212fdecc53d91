//! The spanned-TOML reader: walks toml's `DeTable` field by field, records every problem
//! with its owner, field and line, resolves `${env:NAME}` references and suggests the
//! nearest known field for a typo. It knows nothing of syncs; the readers of the document
//! (here and in `source/<kind>/config.rs`) are built on it. Crate-private: raw settings
//! never leave the configuration layer.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{ConfigError, EnvLookup};
use crate::render::{self, Template};
use crate::schedule;

/// Parsing context: the text (for lines), the env lookup and the errors so far.
pub(crate) struct Cx<'a> {
    line_starts: Vec<usize>,
    env: EnvLookup<'a>,
    pub(crate) errors: Vec<ConfigError>,
    /// Every `${env:NAME}` resolved so far, as `(NAME, value)`: [`Cx::scrub_errors`] puts
    /// the reference back wherever a message quotes the value (a schedule or mode taken
    /// from a secret is echoed by its own check).
    resolved: Vec<(String, String)>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(text: &str, env: EnvLookup<'a>) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Cx {
            line_starts,
            env,
            errors: Vec::new(),
            resolved: Vec::new(),
        }
    }

    /// Replaces every resolved `${env:NAME}` value quoted in an error message with its
    /// reference, longest value first. Values under 4 characters are left (they would
    /// match ordinary words; no secret is that short).
    pub(crate) fn scrub_errors(&mut self) {
        let mut values: Vec<(String, String)> = self
            .resolved
            .iter()
            .flat_map(|(name, v)| {
                let reference = format!("${{env:{name}}}");
                [
                    (v.clone(), reference.clone()),
                    (v.trim().to_string(), reference),
                ]
            })
            .filter(|(v, _)| v.chars().count() >= 4)
            .collect();
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        values.dedup_by(|a, b| a.0 == b.0);
        for e in &mut self.errors {
            for (value, reference) in &values {
                if e.message.contains(value.as_str()) {
                    e.message = e.message.replace(value.as_str(), reference);
                }
            }
        }
    }

    pub(crate) fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    pub(crate) fn error(
        &mut self,
        owner: &str,
        field: &str,
        span: Option<Range<usize>>,
        message: String,
    ) {
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
pub(crate) struct Str {
    pub(crate) value: String,
    pub(crate) shown: String,
    pub(crate) span: Range<usize>,
    pub(crate) from_env: bool,
}

impl Str {
    /// A value the configuration did not spell out (a default).
    pub(crate) fn plain(value: &str) -> Str {
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
pub(crate) struct Fields<'t, 'i> {
    pub(crate) table: &'t DeTable<'i>,
    pub(crate) owner: String,
    prefix: String,
    known: &'static [&'static str],
    pub(crate) span: Range<usize>,
}

pub(crate) type Item<'t, 'i> = &'t Spanned<DeValue<'i>>;

impl<'t, 'i> Fields<'t, 'i> {
    pub(crate) fn new(
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

    pub(crate) fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Item<'t, 'i>> {
        debug_assert!(self.known.contains(&name), "{name} missing from known");
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == name)
            .map(|(_, v)| v)
    }

    pub(crate) fn err(&self, cx: &mut Cx<'_>, name: &str, span: Option<Range<usize>>, msg: String) {
        let field = self.path(name);
        cx.error(&self.owner, &field, span, msg);
    }

    /// Reports every key that is not a known field, suggesting the closest known name.
    pub(crate) fn finish(&self, cx: &mut Cx<'_>) {
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

    pub(crate) fn string(&self, cx: &mut Cx<'_>, name: &str) -> Option<Str> {
        let item = self.get(name)?;
        self.as_string(cx, name, item)
    }

    pub(crate) fn as_string(&self, cx: &mut Cx<'_>, name: &str, item: Item<'_, '_>) -> Option<Str> {
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

    pub(crate) fn required_string(&self, cx: &mut Cx<'_>, name: &str) -> Option<Str> {
        if self.get(name).is_none() {
            self.err(cx, name, Some(self.span.clone()), "is required".to_string());
            return None;
        }
        self.string(cx, name)
    }

    pub(crate) fn bool(&self, cx: &mut Cx<'_>, name: &str, default: bool) -> bool {
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

    pub(crate) fn integer(&self, cx: &mut Cx<'_>, name: &str, range: Range<i64>) -> Option<i64> {
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
    pub(crate) fn choice<T: Copy>(&self, cx: &mut Cx<'_>, name: &str, options: &[(&str, T)]) -> T {
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
    pub(crate) fn duration(&self, cx: &mut Cx<'_>, name: &str, default: Duration) -> Duration {
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
    pub(crate) fn string_list(&self, cx: &mut Cx<'_>, name: &str) -> Option<Vec<Str>> {
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

    pub(crate) fn table(
        &self,
        cx: &mut Cx<'_>,
        name: &str,
    ) -> Option<(&'t DeTable<'i>, Range<usize>)> {
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

    pub(crate) fn sub(
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

    pub(crate) fn template(&self, cx: &mut Cx<'_>, name: &str) -> Option<Template> {
        let s = self.string(cx, name)?;
        compile_at(cx, self, name, &s)
    }
}

pub(crate) fn compile_at(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
    s: &Str,
) -> Option<Template> {
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
fn resolve_env(cx: &mut Cx<'_>, raw: &str, span: Range<usize>) -> Result<Str, String> {
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
        cx.resolved.push((name.to_string(), resolved));
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

/// Reads each entry of a table of named tables (`[syncs.<name>]`) in document order, as
/// [`Fields`] owned by `what "name"`; an entry that is not a table is reported instead.
pub(crate) fn each_table<'t, 'i>(
    cx: &mut Cx<'_>,
    table: &'t DeTable<'i>,
    what: &str,
    known: &'static [&'static str],
    mut read: impl FnMut(&mut Cx<'_>, &'t str, Fields<'t, 'i>),
) {
    for (name, item) in sorted(table) {
        let owner = format!("{what} {name:?}");
        let DeValue::Table(t) = item.get_ref() else {
            cx.error(
                &owner,
                "",
                Some(item.span()),
                "expected a table".to_string(),
            );
            continue;
        };
        read(cx, name, Fields::new(t, item.span(), owner, "", known));
    }
}

/// Table entries in document order (the map itself is sorted by key).
pub(crate) fn sorted<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t str, Item<'t, 'i>)> {
    let mut v: Vec<_> = table
        .iter()
        .map(|(k, v)| (k.get_ref().as_ref(), v))
        .collect();
    v.sort_by_key(|(_, v)| v.span().start);
    v
}
