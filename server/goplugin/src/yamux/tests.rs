use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;

use super::tests_support::Peer;
use super::*;

const D: FrameType = FrameType::Data;
const WU: FrameType = FrameType::WindowUpdate;

/// Peer opens stream `id` and the session accepts it.
fn opened(peer: &mut Peer, session: &Session, id: u32) -> Stream {
    peer.write_frame(WU, FLAG_SYN, id, 0, &[]);
    let s = session.accept().expect("accept");
    let (h, _) = peer.read_frame();
    assert_eq!(h, Header::new(WU, FLAG_ACK, id, 0), "eager ACK on accept");
    s
}

fn read_all(s: &Stream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut r = s;
    r.read_to_end(&mut out).expect("read to end");
    out
}

#[test]
fn accept_acks_once_then_data_then_eof_after_fin() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    peer.write_frame(D, 0, 1, 5, b"hello");
    peer.write_frame(D, FLAG_FIN, 1, 3, b"abc");
    assert_eq!(read_all(&s), b"helloabc");
    // Our reply and close: data without any ACK flag (already sent), then WU+FIN.
    (&s).write_all(b"ok").expect("write");
    s.close().expect("close");
    let (h, body) = peer.read_frame();
    assert_eq!((h, body), (Header::new(D, 0, 1, 2), b"ok".to_vec()));
    let (h, _) = peer.read_frame();
    assert_eq!(h, Header::new(WU, FLAG_FIN, 1, 0));
    assert_eq!(
        session.num_streams(),
        0,
        "both sides closed: stream forgotten"
    );
}

#[test]
fn open_uses_even_ids_and_sends_syn_window_update() {
    let (mut peer, session) = Peer::new();
    let a = session.open().expect("open");
    let b = session.open().expect("open");
    assert_eq!((a.id(), b.id()), (2, 4));
    assert_eq!(peer.read_frame().0, Header::new(WU, FLAG_SYN, 2, 0));
    assert_eq!(peer.read_frame().0, Header::new(WU, FLAG_SYN, 4, 0));
    let c = session.open_with(b"xy").expect("open with data");
    let (h, body) = peer.read_frame();
    assert_eq!((h, body), (Header::new(D, FLAG_SYN, 6, 2), b"xy".to_vec()));
    // ACK from the peer, then data flows both ways.
    peer.write_frame(WU, FLAG_ACK, 6, 0, &[]);
    peer.write_frame(D, 0, 6, 1, b"z");
    let mut one = [0u8; 1];
    (&c).read_exact(&mut one).expect("read");
    assert_eq!(&one, b"z");
}

#[test]
fn ping_is_answered_even_when_stream_buffer_is_full() {
    let (mut peer, session) = Peer::new();
    let _s = opened(&mut peer, &session, 1);
    // Fill the whole 256 KiB window; nobody reads the stream.
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..4 {
        peer.write_frame(D, 0, 1, chunk.len() as u32, &chunk);
    }
    peer.write_frame(FrameType::Ping, FLAG_SYN, 0, 0xdead_beef, &[]);
    assert_eq!(
        peer.read_frame().0,
        Header::new(FrameType::Ping, FLAG_ACK, 0, 0xdead_beef)
    );
}

#[test]
fn our_ping_gets_rtt_from_peer_ack() {
    let (mut peer, session) = Peer::new();
    let pinger = session.clone();
    let h = thread::spawn(move || pinger.ping(Duration::from_secs(20)));
    let (ping, _) = peer.read_frame();
    assert_eq!((ping.frame_type, ping.flags), (FrameType::Ping, FLAG_SYN));
    peer.write_frame(FrameType::Ping, FLAG_ACK, 0, ping.length, &[]);
    assert!(h.join().expect("join").is_ok());
}

#[test]
fn writer_stops_at_peer_window_and_resumes_on_update() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let total = 300 * 1024;
    let writer = s.clone();
    let h = thread::spawn(move || (&writer).write_all(&vec![1u8; total]));
    let mut got = 0usize;
    while got < WINDOW as usize {
        let (hdr, body) = peer.read_frame();
        assert_eq!(hdr.frame_type, D);
        assert!(hdr.length <= MAX_FRAME, "frames are capped");
        got += body.len();
    }
    assert_eq!(got, WINDOW as usize, "never more than the window");
    // Nothing more may come until we grant window: a ping's answer arrives next, not data.
    peer.write_frame(FrameType::Ping, FLAG_SYN, 0, 1, &[]);
    assert_eq!(peer.read_frame().0.frame_type, FrameType::Ping);
    peer.write_frame(WU, 0, 1, 100 * 1024, &[]);
    while got < total {
        let (hdr, body) = peer.read_frame();
        assert_eq!(hdr.frame_type, D);
        got += body.len();
    }
    assert!(h.join().expect("join").is_ok());
    assert_eq!(got, total);
}

