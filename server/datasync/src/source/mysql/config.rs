//! A MySQL/MariaDB connection's settings: the URL's shape, checked when the configuration
//! is read, and at connect the URL's TLS parameters (`ssl-mode`, `sslrootcert`), timeouts
//! and byte budget turned into driver options.

use std::time::Duration;

use mysql::{Opts, OptsBuilder, SslOpts};

use crate::config::DEFAULT_MAX_BYTES_DATABASE;
use crate::config::connection::KindRules;
use crate::source::{Cx, SourceError, percent_decode};

/// What reading the configuration needs to know of MySQL/MariaDB connections.
pub(crate) const RULES: KindRules = KindRules {
    names: &["mysql", "mariadb"],
    url_ok: |url| url.starts_with("mysql://"),
    url_expected: "a mysql://user:password@host/db URL",
    default_max_bytes: DEFAULT_MAX_BYTES_DATABASE,
};

/// Extra time the socket read waits beyond the statement timeout (a server that ignores
/// its own timeout, or a dead network).
const CLIENT_GRACE: Duration = Duration::from_secs(5);

/// Room for a row packet's framing and length prefixes above the byte budget.
const PACKET_OVERHEAD: usize = 64 * 1024;

pub(super) fn options(cx: &Cx<'_>) -> Result<(Opts, String), SourceError> {
    let url = cx.conn.url.expose();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root_cert = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(key).to_ascii_lowercase().as_str() {
            "ssl-mode" | "sslmode" | "ssl_mode" => {
                mode = Some(percent_decode(value).to_ascii_lowercase())
            }
            "sslrootcert" => root_cert = Some(percent_decode(value)),
            _ => kept.push(pair),
        }
    }
    let cleaned = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let opts = Opts::from_url(&cleaned)
        .map_err(|e| cx.connect_err(format!("the connection URL is not valid: {e}")))?;
    let target = format!("{}:{}", opts.get_ip_or_hostname(), opts.get_tcp_port());
    let ssl = match mode.as_deref() {
        None => opts.get_ssl_opts().cloned(),
        Some("disable" | "disabled") => None,
        // Like libpq: `required` encrypts without checking the certificate, unless a root
        // certificate is given, then the chain is checked (not the host name).
        Some("require" | "required") => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(root_cert.is_none())
                .with_danger_skip_domain_validation(true),
        ),
        Some("verify-ca" | "verify_ca") => {
            Some(SslOpts::default().with_danger_skip_domain_validation(true))
        }
        Some("verify-full" | "verify_identity") => Some(SslOpts::default()),
        Some(other) => {
            return Err(cx.connect_err(format!(
                "ssl-mode {other:?} is not one of disabled, required, verify_ca, verify_identity"
            )));
        }
    };
    let ssl = match (ssl, root_cert) {
        (Some(ssl), Some(path)) => {
            Some(ssl.with_root_cert_path(Some(std::path::PathBuf::from(path))))
        }
        (ssl, _) => ssl,
    };
    let read_timeout = cx.query.statement_timeout.max(cx.conn.connect_timeout) + CLIENT_GRACE;
    let opts = OptsBuilder::from_opts(opts)
        // The crate would otherwise switch a loopback TCP connection to the server's
        // Unix socket, silently bypassing TLS and host-based grants.
        .prefer_socket(false)
        .tcp_connect_timeout(Some(cx.conn.connect_timeout))
        .read_timeout(Some(read_timeout))
        .write_timeout(Some(read_timeout))
        .stmt_cache_size(0)
        // A row larger than the byte budget is refused by the packet reader, before it
        // is buffered whole (the crate clamps this to MySQL's 1 KiB … 1 GiB).
        .max_allowed_packet(Some(cx.query.max_bytes.saturating_add(PACKET_OVERHEAD)))
        .ssl_opts(ssl);
    Ok((opts.into(), target))
}
