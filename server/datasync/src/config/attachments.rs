//! Attachments: Slack-compatible colours, title and fields.

use toml::de::DeValue;

use super::reader::{Cx, Fields};
use super::{AttachmentField, Attachments};

const ATTACHMENT_FIELDS: &[&str] = &[
    "enabled",
    "color_added",
    "color_changed",
    "color_removed",
    "color",
    "title",
    "title_link",
    "fields",
];
const ATTACHMENT_FIELD_FIELDS: &[&str] = &["title", "value", "short"];

pub(super) fn read_attachments(cx: &mut Cx<'_>, f: &Fields<'_, '_>) -> Option<Attachments> {
    let a = f.sub(cx, "attachments", ATTACHMENT_FIELDS)?;
    a.finish(cx);
    if !a.bool(cx, "enabled", true) {
        return None;
    }
    let color = |cx: &mut Cx<'_>, name: &str, default: &str| match a.string(cx, name) {
        None => default.to_string(),
        Some(s) if is_color(&s.value) => s.value,
        Some(s) => {
            let msg = format!("{} is not good, warning, danger or #RRGGBB", s.shown);
            a.err(cx, name, Some(s.span), msg);
            default.to_string()
        }
    };
    let color_added = color(cx, "color_added", "good");
    let color_changed = color(cx, "color_changed", "warning");
    let color_removed = color(cx, "color_removed", "danger");
    let color_other = color(cx, "color", "#1c58d9");
    let mut fields = Vec::new();
    if let Some(item) = a.get("fields") {
        match item.get_ref() {
            DeValue::Array(items) => {
                for i in items {
                    let DeValue::Table(t) = i.get_ref() else {
                        a.err(
                            cx,
                            "fields",
                            Some(i.span()),
                            "expected a table {title, value}".into(),
                        );
                        continue;
                    };
                    let ff = Fields::new(
                        t,
                        i.span(),
                        a.owner.clone(),
                        "attachments.fields",
                        ATTACHMENT_FIELD_FIELDS,
                    );
                    ff.finish(cx);
                    let title = ff.required_string(cx, "title");
                    let value = if ff.get("value").is_some() {
                        ff.template(cx, "value")
                    } else {
                        ff.err(cx, "value", Some(i.span()), "is required".into());
                        None
                    };
                    let short = ff.bool(cx, "short", false);
                    if let (Some(title), Some(value)) = (title, value) {
                        fields.push(AttachmentField {
                            title: title.value,
                            value,
                            short,
                        });
                    }
                }
            }
            _ => a.err(
                cx,
                "fields",
                Some(item.span()),
                "expected an array of tables".into(),
            ),
        }
    }
    Some(Attachments {
        color_added,
        color_changed,
        color_removed,
        color_other,
        title: a.template(cx, "title"),
        title_link: a.template(cx, "title_link"),
        fields,
    })
}

fn is_color(s: &str) -> bool {
    matches!(s, "good" | "warning" | "danger")
        || (s.len() == 7 && s.starts_with('#') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit()))
}
