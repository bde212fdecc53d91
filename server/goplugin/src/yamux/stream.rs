//! One yamux stream: state machine, receive buffer, both windows (hashicorp `stream.go`).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{
    FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, FrameType, Header, MAX_FRAME, Shared, WINDOW, lock,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamState {
    Init,
    SynSent,
    SynReceived,
    Established,
    LocalClose,
    RemoteClose,
    Closed,
    Reset,
}

/// Takes a stream's incoming bytes as they arrive, instead of a reader (see
/// [`Stream::deliver_to`]). Both methods run on the session's reader thread (or, for `end`,
/// on whichever thread ends the session): they must not block, and must not call back into
/// this stream.
pub trait Receiver: Send {
    /// The next bytes of the stream, in order.
    fn data(&mut self, bytes: &[u8]);
    /// No more data will come: the peer closed or reset the stream, or the session ended.
    /// Called once.
    fn end(&mut self, reason: &str);
}

/// State shared by the session's reader thread and every handle of one stream.
pub(crate) struct StreamShared {
    pub(crate) id: u32,
    inner: Mutex<Inner>,
    cv: Condvar,
    /// Serialises whole `write` calls so concurrent writers never interleave frames' data.
    write_lock: Mutex<()>,
    /// Where incoming data goes once `Inner::delivering` is set; `None` again after `end`.
    receiver: Mutex<Option<Box<dyn Receiver>>>,
}

pub(crate) struct Inner {
    pub(crate) state: StreamState,
    recv_buf: VecDeque<u8>,
    /// How many more bytes the peer may send us.
    pub(crate) recv_window: u32,
    /// How many more bytes we may send the peer.
    send_window: u32,
    /// Incoming data goes to the stream's receiver rather than `recv_buf`.
    delivering: bool,
}

impl Inner {
    /// The SYN/ACK flag our next frame must carry, updating the state (Go's `sendFlags`).
    fn take_flags(&mut self) -> u16 {
        match self.state {
            StreamState::Init => {
                self.state = StreamState::SynSent;
                FLAG_SYN
            }
            StreamState::SynReceived => {
                self.state = StreamState::Established;
                FLAG_ACK
            }
            _ => 0,
        }
    }

    /// Go's `sendWindowUpdate`: grant back what the reader consumed once it is at least half a
    /// window, or send the pending SYN/ACK flag. Returns (flags, delta) to send, if any.
    pub(crate) fn pending_window_update(&mut self) -> Option<(u16, u32)> {
        let buffered = u32::try_from(self.recv_buf.len()).unwrap_or(WINDOW);
        let delta = WINDOW
            .saturating_sub(buffered)
            .saturating_sub(self.recv_window);
        let flags = self.take_flags();
        if delta < WINDOW / 2 && flags == 0 {
            return None;
        }
        self.recv_window += delta;
        Some((flags, delta))
    }
}

