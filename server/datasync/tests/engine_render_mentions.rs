//! Data never mentions anyone: `@all`, `@here`, `@channel` and `@user` from a cell stay
//! harmless in every template, field and mode; only `mattermost_user_lookup` mentions, and
//! only the users it resolved. The check reads a message the way Mattermost's server does
//! (`StandardMentionParser.ProcessText`).

use std::sync::Arc;

use datasync::config::{self, Config};
use datasync::diff::{ChangedRow, Changes};
use datasync::plan::{self, Input};
use datasync::render::{self, Context, Kind, LaxObject, RunInfo, UserCache, Vars};
use datasync::row::{Cell, RowSet};
use proptest::prelude::*;

/// Every `@word` Mattermost's server would treat as a mention (channel-wide, user or
/// group), lower-cased: words split at anything but letters, digits and `: . - _ @`,
/// leading `: . - _` trimmed, then split again at `. - :`.
fn mentions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let separator = |c: char| !(matches!(c, ':' | '.' | '-' | '_' | '@') || c.is_alphanumeric());
    for word in text.split(separator) {
        if word.len() > 1 && word.starts_with(':') && word.ends_with(':') {
            continue; // an emoji
        }
        let word = word.trim_start_matches([':', '.', '-', '_']);
        let mut candidates = vec![word];
        candidates.extend(word.split(['.', '-', ':']));
        for c in candidates {
            let Some(name) = c.strip_prefix('@') else {
                continue;
            };
            let name = name.trim_end_matches(['.', '-', ':', '_']);
            if name.chars().next().is_some_and(char::is_alphanumeric) {
                found.push(format!("@{}", name.to_lowercase()));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_checker_reads_mentions_like_mattermost() {
    assert_eq!(mentions("hi @all"), ["@all"]);
    assert_eq!(mentions("x.@here, (@channel)"), ["@channel", "@here"]);
    assert_eq!(mentions("_@bob and :@ann:"), ["@bob"]);
    assert!(mentions("ann@example.com a@all").is_empty());
    assert!(mentions("@\u{2060}all @\u{2060}here").is_empty());
}

fn users() -> Arc<UserCache> {
    let mut u = UserCache::default();
    u.insert("ann@example.com", "ann");
    Arc::new(u)
}

/// Renders `template` with `name` and `owner` columns.
fn render_one(template: &str, name: &str, owner: &str) -> String {
    try_render(template, name, owner).unwrap_or_else(|e| panic!("{e}"))
}

/// Renders `template` with `name` and `owner` columns; the render error, if any.
fn try_render(template: &str, name: &str, owner: &str) -> Result<String, String> {
    let columns = vec!["name".to_string(), "owner".to_string()];
    let t = render::compile(template).unwrap_or_else(|e| panic!("{template}: {e}"));
    let mut cx = Context::new("s", "changes", &RunInfo::default(), &columns);
    cx.users = users();
    let row = LaxObject::from_row(
        &columns,
        &[Cell::Text(name.into()), Cell::Text(owner.into())],
    );
    let vars = Vars {
        row: Some(&row),
        previous: Some(&row),
        kind: Some(Kind::Changed),
        ..Vars::default()
    };
    render::render(&t, &cx, &vars, "templates.changed").map_err(|e| e.to_string())
}

/// Templates a user might write: plain, Zeotap's bare names, Slack mentions around data,
/// filters that rebuild text, captures, loops, and the stories' own.
const TEMPLATES: &[&str] = &[
    "{{ row.name }}",
    "{{ name }}",
    "{{name}} and {{ previous.name }}",
    "<@{{ row.name }}>",
    "@{{ row.name }}",
    "<@{{ row.name | mattermost_user_lookup }}>",
    "{{ row.name | mattermost_user_lookup }}",
    "<@{{ row.owner | mattermost_user_lookup }}> **{{ row.name }}** changed",
    "{{ row.name | upcase }} {{ row.name | downcase }} {{ row.name | capitalize }}",
    "{{ row.name | url_decode }}",
    "{{ row.name | prepend: '<@' | append: '>' }}",
    "{{ row.name | replace: ' ', '' }}{{ row.name }}",
    "{% capture c %}<@{{ row.name }}>{% endcapture %}{{ c }} {{ c | strip }}",
    "{% assign parts = row.name | split: ' ' %}{% for p in parts %}{{ p }}{% endfor %}",
    "{% if row.name contains '@' %}{{ row.name }}{% endif %}",
    "{{ row.name | split: '' | join: '@' }}",
    "{{ row.name | slice: 1, 20 }}",
    ":white_check_mark: **{{ row.name }}** has recovered.",
    "{{ name }} is now down {{ owner }} % (was {{ previous.owner }} %).",
];

/// Text a hostile cell might hold: mention words, Slack syntax, separators, our own
/// marker characters, URL-encoded `@`, invisible characters.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("@".to_string()),
        Just("all".to_string()),
        Just("here".to_string()),
        Just("channel".to_string()),
        Just("ann".to_string()),
        Just("<@".to_string()),
        Just(">".to_string()),
        Just(".".to_string()),
        Just("_".to_string()),
        Just("-".to_string()),
        Just(":".to_string()),
        Just(" ".to_string()),
        Just("%40".to_string()),
        Just("\u{2060}".to_string()),
        Just("\u{E000}".to_string()),
        Just("\u{E001}".to_string()),
        Just("\u{E002}".to_string()),
        Just("\u{E003}".to_string()),
        Just("0:".to_string()),
        "[a-zA-Z0-9]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..14).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_value_from_data_mentions_anyone(name in hostile(), owner in hostile()) {
        for template in TEMPLATES {
            // `url_decode` of data like "%ee" is not UTF-8: that row's message fails with
            // an error (and mentions nobody); no other template may fail on data.
            let out = match try_render(template, &name, &owner) {
                Ok(out) => out,
                Err(e) if template.contains("url_decode") && e.contains("Malformed UTF-8") => continue,
                Err(e) => panic!("template {template:?}, name {name:?}, owner {owner:?}: {e}"),
            };
            let found = mentions(&out);
            prop_assert!(
                found.is_empty(),
                "template {template:?}, name {name:?}, owner {owner:?} → {out:?} mentions {found:?}"
            );
        }
    }

    #[test]
    fn only_resolved_users_are_mentioned(name in hostile()) {
        let out = render_one(
            "<@{{ row.owner | mattermost_user_lookup }}> {{ row.name }} <@{{ row.name | mattermost_user_lookup }}>",
            &name,
            "Ann@Example.com",
        );
        let found = mentions(&out);
        prop_assert_eq!(found, vec!["@ann".to_string()], "name {:?} → {:?}", name, out);
    }
}

#[test]
fn channel_wide_mentions_from_cells_are_neutralised() {
    for cell in [
        "@all hello",
        "@here",
        "@channel",
        "<@channel> wake up",
        "<@all>",
        "x.@all",
        "_@here",
        "@@channel",
        "@ALL",
        "%40all",
        "ping @bob",
    ] {
        for template in TEMPLATES {
            let out = render_one(template, cell, cell);
            assert!(
                mentions(&out).is_empty(),
                "{template:?} with {cell:?} → {out:?}"
            );
        }
    }
}

#[test]
fn url_decode_of_data_that_is_not_utf8_is_an_error_naming_the_template() {
    // The case the property test met on CI: "%ee" decodes to a lone byte.
    let e = try_render("{{ row.name | url_decode }}", "@_%ee:.:_", "").expect_err("not UTF-8");
    assert!(
        e.contains("templates.changed") && e.contains("Malformed UTF-8"),
        "{e}"
    );
}

#[test]
fn the_author_still_mentions_and_data_still_reads() {
    // The author's own mentions work; data reads as it was written (the WORD JOINER is
    // invisible) and e-mail addresses are untouched.
    let out = render_one(
        "@here: <@bob> {{ row.name }}",
        "@all hello ann@example.com",
        "",
    );
    assert_eq!(out, "@here: @bob @\u{2060}all hello ann@example.com");
    assert_eq!(mentions(&out), ["@bob", "@here"]);
    // An unknown value through the lookup stays plain text (it was `@ghost`).
    assert_eq!(
        render_one("<@{{ row.name | mattermost_user_lookup }}>", "ghost", ""),
        "ghost"
    );
    assert_eq!(
        render_one(
            "<@{{ row.owner | mattermost_user_lookup }}>",
            "",
            "ann@example.com"
        ),
        "@ann"
    );
    assert_eq!(
        render_one(
            "@{{ row.owner | mattermost_user_lookup }}",
            "",
            "ann@example.com"
        ),
        "@ann"
    );
    assert_eq!(
        render_one(
            "{{ row.owner | mattermost_user_lookup | upcase }}",
            "",
            "ann@example.com"
        ),
        "@ANN"
    );
}

fn plan_of(sync_body: &str) -> Config {
    let text = format!(
        "[connections.db]\nkind = \"sqlite\"\nurl = \"x.db\"\n\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\n{sync_body}\n"
    );
    config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn hostile_rows() -> RowSet {
    let cells = ["@all hello", "<@channel> wake up", "@here", "x.@bob"];
    RowSet::new(
        vec!["id".into(), "name".into(), "@channel".into()],
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                vec![
                    Cell::Int(i as i64),
                    Cell::Text(c.to_string()),
                    Cell::Text(c.to_string()),
                ]
            })
            .collect(),
    )
}

