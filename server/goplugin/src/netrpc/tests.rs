use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::yamux::{Config, Session};

fn quiet() -> Config {
    Config {
        keepalive_interval: None,
        ..Config::default()
    }
}

/// A host-role session and a plugin-role session joined by a socket pair.
fn pair() -> (Session, Session) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let host = Session::client_unix(a, quiet()).expect("client");
    let plugin = Session::server_unix(b, quiet()).expect("server");
    (host, plugin)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
struct Args {
    text: String,
    n: i64,
}

struct TestService;

impl Service for TestService {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
        match method {
            "Test.Echo" => {
                let a: Args = gob::from_value(body).map_err(|e| e.to_string())?;
                Ok(Box::new(a))
            }
            "Test.Sleep" => {
                let ms: i64 = gob::from_value(body).map_err(|e| e.to_string())?;
                thread::sleep(Duration::from_millis(ms.unsigned_abs()));
                Ok(Box::new(ms))
            }
            "Test.Fail" => Err("boom".into()),
            "Test.Block" => loop {
                thread::sleep(Duration::from_secs(3600));
            },
            "Test.Panic" => panic!("handler panic (expected in this test)"),
            _ => Err(unknown_method(method)),
        }
    }
}

/// A client on the host side, served by `TestService` on the plugin side.
fn client() -> (Client, Session, Session) {
    let (host, plugin) = pair();
    let p = plugin.clone();
    thread::spawn(move || {
        if let Ok(s) = p.accept() {
            serve(s, Arc::new(Named::new("Test", Arc::new(TestService))));
        }
    });
    let stream = host.open().expect("open");
    (Client::new(stream), host, plugin)
}

#[test]
fn typed_roundtrip() {
    let (c, _h, _p) = client();
    let a = Args {
        text: "hello".into(),
        n: -7,
    };
    let r: Args = c.call("Test.Echo", &a).expect("call");
    assert_eq!(r, a);
    // Zero values are omitted on the wire and come back as defaults.
    let r: Args = c.call("Test.Echo", &Args::default()).expect("call");
    assert_eq!(r, Args::default());
}

#[test]
fn errors_use_go_wording_and_keep_the_stream_usable() {
    let (c, _h, _p) = client();
    let err_with = |m: &str, arg: &str| match c.call::<_, gob::Empty>(m, arg) {
        Err(CallError::Remote(s)) => s,
        other => panic!("{m}: expected remote error, got {other:?}"),
    };
    let err = |m: &str| err_with(m, "");
    assert_eq!(err("Test.Fail"), "boom");
    assert_eq!(err("Test.Nope"), "rpc: can't find method Test.Nope");
    assert_eq!(err("Other.Echo"), "rpc: can't find service Other.Echo");
    assert_eq!(
        err("NoDot"),
        "rpc: service/method request ill-formed: NoDot"
    );
    assert_eq!(err("Test.Panic"), "rpc: Test.Panic panicked");
    // Wrong argument type: the handler's decode error is returned, the stream lives on.
    assert!(
        err_with("Test.Echo", "not a struct").contains("gob"),
        "decode error text"
    );
    let r: i64 = c.call("Test.Sleep", &1i64).expect("still fine");
    assert_eq!(r, 1);
}

#[test]
fn reply_of_wrong_type_fails_only_that_call() {
    let (c, _h, _p) = client();
    let r = c.call::<_, String>("Test.Sleep", &0i64);
    assert!(matches!(r, Err(CallError::Decode(_))), "{r:?}");
    let r: i64 = c.call("Test.Sleep", &2i64).expect("stream still usable");
    assert_eq!(r, 2);
}

#[test]
fn concurrent_calls_are_matched_by_seq() {
    let (c, _h, _p) = client();
    let handles: Vec<_> = (0..50i64)
        .map(|i| {
            let c = c.clone();
            // Later calls finish first: responses arrive out of order.
            thread::spawn(move || {
                c.call::<_, i64>("Test.Sleep", &(50 - i))
                    .map(|r| (r, 50 - i))
            })
        })
        .collect();
    for h in handles {
        let (got, want) = h.join().expect("join").expect("call");
        assert_eq!(got, want);
    }
}

#[test]
fn pending_calls_fail_when_the_session_dies() {
    let (c, host, _p) = client();
    let c2 = c.clone();
    let h = thread::spawn(move || c2.call::<_, gob::Empty>("Test.Block", &gob::Empty));
    // Make sure the blocked call is on the wire before killing the connection.
    let r: i64 = c.call("Test.Sleep", &0i64).expect("call");
    assert_eq!(r, 0);
    host.close();
    assert!(matches!(h.join().expect("join"), Err(CallError::Closed(_))));
    assert!(matches!(
        c.call::<_, gob::Empty>("Test.Sleep", &0i64),
        Err(CallError::Closed(_) | CallError::Io(_))
    ));
}

#[test]
fn request_bytes_match_go() {
    // First call on a fresh stream, `Control.Ping(true)`, as Go's net/rpc writes it
    // (protocol.md §3).
    let (host, plugin) = pair();
    let stream = host.open().expect("open");
    let c = Client::new(stream);
    thread::spawn(move || c.call::<_, gob::Empty>("Control.Ping", &true));
    let server_side = plugin.accept().expect("accept");
    let mut want = vec![0x2f, 0xff, 0x81, 0x03, 0x01, 0x01, 0x07];
    want.extend_from_slice(b"Request");
    want.extend_from_slice(&[0x01, 0xff, 0x82, 0x00, 0x01, 0x02, 0x01, 0x0d]);
    want.extend_from_slice(b"ServiceMethod");
    want.extend_from_slice(&[0x01, 0x0c, 0x00, 0x01, 0x03]);
    want.extend_from_slice(b"Seq");
    want.extend_from_slice(&[0x01, 0x06, 0x00, 0x00, 0x00]);
    want.extend_from_slice(&[0x11, 0xff, 0x82, 0x01, 0x0c]);
    want.extend_from_slice(b"Control.Ping");
    want.extend_from_slice(&[0x00, 0x03, 0x02, 0x00, 0x01]);
    let mut got = vec![0u8; want.len()];
    (&server_side).read_exact(&mut got).expect("read");
    assert_eq!(got, want);
}
