//! Splitting long text into posts under Mattermost's limit, never inside a row.

use super::MAX_POST_RUNES;

/// Packs `lines` into posts under the limit without splitting a line: `heading` opens the
/// first post, `repeat` opens each later one (a table's header row), `footer` closes the
/// last. `gap` separates heading and footer from the lines. When the heading leaves no room
/// for the next line, the heading gets a post of its own. Callers make sure that every line
/// fits in a post after `repeat`.
pub(super) fn split_posts(
    heading: &str,
    repeat: &str,
    lines: &[String],
    gap: &str,
    footer: &str,
) -> Vec<String> {
    let heading = truncate_runes(heading, MAX_POST_RUNES);
    let mut posts = Vec::new();
    let mut current = join_nonempty(&heading, repeat, gap);
    let mut has_lines = false;
    for line in lines {
        if !fits(&current, "\n", line) {
            if has_lines {
                posts.push(std::mem::take(&mut current));
            } else if !heading.is_empty() {
                posts.push(heading.clone());
            }
            current = repeat.to_string();
        }
        push_part(&mut current, "\n", line);
        has_lines = true;
    }
    if !footer.is_empty() {
        if !fits(&current, gap, footer) {
            posts.push(std::mem::take(&mut current));
        }
        push_part(&mut current, gap, &truncate_runes(footer, MAX_POST_RUNES));
    }
    if !current.is_empty() || posts.is_empty() {
        posts.push(current);
    }
    posts
}

pub(super) fn fits(current: &str, sep: &str, part: &str) -> bool {
    let sep = if current.is_empty() { 0 } else { runes(sep) };
    runes(current) + sep + runes(part) <= MAX_POST_RUNES
}

pub(super) fn push_part(current: &mut String, sep: &str, part: &str) {
    if !current.is_empty() {
        current.push_str(sep);
    }
    current.push_str(part);
}

pub(super) fn join_nonempty(a: &str, b: &str, gap: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (false, true) => a.to_string(),
        (false, false) => format!("{a}{gap}{b}"),
    }
}

pub(super) fn runes(s: &str) -> usize {
    s.chars().count()
}

/// Splits a table into posts under the limit, never inside a row, header row on every
/// part; the heading text opens the first part and the footer closes the last. A row too
/// long for any post is left out and reported (a cut row would break the table).
pub fn split_table(
    heading: &str,
    head_row: &str,
    lines: &[String],
    footer: &str,
    errors: &mut Vec<String>,
    sync: &str,
) -> Vec<String> {
    let room = MAX_POST_RUNES.saturating_sub(runes(head_row) + 1);
    let mut kept: Vec<String> = Vec::with_capacity(lines.len());
    for line in lines {
        if runes(line) > room {
            errors.push(format!(
                "sync {sync:?}: a table row of {} characters does not fit in one post; left out",
                runes(line)
            ));
        } else {
            kept.push(line.clone());
        }
    }
    if lines.is_empty() {
        kept.push("| _no rows_ |".to_string());
    }
    split_posts(heading, head_row, &kept, "\n\n", footer)
}

pub(super) const TRUNCATED: &str = "\n… (message truncated)";

/// `s` cut to `max` runes with a visible mark (unchanged if it fits).
pub(super) fn truncate_runes(s: &str, max: usize) -> String {
    if runes(s) <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(runes(TRUNCATED));
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    format!("{}{TRUNCATED}", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_limit() {
        let s = "é".repeat(20_000);
        let t = truncate_runes(&s, MAX_POST_RUNES);
        assert_eq!(t.chars().count(), MAX_POST_RUNES);
    }
}
