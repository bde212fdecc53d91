//! The entry point: go-plugin's `Serve` + `RPCServer.ServeConn` for the netrpc protocol.
//!
//! After the handshake the host dials once; we run yamux as server, accept stream 1 (control:
//! `Control.Ping`, `Control.Quit`, `Dispenser.Dispense`), streams 3 and 5 (the host's copies of
//! our stdout/stderr), and hand every later stream to the broker. `serve` returns on
//! `Control.Quit` (after the reply is written), when the connection ends, or on GoAway.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::broker::Broker;
use crate::handshake::{self, Listener, ServeConfig};
use crate::log;
use crate::netrpc::{self, Named, Service};
use crate::yamux::{self, End, Session};

/// Builds the net/rpc service for one dispensed plugin; gets the broker so the service can
/// dial the host's reserved ids and reserve/accept its own.
pub type PluginFactory = Box<dyn Fn(&Broker) -> Result<Arc<dyn Service>, String> + Send + Sync>;

/// The plugins this process can dispense, by name (Mattermost asks for `"hooks"`).
#[derive(Default)]
pub struct Plugins {
    factories: HashMap<String, PluginFactory>,
}

impl Plugins {
    pub fn new() -> Plugins {
        Plugins::default()
    }

    /// Add a plugin; each `Dispense(name)` calls `factory` once.
    pub fn with<F>(mut self, name: impl Into<String>, factory: F) -> Plugins
    where
        F: Fn(&Broker) -> Result<Arc<dyn Service>, String> + Send + Sync + 'static,
    {
        self.factories.insert(name.into(), Box::new(factory));
        self
    }
}

/// Why `serve` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("plugin init error: {0}")]
    Listen(std::io::Error),
    #[error("writing the handshake line: {0}")]
    Handshake(std::io::Error),
    #[error("waiting for the host to connect: {0}")]
    Connect(std::io::Error),
    #[error("starting the yamux session: {0}")]
    Session(std::io::Error),
    #[error("accepting the {which} stream: {source}")]
    Accept {
        which: &'static str,
        source: yamux::Error,
    },
}

/// How long the host may take to dial after the handshake line.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// Run the plugin side of go-plugin netrpc until the host quits or goes away.
///
/// Exits the process with status 1 (after Go's message on stderr) when the magic cookie is
/// missing or wrong, i.e. when the binary was started by hand.
pub fn serve(config: ServeConfig, plugins: Plugins) -> Result<(), ServeError> {
    let cookie = std::env::var(&config.magic_cookie_key).ok();
    if let Err(msg) = handshake::check_cookie(&config, cookie.as_deref()) {
        eprint!("{msg}");
        std::process::exit(1);
    }
    handshake::ignore_sigint();
    let versions = std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok();
    handshake::warn_version(versions.as_deref(), config.app_protocol_version);

    let dir = handshake::socket_dir(std::env::var("PLUGIN_UNIX_SOCKET_DIR").ok());
    let listener = Listener::bind(&dir).map_err(ServeError::Listen)?;
    if let Ok(group) = std::env::var("PLUGIN_UNIX_SOCKET_GROUP")
        && !group.is_empty()
    {
        listener.set_group(&group).map_err(ServeError::Listen)?;
    }
    log::debug!("plugin address: unix {}", listener.path().display());
    let line = handshake::handshake_line(config.app_protocol_version, listener.path());
    handshake::print_handshake(&line).map_err(ServeError::Handshake)?;

    let conn = listener
        .accept(CONNECT_TIMEOUT)
        .map_err(ServeError::Connect)?;
    // One connection is all the host makes: the socket file can go now.
    drop(listener);
    let session =
        Session::server_unix(conn, yamux::Config::default()).map_err(ServeError::Session)?;
    serve_session(session, plugins, true)
}

/// The part of [`serve`] after the connection exists (usable over any transport).
/// `redirect_stdout`: point this process's fd 1 at the host's stdout stream.
pub fn serve_session(
    session: Session,
    plugins: Plugins,
    redirect_stdout: bool,
) -> Result<(), ServeError> {
    let accept = |which| {
        session
            .accept()
            .map_err(|source| ServeError::Accept { which, source })
    };
    let control = accept("control")?;
    // Kept open for the whole session like Go's copies; we write nothing to stderr's copy.
    let stdout = accept("stdout")?;
    let _stderr = accept("stderr")?;
    if redirect_stdout && let Err(e) = handshake::redirect_stdout(stdout.clone()) {
        log::warning!("cannot redirect stdout to the host's stream: {e}");
    }

    let broker = Broker::new(session.clone());
    spawn("broker-accept", {
        let (session, broker) = (session.clone(), broker.clone());
        move || {
            while let Ok(stream) = session.accept() {
                broker.handle_incoming(stream);
            }
        }
    });

    let (done_tx, done_rx) = mpsc::channel::<String>();
    let control_service = Arc::new(ControlService {
        plugins,
        broker,
        done: Mutex::new(done_tx.clone()),
    });
    spawn("control", move || netrpc::serve(control, control_service));
    spawn("session-watch", {
        let session = session.clone();
        move || {
            let why = match session.wait_end() {
                End::Closed(reason) => format!("connection ended: {reason}"),
                End::RemoteGoAway => "host sent GoAway".to_string(),
            };
            let _ = done_tx.send(why);
        }
    });
    let why = done_rx
        .recv()
        .unwrap_or_else(|_| "all watchers gone".to_string());
    log::debug!("plugin server stopping: {why}");
    session.close();
    Ok(())
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        log::error!("cannot start {name} thread: {e}");
    }
}

