//! Message plans: each mode, threads, table splitting, attachments, sender, flood guard.

use datasync::config::{self, Config, Target};
use datasync::diff::{ChangedRow, Changes};
use datasync::plan::{self, Input, MAX_POST_RUNES, ThreadRole};
use datasync::render::{Context, Kind, RunInfo};
use datasync::row::{Cell, RowSet};

fn plan_of(sync_body: &str) -> Config {
    let text = format!(
        "[connections.db]\nkind = \"sqlite\"\nurl = \"x.db\"\n\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\n{sync_body}\n"
    );
    config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn rows(n: usize) -> RowSet {
    RowSet::new(
        vec!["id".into(), "name".into(), "owner".into()],
        (0..n)
            .map(|i| {
                vec![
                    Cell::Int(i as i64),
                    Cell::Text(format!("Account {i}")),
                    Cell::Text(format!("@user{}", i % 3)),
                ]
            })
            .collect(),
    )
}

fn changes(added: usize, changed: usize, removed: usize) -> Changes {
    let r = rows(added + changed + removed);
    let mut it = r.rows.into_iter();
    let added_rows: Vec<_> = it.by_ref().take(added).collect();
    let changed_rows: Vec<_> = it
        .by_ref()
        .take(changed)
        .map(|row| {
            let mut previous = row.clone();
            previous[1] = Cell::Text("Old name".into());
            ChangedRow {
                row,
                previous,
                changed_columns: vec!["name".into()],
            }
        })
        .collect();
    Changes {
        columns: r.columns,
        first_run: false,
        added: added_rows,
        changed: changed_rows,
        removed: it.collect(),
        total: added + changed,
        ..Changes::default()
    }
}

fn cx(p: &Config, columns: &[String]) -> Context {
    let s = &p.syncs[0];
    Context::new(&s.name, s.mode.name(), &RunInfo::default(), columns)
}

#[test]
fn changes_mode_one_message_per_row_with_threads() {
    let p = plan_of(
        "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"+{{ name }}\"\nchanged = \"~{{ previous.name }}→{{ name }} ({{ changed | join: ',' }})\"\nremoved = \"-{{ row.name }}\"",
    );
    let c = changes(2, 1, 1);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    let texts: Vec<&str> = mp.messages.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(
        texts,
        [
            "+Account 0",
            "+Account 1",
            "~Old name→Account 2 (name)",
            "-Account 3"
        ]
    );
    let kinds: Vec<Kind> = mp.messages.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [Kind::Added, Kind::Added, Kind::Changed, Kind::Removed]
    );
    let t0 = mp.messages[0].thread.as_ref().unwrap();
    assert_eq!((t0.key.as_str(), t0.role), ("s\u{1f}[0]", ThreadRole::Root));
    let t3 = mp.messages[3].thread.as_ref().unwrap();
    assert_eq!((t3.key.as_str(), t3.role), ("s\u{1f}[3]", ThreadRole::End));
    assert!(mp.errors.is_empty());
}

#[test]
fn a_missing_template_means_no_message_for_that_kind() {
    let p = plan_of(
        "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nremoved = \"gone {{ id }}\"",
    );
    let c = changes(3, 0, 2);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    assert_eq!(
        mp.messages
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>(),
        ["gone 3", "gone 4"]
    );
}

#[test]
fn batch_sizes_from_1_to_20() {
    for (size, n, expected) in [(1, 3, 3), (20, 45, 3), (20, 20, 1), (7, 15, 3), (20, 0, 0)] {
        let p = plan_of(&format!(
            "mode = \"batch\"\nbatch_size = {size}\nchannel = \"t/c\"\n[syncs.s.templates]\nheader = \"H {{{{ batch.number }}}}/{{{{ batch.count }}}}\"\nrow = \"- {{{{ name }}}}\"\nfooter = \"F {{{{ batch.size }}}}\""
        ));
        let r = rows(n);
        let mp = plan::build(&p.syncs[0], Input::Rows(&r), &cx(&p, &r.columns));
        assert_eq!(mp.messages.len(), expected, "size {size} rows {n}");
        if n > 0 {
            let first = &mp.messages[0].message;
            let lines: Vec<&str> = first.lines().collect();
            assert_eq!(lines[0], format!("H 1/{expected}"));
            assert_eq!(lines.len(), size.min(n) + 2);
            assert_eq!(lines[1], "- Account 0");
            assert_eq!(*lines.last().unwrap(), format!("F {}", size.min(n)));
        }
        let total_rows: usize = mp
            .messages
            .iter()
            .map(|m| m.message.lines().count() - 2)
            .sum();
        assert_eq!(total_rows, n);
    }
}

