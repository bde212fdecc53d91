//! Rendering: lax names, Zeotap placeholders, mentions, filters, limits.

use std::sync::Arc;

use datasync::render::{self, Context, Kind, LaxObject, RenderError, RunInfo, UserCache, Vars};
use datasync::row::Cell;

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Renders `template` over one row given as (column, cell) pairs.
fn render_row(template: &str, row: &[(&str, Cell)]) -> Result<String, RenderError> {
    let columns: Vec<String> = row.iter().map(|(c, _)| c.to_string()).collect();
    let cells: Vec<Cell> = row.iter().map(|(_, c)| c.clone()).collect();
    let t = render::compile(template).unwrap();
    let cx = Context::new("s", "changes", &RunInfo::default(), &columns);
    let obj = LaxObject::from_row(&columns, &cells);
    let vars = Vars {
        row: Some(&obj),
        kind: Some(Kind::Added),
        ..Vars::default()
    };
    render::render(&t, &cx, &vars, "templates.added")
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

#[test]
fn table_of_templates() {
    let row = [
        ("name", text("Ann")),
        ("email", text("ann@example.com")),
        ("n", Cell::Int(1234567)),
        ("price", Cell::Decimal("1234.5".into())),
        ("at", Cell::Timestamp("2026-07-01T07:30:00Z".into())),
        ("day", Cell::Date("2026-01-15".into())),
        ("note", Cell::Null),
    ];
    let cases: &[(&str, &str)] = &[
        // Hightouch and Zeotap syntax side by side.
        (
            "{{ row[\"name\"] }} / {{ row.name }} / {{ name }} / {{name}}",
            "Ann / Ann / Ann / Ann",
        ),
        // Zeotap: unknown placeholders stay exactly as written.
        (
            "Hi {{ first_name }} {{last_name}}!",
            "Hi {{ first_name }} {{last_name}}!",
        ),
        ("{{ nope | upcase }}", "{{ nope | upcase }}"),
        ("{{- nope -}}", "{{- nope -}}"),
        // Missing row keys and tag conditions are lax (nil), not errors.
        ("[{{ row.missing }}]", "[]"),
        ("{% if missing %}yes{% else %}no{% endif %}", "no"),
        ("{{ nickname | default: 'friend' }}", "friend"),
        ("{{ note | default: 'none' }}", "none"),
        // Template-local variables are not unknown columns.
        ("{% assign x = name | upcase %}{{ x }}", "ANN"),
        ("{% for c in (1..2) %}{{ c }}{% endfor %}", "12"),
        // Slack-style mentions: the author's own become mentions; data without
        // `mattermost_user_lookup` stays plain text.
        ("<@{{ name | downcase }}> and <@bob>", "ann and @bob"),
        // Numbers.
        ("{{ n | number_with_delimiter }}", "1,234,567"),
        ("{{ price | number_with_delimiter: '.', ',' }}", "1.234,5"),
        ("{{ price | decimals: 2 }}", "1234.50"),
        ("{{ 3.14159 | decimals: 2 }}", "3.14"),
        // Dates with IANA zones, summer and winter time.
        (
            "{{ at | date_tz: '%Y-%m-%d %H:%M %Z', 'Europe/Berlin' }}",
            "2026-07-01 09:30 CEST",
        ),
        (
            "{{ day | date_tz: '%d.%m. %H:%M', 'America/New_York' }}",
            "14.01. 19:00",
        ),
        ("{{ at | date_tz: '%H:%M' }}", "07:30"),
        ("{{ 0 | date_tz: '%Y', 'UTC' }}", "1970"),
        ("{{ kind }}", "added"),
    ];
    for (template, expected) in cases {
        assert_eq!(
            &render_row(template, &row).unwrap(),
            expected,
            "template {template}"
        );
    }
}

#[test]
fn bad_zone_is_an_error_naming_sync_and_template() {
    let err = render_row(
        "{{ at | date_tz: '%H', 'Mars/Base' }}",
        &[("at", text("2026-01-01T00:00:00Z"))],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("sync \"s\", template templates.added:"),
        "{msg}"
    );
    assert!(msg.contains("Mars/Base"), "{msg}");
}

#[test]
fn output_is_capped() {
    let err = render_row("{% for i in (1..100000) %}xxxxxxxxxx{% endfor %}", &[]).unwrap_err();
    assert!(
        matches!(err, RenderError::TooLarge { ref field, .. } if field == "templates.added"),
        "{err}"
    );
}

#[test]
fn lookups_are_collected_then_resolved_without_io() {
    let columns = cols(&["owner"]);
    let t = render::compile(
        "<@{{ row.owner | mattermost_user_lookup }}> {{ 'x@y.org' | mattermost_user_lookup }}",
    )
    .unwrap();
    assert!(t.uses_lookup());
    let mut cx = Context::new("s", "changes", &RunInfo::default(), &columns);
    let obj = LaxObject::from_row(&columns, &[text("Ann@Example.com")]);
    let vars = Vars {
        row: Some(&obj),
        ..Vars::default()
    };
    let mut wanted = Default::default();
    render::collect_lookups(&t, &cx, &vars, &mut wanted);
    assert_eq!(
        wanted.into_iter().collect::<Vec<_>>(),
        vec!["Ann@Example.com".to_string(), "x@y.org".to_string()]
    );
    let mut users = UserCache::default();
    users.insert("ann@example.com", "ann");
    cx.users = Arc::new(users);
    // Found → @username; not found → the address as plain text, not a broken mention.
    assert_eq!(render::render(&t, &cx, &vars, "t").unwrap(), "@ann x@y.org");
}

#[test]
fn globals_sync_run_previous_changed() {
    let columns = cols(&["v"]);
    let t = render::compile("{{ sync.name }} {{ run.added }}/{{ run.total }} {{ previous.v }}→{{ row.v }} [{{ changed | join: ',' }}] {{ run.date }}").unwrap();
    let info = RunInfo {
        time: "2026-11-21T10:00:00Z".parse().unwrap(),
        added: 2,
        changed: 1,
        removed: 0,
        total: 9,
    };
    let cx = Context::new("usage", "changes", &info, &columns);
    let row = LaxObject::from_row(&columns, &[Cell::Int(5)]);
    let prev = LaxObject::from_row(&columns, &[Cell::Int(3)]);
    let vars = Vars {
        row: Some(&row),
        previous: Some(&prev),
        changed: vec!["v".into()],
        kind: Some(Kind::Changed),
        extra: None,
    };
    assert_eq!(
        render::render(&t, &cx, &vars, "t").unwrap(),
        "usage 2/9 3→5 [v] 2026-11-21"
    );
}

#[test]
fn cells_become_predictable_values() {
    let row = [
        ("b", Cell::Bytes(vec![1, 2, 3])),
        ("j", Cell::json(serde_json::json!({"a": [1, 2]}))),
        ("big", Cell::Decimal("123456789012345678901234.5".into())),
        ("f", Cell::Bool(true)),
    ];
    assert_eq!(
        render_row("{{ b }} {{ j.a[1] }} {{ big }} {{ f }}", &row).unwrap(),
        "AQID 2 123456789012345678901234.5 true"
    );
}

#[test]
fn syntax_errors_are_reported_at_compile_time() {
    let err = render::compile("{{ row.x | nosuchfilter }}").unwrap_err();
    assert!(err.contains("nosuchfilter"), "{err}");
    assert!(render::compile("{% if %}").is_err());
}
