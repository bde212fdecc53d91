//! Files the bundle ships beside the executable (`assets/` in the repository and the bundle).
//!
//! The bot's profile image is set from the bundle on every activation, as Mattermost's
//! pluginapi `EnsureBot` does with `ProfileImagePath`. A failure (an old bundle without the
//! file, a server refusing the image) is logged as a warning: the bot then keeps its default
//! picture, and activation goes on.

use mattermost::Api;

/// The bot's profile image, relative to the bundle (made by `scripts/make-profile-png.py`).
pub const BOT_PROFILE_IMAGE: &str = "assets/profile.png";

/// Sets the bot's profile image from the bundle; logs a warning when that fails.
pub fn set_bot_profile_image(api: &Api, bot_id: &str) {
    if let Err(e) = mattermost::set_profile_image_from_bundle(api, bot_id, BOT_PROFILE_IMAGE) {
        api.log_warn(
            "Data Sync: could not set the bot's profile image; it keeps the default one",
            &[("image", BOT_PROFILE_IMAGE), ("error", &e.to_string())],
        );
    }
}
