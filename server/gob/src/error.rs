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
    pub(crate) fn context(self, what: &str) -> Self {
        match self {
            Error::Malformed(m) => Error::Malformed(format!("{what}: {m}")),
            Error::Limit(m) => Error::Limit(format!("{what}: {m}")),
            Error::Mismatch(m) => Error::Mismatch(format!("{what}: {m}")),
            Error::Unsupported(m) => Error::Unsupported(format!("{what}: {m}")),
            Error::Custom(m) => Error::Custom(format!("{what}: {m}")),
            other => other,
        }
    }
}

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
