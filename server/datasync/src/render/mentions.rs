//! Mentions: only the template author makes them.
//!
//! Mattermost's server (`StandardMentionParser.ProcessText`) splits a message into words at
//! every character that is not a letter, a number or one of `: . - _ @`, trims leading
//! `: . - _`, splits again at `. - :`, and treats a word `@here`, `@channel`, `@all` as a
//! channel-wide mention and any other `@name` as a user or group mention. A WORD JOINER
//! (U+2060, invisible, not a letter) right after the `@` therefore ends the word there:
//! `@⁠all` shows as `@all` and pings nobody, and the webapp's highlighter does not match it
//! either.
//!
//! Every value a template prints goes through `__ds_out` (the compiler appends it to every
//! `{{ … }}`), which neutralises its `@`s and wraps it in private-use markers, so that after
//! rendering [`finish`] knows which text the author wrote and which came from data:
//! - `<@name>` (Slack's syntax) becomes `@name` only when `<@`, `name` and `>` are template
//!   text, or `name` is a user `mattermost_user_lookup` resolved; around data it becomes the
//!   data as plain text (an unknown `ghost` stays `ghost`).
//! - A template `@` directly before data (`@{{ row.user }}`) is neutralised too.
//! - `mattermost_user_lookup` marks the users it resolved with a per-rendering nonce, so
//!   data cannot forge a resolved mention.

use std::collections::VecDeque;
use std::fmt::Write as _;

/// Invisible, not a letter: ends a mention word for Mattermost's parser.
pub const JOINER: char = '\u{2060}';

pub(crate) const DATA_OPEN: char = '\u{E000}';
pub(crate) const DATA_CLOSE: char = '\u{E001}';
pub(crate) const MENTION_OPEN: char = '\u{E002}';
pub(crate) const MENTION_CLOSE: char = '\u{E003}';

fn is_marker(c: char) -> bool {
    matches!(c, DATA_OPEN | DATA_CLOSE | MENTION_OPEN | MENTION_CLOSE)
}

/// The byte offset of the first marker in `s` (markers are U+E000..U+E003, UTF-8
/// `EE 80 80`..`EE 80 83`; a byte search is much cheaper than decoding characters).
fn find_marker(s: &str) -> Option<usize> {
    find_marker_byte(s, 0x80..=0x83)
}

/// The first `EE 80 xx` with `xx` in `last` (0x82..=0x83: only the mention markers).
fn find_marker_byte(s: &str, last: std::ops::RangeInclusive<u8>) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|x| *x == 0xEE) {
        let at = from + i;
        if b.get(at + 1) == Some(&0x80) && b.get(at + 2).is_some_and(|x| last.contains(x)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn has_marker(s: &str) -> bool {
    find_marker(s).is_some()
}

/// Replaces our marker characters in template source (they would confuse [`finish`]).
pub(crate) fn clean_source(s: &str) -> String {
    s.chars()
        .map(|c| if is_marker(c) { '\u{FFFD}' } else { c })
        .collect()
}

/// Makes text that came from data unable to mention anyone: every `@` that could start a
/// mention (not preceded by a letter or digit, as in `ann@example.com`) is followed by a
/// WORD JOINER. Idempotent.
pub fn neutralise(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    neutralise_into(s, &mut out);
    out
}

fn neutralise_into(s: &str, out: &mut String) {
    if !s.contains('@') {
        out.push_str(s);
        return;
    }
    let mut prev: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' && !prev.is_some_and(char::is_alphanumeric) && chars.peek() != Some(&JOINER) {
            out.push(JOINER);
        }
        prev = Some(c);
    }
}

/// The text a resolved mention is carried as until [`finish`].
pub(crate) fn mention_token(nonce: u64, username: &str) -> String {
    let mut s = String::with_capacity(username.len() + 24);
    s.push(MENTION_OPEN);
    let _ = write!(s, "{nonce}:");
    s.push_str(username);
    s.push(MENTION_CLOSE);
    s
}

/// `__ds_out`'s job: a printed value as neutralised data between markers. Stray markers in
/// the value (forged by data, or from a capture's earlier output) are dropped, except
/// resolved mentions.
pub(crate) fn wrap_data(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    out.push(DATA_OPEN);
    if !has_marker(value) {
        neutralise_into(value, &mut out);
        out.push(DATA_CLOSE);
        return out;
    }
    let mut rest = value;
    while !rest.is_empty() {
        match rest.find(MENTION_OPEN) {
            Some(i) => {
                neutralise_into(&strip_markers(&rest[..i]), &mut out);
                let after = &rest[i + MENTION_OPEN.len_utf8()..];
                match after.find(MENTION_CLOSE) {
                    Some(e) if !after[..e].contains(is_marker) => {
                        out.push(MENTION_OPEN);
                        out.push_str(&after[..e]);
                        out.push(MENTION_CLOSE);
                        rest = &after[e + MENTION_CLOSE.len_utf8()..];
                    }
                    _ => rest = after,
                }
            }
            None => {
                neutralise_into(&strip_markers(rest), &mut out);
                rest = "";
            }
        }
    }
    out.push(DATA_CLOSE);
    out
}