#[test]
fn window_updates_follow_consumption_like_go() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let data = vec![3u8; 200 * 1024];
    for part in data.chunks(50 * 1024) {
        peer.write_frame(D, 0, 1, part.len() as u32, part);
    }
    let mut buf = vec![0u8; 100 * 1024];
    (&s).read_exact(&mut buf).expect("read 100K");
    // Consumed 100 KiB < half window: no update yet. Prove it by a ping round trip.
    peer.write_frame(FrameType::Ping, FLAG_SYN, 0, 9, &[]);
    assert_eq!(peer.read_frame().0.frame_type, FrameType::Ping);
    let mut more = vec![0u8; 30 * 1024];
    (&s).read_exact(&mut more).expect("read 30K");
    // Go's formula: (256K - 70K buffered) - 56K window left = 130K.
    assert_eq!(peer.read_frame().0, Header::new(WU, 0, 1, 130 * 1024));
    // The peer may now send up to 56K + 130K = 186K more without a protocol error.
    let big = vec![4u8; 186 * 1024];
    for part in big.chunks(62 * 1024) {
        peer.write_frame(D, 0, 1, part.len() as u32, part);
    }
    peer.write_frame(FrameType::Ping, FLAG_SYN, 0, 10, &[]);
    assert_eq!(peer.read_frame().0.frame_type, FrameType::Ping);
    assert!(!session.is_closed());
}

#[test]
fn frame_beyond_window_is_a_protocol_error() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let body = vec![0u8; WINDOW as usize + 1];
    // The session hangs up after the header: the rest of the write may fail.
    let mut frame = Header::new(D, 0, 1, body.len() as u32).encode().to_vec();
    frame.extend_from_slice(&body);
    let mut sock = peer.sock.try_clone().expect("clone");
    thread::spawn(move || sock.write_all(&frame));
    assert_eq!(
        peer.read_frame().0,
        Header::new(FrameType::GoAway, 0, 0, GO_AWAY_PROTOCOL_ERROR)
    );
    assert!(matches!(session.wait_end(), End::Closed(r) if r.contains("receive window exceeded")));
    let mut b = [0u8; 1];
    let err = (&s).read(&mut b).expect_err("dead session");
    assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
}

#[test]
fn rst_fails_reads_and_writes() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let reader = s.clone();
    let h = thread::spawn(move || {
        let mut b = [0u8; 4];
        (&reader).read(&mut b).map_err(|e| e.kind())
    });
    peer.write_frame(WU, FLAG_RST, 1, 0, &[]);
    assert_eq!(h.join().expect("join"), Err(ErrorKind::ConnectionReset));
    let err = (&s).write(b"x").expect_err("reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(session.num_streams(), 0);
}

#[test]
fn remote_go_away_blocks_new_streams_and_ends_session_wait() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    peer.write_frame(FrameType::GoAway, 0, 0, GO_AWAY_NORMAL, &[]);
    assert_eq!(session.wait_end(), End::RemoteGoAway);
    assert_eq!(session.open().err(), Some(Error::RemoteGoAway));
    // Existing streams keep working.
    peer.write_frame(D, 0, 1, 2, b"hi");
    let mut b = [0u8; 2];
    (&s).read_exact(&mut b).expect("still readable");
    assert_eq!(&b, b"hi");
}

#[test]
fn error_go_away_closes_session() {
    let (mut peer, session) = Peer::new();
    peer.write_frame(FrameType::GoAway, 0, 0, GO_AWAY_INTERNAL_ERROR, &[]);
    assert!(matches!(session.wait_end(), End::Closed(r) if r.contains("internal error")));
    assert!(session.accept().is_err());
}

