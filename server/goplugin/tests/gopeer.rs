//! Interop test against the real Go implementations (hashicorp/go-plugin v1.7.0, yamux
//! v0.1.2, Go's net/rpc and encoding/gob).
//!
//! This binary has two roles. Run by `cargo test` it builds the Go host in `tests/gopeer/`
//! and runs it against itself; the Go host then starts this same binary with
//! `GOPLUGIN_ROLE=echo` (plus the magic cookie, exactly as go-plugin does), where it acts as a
//! plugin serving a toy "echo" service. Skipped with a notice when `go` is not installed.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;

use goplugin::netrpc::{self, Named};
use goplugin::{Broker, Client, Plugins, ServeConfig, Service};
use serde::{Deserialize, Serialize};

fn main() -> ExitCode {
    if let Ok(role) = std::env::var("GOPLUGIN_ROLE") {
        return run_plugin(&role);
    }
    run_go_host()
}

// ---------------------------------------------------------------------------------------------
// Test driver

fn run_go_host() -> ExitCode {
    if Command::new("go").arg("version").output().is_err() {
        println!("gopeer: SKIPPED, `go` is not installed");
        return ExitCode::SUCCESS;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gopeer");
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gopeer-host");
    let build = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&dir)
        .status();
    if !build.is_ok_and(|s| s.success()) {
        eprintln!("gopeer: FAILED to build the Go host in {}", dir.display());
        return ExitCode::FAILURE;
    }
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gopeer: cannot find own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = Command::new(&bin).arg(&me).status();
    match status {
        Ok(s) if s.success() => {
            println!("gopeer: all Go interop checks passed");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("gopeer: Go host reported failure: {other:?}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plugin role

#[derive(Debug, Clone, Default, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
struct EchoArgs {
    text: String,
    data: gob::Bytes,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
struct CallHostArgs {
    id: u32,
    size: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
struct CallHostReply {
    len: i64,
    sum: u64,
    text: String,
}

struct Echo {
    broker: Broker,
}

fn arg<T: serde::de::DeserializeOwned>(body: gob::Value) -> Result<T, String> {
    gob::from_value(body).map_err(|e| format!("bad argument: {e}"))
}

impl Service for Echo {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
        match method {
            "Plugin.Echo" => Ok(Box::new(arg::<EchoArgs>(body)?)),
            "Plugin.Fail" => Err(format!("handler failed: {}", arg::<String>(body)?)),
            "Plugin.Print" => {
                println!("{}", arg::<String>(body)?);
                Ok(Box::new(gob::Empty))
            }
            "Plugin.CallHost" => self.call_host(arg(body)?).map(|r| Box::new(r) as _),
            "Plugin.Reserve" => {
                let id = self.broker.next_id();
                let broker = self.broker.clone();
                std::thread::spawn(move || match broker.accept(id) {
                    Ok(stream) => {
                        let svc = Arc::new(Echo {
                            broker: broker.clone(),
                        });
                        netrpc::serve(stream, Arc::new(Named::new("Plugin", svc)));
                    }
                    Err(e) => eprintln!("[ERROR] echo: accept {id}: {e}"),
                });
                Ok(Box::new(id))
            }
            _ => Err(netrpc::unknown_method(method)),
        }
    }
}

impl Echo {
    /// Dial the host's reserved id and use it as a net/rpc client (like Mattermost's API).
    fn call_host(&self, a: CallHostArgs) -> Result<CallHostReply, String> {
        let stream = self.broker.dial(a.id).map_err(|e| e.to_string())?;
        let client = Client::new(stream);
        let data: gob::Bytes = client
            .call("Plugin.Big", &a.size)
            .map_err(|e| format!("Plugin.Big: {e}"))?;
        let text: String = client
            .call("Plugin.Hello", "rust")
            .map_err(|e| format!("Plugin.Hello: {e}"))?;
        let remote = client.call::<_, gob::Empty>("Plugin.Fail", &gob::Empty);
        let text = match remote {
            Err(goplugin::CallError::Remote(msg)) => format!("{text}; {msg}"),
            other => return Err(format!("Plugin.Fail: expected remote error, got {other:?}")),
        };
        client.close();
        Ok(CallHostReply {
            len: i64::try_from(data.0.len()).unwrap_or(i64::MAX),
            sum: data.0.iter().map(|&b| u64::from(b)).sum(),
            text,
        })
    }
}

fn run_plugin(role: &str) -> ExitCode {
    let config = ServeConfig {
        magic_cookie_key: "MATTERMOST_PLUGIN".into(),
        magic_cookie_value: "Securely message teams, anywhere.".into(),
        app_protocol_version: 1,
    };
    let plugins = Plugins::new().with("echo", |broker: &Broker| {
        Ok(Arc::new(Echo {
            broker: broker.clone(),
        }) as Arc<dyn Service>)
    });
    let result = goplugin::serve(config, plugins);
    let outcome = match &result {
        Ok(()) => format!("{role}: serve returned ok"),
        Err(e) => format!("{role}: serve failed: {e}"),
    };
    if let Ok(path) = std::env::var("GOPLUGIN_EXIT_FILE") {
        let _ = std::fs::write(path, &outcome);
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!("[ERROR] {outcome}");
        ExitCode::FAILURE
    }
}