impl StreamShared {
    pub(crate) fn new(id: u32, state: StreamState) -> StreamShared {
        StreamShared {
            id,
            inner: Mutex::new(Inner {
                state,
                recv_buf: VecDeque::new(),
                recv_window: WINDOW,
                send_window: WINDOW,
                delivering: false,
            }),
            cv: Condvar::new(),
            write_lock: Mutex::new(()),
            receiver: Mutex::new(None),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.cv.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    /// The session ended: wake blocked readers and writers, tell the receiver.
    pub(crate) fn session_ended(&self, reason: &str) {
        self.wake_all();
        self.end_receiver(reason);
    }

    fn wake_all(&self) {
        let _g = self.lock();
        self.cv.notify_all();
    }

    /// Tell the receiver (if any, once) that no more data will come.
    pub(crate) fn end_receiver(&self, reason: &str) {
        let receiver = lock(&self.receiver).take();
        if let Some(mut r) = receiver {
            r.end(reason);
        }
    }

    /// Why reads are over, if they are (peer's FIN, reset).
    pub(crate) fn read_end(&self) -> Option<&'static str> {
        match self.lock().state {
            StreamState::RemoteClose | StreamState::Closed => Some("stream closed by the peer"),
            StreamState::Reset => Some("stream reset"),
            _ => None,
        }
    }

    /// Apply the flags of an incoming frame. `Ok(true)` = the stream is finished and must be
    /// dropped from the session map. `Err` = protocol violation (Go: `ErrUnexpectedFlag`).
    /// Waiters are woken by [`StreamShared::peer_ended`], once the session map is updated.
    pub(crate) fn process_flags(&self, flags: u16) -> Result<bool, String> {
        let mut g = self.lock();
        let mut remove = false;
        if flags & FLAG_ACK != 0 && g.state == StreamState::SynSent {
            g.state = StreamState::Established;
        }
        if flags & FLAG_FIN != 0 {
            match g.state {
                StreamState::SynSent | StreamState::SynReceived | StreamState::Established => {
                    g.state = StreamState::RemoteClose;
                }
                StreamState::LocalClose => {
                    g.state = StreamState::Closed;
                    remove = true;
                }
                other => {
                    return Err(format!(
                        "unexpected FIN on stream {} in state {other:?}",
                        self.id
                    ));
                }
            }
        }
        if flags & FLAG_RST != 0 {
            g.state = StreamState::Reset;
            remove = true;
        }
        Ok(remove)
    }

    /// The peer's FIN or RST was applied (and the stream dropped from the session if it is
    /// finished): wake blocked readers and writers, tell the receiver.
    pub(crate) fn peer_ended(&self) {
        self.wake_all();
        if let Some(reason) = self.read_end() {
            self.end_receiver(reason);
        }
    }

    pub(crate) fn grow_send_window(&self, delta: u32) -> Result<(), String> {
        let mut g = self.lock();
        g.send_window = g
            .send_window
            .checked_add(delta)
            .ok_or_else(|| format!("send window overflow on stream {} (+{delta})", self.id))?;
        self.cv.notify_all();
        Ok(())
    }

    /// Called by the reader thread after checking the window. Returns the window update to
    /// send when the data went straight to the receiver (it is consumed at once).
    pub(crate) fn push_data(&self, data: &[u8]) -> Option<(u16, u32)> {
        let mut g = self.lock();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        g.recv_window = g.recv_window.saturating_sub(len);
        if !g.delivering {
            g.recv_buf.extend(data);
            self.cv.notify_all();
            return None;
        }
        let update = g.pending_window_update();
        drop(g);
        let mut slot = lock(&self.receiver);
        if let Some(r) = slot.as_mut() {
            let handled = catch_unwind(AssertUnwindSafe(|| r.data(data)));
            if handled.is_err() {
                // A bug in one stream's decoder must not stop the session's reader thread.
                let broken = slot.take();
                drop(slot);
                if let Some(mut r) = broken {
                    let _ = catch_unwind(AssertUnwindSafe(|| r.end("stream receiver panicked")));
                }
            }
        }
        update
    }
}

/// A handle to one yamux stream: `Read` + `Write` (also through `&Stream`), cheap to clone so
/// one thread can read while another writes. When the last clone is dropped the stream is
/// closed (FIN) if it was not already.
#[derive(Clone)]
pub struct Stream {
    handle: Arc<Handle>,
}

struct Handle {
    session: Arc<Shared>,
    shared: Arc<StreamShared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = close(&self.session, &self.shared);
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("id", &self.id()).finish()
    }
}

fn session_gone(session: &Shared) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, session.closed_message())
}

fn close(session: &Shared, s: &StreamShared) -> io::Result<()> {
    let (flags, remove) = {
        let mut g = s.lock();
        let remove = match g.state {
            StreamState::Init
            | StreamState::SynSent
            | StreamState::SynReceived
            | StreamState::Established => false,
            StreamState::RemoteClose => true,
            StreamState::LocalClose | StreamState::Closed | StreamState::Reset => return Ok(()),
        };
        let flags = g.take_flags() | FLAG_FIN;
        g.state = if remove {
            StreamState::Closed
        } else {
            StreamState::LocalClose
        };
        s.cv.notify_all();
        (flags, remove)
    };
    if remove {
        session.remove_stream(s.id);
    }
    if session.is_closed() {
        return Ok(());
    }
    session.send(Header::new(FrameType::WindowUpdate, flags, s.id, 0), &[])?;
    Ok(())
}

impl Stream {
    pub(crate) fn new(session: Arc<Shared>, shared: Arc<StreamShared>) -> Stream {
        Stream {
            handle: Arc::new(Handle { session, shared }),
        }
    }

    /// The yamux stream id (odd: opened by the host; even: opened by us).
    pub fn id(&self) -> u32 {
        self.handle.shared.id
    }

    /// Half-close: send FIN. Reads keep working until the peer's FIN.
    pub fn close(&self) -> io::Result<()> {
        close(&self.handle.session, &self.handle.shared)
    }

    /// Abort the stream: send RST; both directions fail from now on.
    pub fn reset(&self) -> io::Result<()> {
        let s = &self.handle.shared;
        {
            let mut g = s.lock();
            if matches!(g.state, StreamState::Closed | StreamState::Reset) {
                return Ok(());
            }
            g.state = StreamState::Reset;
            s.cv.notify_all();
        }
        s.end_receiver("stream reset");
        self.handle.session.remove_stream(s.id);
        self.handle
            .session
            .send(Header::new(FrameType::WindowUpdate, FLAG_RST, s.id, 0), &[])?;
        Ok(())
    }