#[test]
fn table_escapes_cells_and_splits_without_breaking_rows() {
    let p = plan_of(
        "mode = \"table\"\nchannel = \"t/c\"\n[syncs.s.templates]\nheader = \"#### Title\"\nfooter = \"end\"",
    );
    // Small: one post, pipes and newlines escaped.
    let r = RowSet::new(
        vec!["a".into(), "b|c".into()],
        vec![vec![
            Cell::Text("x|y".into()),
            Cell::Text("line1\nline2".into()),
        ]],
    );
    let mp = plan::build(&p.syncs[0], Input::Rows(&r), &cx(&p, &r.columns));
    assert_eq!(mp.messages.len(), 1);
    assert_eq!(
        mp.messages[0].message,
        "#### Title\n\n| a | b\\|c |\n| --- | --- |\n| x\\|y | line1 line2 |\n\nend"
    );

    // Large: 3,000 rows of ~100 characters → several posts.
    let long = "é".repeat(90);
    let big = RowSet::new(
        vec!["n".into(), "text".into()],
        (0..3000)
            .map(|i| vec![Cell::Int(i), Cell::Text(long.clone())])
            .collect(),
    );
    let mp = plan::build(&p.syncs[0], Input::Rows(&big), &cx(&p, &big.columns));
    assert!(mp.messages.len() >= 15, "{}", mp.messages.len());
    let mut seen = Vec::new();
    for (i, m) in mp.messages.iter().enumerate() {
        assert!(
            m.message.chars().count() <= MAX_POST_RUNES,
            "part {i} too long"
        );
        let mut lines = m.message.lines();
        if i == 0 {
            assert_eq!(lines.next(), Some("#### Title"));
            assert_eq!(lines.next(), Some(""));
        }
        assert_eq!(
            lines.next(),
            Some("| n | text |"),
            "part {i} repeats the header"
        );
        assert_eq!(lines.next(), Some("| --- | --- |"));
        for l in lines.filter(|l| l.starts_with("| ")) {
            // Every row complete: both cells present.
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 2, "broken row {l:?}");
            assert_eq!(cells[1].trim(), long);
            seen.push(cells[0].trim().parse::<i64>().unwrap());
        }
    }
    assert_eq!(seen, (0..3000).collect::<Vec<_>>());
    assert!(mp.messages.last().unwrap().message.ends_with("\n\nend"));
}

#[test]
fn table_columns_with_templates() {
    let p = plan_of(
        "mode = \"table\"\nchannel = \"t/c\"\n[syncs.s.table]\ncolumns = [\"name\", { title = \"ID×2\", value = \"{{ row.id | times: 2 }}\" }]",
    );
    let r = rows(2);
    let mp = plan::build(&p.syncs[0], Input::Rows(&r), &cx(&p, &r.columns));
    assert_eq!(
        mp.messages[0].message,
        "| name | ID×2 |\n| --- | --- |\n| Account 0 | 0 |\n| Account 1 | 2 |"
    );
}

#[test]
fn csv_file_with_message() {
    let p = plan_of(
        "mode = \"csv\"\nchannel = \"t/c\"\n[syncs.s.csv]\nfilename = \"export-{{ sync.name }}.csv\"\n[syncs.s.templates]\nmessage = \"{{ run.total }} rows\"",
    );
    let mut r = rows(2);
    r.rows[1][1] = Cell::Text("Comma, \"quoted\"".into());
    let c = Context::new(
        "s",
        "csv",
        &RunInfo {
            total: 2,
            ..RunInfo::default()
        },
        &r.columns,
    );
    let mp = plan::build(&p.syncs[0], Input::Rows(&r), &c);
    let m = &mp.messages[0];
    assert_eq!(m.message, "2 rows");
    let f = m.file.as_ref().unwrap();
    assert_eq!(f.name, "export-s.csv");
    assert_eq!(
        String::from_utf8(f.bytes.clone()).unwrap(),
        // Text starting with `@` is a formula to a spreadsheet: prefixed with `'`.
        "id,name,owner\n0,Account 0,'@user0\n1,\"Comma, \"\"quoted\"\"\",'@user1\n"
    );
}

