//! Process start-up as go-plugin's `Serve` does it: magic-cookie check, SIGINT ignored, a unix
//! socket at a fresh temp path, and the one handshake line on stdout
//! (`CORE|APP|unix|<path>|netrpc|`). Also moves later stdout writes off the real stdout.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::log;

/// go-plugin's core protocol version (first handshake field).
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// What the host and plugin agree on (go-plugin's `HandshakeConfig`). Mattermost uses
/// key `MATTERMOST_PLUGIN`, value `Securely message teams, anywhere.`, version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    pub magic_cookie_key: String,
    pub magic_cookie_value: String,
    pub app_protocol_version: u32,
}

/// Go's message for a binary started by hand.
pub const NOT_A_PLUGIN: &str = "This binary is a plugin. These are not meant to be executed directly.\n\
Please execute the program that consumes these plugins, which will\n\
load any plugins automatically\n";

/// Check the magic cookie in the environment. `Err` carries the text to print on stderr.
pub fn check_cookie(config: &ServeConfig, env_value: Option<&str>) -> Result<(), String> {
    if config.magic_cookie_key.is_empty() || config.magic_cookie_value.is_empty() {
        return Err(
            "Misconfigured ServeConfig given to serve this plugin: no magic cookie\n\
key or value was set. Please notify the plugin author and report\n\
this as a bug.\n"
                .into(),
        );
    }
    if env_value != Some(config.magic_cookie_value.as_str()) {
        return Err(NOT_A_PLUGIN.into());
    }
    Ok(())
}

/// Whether the host's `PLUGIN_PROTOCOL_VERSIONS` list (comma separated) offers `ours`.
/// No list = an old host that does not negotiate: fine.
pub fn version_offered(env_value: Option<&str>, ours: u32) -> bool {
    match env_value {
        None | Some("") => true,
        Some(list) => list.split(',').any(|v| v.trim().parse::<u32>() == Ok(ours)),
    }
}

/// The handshake line, newline included.
pub fn handshake_line(app_version: u32, socket: &Path) -> String {
    format!(
        "{CORE_PROTOCOL_VERSION}|{app_version}|unix|{}|netrpc|\n",
        socket.display()
    )
}

/// go-plugin plugins ignore SIGINT so Ctrl-C on a foreground host does not kill them before
/// the host shuts them down.
pub fn ignore_sigint() {
    // SAFETY: installing SIG_IGN for SIGINT has no preconditions and touches no Rust state.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
}

/// A listening unix socket whose file is removed when dropped (Go's `rmListener`).
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
}

impl Listener {
    /// Bind `plugin<random digits>` in `dir` (`PLUGIN_UNIX_SOCKET_DIR` or the temp dir).
    pub fn bind(dir: &Path) -> io::Result<Listener> {
        for attempt in 0..10_000u32 {
            let path = dir.join(format!("plugin{}", random_u32(attempt)));
            match UnixListener::bind(&path) {
                Ok(listener) => return Ok(Listener { listener, path }),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("binding plugin socket {}: {e}", path.display()),
                    ));
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("no free plugin socket name in {}", dir.display()),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wait for the host's connection; give up after `timeout` so a host that died between
    /// reading the handshake and dialling does not leave us running forever.
    pub fn accept(&self, timeout: Duration) -> io::Result<UnixStream> {
        let mut pfd = libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        loop {
            // SAFETY: `pfd` is a valid pollfd for the duration of the call; nfds = 1.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the host did not connect within {timeout:?}"),
                ));
            }
            return self.listener.accept().map(|(s, _)| s);
        }
    }

    /// Apply `PLUGIN_UNIX_SOCKET_GROUP` (group name or gid): group-owned, mode 0660.
    pub fn set_group(&self, group: &str) -> io::Result<()> {
        let gid = match group.parse::<libc::gid_t>() {
            Ok(g) => g,
            Err(_) => lookup_group(group)?,
        };
        let c_path = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket path has NUL"))?;
        // SAFETY: c_path is a valid NUL-terminated string; uid -1 (as uid_t) = unchanged.
        let rc = unsafe { libc::chown(c_path.as_ptr(), libc::uid_t::MAX, gid) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o660))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lookup_group(name: &str) -> io::Result<libc::gid_t> {
    let c_name = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "group name has NUL"))?;
    // SAFETY: called during start-up before other threads use getgr*; the result pointer is
    // checked for NULL and only read immediately.
    let gr = unsafe { libc::getgrnam(c_name.as_ptr()) };
    if gr.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("failed to find gid from {name:?}"),
        ));
    }
    // SAFETY: non-NULL pointer returned by getgrnam points at a valid `group`.
    Ok(unsafe { (*gr).gr_gid })
}

