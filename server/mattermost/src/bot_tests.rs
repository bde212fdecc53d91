//! `ensure_bot` against a fake API server (a net/rpc service on a real yamux stream pair):
//! the fallback path for servers without EnsureBotUser, and the direct path.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use gob::{Bytes, Encodable};
use goplugin::netrpc::{self, Service};
use goplugin::yamux::{Config, Session};

use crate::api::*;
use crate::bot::{BOT_ID_KEY, BotError, ensure_bot};
use crate::model::*;

#[derive(Default)]
struct FakeState {
    has_ensure: bool,
    kv: BTreeMap<String, Vec<u8>>,
    bots: BTreeMap<String, Bot>,
    users: BTreeMap<String, User>,
    calls: Vec<String>,
}

struct FakeServer(Mutex<FakeState>);

fn not_found(what: &str) -> Option<AppError> {
    Some(AppError::new(
        "store.not_found",
        &format!("{what} not found"),
        404,
    ))
}

impl FakeServer {
    fn handle(&self, method: &str, body: gob::Value) -> Result<Box<dyn Encodable>, String> {
        let mut s = self.0.lock().map_err(|_| "poisoned")?;
        s.calls
            .push(method.trim_start_matches("Plugin.").to_owned());
        let err = |e: gob::Error| e.to_string();
        Ok(match method {
            "Plugin.EnsureBotUser" if s.has_ensure => {
                let a: Z_BotArgs = gob::from_value(body).map_err(err)?;
                let bot = a.a.unwrap_or_default();
                Box::new(Z_StringErrReturns {
                    a: format!("ensured-{}", bot.username),
                    b: gob::Any::nil(),
                })
            }
            "Plugin.KVGet" => {
                let a: Z_StrArgs = gob::from_value(body).map_err(err)?;
                Box::new(Z_BytesReturns {
                    a: Bytes(s.kv.get(&a.a).cloned().unwrap_or_default()),
                })
            }
            "Plugin.KVSet" => {
                let a: Z_StrBytesArgs = gob::from_value(body).map_err(err)?;
                s.kv.insert(a.a, a.b.0);
                Box::new(Z_AppErrReturns { a: None })
            }
            "Plugin.GetBot" => {
                let a: Z_StrBoolArgs = gob::from_value(body).map_err(err)?;
                let bot = s.bots.get(&a.a).cloned();
                let b = if bot.is_none() {
                    not_found("bot")
                } else {
                    None
                };
                Box::new(Z_BotReturns { a: bot, b })
            }
            "Plugin.PatchBot" => {
                let a: Z_PatchBotArgs = gob::from_value(body).map_err(err)?;
                let patch = a.b.unwrap_or_default();
                let bot = s.bots.get_mut(&a.a).ok_or("patch of unknown bot")?;
                if let Some(d) = patch.display_name {
                    bot.display_name = d;
                }
                Box::new(Z_BotReturns {
                    a: Some(bot.clone()),
                    b: None,
                })
            }
            "Plugin.GetUserByUsername" => {
                let a: Z_StrArgs = gob::from_value(body).map_err(err)?;
                let user = s.users.values().find(|u| u.username == a.a).cloned();
                let b = if user.is_none() {
                    not_found("user")
                } else {
                    None
                };
                Box::new(Z_UserReturns { a: user, b })
            }
            "Plugin.CreateBot" => {
                let a: Z_BotArgs = gob::from_value(body).map_err(err)?;
                let mut bot = a.a.unwrap_or_default();
                bot.user_id = format!("created-{}", bot.username);
                s.bots.insert(bot.user_id.clone(), bot.clone());
                Box::new(Z_BotReturns {
                    a: Some(bot),
                    b: None,
                })
            }
            other => return Err(netrpc::unknown_method(other)),
        })
    }
}

struct Fake(Arc<FakeServer>);

impl Service for Fake {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn Encodable>, String> {
        self.0.handle(method, body)
    }
}