/// `Control` and `Dispenser`, the two services on the control stream (go-plugin
/// `controlServer`, `dispenseServer`).
struct ControlService {
    plugins: Plugins,
    broker: Broker,
    done: Mutex<mpsc::Sender<String>>,
}

impl Service for ControlService {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
        match method {
            "Control.Ping" | "Control.Quit" => Ok(Box::new(gob::Empty)),
            "Dispenser.Dispense" => self.dispense(body),
            _ => match method.rsplit_once('.') {
                Some(("Control" | "Dispenser", _)) => Err(netrpc::unknown_method(method)),
                _ => Err(netrpc::unknown_service(method)),
            },
        }
    }

    fn replied(&self, method: &str) {
        if method == "Control.Quit" {
            let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            let _ = done.send("host sent Control.Quit".to_string());
        }
    }
}

impl ControlService {
    fn dispense(&self, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
        let name: String = gob::from_value(body)
            .map_err(|e| format!("Dispenser.Dispense: argument is not a string: {e}"))?;
        let factory = self
            .plugins
            .factories
            .get(&name)
            .ok_or_else(|| format!("unknown plugin type: {name}"))?;
        let service = factory(&self.broker)?;
        let id = self.broker.next_id();
        let broker = self.broker.clone();
        spawn("dispensed", move || match broker.accept(id) {
            Ok(stream) => netrpc::serve(stream, Arc::new(Named::new("Plugin", service))),
            Err(e) => log::error!("plugin dispense error: {name}: {e}"),
        });
        Ok(Box::new(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netrpc::{CallError, Client};
    use std::os::unix::net::UnixStream;

    struct Hello;
    impl Service for Hello {
        fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
            match method {
                "Plugin.Hello" => {
                    let name: String = gob::from_value(body).map_err(|e| e.to_string())?;
                    Ok(Box::new(format!("hello, {name}")))
                }
                _ => Err(netrpc::unknown_method(method)),
            }
        }
    }

    /// The host's view, in process: control, dispense, hooks stream, Quit.
    #[test]
    fn control_dispense_and_quit() {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let quiet = yamux::Config {
            keepalive_interval: None,
            ..yamux::Config::default()
        };
        let host = Session::client_unix(a, quiet.clone()).expect("host");
        let plugin = Session::server_unix(b, quiet).expect("plugin");
        let plugins =
            Plugins::new().with(
                "hooks",
                |_: &Broker| Ok(Arc::new(Hello) as Arc<dyn Service>),
            );
        let served = std::thread::spawn(move || serve_session(plugin, plugins, false));

        let control = Client::new(host.open().expect("control"));
        let _stdout = host.open().expect("stdout");
        let _stderr = host.open().expect("stderr");
        let _: gob::Empty = control.call("Control.Ping", &true).expect("ping");
        match control.call::<_, u32>("Dispenser.Dispense", "nope") {
            Err(CallError::Remote(m)) => assert_eq!(m, "unknown plugin type: nope"),
            other => panic!("{other:?}"),
        }
        match control.call::<_, gob::Empty>("Control.Nope", &true) {
            Err(CallError::Remote(m)) => assert_eq!(m, "rpc: can't find method Control.Nope"),
            other => panic!("{other:?}"),
        }
        let id: u32 = control
            .call("Dispenser.Dispense", "hooks")
            .expect("dispense");
        assert_eq!(id, 1);
        // Dial the plugin's broker id the way go-plugin's MuxBroker.Dial does.
        let hooks = host.open_with(&id.to_le_bytes()).expect("open hooks");
        let mut ack = [0u8; 4];
        std::io::Read::read_exact(&mut &hooks, &mut ack).expect("ack");
        assert_eq!(ack, [1, 0, 0, 0]);
        let hooks = Client::new(hooks);
        let r: String = hooks.call("Plugin.Hello", "go").expect("hook");
        assert_eq!(r, "hello, go");
        let _: gob::Empty = control.call("Control.Quit", &true).expect("quit");
        assert!(served.join().expect("join").is_ok());
        assert!(matches!(host.wait_end(), End::Closed(_)));
    }
}