/// A random number for socket names, from std's randomly seeded hasher (no extra crate).
fn random_u32(salt: u32) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(salt);
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    (h.finish() >> 32) as u32
}

/// Print the handshake line and flush: the only thing we ever write to the real stdout.
pub fn print_handshake(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.flush()
}

/// Point fd 1 at a pipe and forward what arrives to `sink` (the host's stdout stream), so a
/// stray `println!` can neither corrupt nor block the host's stdout pipe. Go plugins do the
/// same with `os.Stdout`. If the sink fails, output is drained and dropped.
pub fn redirect_stdout<W: Write + Send + 'static>(mut sink: W) -> io::Result<()> {
    let _ = io::stdout().lock().flush();
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints for pipe() to fill.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe() succeeded, so both fds are open and owned by nobody else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: both fds are valid; dup2 atomically replaces fd 1.
    if unsafe { libc::dup2(write_end.as_raw_fd(), 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(write_end);
    let mut pipe = std::fs::File::from(read_end);
    std::thread::Builder::new()
        .name("stdout-forward".into())
        .spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            let mut sink_ok = true;
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                };
                if sink_ok && let Some(chunk) = buf.get(..n) {
                    sink_ok = sink.write_all(chunk).is_ok();
                }
            }
        })?;
    Ok(())
}

/// The socket directory: `PLUGIN_UNIX_SOCKET_DIR` if set, else the system temp dir.
pub fn socket_dir(env_value: Option<String>) -> PathBuf {
    match env_value {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir(),
    }
}

pub(crate) fn warn_version(env_value: Option<&str>, ours: u32) {
    if !version_offered(env_value, ours) {
        log::warning!(
            "host offers plugin protocol versions {:?}, we speak {ours}; answering {ours} anyway",
            env_value.unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ServeConfig {
        ServeConfig {
            magic_cookie_key: "MATTERMOST_PLUGIN".into(),
            magic_cookie_value: "Securely message teams, anywhere.".into(),
            app_protocol_version: 1,
        }
    }

    #[test]
    fn cookie_must_match_exactly() {
        assert!(check_cookie(&cfg(), Some("Securely message teams, anywhere.")).is_ok());
        assert_eq!(check_cookie(&cfg(), None), Err(NOT_A_PLUGIN.to_string()));
        assert!(check_cookie(&cfg(), Some("Securely message teams, anywhere")).is_err());
        let mut empty = cfg();
        empty.magic_cookie_value.clear();
        assert!(check_cookie(&empty, Some("")).is_err_and(|m| m.contains("Misconfigured")));
    }

    #[test]
    fn versions() {
        assert!(version_offered(Some("1"), 1));
        assert!(version_offered(Some("2,1"), 1));
        assert!(!version_offered(Some("2,3"), 1));
        assert!(version_offered(None, 1));
    }

    #[test]
    fn line_has_six_fields() {
        let line = handshake_line(1, Path::new("/tmp/plugin123"));
        assert_eq!(line, "1|1|unix|/tmp/plugin123|netrpc|\n");
        assert_eq!(line.trim_end().split('|').count(), 6);
    }

    #[test]
    fn listener_binds_fresh_name_and_removes_file() {
        let dir = std::env::temp_dir();
        let l = Listener::bind(&dir).expect("bind");
        let path = l.path().to_path_buf();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(name.starts_with("plugin") && name[6..].chars().all(|c| c.is_ascii_digit()));
        assert!(path.exists());
        let client = std::thread::spawn({
            let p = path.clone();
            move || UnixStream::connect(p).map(|_| ())
        });
        assert!(l.accept(Duration::from_secs(20)).is_ok());
        assert!(client.join().is_ok_and(|r| r.is_ok()));
        drop(l);
        assert!(!path.exists());
    }

    #[test]
    fn accept_times_out() {
        let l = Listener::bind(&std::env::temp_dir()).expect("bind");
        let err = l
            .accept(Duration::from_millis(20))
            .expect_err("nobody connects");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
