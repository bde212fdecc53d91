//! go-plugin's MuxBroker (`mux_broker.go`): extra yamux streams tagged with a 4-byte
//! **little-endian** id. The acceptor reserves an id ([`Broker::next_id`]), tells the other side
//! (in an RPC argument or reply), and waits ([`Broker::accept`]); the other side opens a stream,
//! writes the id and waits for the same 4 bytes back ([`Broker::dial`]).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::log;
use crate::yamux::{Error as YamuxError, Session, Stream};

/// How long an accepted id waits for its stream, and an incoming stream for its acceptor.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker: timeout waiting for accept of stream id {0}")]
    AcceptTimeout(u32),
    #[error("broker: bad ack: {got} (expected {expected})")]
    BadAck { got: u32, expected: u32 },
    #[error("broker: opening stream for id {id}: {source}")]
    Open { id: u32, source: YamuxError },
    #[error("broker: stream id {id}: {source}")]
    Io { id: u32, source: std::io::Error },
    #[error("broker: session closed")]
    Closed,
}

/// The plugin side's broker. Clone freely; all clones share the id counter and pending table.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    next_id: AtomicU32,
    /// Incoming streams filed under their id, waiting for `accept`.
    pending: Mutex<HashMap<u32, Stream>>,
    cv: Condvar,
}

impl Broker {
    pub fn new(session: Session) -> Broker {
        Broker {
            inner: Arc::new(Inner {
                session,
                next_id: AtomicU32::new(0),
                pending: Mutex::new(HashMap::new()),
                cv: Condvar::new(),
            }),
        }
    }

    /// Reserve a fresh id (first is 1), like Go's `NextId`.
    pub fn next_id(&self) -> u32 {
        self.inner
            .next_id
            .fetch_add(1, Ordering::SeqCst)
            .wrapping_add(1)
    }

    /// The underlying session.
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Stream>> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait up to 5 s for the peer's stream tagged `id`, then send the 4-byte ack.
    pub fn accept(&self, id: u32) -> Result<Stream, BrokerError> {
        self.accept_timeout(id, ACCEPT_TIMEOUT)
    }

