//! A SQLite connection's settings: its URL is a path to the file (opened read-only).

use crate::config::DEFAULT_MAX_BYTES_DATABASE;
use crate::config::connection::KindRules;

/// What reading the configuration needs to know of SQLite connections.
pub(crate) const RULES: KindRules = KindRules {
    names: &["sqlite"],
    url_ok: |url| !url.is_empty() && !url.contains("://"),
    url_expected: "a path to a SQLite file",
    default_max_bytes: DEFAULT_MAX_BYTES_DATABASE,
};
