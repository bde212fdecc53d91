//! gob-derive: placeholder, being written.