fn strip_markers(s: &str) -> String {
    s.chars().filter(|c| !is_marker(*c)).collect()
}

/// Where a piece of the rendered text came from.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Template(String),
    Data(String),
    /// A user `mattermost_user_lookup` resolved (username without `@`).
    Mention(String),
}

fn pieces(raw: &str, nonce: u64) -> Vec<Piece> {
    let prefix = format!("{nonce}:");
    let mut out = Vec::new();
    let mut in_data = false;
    let mut rest = raw;
    while let Some(i) = find_marker(rest) {
        push_text(&mut out, in_data, &rest[..i]);
        let marker = rest[i..].chars().next().unwrap_or(DATA_CLOSE);
        let after = &rest[i + marker.len_utf8()..];
        rest = after;
        match marker {
            DATA_OPEN => in_data = true,
            DATA_CLOSE => in_data = false,
            MENTION_OPEN => {
                let Some(end) = after.find(MENTION_CLOSE) else {
                    continue;
                };
                let inner = &after[..end];
                match inner.strip_prefix(&prefix) {
                    Some(user) if !user.is_empty() && !user.contains(is_marker) => {
                        out.push(Piece::Mention(user.to_string()));
                    }
                    // Forged or damaged: keep the text, never as a mention.
                    _ => push_text(&mut out, in_data, &neutralise(&strip_markers(inner))),
                }
                rest = &after[end + MENTION_CLOSE.len_utf8()..];
            }
            _ => {}
        }
    }
    push_text(&mut out, in_data, rest);
    out
}

/// Appends text to the last piece when it is of the same origin, else as a new piece.
fn push_text(out: &mut Vec<Piece>, in_data: bool, text: &str) {
    if text.is_empty() {
        return;
    }
    match (in_data, out.last_mut()) {
        (true, Some(Piece::Data(d))) => d.push_str(text),
        (false, Some(Piece::Template(t))) => t.push_str(text),
        (true, _) => out.push(Piece::Data(text.to_string())),
        (false, _) => out.push(Piece::Template(text.to_string())),
    }
}

/// Turns a raw rendering into the message: Slack mentions converted where the author wrote
/// them, data neutralised, markers removed.
pub(crate) fn finish(raw: &str, nonce: u64) -> String {
    if !has_marker(raw) {
        return convert_mentions(raw);
    }
    if !raw.contains('@') && !raw.contains(MENTION_OPEN) {
        return strip_markers(raw);
    }
    if let Some(out) = finish_simple(raw) {
        return out;
    }
    finish_general(raw, nonce)
}

/// The common case in one pass: no resolved mentions, and `<@` before data only in the
/// simple shape `<@{{ value }}>`. `None` for anything else, which [`finish_general`]
/// handles (the two agree wherever this one answers; a unit test checks it).
fn finish_simple(raw: &str) -> Option<String> {
    if find_marker_byte(raw, 0x82..=0x83).is_some() {
        return None;
    }
    // Segments alternate: template, data, template, … (markers come in pairs).
    let mut segments: Vec<&str> = Vec::new();
    let mut rest = raw;
    while let Some(i) = find_marker(rest) {
        segments.push(&rest[..i]);
        rest = &rest[i + DATA_OPEN.len_utf8()..];
    }
    segments.push(rest);
    let mut out = String::with_capacity(raw.len());
    let mut drop_close = false;
    for (i, text) in segments.iter().enumerate() {
        if i % 2 == 1 {
            if text.is_empty() {
                return None;
            }
            if ends_with_mention_at(&out) && !text.starts_with(JOINER) {
                out.push(JOINER);
            }
            out.push_str(text);
            continue;
        }
        let mut t = *text;
        if drop_close {
            t = t.strip_prefix('>')?;
            drop_close = false;
        }
        if let Some(opener) = ["<@@", "<@"].into_iter().find(|o| t.ends_with(o))
            && let Some(data) = segments.get(i + 1)
        {
            let closes = segments.get(i + 2).is_some_and(|a| a.starts_with('>'));
            if data.is_empty() || !closes {
                return None;
            }
            t = &t[..t.len() - opener.len()];
            drop_close = true;
        }
        if t.contains("<@") {
            out.push_str(&convert_mentions(t));
        } else {
            out.push_str(t);
        }
    }
    Some(out)
}

fn finish_general(raw: &str, nonce: u64) -> String {
    let pieces = slack_mentions(pieces(raw, nonce));
    let mut out = String::with_capacity(raw.len());
    for p in pieces {
        match p {
            Piece::Template(t) if t.contains("<@") => out.push_str(&convert_mentions(&t)),
            Piece::Template(t) => out.push_str(&t),
            Piece::Data(d) => {
                // A template `@` right before data would make the data a mention.
                if ends_with_mention_at(&out) && !d.starts_with(JOINER) {
                    out.push(JOINER);
                }
                out.push_str(&d);
            }
            Piece::Mention(user) => {
                if !out.ends_with('@') {
                    out.push('@');
                }
                out.push_str(&user);
            }
        }
    }
    out
}