#[test]
fn malformed_frames_close_with_protocol_error() {
    type Case = (&'static str, Box<dyn Fn(&mut Peer)>);
    let cases: Vec<Case> = vec![
        (
            "bad version",
            Box::new(|p| p.sock.write_all(&[1u8; 12]).expect("w")),
        ),
        (
            "bad type",
            Box::new(|p| {
                p.sock
                    .write_all(&[0, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
                    .expect("w")
            }),
        ),
        (
            "even id",
            Box::new(|p| p.write_frame(WU, FLAG_SYN, 2, 0, &[])),
        ),
        (
            "duplicate",
            Box::new(|p| {
                p.write_frame(WU, FLAG_SYN, 1, 0, &[]);
                p.write_frame(WU, FLAG_SYN, 1, 0, &[]);
            }),
        ),
        (
            "double fin",
            Box::new(|p| {
                p.write_frame(WU, FLAG_SYN | FLAG_FIN, 1, 0, &[]);
                p.write_frame(WU, FLAG_FIN, 1, 0, &[]);
            }),
        ),
        (
            "window overflow",
            Box::new(|p| {
                p.write_frame(WU, FLAG_SYN, 1, 0, &[]);
                p.write_frame(WU, 0, 1, u32::MAX, &[]);
            }),
        ),
    ];
    for (name, send) in cases {
        let (mut peer, session) = Peer::new();
        send(&mut peer);
        let (h, _) = peer.read_until(|h| h.frame_type == FrameType::GoAway);
        assert_eq!(h.length, GO_AWAY_PROTOCOL_ERROR, "{name}");
        assert!(matches!(session.wait_end(), End::Closed(_)), "{name}");
    }
}

#[test]
fn session_death_unblocks_everyone() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let reader = s.clone();
    let r = thread::spawn(move || (&reader).read(&mut [0u8; 1]).map_err(|e| e.kind()));
    let writer = s.clone();
    // More than the window: blocks at zero window until the session dies.
    let w = thread::spawn(move || {
        (&writer)
            .write_all(&vec![0u8; 2 * WINDOW as usize])
            .map_err(|e| e.kind())
    });
    let acceptor = session.clone();
    let a = thread::spawn(move || acceptor.accept().map(|_| ()));
    // Drain what the writer may send, then hang up.
    let mut got = 0;
    while got < WINDOW as usize {
        got += peer.read_frame().1.len();
    }
    drop(peer);
    assert_eq!(r.join().expect("join"), Err(ErrorKind::ConnectionAborted));
    assert!(w.join().expect("join").is_err());
    assert!(a.join().expect("join").is_err());
    assert!(matches!(session.wait_end(), End::Closed(r) if r.contains("closed by peer")));
}

#[test]
fn data_for_unknown_stream_is_discarded() {
    let (mut peer, session) = Peer::new();
    peer.write_frame(D, 0, 41, 3, b"abc");
    let s = opened(&mut peer, &session, 1);
    peer.write_frame(D, 0, 1, 1, b"x");
    let mut b = [0u8; 1];
    (&s).read_exact(&mut b).expect("session still fine");
}

#[test]
fn local_go_away_resets_new_streams() {
    let (mut peer, session) = Peer::new();
    session.go_away().expect("go away");
    assert_eq!(peer.read_frame().0, Header::new(FrameType::GoAway, 0, 0, 0));
    peer.write_frame(WU, FLAG_SYN, 1, 0, &[]);
    assert_eq!(peer.read_frame().0, Header::new(WU, FLAG_RST, 1, 0));
}

#[test]
fn dropping_last_handle_sends_fin() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let clone = s.clone();
    drop(s);
    drop(clone);
    assert_eq!(peer.read_frame().0, Header::new(WU, FLAG_FIN, 1, 0));
}

/// Records what a stream delivers; `end` also reports on a channel so tests can wait for it.
struct Recorder {
    got: std::sync::mpsc::Sender<Result<Vec<u8>, String>>,
}

impl Receiver for Recorder {
    fn data(&mut self, bytes: &[u8]) {
        let _ = self.got.send(Ok(bytes.to_vec()));
    }
    fn end(&mut self, reason: &str) {
        let _ = self.got.send(Err(reason.to_owned()));
    }
}

fn recorder() -> (
    Box<Recorder>,
    std::sync::mpsc::Receiver<Result<Vec<u8>, String>>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    (Box::new(Recorder { got: tx }), rx)
}

/// Collects delivered bytes until `end`; returns them and the end reason.
fn until_end(rx: &std::sync::mpsc::Receiver<Result<Vec<u8>, String>>) -> (Vec<u8>, String) {
    let mut data = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).expect("delivery") {
            Ok(bytes) => data.extend(bytes),
            Err(reason) => return (data, reason),
        }
    }
}

