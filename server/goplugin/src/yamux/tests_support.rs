//! Test helper: a raw yamux peer (the "host") writing and reading frames on a socket pair.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{Config, FrameType, HEADER_LEN, Header, Session};

pub(crate) struct Peer {
    pub(crate) sock: UnixStream,
}

impl Peer {
    /// A session (server role, no keepalive) and the raw peer talking to it.
    pub(crate) fn new() -> (Peer, Session) {
        Peer::with_config(Config {
            keepalive_interval: None,
            ..Config::default()
        })
    }

    pub(crate) fn with_config(config: Config) -> (Peer, Session) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        a.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let session = Session::server_unix(b, config).expect("session");
        (Peer { sock: a }, session)
    }

    pub(crate) fn write_frame(&mut self, t: FrameType, flags: u16, id: u32, len: u32, body: &[u8]) {
        let mut buf = Header::new(t, flags, id, len).encode().to_vec();
        buf.extend_from_slice(body);
        self.sock.write_all(&buf).expect("peer write");
    }

    pub(crate) fn read_frame(&mut self) -> (Header, Vec<u8>) {
        let mut raw = [0u8; HEADER_LEN];
        self.sock.read_exact(&mut raw).expect("peer read header");
        let h = Header::decode(&raw).expect("valid header");
        let mut body = Vec::new();
        if h.frame_type == FrameType::Data {
            body = vec![0u8; h.length as usize];
            self.sock.read_exact(&mut body).expect("peer read body");
        }
        (h, body)
    }

    /// Read frames until one matches, returning it (skips e.g. window updates).
    pub(crate) fn read_until(&mut self, pred: impl Fn(&Header) -> bool) -> (Header, Vec<u8>) {
        loop {
            let f = self.read_frame();
            if pred(&f.0) {
                return f;
            }
        }
    }
}
