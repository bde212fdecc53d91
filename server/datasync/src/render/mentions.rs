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
    if !s.contains('@') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' && !prev.is_some_and(char::is_alphanumeric) && chars.peek() != Some(&JOINER) {
            out.push(JOINER);
        }
        prev = Some(c);
    }
    out
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
    let mut rest = value;
    while !rest.is_empty() {
        match rest.find(MENTION_OPEN) {
            Some(i) => {
                out.push_str(&neutralise(&strip_markers(&rest[..i])));
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
                out.push_str(&neutralise(&strip_markers(rest)));
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
    let mut out = Vec::new();
    let mut template = String::new();
    let mut data = String::new();
    let mut in_data = false;
    let mut chars = raw.char_indices();
    let prefix = format!("{nonce}:");
    while let Some((i, c)) = chars.next() {
        match c {
            DATA_OPEN => {
                flush(&mut out, &mut template, Piece::Template);
                in_data = true;
            }
            DATA_CLOSE => {
                flush(&mut out, &mut data, Piece::Data);
                in_data = false;
            }
            MENTION_OPEN => {
                let after = &raw[i + c.len_utf8()..];
                let Some(end) = after.find(MENTION_CLOSE) else {
                    continue;
                };
                let inner = &after[..end];
                let buf = if in_data { &mut data } else { &mut template };
                match inner.strip_prefix(&prefix) {
                    Some(user) if !user.is_empty() && !user.contains(is_marker) => {
                        if in_data {
                            flush(&mut out, buf, Piece::Data);
                        } else {
                            flush(&mut out, buf, Piece::Template);
                        }
                        out.push(Piece::Mention(user.to_string()));
                    }
                    // Forged or damaged: keep the text, never as a mention.
                    _ => buf.push_str(&neutralise(&strip_markers(inner))),
                }
                // Skip the token's characters.
                let skip = inner.chars().count() + 1;
                for _ in 0..skip {
                    chars.next();
                }
            }
            MENTION_CLOSE => {}
            c if in_data => data.push(c),
            c => template.push(c),
        }
    }
    flush(&mut out, &mut template, Piece::Template);
    flush(&mut out, &mut data, Piece::Data);
    out
}

fn flush(out: &mut Vec<Piece>, buf: &mut String, make: fn(String) -> Piece) {
    if !buf.is_empty() {
        out.push(make(std::mem::take(buf)));
    }
}

/// Turns a raw rendering into the message: Slack mentions converted where the author wrote
/// them, data neutralised, markers removed.
pub(crate) fn finish(raw: &str, nonce: u64) -> String {
    if !raw.contains(is_marker) {
        return convert_mentions(raw);
    }
    if !raw.contains('@') && !raw.contains(MENTION_OPEN) {
        return strip_markers(raw);
    }
    let pieces = slack_mentions(pieces(raw, nonce));
    let mut out = String::with_capacity(raw.len());
    for p in pieces {
        match p {
            Piece::Template(t) => out.push_str(&convert_mentions(&t)),
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
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let mut i = 0;
    while i < pieces.len() {
        let Piece::Template(t) = &pieces[i] else {
            out.push(pieces[i].clone());
            i += 1;
            continue;
        };
        // Only a `<@` at the very end of a template piece can open a mixed mention.
        let Some(head) = t.strip_suffix("<@").or_else(|| t.strip_suffix("<@@")) else {
            out.push(pieces[i].clone());
            i += 1;
            continue;
        };
        let Some((middle, tail, next)) = closing(&pieces, i + 1) else {
            out.push(pieces[i].clone());
            i += 1;
            continue;
        };
        out.push(Piece::Template(head.to_string()));
        let mentions: Vec<&Piece> = middle
            .iter()
            .filter(|p| matches!(p, Piece::Mention(_)))
            .collect();
        if mentions.len() == 1 && middle.iter().all(is_mention_or_blank) {
            out.push(mentions[0].clone());
        } else {
            for p in middle {
                out.push(match p {
                    Piece::Mention(u) => Piece::Data(u.clone()),
                    other => other.clone(),
                });
            }
        }
        out.push(Piece::Template(tail));
        i = next;
    }
    out
}

fn is_mention_or_blank(p: &Piece) -> bool {
    match p {
        Piece::Mention(_) => true,
        Piece::Template(t) | Piece::Data(t) => t.trim_start_matches('@').trim().is_empty(),
    }
}

/// Finds the template `>` closing a `<@` whose name starts at `pieces[from]`: the pieces in
/// between, the rest of the closing piece after `>`, and the index after it. The name may
/// not contain spaces or `<`, which would mean this `<@` is not a mention.
fn closing(pieces: &[Piece], from: usize) -> Option<(Vec<Piece>, String, usize)> {
    let mut middle = Vec::new();
    for (j, p) in pieces.iter().enumerate().skip(from) {
        match p {
            Piece::Template(t) => {
                let end = t.find(['>', '<', ' ', '\n', '\t'])?;
                if !t[end..].starts_with('>') {
                    return None;
                }
                if end > 0 {
                    middle.push(Piece::Template(t[..end].to_string()));
                }
                return Some((middle, t[end + 1..].to_string(), j + 1));
            }
            other => middle.push(other.clone()),
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

    #[test]
    fn slack_mentions_of_template_text() {
        assert_eq!(
            convert_mentions("hi <@bob> and <@@ann>"),
            "hi @bob and @ann"
        );
        assert_eq!(convert_mentions("<@a@b.com> <@ x>"), "a@b.com <@ x>");
    }
}