/// Whether `s` ends in an `@` that starts a word (not the `@` of `ann@…`).
fn ends_with_mention_at(s: &str) -> bool {
    let mut back = s.chars().rev();
    back.next() == Some('@') && !back.next().is_some_and(char::is_alphanumeric)
}

/// `<@…>` around anything that is not only template text: a resolved user becomes a
/// mention, data becomes plain data.
fn slack_mentions(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut queue: VecDeque<Piece> = pieces.into();
    let mut out: Vec<Piece> = Vec::with_capacity(queue.len());
    while let Some(piece) = queue.pop_front() {
        let Piece::Template(mut head) = piece else {
            out.push(piece);
            continue;
        };
        // Only a `<@` at the very end of a template piece can open a mixed mention.
        let opener = ["<@@", "<@"].into_iter().find(|o| head.ends_with(o));
        let (Some(opener), Some((n, at))) = (opener, closing(&queue)) else {
            out.push(Piece::Template(head));
            continue;
        };
        head.truncate(head.len() - opener.len());
        out.push(Piece::Template(head));
        let mut middle: Vec<Piece> = queue.drain(..n).collect();
        let Some(Piece::Template(close)) = queue.pop_front() else {
            continue;
        };
        if at > 0 {
            middle.push(Piece::Template(close[..at].to_string()));
        }
        let mentions = middle
            .iter()
            .filter(|p| matches!(p, Piece::Mention(_)))
            .count();
        if mentions == 1 && middle.iter().all(is_mention_or_blank) {
            out.extend(
                middle
                    .into_iter()
                    .filter(|p| matches!(p, Piece::Mention(_))),
            );
        } else {
            out.extend(middle.into_iter().map(|p| match p {
                Piece::Mention(u) => Piece::Data(u),
                other => other,
            }));
        }
        // What follows the `>` may open the next mention.
        queue.push_front(Piece::Template(close[at + 1..].to_string()));
    }
    out
}

fn is_mention_or_blank(p: &Piece) -> bool {
    match p {
        Piece::Mention(_) => true,
        Piece::Template(t) | Piece::Data(t) => t.trim_start_matches('@').trim().is_empty(),
    }
}

/// Finds the template `>` closing a `<@` whose name starts at the front of `pieces`: how
/// many whole pieces lie before the closing one, and the `>`'s offset in it. The name may
/// not contain spaces or `<`, which would mean this `<@` is not a mention.
fn closing(pieces: &VecDeque<Piece>) -> Option<(usize, usize)> {
    for (j, p) in pieces.iter().enumerate() {
        if let Piece::Template(t) = p {
            let end = t.find(['>', '<', ' ', '\n', '\t'])?;
            return t[end..].starts_with('>').then_some((j, end));
        }
    }
    None
}

/// Slack-style `<@name>` (as Hightouch writes mentions) → Mattermost `@name`, in text the
/// template author wrote.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralise_is_idempotent_and_keeps_emails() {
        let once = neutralise("@all x.@here ann@example.com @@bob");
        assert_eq!(neutralise(&once), once);
        assert!(once.contains("ann@example.com"));
        assert_eq!(once.matches(JOINER).count(), 4, "{once:?}");
    }

    #[test]
    fn forged_tokens_are_not_mentions() {
        let forged = format!("{}1:bob{}", MENTION_OPEN, MENTION_CLOSE);
        let raw = wrap_data(&forged);
        assert_eq!(finish(&raw, 2), "1:bob");
        let real = wrap_data(&mention_token(2, "bob"));
        assert_eq!(finish(&format!("<@{real}>"), 2), "@bob");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Wherever the one-pass version answers, it answers as the general one does.
        #[test]
        fn the_fast_path_agrees(parts in proptest::collection::vec(
            (proptest::prop_oneof![
                proptest::strategy::Just("<@".to_string()),
                proptest::strategy::Just("<@@".to_string()),
                proptest::strategy::Just(">".to_string()),
                proptest::strategy::Just("> ".to_string()),
                proptest::strategy::Just("@".to_string()),
                proptest::strategy::Just(" x".to_string()),
                proptest::strategy::Just("<@bob>".to_string()),
                proptest::strategy::Just(String::new()),
                "[a-z@<> .]{0,4}",
            ], proptest::bool::ANY),
            0..8,
        )) {
            let raw: String = parts
                .iter()
                .map(|(text, data)| if *data { wrap_data(text) } else { text.clone() })
                .collect();
            if let Some(fast) = finish_simple(&raw) {
                proptest::prop_assert_eq!(fast, finish_general(&raw, 0), "{:?}", raw);
            }
        }
    }

    #[test]
    fn slack_mentions_of_template_text() {
        assert_eq!(
            convert_mentions("hi <@bob> and <@@ann>"),
            "hi @bob and @ann"
        );
        assert_eq!(convert_mentions("<@a@b.com> <@ x>"), "a@b.com <@ x>");
    }
}
