//! Bot helpers: `ensure_bot` that works from server 5.37 on, and profile images from the bundle.

use std::path::{Path, PathBuf};

use crate::api::Api;
use crate::error::ApiError;
use crate::model::{Bot, BotPatch};

/// KV key where the server (and pluginapi) remember the plugin's bot user id.
pub const BOT_ID_KEY: &str = "mmi_botid";

/// Why `ensure_bot` or `set_profile_image_from_bundle` failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("username {username:?} belongs to a regular user, not a bot")]
    UsernameTaken { username: String },
    #[error("stored bot id under {BOT_ID_KEY} is not UTF-8")]
    BadStoredId,
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Creates or updates the plugin's bot and returns its user id.
///
/// Uses `EnsureBotUser` where the server has it; on servers without it does what the server's
/// EnsureBot does with older calls: the id stored under `mmi_botid` (patched to the wanted
/// names), else an existing bot user with that username, else `CreateBot`; the id is stored.
pub fn ensure_bot(api: &Api, bot: &Bot) -> Result<String, BotError> {
    match api.ensure_bot_user(bot) {
        Ok(id) => return Ok(id),
        Err(e) if e.is_not_available() => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(id) = stored_bot(api)?
        && api_found(api.get_bot(&id, true))?.is_some()
    {
        let patch = BotPatch {
            username: Some(bot.username.clone()),
            display_name: non_empty(&bot.display_name),
            description: non_empty(&bot.description),
        };
        api.patch_bot(&id, &patch)?;
        return Ok(id);
    }
    if let Some(user) = api_found(api.get_user_by_username(&bot.username))? {
        if !user.is_bot {
            return Err(BotError::UsernameTaken {
                username: bot.username.clone(),
            });
        }
        api.kv_set(BOT_ID_KEY, user.id.as_bytes())?;
        return Ok(user.id);
    }
    let created = api.create_bot(bot)?;
    api.kv_set(BOT_ID_KEY, created.user_id.as_bytes())?;
    Ok(created.user_id)
}

/// Sets a user's (bot's) profile image from a file inside the plugin bundle,
/// e.g. `assets/icon.png` (the process cwd is the server's, so the bundle path is asked for).
pub fn set_profile_image_from_bundle(
    api: &Api,
    user_id: &str,
    relative_path: &str,
) -> Result<(), BotError> {
    let path = Path::new(&api.get_bundle_path()?).join(relative_path);
    let data = std::fs::read(&path).map_err(|source| BotError::Read { path, source })?;
    api.set_profile_image(user_id, &data)?;
    Ok(())
}

fn stored_bot(api: &Api) -> Result<Option<String>, BotError> {
    match api.kv_get(BOT_ID_KEY)? {
        None => Ok(None),
        Some(raw) => String::from_utf8(raw)
            .map(Some)
            .map_err(|_| BotError::BadStoredId),
    }
}

/// A 404 AppError means "not there"; other errors stay errors.
fn api_found<T>(result: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.app_error().is_some_and(|a| a.status_code == 404) => Ok(None),
        Err(e) => Err(e),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}
