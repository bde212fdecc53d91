//! The pre-scan: what liquid does not do for us, done on the template source before it is
//! parsed.
//!
//! * Each output tag whose root is a *bare* name that is not one of our globals or a
//!   template-local variable (`{{ name }}`, `{{ email | upcase }}`) is wrapped as
//!   `{% if __ds_has["name"] %}…{% else %}{% raw %}…{% endraw %}{% endif %}`: at render
//!   time it shows the column when the result has one, or the tag exactly as written.
//! * Every output tag gets `| __ds_out` as its last filter, which marks what it prints as
//!   data (see [`super::mentions`]).
//! * `{% cycle %}` prints its values without an output tag, so it may only cycle literals.

use std::collections::BTreeSet;

/// Names the renderer provides; anything else bare is a column (or left as written).
const GLOBALS: &[&str] = &[
    "row", "previous", "changed", "kind", "sync", "run", "rows", "batch", "forloop", "__ds_has",
];
const KEYWORDS: &[&str] = &["true", "false", "nil", "null", "empty", "blank"];

pub(crate) struct Scan {
    pub rewritten: String,
    pub column_refs: Vec<String>,
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

/// Largest template source. liquid's parser recurses: a pasted template with thousands of
/// nested blocks or brackets would overflow the stack and abort the process.
pub(crate) const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Deepest nesting of blocks (`{% if %}` in `{% for %}` …) and of brackets in one tag.
pub(crate) const MAX_NESTING: usize = 32;

/// Checks what would make liquid's recursive parser overflow the stack.
fn check_shape(src: &str, pieces: &[Piece<'_>]) -> Result<(), String> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "the template is {} bytes long; the limit is {MAX_SOURCE_BYTES}",
            src.len()
        ));
    }
    let mut depth = 0usize;
    for p in pieces {
        let inner = match p {
            Piece::Tag(_, inner) | Piece::Output(_, inner) => *inner,
            _ => continue,
        };
        if bracket_depth(inner) > MAX_NESTING {
            return Err(format!(
                "brackets are nested more than {MAX_NESTING} deep in one tag"
            ));
        }
        let Piece::Tag(_, inner) = p else { continue };
        let word = inner.split_whitespace().next().unwrap_or("");
        if matches!(
            word,
            "if" | "unless" | "for" | "case" | "capture" | "ifchanged" | "tablerow"
        ) {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(format!("blocks are nested more than {MAX_NESTING} deep"));
            }
        } else if word.starts_with("end") {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

/// The deepest nesting of `(` and `[` outside quoted strings.
fn bracket_depth(s: &str) -> usize {
    let (mut depth, mut max, mut quote) = (0usize, 0usize, None);
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[') => {
                depth += 1;
                max = max.max(depth);
            }
            (None, ')' | ']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

pub(crate) fn scan(src: &str) -> Result<Scan, String> {
    let pieces = pieces(src);
    check_shape(src, &pieces)?;
    let locals = locals(&pieces);
    let mut rewritten = String::with_capacity(src.len() + 64);
    let mut refs = BTreeSet::new();
    collect_row_refs(src, &mut refs);
    for p in &pieces {
        match p {
            Piece::Text(t) | Piece::Verbatim(t) => rewritten.push_str(t),
            Piece::Tag(t, inner) => {
                check_tag(inner)?;
                rewritten.push_str(t);
            }
            Piece::Output(whole, inner) => {
                let root = ident_at(inner).filter(|r| {
                    !GLOBALS.contains(r) && !KEYWORDS.contains(r) && !locals.contains(*r)
                });
                // `default` exists to handle missing values: let it see nil.
                let has_default = inner
                    .split('|')
                    .skip(1)
                    .any(|f| f.trim().starts_with("default"));
                let marked = mark_output(whole, inner);
                match root {
                    Some(root) if !whole.contains("endraw") && !has_default => {
                        refs.insert(root.to_string());
                        rewritten.push_str(&format!(
                            "{{% if __ds_has[\"{root}\"] %}}{marked}{{% else %}}{{% raw %}}{whole}{{% endraw %}}{{% endif %}}"
                        ));
                    }
                    Some(root) => {
                        refs.insert(root.to_string());
                        rewritten.push_str(&marked);
                    }
                    None => rewritten.push_str(&marked),
                }
            }
        }
    }
    Ok(Scan {
        rewritten,
        column_refs: refs.into_iter().collect(),
    })
}

/// `{{ x | upcase -}}` → `{{ x | upcase | __ds_out -}}`.
fn mark_output(whole: &str, inner: &str) -> String {
    if inner.is_empty() {
        return whole.to_string();
    }
    let body = &whole[..whole.len() - 2];
    let (body, dash) = match body.strip_suffix('-') {
        Some(b) => (b, "-"),
        None => (body, ""),
    };
    format!("{} | __ds_out {dash}}}}}", body.trim_end())
}

/// Tags that would print data without an output tag.
fn check_tag(inner: &str) -> Result<(), String> {
    let mut words = inner.splitn(2, char::is_whitespace);
    let (tag, args) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    match tag {
        "cycle" if !literals_only(args) => {
            Err("{% cycle %} takes only literal values (print data with {{ … }})".to_string())
        }
        "tablerow" | "include" | "render" => Err(format!(
            "{{% {tag} %}} is not supported in Data Sync templates"
        )),
        _ => Ok(()),
    }
}

/// Whether a tag's arguments are only quoted strings, numbers, commas and colons.
fn literals_only(args: &str) -> bool {
    let mut rest = args;
    while let Some(c) = rest.chars().next() {
        if c == '"' || c == '\'' {
            let Some(end) = rest[1..].find(c) else {
                return false;
            };
            rest = &rest[end + 2..];
        } else if c.is_whitespace() || c.is_ascii_digit() || ",:.-".contains(c) {
            rest = &rest[c.len_utf8()..];
        } else {
            return false;
        }
    }
    true
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