    /// From now on, hand incoming data to `receiver` on the session's reader thread instead of
    /// buffering it for `read` (which then sees no data). Saves a thread and a wake-up per
    /// message for a stream that is read by one decoder. Data already buffered is handed over
    /// first; if the stream already ended, `end` follows at once.
    pub fn deliver_to(&self, receiver: Box<dyn Receiver>) {
        let s = &self.handle.shared;
        // Held throughout, so the reader thread cannot deliver newer data before the
        // buffered bytes.
        let mut slot = lock(&s.receiver);
        let buffered: Vec<u8> = {
            let mut g = s.lock();
            g.delivering = true;
            g.recv_buf.drain(..).collect()
        };
        let mut receiver = receiver;
        if !buffered.is_empty() {
            receiver.data(&buffered);
            // A dead session is reported to the receiver just below.
            let _ = self.send_window_update();
        }
        let ended = if self.handle.session.is_closed() {
            Some(self.handle.session.closed_message())
        } else {
            s.read_end().map(str::to_owned)
        };
        match ended {
            Some(reason) => receiver.end(&reason),
            None => *slot = Some(receiver),
        }
    }

    /// Send the opening WindowUpdate+SYN (what Go's `OpenStream` does).
    pub(crate) fn send_syn(&self) -> Result<(), super::Error> {
        self.send_window_update()
    }

    /// Send the window update (or pending SYN/ACK) that is due, if any.
    fn send_window_update(&self) -> Result<(), super::Error> {
        let update = self.handle.shared.lock().pending_window_update();
        self.handle.session.send_window_update(self.id(), update)
    }

    fn read_impl(&self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let s = &self.handle.shared;
        let mut g = s.lock();
        loop {
            if !g.recv_buf.is_empty() {
                let n = out.len().min(g.recv_buf.len());
                let (front, back) = g.recv_buf.as_slices();
                let from_front = n.min(front.len());
                let (out_front, out_back) = out.split_at_mut(from_front);
                out_front.copy_from_slice(&front[..from_front]);
                let from_back = n - from_front;
                out_back[..from_back].copy_from_slice(&back[..from_back]);
                g.recv_buf.drain(..n);
                drop(g);
                // A dead session is reported by the next read, not this one.
                let _ = self.send_window_update();
                return Ok(n);
            }
            match g.state {
                StreamState::RemoteClose | StreamState::Closed => return Ok(0),
                StreamState::Reset => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        format!("yamux stream {} reset", s.id),
                    ));
                }
                _ => {}
            }
            if self.handle.session.is_closed() {
                return Err(session_gone(&self.handle.session));
            }
            g = s.wait(g);
        }
    }

    /// Queue all of `data` as data frames without writing them to the connection yet: the
    /// next flush of any stream of this session writes them (or a thread already writing
    /// does). Frames keep the order they were queued in, so a caller can queue under its own
    /// lock and flush after releasing it, never holding the lock during a system call. Waits
    /// only for send window.
    pub fn queue(&self, data: &[u8]) -> io::Result<()> {
        let s = &self.handle.shared;
        let _serial = lock(&s.write_lock);
        let mut total = 0;
        while total < data.len() {
            total += self.queue_frame(&data[total..])?;
        }
        Ok(())
    }

    /// Write what is queued (see [`Stream::queue`]), unless another thread is writing (which
    /// then writes it).
    pub fn flush_queued(&self) -> io::Result<()> {
        Ok(self.handle.session.flush()?)
    }

    fn write_impl(&self, data: &[u8]) -> io::Result<usize> {
        let s = &self.handle.shared;
        let serial = lock(&s.write_lock);
        let mut total = 0;
        while total < data.len() {
            match self.queue_frame(&data[total..]) {
                Ok(n) => total += n,
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
            // Waiting for window below must not keep queued frames from being written.
            self.flush_queued()?;
        }
        drop(serial);
        Ok(total)
    }

    /// Queue one data frame of at most min(window, MAX_FRAME) bytes, waiting for window.
    fn queue_frame(&self, data: &[u8]) -> io::Result<usize> {
        let s = &self.handle.shared;
        let mut g = s.lock();
        let mut flushed = false;
        loop {
            match g.state {
                StreamState::LocalClose | StreamState::Closed => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        format!("yamux stream {} closed for writing", s.id),
                    ));
                }
                StreamState::Reset => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        format!("yamux stream {} reset", s.id),
                    ));
                }
                _ => {}
            }
            if self.handle.session.is_closed() {
                return Err(session_gone(&self.handle.session));
            }
            if g.send_window > 0 {
                break;
            }
            if !flushed {
                // The peer grants window only for data it received: write what is queued
                // (ours included) before waiting for it.
                drop(g);
                self.flush_queued()?;
                flushed = true;
                g = s.lock();
                continue;
            }
            g = s.wait(g);
        }
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let n = len.min(g.send_window).min(MAX_FRAME);
        let flags = g.take_flags();
        g.send_window -= n;
        drop(g);
        let body = data.get(..n as usize).unwrap_or(data);
        self.handle
            .session
            .queue(Header::new(FrameType::Data, flags, s.id, n), body)?;
        Ok(n as usize)
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

/// `write` sends at once (unless another thread is writing the session's frames, which then
/// sends these too); `flush` also writes what [`Stream::queue`] queued.
impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_queued()
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_queued()
    }
}
