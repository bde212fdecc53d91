//! One yamux stream: state machine, receive buffer, both windows (hashicorp `stream.go`).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
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

/// State shared by the session's reader thread and every handle of one stream.
pub(crate) struct StreamShared {
    pub(crate) id: u32,
    inner: Mutex<Inner>,
    cv: Condvar,
    /// Serialises whole `write` calls so concurrent writers never interleave frames' data.
    write_lock: Mutex<()>,
}

pub(crate) struct Inner {
    pub(crate) state: StreamState,
    recv_buf: VecDeque<u8>,
    /// How many more bytes the peer may send us.
    pub(crate) recv_window: u32,
    /// How many more bytes we may send the peer.
    send_window: u32,
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
            }),
            cv: Condvar::new(),
            write_lock: Mutex::new(()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.cv.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn wake_all(&self) {
        let _g = self.lock();
        self.cv.notify_all();
    }

    /// Apply the flags of an incoming frame. `Ok(true)` = the stream is finished and must be
    /// dropped from the session map. `Err` = protocol violation (Go: `ErrUnexpectedFlag`).
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
        if flags & (FLAG_FIN | FLAG_RST) != 0 {
            self.cv.notify_all();
        }
        Ok(remove)
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

    /// Called by the reader thread after checking the window.
    pub(crate) fn push_data(&self, data: &[u8]) {
        let mut g = self.lock();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        g.recv_window = g.recv_window.saturating_sub(len);
        g.recv_buf.extend(data);
        self.cv.notify_all();
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
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!("yamux session closed: {}", session.closed_reason()),
    )
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
        self.handle.session.remove_stream(s.id);
        self.handle
            .session
            .send(Header::new(FrameType::WindowUpdate, FLAG_RST, s.id, 0), &[])?;
        Ok(())
    }

    /// Send the opening WindowUpdate+SYN (what Go's `OpenStream` does).
    pub(crate) fn send_syn(&self) -> Result<(), super::Error> {
        let update = self.handle.shared.lock().pending_window_update();
        if let Some((flags, delta)) = update {
            self.handle.session.send(
                Header::new(FrameType::WindowUpdate, flags, self.id(), delta),
                &[],
            )?;
        }
        Ok(())
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
                let update = g.pending_window_update();
                drop(g);
                if let Some((flags, delta)) = update {
                    // A dead session is reported by the next read, not this one.
                    let _ = self.handle.session.send(
                        Header::new(FrameType::WindowUpdate, flags, s.id, delta),
                        &[],
                    );
                }
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

    fn write_impl(&self, data: &[u8]) -> io::Result<usize> {
        let s = &self.handle.shared;
        let _serial = lock(&s.write_lock);
        let mut total = 0;
        while total < data.len() {
            match self.write_frame(&data[total..]) {
                Ok(n) => total += n,
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total)
    }

    /// Send one data frame of at most min(window, MAX_FRAME) bytes, waiting for window.
    fn write_frame(&self, data: &[u8]) -> io::Result<usize> {
        let s = &self.handle.shared;
        let mut g = s.lock();
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
            .send(Header::new(FrameType::Data, flags, s.id, n), body)?;
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

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