#[test]
fn delivered_stream_gets_buffered_bytes_first_then_the_rest_then_end() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    peer.write_frame(D, 0, 1, 3, b"abc");
    // Our answer to a ping that follows the data shows the session buffered the data.
    peer.write_frame(FrameType::Ping, FLAG_SYN, 0, 7, &[]);
    peer.read_until(|h| h.frame_type == FrameType::Ping);
    let (rec, rx) = recorder();
    s.deliver_to(rec);
    peer.write_frame(D, 0, 1, 2, b"de");
    peer.write_frame(D, FLAG_FIN, 1, 1, b"f");
    let (data, reason) = until_end(&rx);
    assert_eq!(data, b"abcdef");
    assert_eq!(reason, "stream closed by the peer");
    assert!(rx.try_recv().is_err(), "end is reported once");
}

#[test]
fn delivered_stream_grants_window_without_any_reader() {
    let (mut peer, session) = Peer::new();
    let s = opened(&mut peer, &session, 1);
    let (rec, rx) = recorder();
    s.deliver_to(rec);
    // Twice the window: the peer may only send it if we grant window back as data is
    // delivered (no one ever calls read).
    let chunk = vec![9u8; 64 * 1024];
    let mut granted = u64::from(WINDOW);
    let mut sent = 0u64;
    while sent < 2 * u64::from(WINDOW) {
        if sent + chunk.len() as u64 > granted {
            let (h, _) = peer.read_until(|h| h.frame_type == WU);
            assert_eq!(h.stream_id, 1);
            granted += u64::from(h.length);
            continue;
        }
        peer.write_frame(D, 0, 1, chunk.len() as u32, &chunk);
        sent += chunk.len() as u64;
    }
    peer.write_frame(WU, FLAG_RST, 1, 0, &[]);
    let (data, reason) = until_end(&rx);
    assert_eq!(data.len() as u64, sent);
    assert_eq!(reason, "stream reset");
}

#[test]
fn delivered_stream_ends_with_the_session_and_on_local_reset() {
    let (mut peer, session) = Peer::new();
    let a = opened(&mut peer, &session, 1);
    let b = opened(&mut peer, &session, 3);
    let (rec_a, rx_a) = recorder();
    let (rec_b, rx_b) = recorder();
    a.deliver_to(rec_a);
    b.deliver_to(rec_b);
    b.reset().expect("reset");
    assert_eq!(until_end(&rx_b).1, "stream reset");
    drop(peer);
    let (_, reason) = until_end(&rx_a);
    assert!(reason.starts_with("yamux session closed: "), "{reason}");
    // Attaching to a stream of a dead session ends at once.
    let (rec_c, rx_c) = recorder();
    a.deliver_to(rec_c);
    assert!(until_end(&rx_c).1.starts_with("yamux session closed: "));
}

/// Panics on its first bytes; reports its end.
struct Panicky {
    ended: std::sync::mpsc::Sender<String>,
}

impl Receiver for Panicky {
    fn data(&mut self, _: &[u8]) {
        panic!("receiver bug (expected in this test)");
    }
    fn end(&mut self, reason: &str) {
        let _ = self.ended.send(reason.to_owned());
    }
}

#[test]
fn a_panicking_receiver_ends_its_stream_only() {
    let (mut peer, session) = Peer::new();
    let bad = opened(&mut peer, &session, 1);
    let good = opened(&mut peer, &session, 3);
    let (tx, ended) = std::sync::mpsc::channel();
    bad.deliver_to(Box::new(Panicky { ended: tx }));
    let (rec, rx) = recorder();
    good.deliver_to(rec);
    peer.write_frame(D, 0, 1, 1, b"x");
    assert_eq!(
        ended.recv_timeout(Duration::from_secs(20)).expect("end"),
        "stream receiver panicked"
    );
    // The reader thread lives on: the other stream still gets its data.
    peer.write_frame(D, FLAG_FIN, 3, 2, b"ok");
    assert_eq!(until_end(&rx).0, b"ok");
}
