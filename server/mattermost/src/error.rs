//! Errors of API calls (plugin → server) and their mapping from Go's error shapes.

use gob::Any;

use crate::model::{AppError, ErrorString};

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a `*model.AppError` (status code, id, detail kept).
    #[error("{method}: {error} (id {}, status {})", error.id, error.status_code)]
    App {
        method: &'static str,
        /// Boxed: keeps `Result<T, ApiError>` small.
        error: Box<AppError>,
    },
    /// The server answered with another Go error value (`*plugin.ErrorString`, `*pq.Error`, …).
    #[error("{method}: {type_name}: {message}")]
    Remote {
        method: &'static str,
        type_name: String,
        message: String,
    },
    /// The server does not know this method (`rpc: can't find method Plugin.X`): older server.
    #[error("{method} is not available on this server")]
    NotAvailable { method: &'static str },
    /// Transport or protocol failure (stream closed, reply did not decode, …).
    #[error("{method}: RPC failed: {message}")]
    Rpc {
        method: &'static str,
        message: String,
    },
    /// The plugin used the API before OnActivate connected it.
    #[error("{method}: the API is not connected yet (before OnActivate)")]
    NotConnected { method: &'static str },
}

impl ApiError {
    /// The server's AppError, if that is what this is.
    pub fn app_error(&self) -> Option<&AppError> {
        match self {
            ApiError::App { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// True when the server lacks the method (so a fallback may be tried).
    pub fn is_not_available(&self) -> bool {
        matches!(self, ApiError::NotAvailable { .. })
    }

    /// The HTTP-like status code: the AppError's, else 500.
    pub fn status_code(&self) -> i64 {
        match self {
            ApiError::App { error, .. } if error.status_code != 0 => error.status_code,
            _ => 500,
        }
    }

    /// Maps a net/rpc failure; "can't find method" means the server is too old for it.
    pub(crate) fn from_call(method: &'static str, err: goplugin::netrpc::CallError) -> Self {
        let message = err.to_string();
        if message.contains("can't find method") || message.contains("can't find service") {
            ApiError::NotAvailable { method }
        } else {
            ApiError::Rpc { method, message }
        }
    }
}

/// Hooks can use `?` on API calls: the error becomes an AppError for the server.
impl From<ApiError> for AppError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::App { error, .. } => *error,
            other => AppError::new("plugin.api.error", &other.to_string(), other.status_code()),
        }
    }
}

/// Decodes a Go `error` interface field: nil → Ok, `*model.AppError` → App, others → Remote.
pub(crate) fn check_error_any(method: &'static str, value: &Any) -> Result<(), ApiError> {
    let Some(name) = value.name() else {
        return Ok(());
    };
    if name == "*model.AppError" {
        return Err(match value.decode::<AppError>() {
            Ok(error) => ApiError::App {
                method,
                error: Box::new(error),
            },
            Err(e) => ApiError::Rpc {
                method,
                message: format!("undecodable *model.AppError: {e}"),
            },
        });
    }
    let message = if name == "*plugin.ErrorString" {
        value
            .decode::<ErrorString>()
            .map(|e| e.err)
            .unwrap_or_else(|e| format!("undecodable error: {e}"))
    } else {
        value.to_json().to_string()
    };
    Err(ApiError::Remote {
        method,
        type_name: name.to_owned(),
        message,
    })
}

/// Decodes a concrete `*model.AppError` field: None → Ok.
pub(crate) fn check_app_error(
    method: &'static str,
    value: Option<AppError>,
) -> Result<(), ApiError> {
    match value {
        None => Ok(()),
        Some(error) => Err(ApiError::App {
            method,
            error: Box::new(error),
        }),
    }
}
