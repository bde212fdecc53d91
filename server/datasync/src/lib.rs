//! Data Sync for Mattermost: the engine (being written).
pub mod diff;
pub mod row;
pub mod source;