/// An Api whose stream is served by the fake, plus the fake's state (and the sessions,
/// which must outlive the test).
fn fake_api(state: FakeState) -> (Api, Arc<FakeServer>, Session, Session) {
    let (a, b) = UnixStream::pair().expect("socket pair");
    let config = || Config {
        keepalive_interval: None,
        ..Config::default()
    };
    let host = Session::client_unix(a, config()).expect("host session");
    let plugin = Session::server_unix(b, config()).expect("plugin session");
    let fake = Arc::new(FakeServer(Mutex::new(state)));
    let ours = plugin.open().expect("open stream");
    // The stream reaches the host on first use; accept it in the serving thread.
    let host2 = host.clone();
    let service: Arc<dyn Service> = Arc::new(Fake(fake.clone()));
    std::thread::spawn(move || {
        if let Ok(theirs) = host2.accept() {
            netrpc::serve(theirs, service);
        }
    });
    (Api::new(netrpc::Client::new(ours)), fake, host, plugin)
}

fn calls(fake: &FakeServer) -> Vec<String> {
    fake.0.lock().map(|s| s.calls.clone()).unwrap_or_default()
}

fn hello_bot() -> Bot {
    Bot::new("hello-bot", "Hello Bot", "Says hello.")
}

#[test]
fn uses_ensure_bot_user_when_available() {
    let (api, fake, _h, _p) = fake_api(FakeState {
        has_ensure: true,
        ..FakeState::default()
    });
    assert_eq!(ensure_bot(&api, &hello_bot()).unwrap(), "ensured-hello-bot");
    assert_eq!(calls(&fake), vec!["EnsureBotUser"]);
}

#[test]
fn old_server_creates_the_bot_and_remembers_it() {
    let (api, fake, _h, _p) = fake_api(FakeState::default());
    let id = ensure_bot(&api, &hello_bot()).unwrap();
    assert_eq!(id, "created-hello-bot");
    assert_eq!(
        calls(&fake),
        vec![
            "EnsureBotUser",
            "KVGet",
            "GetUserByUsername",
            "CreateBot",
            "KVSet"
        ]
    );
    let state = fake.0.lock().unwrap();
    assert_eq!(
        state.kv.get(BOT_ID_KEY).map(Vec::as_slice),
        Some(id.as_bytes())
    );
}

#[test]
fn old_server_patches_the_stored_bot() {
    let mut state = FakeState::default();
    state.kv.insert(BOT_ID_KEY.into(), b"bot1".to_vec());
    state.bots.insert(
        "bot1".into(),
        Bot {
            user_id: "bot1".into(),
            display_name: "Old".into(),
            ..hello_bot()
        },
    );
    let (api, fake, _h, _p) = fake_api(state);
    assert_eq!(ensure_bot(&api, &hello_bot()).unwrap(), "bot1");
    assert_eq!(
        calls(&fake),
        vec!["EnsureBotUser", "KVGet", "GetBot", "PatchBot"]
    );
    assert_eq!(
        fake.0.lock().unwrap().bots["bot1"].display_name,
        "Hello Bot"
    );
}

#[test]
fn old_server_adopts_an_existing_bot_user_when_the_stored_id_is_gone() {
    let mut state = FakeState::default();
    state.kv.insert(BOT_ID_KEY.into(), b"deleted".to_vec());
    state.users.insert(
        "u9".into(),
        User {
            id: "u9".into(),
            username: "hello-bot".into(),
            is_bot: true,
            ..User::default()
        },
    );
    let (api, fake, _h, _p) = fake_api(state);
    assert_eq!(ensure_bot(&api, &hello_bot()).unwrap(), "u9");
    assert_eq!(
        calls(&fake),
        vec![
            "EnsureBotUser",
            "KVGet",
            "GetBot",
            "GetUserByUsername",
            "KVSet"
        ]
    );
    assert_eq!(fake.0.lock().unwrap().kv[BOT_ID_KEY], b"u9");
}

#[test]
fn old_server_refuses_a_username_owned_by_a_person() {
    let mut state = FakeState::default();
    state.users.insert(
        "u1".into(),
        User {
            id: "u1".into(),
            username: "hello-bot".into(),
            ..User::default()
        },
    );
    let (api, _fake, _h, _p) = fake_api(state);
    match ensure_bot(&api, &hello_bot()) {
        Err(BotError::UsernameTaken { username }) => assert_eq!(username, "hello-bot"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_methods_and_app_errors_are_told_apart() {
    let (api, _fake, _h, _p) = fake_api(FakeState::default());
    let err = api.get_server_version().unwrap_err();
    assert!(err.is_not_available(), "{err:?}");
    let err = api.get_bot("nope", false).unwrap_err();
    let app = err.app_error().expect("AppError");
    assert_eq!((app.id.as_str(), app.status_code), ("store.not_found", 404));
}
