//! A run, as people read it: the command line's dry run and demo print it, and
//! `/datasync preview` will show the same text.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::run::RunReport;

/// Names a channel id for people (`team/channel`, `@user` for DMs).
pub type Label<'a> = &'a dyn Fn(&str) -> String;

/// The run as text: a heading, then each message.
pub fn text(report: &RunReport, label: Label<'_>) -> String {
    let r = &report.record;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "── {}: {} rows, {} added, {} changed, {} removed → {} message(s){}",
        r.sync,
        r.rows,
        r.added,
        r.changed,
        r.removed,
        r.messages,
        match (r.baseline, r.notes.is_empty()) {
            (true, true) => " (first run: baseline recorded, nothing posted)",
            (true, false) => " (new baseline recorded, nothing posted: see the note)",
            _ => "",
        }
    );
    for n in &r.notes {
        let _ = writeln!(s, "   note: {n}");
    }
    if r.skipped > 0 {
        let _ = writeln!(s, "   {} blank message(s) skipped", r.skipped);
    }
    if r.summarized > 0 {
        let _ = writeln!(
            s,
            "   flood guard: {} messages replaced by a summary",
            r.summarized
        );
    }
    for e in &r.errors {
        let _ = writeln!(s, "   ! {e}");
    }
    for d in &report.delivered {
        let thread = match (&d.root_id, &d.message.thread) {
            (Some(_), _) => " (reply in the row's thread)",
            _ => "",
        };
        let _ = writeln!(
            s,
            "   → {} [{}]{thread}",
            label(&d.channel_id),
            d.message.kind.as_str()
        );
        for line in d.message.message.lines() {
            let _ = writeln!(s, "     {line}");
        }
        if let Some((text, _)) = &d.message.edit_root {
            let _ = writeln!(s, "     edits the row's first post to:");
            for line in text.lines() {
                let _ = writeln!(s, "       {line}");
            }
        }
        if !d.message.props.is_empty() {
            let _ = writeln!(
                s,
                "     props: {}",
                serde_json::Value::Object(d.message.props.clone())
            );
        }
        if let Some(file) = &d.message.file {
            let _ = writeln!(s, "     file: {} ({} bytes)", file.name, file.bytes.len());
            for line in String::from_utf8_lossy(&file.bytes).lines().take(4) {
                let _ = writeln!(s, "       {line}");
            }
        }
    }
    s
}

/// The run as JSON lines, one per message: `{sync, channel, message, props, file}`.
pub fn json_lines(report: &RunReport, label: Label<'_>) -> String {
    let mut s = String::new();
    for d in &report.delivered {
        let file = d.message.file.as_ref().map(|f| {
            serde_json::json!({"name": f.name, "size": f.bytes.len(),
                   "base64": base64::engine::general_purpose::STANDARD.encode(&f.bytes)})
        });
        let line = serde_json::json!({
            "sync": report.record.sync,
            "channel": label(&d.channel_id),
            "kind": d.message.kind.as_str(),
            "reply": d.root_id.is_some(),
            "post_id": d.post_id,
            "root_id": d.root_id,
            "message": d.message.message,
            "edit_root": d.message.edit_root.as_ref().map(|(text, _)| text),
            "props": d.message.props,
            "file": file,
        });
        let _ = writeln!(s, "{line}");
    }
    let r = &report.record;
    let summary = serde_json::json!({"sync": r.sync, "summary": r});
    let _ = writeln!(s, "{summary}");
    s
}
