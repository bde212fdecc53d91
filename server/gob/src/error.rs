//! The crate's error type.

/// Everything that can go wrong while encoding or decoding gob.
///
/// Messages name what was being decoded (type id, field, element) so a
/// failing RPC can be traced back to the offending value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream ended cleanly before the first byte of a message.
    #[error("gob: end of stream")]
    Eof,
    /// The underlying reader failed (including an unexpected end of stream).
    #[error("gob: i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The input does not follow the gob format.
    #[error("gob: malformed input: {0}")]
    Malformed(String),
    /// A configured limit (message size, depth, counts) was exceeded.
    #[error("gob: limit exceeded: {0}")]
    Limit(String),
    /// A value does not fit the type it is encoded or decoded as.
    #[error("gob: type mismatch: {0}")]
    Mismatch(String),
    /// Something this implementation cannot express (e.g. Go-only kinds).
    #[error("gob: unsupported: {0}")]
    Unsupported(String),
    /// A serde (de)serialization error raised by user types.
    #[error("gob: {0}")]
    Custom(String),
}

impl Error {
    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Error::Malformed(msg.into())
    }
    pub(crate) fn mismatch(msg: impl Into<String>) -> Self {
        Error::Mismatch(msg.into())
    }
    /// Prefix the message with context ("decoding field X: …").
    ///
    /// Deeply nested values would otherwise repeat one prefix per level ("field Next: field
    /// Next: …" for a long linked list); past [`MAX_CONTEXT`] bytes the outer prefixes are
    /// replaced by one "…", keeping the ones nearest the error.
    pub(crate) fn context(self, what: &str) -> Self {
        let add = |m: String| {
            if m.len() < MAX_CONTEXT {
                format!("{what}: {m}")
            } else if m.starts_with(ELLIPSIS) {
                m
            } else {
                format!("{ELLIPSIS}{m}")
            }
        };
        match self {
            Error::Malformed(m) => Error::Malformed(add(m)),
            Error::Limit(m) => Error::Limit(add(m)),
            Error::Mismatch(m) => Error::Mismatch(add(m)),
            Error::Unsupported(m) => Error::Unsupported(add(m)),
            Error::Custom(m) => Error::Custom(add(m)),
            other => other,
        }
    }
}

/// Length past which [`Error::context`] stops adding prefixes.
const MAX_CONTEXT: usize = 240;
const ELLIPSIS: &str = "…: ";

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_stops_growing_and_keeps_the_innermost_prefixes() {
        let mut e = Error::Limit("nesting deeper than 1000".into());
        for _ in 0..1000 {
            e = e.context("field Next");
        }
        let msg = e.to_string();
        assert!(msg.len() < MAX_CONTEXT + 80, "{} bytes: {msg}", msg.len());
        assert!(msg.contains("…: field Next: field Next"), "{msg}");
        assert!(
            msg.ends_with("field Next: nesting deeper than 1000"),
            "{msg}"
        );
        assert_eq!(msg.matches('…').count(), 1, "{msg}");
        // Short chains are untouched.
        let short = Error::malformed("bad")
            .context("element 3")
            .context("field A");
        assert_eq!(
            short.to_string(),
            "gob: malformed input: field A: element 3: bad"
        );
    }
}
