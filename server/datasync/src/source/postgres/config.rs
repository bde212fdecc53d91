//! A PostgreSQL connection's settings: the URL's shape, checked when the configuration is
//! read, and at connect the URL's TLS parameters (`sslmode`, `sslrootcert`) and timeouts
//! turned into driver settings.

use crate::config::DEFAULT_MAX_BYTES_DATABASE;
use crate::config::connection::KindRules;
use crate::source::{Cx, SourceError, percent_decode};

/// What reading the configuration needs to know of PostgreSQL connections.
pub(crate) const RULES: KindRules = KindRules {
    names: &["postgres", "postgresql"],
    url_ok: |url| url.starts_with("postgres://") || url.starts_with("postgresql://"),
    url_expected: "a postgres://user:password@host/db URL",
    default_max_bytes: DEFAULT_MAX_BYTES_DATABASE,
};

/// How to verify the server's certificate (libpq's `sslmode` semantics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Verify {
    /// `prefer`/`require` without a root certificate: encrypted, not authenticated.
    None,
    /// `verify-ca` (or `require` with `sslrootcert`): chain checked, host name not.
    Chain,
    /// `verify-full`: chain and host name.
    Full,
}

pub(super) struct Settings {
    pub(super) config: tokio_postgres::Config,
    pub(super) verify: Verify,
    pub(super) root_cert: Option<String>,
    pub(super) target: String,
}

impl Settings {
    /// Parses the URL; `sslmode=verify-ca|verify-full` and `sslrootcert` are handled here
    /// because tokio-postgres knows only disable/prefer/require.
    pub(super) fn parse(cx: &Cx<'_>) -> Result<Settings, SourceError> {
        let url = cx.conn.url.expose();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut sslmode = None;
        let mut root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match percent_decode(key).as_str() {
                "sslmode" => sslmode = Some(percent_decode(value)),
                "sslrootcert" => root_cert = Some(percent_decode(value)),
                _ => kept.push(pair),
            }
        }
        let (driver_mode, verify) = match sslmode.as_deref().unwrap_or("prefer") {
            "disable" => ("disable", Verify::None),
            "allow" | "prefer" => ("prefer", Verify::None),
            "require" if root_cert.is_some() => ("require", Verify::Chain),
            "require" => ("require", Verify::None),
            "verify-ca" => ("require", Verify::Chain),
            "verify-full" => ("require", Verify::Full),
            other => {
                return Err(cx.connect_err(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        };
        kept.push(match driver_mode {
            "disable" => "sslmode=disable",
            "prefer" => "sslmode=prefer",
            _ => "sslmode=require",
        });
        let cleaned = format!("{base}?{}", kept.join("&"));
        let mut config: tokio_postgres::Config = cleaned
            .parse()
            .map_err(|e| cx.connect_err(format!("the connection URL is not valid: {e}")))?;
        config.connect_timeout(cx.conn.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("mattermost-datasync");
        }
        let target = describe_target(&config);
        Ok(Settings {
            config,
            verify,
            root_cert,
            target,
        })
    }
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => format!("{host}:{port}"),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => format!("socket {}", path.display()),
        None => format!("localhost:{port}"),
    }
}