#[test]
fn attachments_colours_fields_and_sender_props() {
    let p = plan_of(
        "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"new {{ name }}\"\nremoved = \"gone\"\n[syncs.s.attachments]\ncolor_removed = \"#ff0000\"\ntitle = \"{{ name }}\"\ntitle_link = \"https://crm/{{ id }}\"\nfields = [{ title = \"Owner\", value = \"{{ owner }}\", short = true }]\n[syncs.s.sender]\ndisplay_name = \"CS Bot\"\nicon_url = \"https://x/icon.png\"\nicon_emoji = \":bell:\"",
    );
    let c = changes(1, 0, 1);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    let added = &mp.messages[0];
    assert_eq!(added.message, "");
    let att = &added.props["attachments"][0];
    assert_eq!(att["color"], "good");
    assert_eq!(att["text"], "new Account 0");
    assert_eq!(att["fallback"], "new Account 0");
    assert_eq!(att["title"], "Account 0");
    assert_eq!(att["title_link"], "https://crm/0");
    assert_eq!(
        att["fields"][0],
        // A value from data never mentions anyone (a WORD JOINER follows its `@`).
        serde_json::json!({"title": "Owner", "value": "@\u{2060}user0", "short": true})
    );
    assert_eq!(mp.messages[1].props["attachments"][0]["color"], "#ff0000");
    assert_eq!(added.props["from_webhook"], "true");
    assert_eq!(added.props["override_username"], "CS Bot");
    assert_eq!(added.props["override_icon_url"], "https://x/icon.png");
    assert_eq!(added.props["override_icon_emoji"], "bell");
}

#[test]
fn per_row_routing_kinds_and_bad_values() {
    let p = plan_of("key = \"id\"\nchannel_column = \"dest\"\n[syncs.s.templates]\nadded = \"hi\"");
    let values = [
        "t/c",
        "@ann",
        "ann@example.com",
        "abcdefghijklmnopqrstuvwxyz",
        "town square",
        "",
    ];
    let r = RowSet::new(
        vec!["id".into(), "dest".into()],
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                vec![
                    Cell::Int(i as i64),
                    if v.is_empty() {
                        Cell::Null
                    } else {
                        Cell::Text(v.to_string())
                    },
                ]
            })
            .collect(),
    );
    let c = Changes {
        columns: r.columns.clone(),
        added: r.rows.clone(),
        total: r.rows.len(),
        ..Changes::default()
    };
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    let targets: Vec<Target> = mp.messages.iter().map(|m| m.target.clone()).collect();
    assert_eq!(
        targets,
        vec![
            Target::TeamChannel {
                team: "t".into(),
                channel: "c".into()
            },
            Target::Username("ann".into()),
            Target::Email("ann@example.com".into()),
            Target::ChannelId("abcdefghijklmnopqrstuvwxyz".into()),
        ]
    );
    assert_eq!(mp.errors.len(), 2, "{:?}", mp.errors);
    assert!(
        mp.errors[0].contains("row [4]") && mp.errors[0].contains("\"town square\""),
        "{}",
        mp.errors[0]
    );
    assert!(
        mp.errors[1].contains("row [5]") && mp.errors[1].contains("empty"),
        "{}",
        mp.errors[1]
    );
}

