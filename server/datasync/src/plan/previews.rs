//! `link_previews = false`: bare URLs in backticks, Markdown left intact.

/// Mattermost has no post prop that turns link previews off (`model/post.go` in
/// server/public v0.3.0 defines only `previewed_post`, for permalinks), so we do what
/// Hightouch documents for Mattermost: put bare URLs in backticks, which the server does not
/// unfurl. Markdown links `[text](url)` and `<url>` are left alone, and so is code: fenced
/// blocks and inline code spans are copied as they are.
pub fn suppress_previews(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut prose = String::new();
    let mut fence: Option<(char, usize)> = None;
    for line in s.split_inclusive('\n') {
        match fence {
            Some((ch, n)) => {
                out.push_str(line);
                if closes_fence(line, ch, n) {
                    fence = None;
                }
            }
            None => match opens_fence(line) {
                Some(f) => {
                    out.push_str(&suppress_inline(&std::mem::take(&mut prose)));
                    out.push_str(line);
                    fence = Some(f);
                }
                None => prose.push_str(line),
            },
        }
    }
    out.push_str(&suppress_inline(&prose));
    out
}

/// A fence line (up to three spaces, then three or more backticks or tildes): its character
/// and length.
pub(super) fn opens_fence(line: &str) -> Option<(char, usize)> {
    let t = strip_indent(line)?;
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|c| *c == ch).count();
    let info = &t[n..];
    (n >= 3 && !(ch == '`' && info.contains('`'))).then_some((ch, n))
}

pub(super) fn closes_fence(line: &str, ch: char, n: usize) -> bool {
    strip_indent(line).is_some_and(|t| {
        let run = t.chars().take_while(|c| *c == ch).count();
        run >= n && t[run..].trim().is_empty()
    })
}

pub(super) fn strip_indent(line: &str) -> Option<&str> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    (spaces <= 3).then(|| &line[spaces..])
}

/// Backticks bare URLs in text outside fenced code, skipping inline code spans.
pub(super) fn suppress_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with('`') {
            let n = rest.len() - rest.trim_start_matches('`').len();
            let span = code_span_len(rest, n).unwrap_or(n);
            out.push_str(&rest[..span]);
            i += span;
            continue;
        }
        if let Some(len) = bare_url_len(s, i) {
            out.push('`');
            out.push_str(&s[i..i + len]);
            out.push('`');
            i += len;
            continue;
        }
        let c = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..c]);
        i += c;
    }
    out
}

/// Length of an inline code span opened by `n` backticks at the start of `s`: up to the
/// next run of exactly `n` backticks.
pub(super) fn code_span_len(s: &str, n: usize) -> Option<usize> {
    let mut at = n;
    while let Some(k) = s[at..].find('`') {
        let start = at + k;
        let run = s[start..].len() - s[start..].trim_start_matches('`').len();
        if run == n {
            return Some(start + run);
        }
        at = start + run;
    }
    None
}

/// The length of a bare URL starting at byte `i` of `s`, if one does.
pub(super) fn bare_url_len(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let scheme = ["https://", "http://"].into_iter().find(|p| {
        rest.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })?;
    let before = &s[..i];
    let prev = before.chars().next_back();
    // Inside a word, a Markdown link target `](…)` or an autolink `<…>`: not bare.
    if prev.is_some_and(char::is_alphanumeric) || before.ends_with("](") || prev == Some('<') {
        return None;
    }
    let mut end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '`' | '"'))
        .unwrap_or(rest.len());
    let line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
    let emphasis = prev == Some('_') || opens_underscore_emphasis(line);
    // Trailing punctuation ends a sentence, not the URL; `)` and `]` only when unbalanced
    // (`https://en.wikipedia.org/wiki/Rust_(programming_language)` keeps its `)`); `_` only
    // when the URL is in `_emphasis_` (a URL may end with `_`).
    while end > scheme.len() {
        let url = &rest[..end];
        let last = url.chars().next_back().unwrap_or(' ');
        let trim = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '~' => true,
            '_' => emphasis,
            ')' => url.matches('(').count() < url.matches(')').count(),
            ']' => url.matches('[').count() < url.matches(']').count(),
            _ => false,
        };
        if !trim {
            break;
        }
        end -= last.len_utf8();
    }
    (end > scheme.len()).then_some(end)
}

/// Whether `line` has a `_` that opens emphasis (at a word start, before a non-space):
/// then a `_` right after a URL closes it rather than belonging to the URL.
pub(super) fn opens_underscore_emphasis(line: &str) -> bool {
    let mut prev: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_'
            && !prev.is_some_and(char::is_alphanumeric)
            && chars.peek().is_some_and(|n| !n.is_whitespace())
        {
            return true;
        }
        prev = Some(c);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_suppressed_for_bare_urls_only() {
        assert_eq!(
            suppress_previews("see https://x.io/a and [b](https://y.io) _https://z.io/c_."),
            "see `https://x.io/a` and [b](https://y.io) _`https://z.io/c`_."
        );
    }
}
