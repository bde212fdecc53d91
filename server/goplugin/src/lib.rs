//! goplugin: placeholder, being written.