    pub fn accept_timeout(&self, id: u32, timeout: Duration) -> Result<Stream, BrokerError> {
        let deadline = Instant::now() + timeout;
        let stream = {
            let mut pending = self.lock();
            loop {
                if let Some(s) = pending.remove(&id) {
                    break s;
                }
                if self.inner.session.is_closed() {
                    return Err(BrokerError::Closed);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(BrokerError::AcceptTimeout(id));
                }
                // Bounded waits: a session that dies does not signal this condvar.
                let slice = left.min(Duration::from_millis(250));
                pending = self
                    .inner
                    .cv
                    .wait_timeout(pending, slice)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        };
        (&stream)
            .write_all(&id.to_le_bytes())
            .map_err(|source| BrokerError::Io { id, source })?;
        Ok(stream)
    }

    /// Open a stream to the peer's reserved `id`: the id travels in the SYN frame, then the
    /// peer's 4-byte ack is checked.
    pub fn dial(&self, id: u32) -> Result<Stream, BrokerError> {
        let stream = self
            .inner
            .session
            .open_with(&id.to_le_bytes())
            .map_err(|source| BrokerError::Open { id, source })?;
        let mut ack = [0u8; 4];
        if let Err(source) = (&stream).read_exact(&mut ack) {
            let _ = stream.close();
            return Err(BrokerError::Io { id, source });
        }
        let got = u32::from_le_bytes(ack);
        if got != id {
            let _ = stream.close();
            return Err(BrokerError::BadAck { got, expected: id });
        }
        Ok(stream)
    }

    /// File an incoming stream (every stream after the control ones): read its id on a thread
    /// of its own (so one slow opener does not hold up the others), hand it to `accept`, and
    /// close it if nobody claims it within 5 s.
    pub fn handle_incoming(&self, stream: Stream) {
        let broker = self.clone();
        let spawned = std::thread::Builder::new()
            .name("broker-incoming".into())
            .spawn(move || broker.file_stream(stream));
        if let Err(e) = spawned {
            log::error!("broker: cannot start thread for incoming stream: {e}");
        }
    }

    fn file_stream(&self, stream: Stream) {
        let mut raw = [0u8; 4];
        if let Err(e) = (&stream).read_exact(&mut raw) {
            log::debug!("broker: stream {} ended before its id: {e}", stream.id());
            let _ = stream.close();
            return;
        }
        let id = u32::from_le_bytes(raw);
        let stream_id = stream.id();
        {
            let mut pending = self.lock();
            if pending.contains_key(&id) {
                drop(pending);
                log::warning!(
                    "broker: second stream for id {id} before the first was accepted; closing it"
                );
                let _ = stream.close();
                return;
            }
            pending.insert(id, stream);
            self.inner.cv.notify_all();
        }
        // Same lifetime as Go's `timeoutWait`: unclaimed after 5 s → closed.
        let deadline = Instant::now() + ACCEPT_TIMEOUT;
        let mut pending = self.lock();
        loop {
            let unclaimed = pending.get(&id).is_some_and(|s| s.id() == stream_id);
            if !unclaimed {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if let Some(s) = pending.remove(&id) {
                    drop(pending);
                    log::warning!("broker: nobody accepted stream id {id} within 5 s; closing it");
                    let _ = s.close();
                }
                return;
            }
            pending = self
                .inner
                .cv
                .wait_timeout(pending, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yamux::tests_support::Peer;

    #[test]
    fn next_id_starts_at_one() {
        let (_peer, session) = Peer::new();
        let b = Broker::new(session);
        assert_eq!(b.next_id(), 1);
        assert_eq!(b.next_id(), 2);
    }

    #[test]
    fn dial_sends_id_little_endian_in_syn_frame_and_checks_ack() {
        let (mut peer, session) = Peer::new();
        let b = Broker::new(session);
        let h = std::thread::spawn(move || b.dial(0x0102_0304).map(|s| s.id()));
        let (hdr, body) = peer.read_frame();
        assert_eq!(hdr.frame_type, crate::yamux::FrameType::Data);
        assert_eq!(hdr.flags, crate::yamux::FLAG_SYN);
        assert_eq!(hdr.stream_id, 2);
        assert_eq!(body, vec![4, 3, 2, 1]);
        peer.write_frame(
            crate::yamux::FrameType::WindowUpdate,
            crate::yamux::FLAG_ACK,
            2,
            0,
            &[],
        );
        peer.write_frame(crate::yamux::FrameType::Data, 0, 2, 4, &[4, 3, 2, 1]);
        assert_eq!(h.join().ok().and_then(|r| r.ok()), Some(2));
    }

    #[test]
    fn dial_rejects_bad_ack() {
        let (mut peer, session) = Peer::new();
        let b = Broker::new(session);
        let h = std::thread::spawn(move || b.dial(7));
        let _ = peer.read_frame();
        peer.write_frame(
            crate::yamux::FrameType::Data,
            crate::yamux::FLAG_ACK,
            2,
            4,
            &[8, 0, 0, 0],
        );
        match h.join() {
            Ok(Err(BrokerError::BadAck {
                got: 8,
                expected: 7,
            })) => {}
            other => panic!("expected bad ack, got {other:?}"),
        }
    }

    #[test]
    fn accept_files_incoming_stream_by_id_and_acks() {
        let (mut peer, session) = Peer::new();
        let b = Broker::new(session.clone());
        let acceptor = b.clone();
        std::thread::spawn(move || {
            while let Ok(s) = session.accept() {
                acceptor.handle_incoming(s);
            }
        });
        // Two streams, ids 9 and 5, accepted in the other order.
        peer.write_frame(
            crate::yamux::FrameType::Data,
            crate::yamux::FLAG_SYN,
            1,
            4,
            &[9, 0, 0, 0],
        );
        peer.write_frame(
            crate::yamux::FrameType::Data,
            crate::yamux::FLAG_SYN,
            3,
            4,
            &[5, 0, 0, 0],
        );
        let s5 = b.accept(5).ok();
        let s9 = b.accept(9).ok();
        assert_eq!(s5.as_ref().map(Stream::id), Some(3));
        assert_eq!(s9.as_ref().map(Stream::id), Some(1));
        // Frames seen by the peer: ACKs for 1 and 3, then the acks 05 and 09 as data.
        let mut acks = Vec::new();
        for _ in 0..4 {
            let (h, body) = peer.read_frame();
            if h.frame_type == crate::yamux::FrameType::Data {
                acks.push((h.stream_id, body));
            }
        }
        assert_eq!(acks, vec![(3, vec![5, 0, 0, 0]), (1, vec![9, 0, 0, 0])]);
    }

    #[test]
    fn accept_times_out() {
        let (_peer, session) = Peer::new();
        let b = Broker::new(session);
        match b.accept_timeout(3, Duration::from_millis(50)) {
            Err(BrokerError::AcceptTimeout(3)) => {}
            other => panic!("expected timeout, got {other:?}"),
        }
    }
}
