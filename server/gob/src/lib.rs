//! gob: placeholder, being written.
