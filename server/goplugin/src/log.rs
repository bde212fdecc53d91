//! Logging for this crate: one line per message on **stderr**, prefixed with the level tag that
//! go-plugin's host parses (`[DEBUG]`, `[INFO]`, `[WARN]`, `[ERROR]`). Never stdout: after the
//! handshake line stdout belongs to the host.

use std::fmt;
use std::io::Write;

pub(crate) fn write(level: &str, args: fmt::Arguments<'_>) {
    // Format first and write once, so lines from concurrent threads do not interleave.
    let line = format!("[{level}] goplugin: {args}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

macro_rules! debug {
    ($($t:tt)*) => { $crate::log::write("DEBUG", format_args!($($t)*)) };
}
#[allow(unused_macros)]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::write("INFO", format_args!($($t)*)) };
}
macro_rules! warning {
    ($($t:tt)*) => { $crate::log::write("WARN", format_args!($($t)*)) };
}
macro_rules! error {
    ($($t:tt)*) => { $crate::log::write("ERROR", format_args!($($t)*)) };
}
#[allow(unused_imports)]
pub(crate) use {debug, error, info, warning};