#[test]
fn flood_guard_posts_one_summary_per_destination() {
    let p = plan_of(
        "key = \"id\"\nmax_messages = 5\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"+{{ id }}\"\nremoved = \"-\"",
    );
    let c = changes(5, 0, 0);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    assert_eq!(mp.messages.len(), 5);
    assert_eq!(mp.summarized, None);
    let c = changes(6, 0, 2);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    assert_eq!(mp.summarized, Some(8));
    assert_eq!(mp.messages.len(), 1);
    let m = &mp.messages[0].message;
    assert!(
        m.contains("8 changes (6 added, 0 changed, 2 removed)"),
        "{m}"
    );
    assert!(m.contains("/datasync history s"), "{m}");

    // Three owners, max_messages = 3: every owner gets its summary.
    let p = plan_of(
        "key = \"id\"\nmax_messages = 3\nchannel_column = \"owner\"\n[syncs.s.templates]\nadded = \"+\"",
    );
    let c = changes(9, 0, 0);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    assert_eq!(mp.messages.len(), 3);
    assert!(
        mp.messages
            .iter()
            .all(|m| m.message.contains("3 of them for this channel")),
        "{:?}",
        mp.messages
    );
    assert_eq!(mp.refused, None);

    // max_messages = 2: one summary each would still leave an owner untold, so the run is
    // refused (nothing posted, nothing committed) instead of dropping a recipient.
    let p = plan_of(
        "key = \"id\"\nmax_messages = 2\nchannel_column = \"owner\"\n[syncs.s.templates]\nadded = \"+\"",
    );
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    let refusal = mp.refused.expect("refused");
    assert!(
        refusal.contains("9 messages for 3 destinations") && refusal.contains("at least 3"),
        "{refusal}"
    );
}

#[test]
fn link_previews_off_and_long_messages() {
    let p = plan_of(
        "key = \"id\"\nlink_previews = false\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"see https://x.io/{{ id }} or [docs](https://d.io)\"",
    );
    let c = changes(1, 0, 0);
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    assert_eq!(
        mp.messages[0].message,
        "see `https://x.io/0` or [docs](https://d.io)"
    );

    let p = plan_of(
        "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"{% for i in (1..2000) %}ééééééééé{% endfor %}\"",
    );
    let mp = plan::build(&p.syncs[0], Input::Changes(&c), &cx(&p, &c.columns));
    let m = &mp.messages[0].message;
    assert_eq!(m.chars().count(), MAX_POST_RUNES);
    assert!(m.ends_with("(message truncated)"));
}

#[test]
fn batch_splits_long_batches_instead_of_truncating() {
    let p = plan_of(
        "mode = \"batch\"\nbatch_size = 20\nchannel = \"t/c\"\n[syncs.s.templates]\nheader = \"HEAD\"\nrow = \"{{ row.n }}: {{ row.text }}\"\nfooter = \"FOOT\"",
    );
    let long = "x".repeat(2_000);
    let r = RowSet::new(
        vec!["n".into(), "text".into()],
        (0..20)
            .map(|i| vec![Cell::Int(i), Cell::Text(long.clone())])
            .collect(),
    );
    let mp = plan::build(&p.syncs[0], Input::Rows(&r), &cx(&p, &r.columns));
    assert!(mp.errors.is_empty(), "{:?}", mp.errors);
    assert!(mp.messages.len() >= 3, "{}", mp.messages.len());
    let lines: Vec<&str> = mp.messages.iter().flat_map(|m| m.message.lines()).collect();
    assert!(!lines.iter().any(|l| l.contains("truncated")));
    for i in 0..20 {
        let row = format!("{i}: {long}");
        assert_eq!(lines.iter().filter(|l| **l == row).count(), 1, "row {i}");
    }
    for m in &mp.messages {
        assert!(m.message.chars().count() <= MAX_POST_RUNES);
    }
    assert!(mp.messages[0].message.starts_with("HEAD\n0: "));
    assert!(mp.messages.last().unwrap().message.ends_with("\nFOOT"));
}

#[test]
fn a_long_table_heading_gets_its_own_post_and_no_row_is_dropped() {
    let heading = "h".repeat(MAX_POST_RUNES - 10);
    let p = plan_of(&format!(
        "mode = \"table\"\nchannel = \"t/c\"\n[syncs.s.templates]\nheader = \"{heading}\""
    ));
    let r = rows(3);
    let mp = plan::build(&p.syncs[0], Input::Rows(&r), &cx(&p, &r.columns));
    assert!(mp.errors.is_empty(), "{:?}", mp.errors);
    assert_eq!(mp.messages.len(), 2);
    assert_eq!(mp.messages[0].message, heading);
    let table = &mp.messages[1].message;
    assert!(table.starts_with("| id | name | owner |"), "{table}");
    assert_eq!(table.lines().count(), 2 + 3, "{table}");
}
