//! Who may use `/datasync`, and which syncs they see.
//!
//! System admins may do everything. The `Viewers` setting names users and teams who may
//! use the read-only subcommands, `Operators` those who may also run, preview, pause,
//! resume and reset. Everyone but admins sees only the syncs that post into one fixed
//! channel they can read: a sync that routes each row to its own channel or DM could show
//! rows meant for others.

use chrono_tz::Tz;
use datasync::config::{Routing, SyncConfig, Target};
use mattermost::{Api, User};

use super::{Cx, Sub};
use crate::settings::{Access, Principal};

/// What a caller may do, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    View,
    Operate,
    Admin,
}

/// Whoever runs a command, and where.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
    pub level: Level,
    /// Times are shown in the caller's time zone (their profile's; UTC if unknown).
    pub zone: Tz,
    pub channel_id: String,
    pub root_id: String,
}

impl Caller {
    /// Looks the user up and decides what they may do.
    pub fn new(
        api: &Api,
        access: &Access,
        user_id: &str,
        channel_id: &str,
        root_id: &str,
    ) -> Result<Caller, String> {
        let user = api
            .get_user(user_id)
            .map_err(|e| format!("Could not look you up: {e}"))?;
        let level = if api
            .has_permission_to(user_id, "manage_system")
            .unwrap_or(false)
        {
            Level::Admin
        } else if access.operators.iter().any(|p| is(api, &user, p)) {
            Level::Operate
        } else if access.viewers.iter().any(|p| is(api, &user, p)) {
            Level::View
        } else {
            Level::None
        };
        Ok(Caller {
            user_id: user_id.to_owned(),
            username: user.username.clone(),
            level,
            zone: zone(&user),
            channel_id: channel_id.to_owned(),
            root_id: root_id.to_owned(),
        })
    }

    /// Why the caller may not use `sub` (`None`: they may).
    pub fn denies(&self, sub: &Sub) -> Option<String> {
        let needed = if sub.needs_admin() {
            Level::Admin
        } else if sub.needs_operator() {
            Level::Operate
        } else if *sub == Sub::Help {
            Level::None
        } else {
            Level::View
        };
        self.lacks(needed)
    }

    /// Why the caller may not do what needs `needed` (`None`: they may).
    pub fn lacks(&self, needed: Level) -> Option<String> {
        if self.level >= needed {
            return None;
        }
        Some(match self.level {
            _ if needed == Level::Admin => "Only system admins may upload transform modules: \
                                            they run inside the plugin."
                .into(),
            Level::View => {
                "You may look at syncs but not run, preview, pause, resume or reset them, \
                            nor snooze their rows: a system admin can add you to *Operators* in \
                            System Console → Plugins → Data Sync."
                    .into()
            }
            _ => "You may not use Data Sync's commands or buttons: a system admin can add you to \
                  *Viewers* or *Operators* in System Console → Plugins → Data Sync."
                .into(),
        })
    }

    /// Whether the caller may see a sync: admins all; others a sync posting into one
    /// fixed channel they can read.
    pub fn sees(&self, cx: &Cx<'_>, sync: &SyncConfig) -> bool {
        if self.level == Level::Admin {
            return true;
        }
        let channel_id = match &sync.routing {
            Routing::Fixed(Target::ChannelId(id)) => id.clone(),
            Routing::Fixed(Target::TeamChannel { team, channel }) => {
                match cx
                    .api
                    .get_channel_by_name_for_team_name(team, channel, false)
                {
                    Ok(c) => c.id,
                    Err(_) => return false,
                }
            }
            _ => return false,
        };
        cx.api
            .has_permission_to_channel(&self.user_id, &channel_id, "read_channel")
            .unwrap_or(false)
    }
}

/// Whether the user is the principal, or a member of its team.
fn is(api: &Api, user: &User, principal: &Principal) -> bool {
    match principal {
        Principal::User(name) => user.username.eq_ignore_ascii_case(name),
        Principal::Team(name) => api.get_team_by_name(name).is_ok_and(|team| {
            api.has_permission_to_team(&user.id, &team.id, "view_team")
                .unwrap_or(false)
        }),
    }
}

/// The user's time zone from their profile (automatic or manual), else UTC.
fn zone(user: &User) -> Tz {
    let tz = &user.timezone;
    let automatic = tz.get("useAutomaticTimezone").is_none_or(|v| v == "true");
    let name = if automatic {
        tz.get("automaticTimezone")
    } else {
        tz.get("manualTimezone")
    };
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}
