//! A sync checked against a result's columns, once a query has run.

use std::fmt;

use super::{Mode, Routing, SyncConfig};

/// A template reference to something that is not a column of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateWarning {
    pub sync: String,
    pub field: String,
    pub name: String,
}

impl fmt::Display for TemplateWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sync {:?}, field {:?}: {:?} is not a column of the result (it will be left as written or render empty)",
            self.sync, self.field, self.name
        )
    }
}

/// Checks a sync's templates, key, watched and routing columns against a result's columns
/// (known only after a query runs: preview, dry run, validate with a connection).
pub fn check_columns(sync: &SyncConfig, columns: &[String]) -> Vec<TemplateWarning> {
    let mut out = Vec::new();
    let has = |c: &str| columns.iter().any(|x| x == c);
    let mut warn = |field: &str, name: &str| {
        out.push(TemplateWarning {
            sync: sync.name.clone(),
            field: field.to_string(),
            name: name.to_string(),
        })
    };
    for k in &sync.diff.key {
        if !has(k) {
            warn("key", k);
        }
    }
    for w in sync.diff.watched.iter().flatten() {
        if !has(w) {
            warn("watched", w);
        }
    }
    if let Routing::Column(c) = &sync.routing
        && !has(c)
    {
        warn("channel_column", c);
    }
    let mut templates = sync.mode.templates();
    if let Some(a) = &sync.attachments {
        templates.extend(a.title.iter().map(|t| ("attachments.title", t)));
        templates.extend(a.title_link.iter().map(|t| ("attachments.title_link", t)));
        templates.extend(a.fields.iter().map(|f| ("attachments.fields", &f.value)));
    }
    if let Mode::Table { columns: cols, .. } = &sync.mode {
        for c in cols.iter().filter_map(|c| c.column.as_deref()) {
            if !has(c) {
                warn("table.columns", c);
            }
        }
    }
    for (field, t) in templates {
        for name in t.column_refs() {
            if !has(name) {
                warn(field, name);
            }
        }
    }
    out
}
