//! What leaves the renderer for a post or a file: link previews suppressed without
//! breaking Markdown, and CSV exports a spreadsheet cannot run as formulas.

use datasync::plan::{suppress_previews, write_csv};
use datasync::row::{Cell, RowSet};

#[test]
fn previews_are_suppressed_without_breaking_markdown() {
    let cases: &[(&str, &str)] = &[
        // Bare URLs, sentence punctuation left outside.
        ("see https://x.io/a.", "see `https://x.io/a`."),
        ("(see https://x.io/a)", "(see `https://x.io/a`)"),
        ("(https://x.io/a), ok", "(`https://x.io/a`), ok"),
        // Balanced parentheses are part of the URL (Wikipedia).
        (
            "https://en.wikipedia.org/wiki/Rust_(programming_language) is it",
            "`https://en.wikipedia.org/wiki/Rust_(programming_language)` is it",
        ),
        (
            "(https://en.wikipedia.org/wiki/Rust_(programming_language))",
            "(`https://en.wikipedia.org/wiki/Rust_(programming_language)`)",
        ),
        // A URL may end with `_`; in `_emphasis_` the `_` closes the emphasis.
        ("get https://x.io/file_ now", "get `https://x.io/file_` now"),
        ("_see https://x.io/c_", "_see `https://x.io/c`_"),
        ("_https://z.io/c_.", "_`https://z.io/c`_."),
        ("**https://x.io/b**", "**`https://x.io/b`**"),
        // Inline code spans and fenced blocks are copied as they are.
        (
            "run `curl https://x.io/a` now",
            "run `curl https://x.io/a` now",
        ),
        ("``a ` https://x.io b``", "``a ` https://x.io b``"),
        (
            "before\n```sh\ncurl https://x.io/a\n```\nafter https://y.io",
            "before\n```sh\ncurl https://x.io/a\n```\nafter `https://y.io`",
        ),
        (
            "~~~\nhttps://x.io\n~~~~\nhttps://y.io",
            "~~~\nhttps://x.io\n~~~~\n`https://y.io`",
        ),
        // An unclosed fence runs to the end.
        ("```\nhttps://x.io", "```\nhttps://x.io"),
        // Markdown links and autolinks are left alone; so is a scheme inside a word.
        (
            "[b](https://y.io) <https://z.io>",
            "[b](https://y.io) <https://z.io>",
        ),
        ("xhttps://y.io", "xhttps://y.io"),
        ("just https:// here", "just https:// here"),
    ];
    for (input, expected) in cases {
        assert_eq!(&suppress_previews(input), expected, "{input:?}");
    }
}

#[test]
fn suppressing_twice_changes_nothing_more() {
    let once = suppress_previews("a https://x.io/(b) `c https://d` https://e_ _f https://g_");
    assert_eq!(suppress_previews(&once), once);
}

fn csv_text(rows: &RowSet) -> String {
    String::from_utf8(write_csv(rows).unwrap()).unwrap()
}

#[test]
fn csv_cells_that_spreadsheets_would_run_are_neutralised() {
    let formulas = [
        "=cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "+1+1",
        "-2+3",
        "\tx",
        "\rx",
    ];
    let rows = RowSet::new(
        vec!["text".into(), "=bad_name".into()],
        formulas
            .iter()
            .map(|f| vec![Cell::Text(f.to_string()), Cell::Text("plain".into())])
            .collect(),
    );
    let out = csv_text(&rows);
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["text", "'=bad_name"]
    );
    let cells: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let expected: Vec<String> = formulas.iter().map(|f| format!("'{f}")).collect();
    assert_eq!(cells, expected);
}

#[test]
fn typed_numbers_stay_numbers_in_csv() {
    let rows = RowSet::new(
        vec!["i".into(), "f".into(), "d".into(), "t".into(), "j".into()],
        vec![vec![
            Cell::Int(-5),
            Cell::Float(-1.5),
            Cell::Decimal("-12.50".into()),
            Cell::Text("-5".into()),
            Cell::json(serde_json::json!(["=x"])),
        ]],
    );
    assert_eq!(
        csv_text(&rows),
        "i,f,d,t,j\n-5,-1.5,-12.50,'-5,\"[\"\"=x\"\"]\"\n"
    );
}

mod properties {
    use super::suppress_previews;
    use proptest::prelude::*;

    fn markdownish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("https://x.io/a".to_string()),
            Just("http://y.io".to_string()),
            Just("`".to_string()),
            Just("```".to_string()),
            Just("~~~".to_string()),
            Just("\n".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("_".to_string()),
            Just("*".to_string()),
            Just("](".to_string()),
            Just("<".to_string()),
            Just(" ".to_string()),
            Just(".".to_string()),
            "[a-z]{1,3}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..20).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Only backticks are added: the text itself is never changed or lost.
        #[test]
        fn only_backticks_are_added(s in markdownish()) {
            let out = suppress_previews(&s);
            prop_assert_eq!(out.replace('`', ""), s.replace('`', ""));
            prop_assert!(out.matches('`').count() >= s.matches('`').count());
        }
    }
}