/// Every text a plan would post: messages, attachment texts, titles and field values.
fn posted_texts(mp: &plan::MessagePlan) -> Vec<String> {
    let mut out = Vec::new();
    for m in &mp.messages {
        out.push(m.message.clone());
        for att in m
            .props
            .get("attachments")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            for key in ["fallback", "text", "title", "pretext"] {
                if let Some(s) = att[key].as_str() {
                    out.push(s.to_string());
                }
            }
            for f in att["fields"].as_array().into_iter().flatten() {
                out.push(f["value"].as_str().unwrap_or_default().to_string());
            }
        }
        if let Some((text, _)) = &m.edit_root {
            out.push(text.clone());
        }
    }
    out
}

#[test]
fn no_mode_posts_a_mention_from_data() {
    let rows = hostile_rows();
    let changes = Changes {
        columns: rows.columns.clone(),
        added: rows.rows[..2].to_vec(),
        changed: vec![ChangedRow {
            row: rows.rows[2].clone(),
            previous: rows.rows[3].clone(),
            changed_columns: vec!["name".into()],
        }],
        removed: rows.rows[3..].to_vec(),
        total: 3,
        ..Changes::default()
    };
    let bodies = [
        (
            "key = \"id\"\nchannel = \"t/c\"\nupdate_original = true\n[syncs.s.templates]\nadded = \"new {{ name }} <@{{ row.name }}>\"\nchanged = \"{{ previous.name }} → {{ row.name }}\"\nremoved = \"gone {{ row.name }}\"",
            true,
        ),
        (
            "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"{{ name }}\"\n[syncs.s.attachments]\ntitle = \"{{ name }}\"\nfields = [{ title = \"N\", value = \"<@{{ row.name }}>\", short = true }]",
            true,
        ),
        (
            "mode = \"batch\"\nchannel = \"t/c\"\n[syncs.s.templates]\nheader = \"{{ rows | map: 'name' | join: ' ' }}\"\nrow = \"- {{ name }}\"\nfooter = \"{% for r in rows %}{{ r.name }}{% endfor %}\"",
            false,
        ),
        ("mode = \"table\"\nchannel = \"t/c\"", false),
        (
            "mode = \"table\"\nchannel = \"t/c\"\n[syncs.s.table]\ncolumns = [\"name\", { title = \"N\", value = \"{{ row.name }}\" }]",
            false,
        ),
        (
            "mode = \"csv\"\nchannel = \"t/c\"\n[syncs.s.templates]\nmessage = \"@here: {{ run.total }} rows\"",
            false,
        ),
    ];
    for (body, is_changes) in bodies {
        let p = plan_of(body);
        let s = &p.syncs[0];
        let cx = Context::new("s", s.mode.name(), &RunInfo::default(), &rows.columns);
        let input = if is_changes {
            Input::Changes(&changes)
        } else {
            Input::Rows(&rows)
        };
        let mp = plan::build(s, input, &cx);
        assert!(mp.errors.is_empty(), "{body}: {:?}", mp.errors);
        let texts = posted_texts(&mp);
        assert!(!texts.is_empty(), "{body}");
        for t in texts {
            let found = mentions(&t);
            // The csv template's own `@here` is the author's.
            assert!(
                found.is_empty() || found == ["@here"] && body.contains("@here"),
                "{body}: {t:?}"
            );
        }
    }
}
