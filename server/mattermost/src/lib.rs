//! mattermost: placeholder, being written.
