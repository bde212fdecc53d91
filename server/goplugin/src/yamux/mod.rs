//! yamux, **server** role, behaving like hashicorp/yamux v0.1.2 (what go-plugin uses).
//!
//! Threads and blocking I/O: one reader thread per session owns the socket's read half and
//! dispatches frames; frames to write are queued and written by whichever sending thread
//! finds no write in progress (see `Queue`); each stream keeps its state behind a `Mutex` +
//! `Condvar`. Behaviour copied from Go on purpose:
//! eager ACK when a stream is accepted, fixed 256 KiB windows, window updates once half the
//! window was consumed, pings answered straight from the reader thread. Backpressure is
//! applied through windows only: the reader thread never waits for an application reader,
//! so pings keep being answered while streams are full.

mod frame;
mod stream;
#[cfg(test)]
pub(crate) mod tests_support;

pub use frame::{
    FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, FrameType, GO_AWAY_INTERNAL_ERROR, GO_AWAY_NORMAL,
    GO_AWAY_PROTOCOL_ERROR, HEADER_LEN, Header, HeaderError,
};
pub use stream::{Receiver, Stream};

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::log;
use stream::{StreamShared, StreamState};

/// Initial (and maximum) per-stream window, both directions (Go's `initialStreamWindow`).
pub const WINDOW: u32 = 256 * 1024;
/// Largest data frame we send. Go sends up to the whole window; smaller frames keep pings and
/// other streams from queueing behind one big write.
pub const MAX_FRAME: u32 = 64 * 1024;
/// Streams opened by the peer and not yet accepted (Go's `AcceptBacklog`); more are reset.
pub const ACCEPT_BACKLOG: usize = 256;

/// Session settings. `Default` = hashicorp defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Send our own ping this often (None = never). Go's default is 30 s.
    pub keepalive_interval: Option<Duration>,
    /// How long a ping may wait for its answer (Go's `ConnectionWriteTimeout`, 10 s).
    pub ping_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            keepalive_interval: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(10),
        }
    }
}

/// Session-level errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("yamux session closed: {0}")]
    Closed(String),
    #[error("yamux: remote end sent GoAway, no new streams")]
    RemoteGoAway,
    #[error("yamux: stream ids exhausted")]
    StreamsExhausted,
    #[error("yamux: ping not answered within {0:?}")]
    PingTimeout(Duration),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::Closed(_) => io::ErrorKind::ConnectionAborted,
            Error::PingTimeout(_) => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Which side of yamux we are: decides the parity of the stream ids we open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Opens even ids (the plugin).
    Server,
    /// Opens odd ids (the host).
    Client,
}

/// How a session ended (see [`Session::wait_end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The session is closed (EOF, error, or local close); the reason says which.
    Closed(String),
    /// The peer sent GoAway(normal): no new streams, existing ones still work.
    RemoteGoAway,
}

/// A yamux session. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// Frames waiting to be written, and whether a thread is writing.
    queue: Mutex<Queue>,
    /// Signalled when a writing thread stops.
    queue_cv: Condvar,
    /// The connection's write half: only the thread that set `Queue::writing` touches it.
    out: Mutex<Box<dyn Write + Send>>,
    state: Mutex<State>,
    /// Signalled when the backlog grows, on remote GoAway and on shutdown.
    state_cv: Condvar,
    closed: AtomicBool,
    closer: Box<dyn Fn() + Send + Sync>,
    pings: Mutex<HashSet<u32>>,
    ping_cv: Condvar,
    next_ping: AtomicU32,
}

/// Frames are queued and written by whichever thread finds no other thread writing: it
/// writes everything queued, including what others add meanwhile. Concurrent senders thus
/// never wait for each other's system calls, and frames sent together go out in one write.
#[derive(Default)]
struct Queue {
    frames: Vec<u8>,
    /// The writing thread's buffer, kept between writes to reuse its allocation.
    spare: Vec<u8>,
    writing: bool,
}

struct State {
    streams: HashMap<u32, Arc<StreamShared>>,
    backlog: VecDeque<Arc<StreamShared>>,
    next_id: u32,
    remote_goaway: bool,
    local_goaway: bool,
    close_reason: Option<String>,
}

impl Session {
    /// Run the server side (what a plugin is) over a unix socket connection.
    pub fn server_unix(conn: UnixStream, config: Config) -> io::Result<Session> {
        Session::unix(conn, config, Role::Server)
    }

    /// Run the client side (the host's role: odd ids) over a unix socket connection. For
    /// in-process tests of code that normally talks to a Go host.
    pub fn client_unix(conn: UnixStream, config: Config) -> io::Result<Session> {
        Session::unix(conn, config, Role::Client)
    }

    fn unix(conn: UnixStream, config: Config, role: Role) -> io::Result<Session> {
        let reader = conn.try_clone()?;
        let closer = conn.try_clone()?;
        // A host that stops reading for this long is gone; Go gives up after 10 s.
        conn.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(Session::new(reader, conn, config, role, move || {
            let _ = closer.shutdown(std::net::Shutdown::Both);
        }))
    }

    /// Run the server side over any byte transport. `closer` must make a blocked `reader.read`
    /// return (for a socket: `shutdown(Both)`); it is called once, when the session ends.
    pub fn server<R, W, C>(reader: R, writer: W, config: Config, closer: C) -> Session
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
        C: Fn() + Send + Sync + 'static,
    {
        Session::new(reader, writer, config, Role::Server, closer)
    }

    fn new<R, W, C>(reader: R, writer: W, config: Config, role: Role, closer: C) -> Session
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
        C: Fn() + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            queue_cv: Condvar::new(),
            out: Mutex::new(Box::new(writer)),
            state: Mutex::new(State {
                streams: HashMap::new(),
                backlog: VecDeque::new(),
                next_id: match role {
                    Role::Server => 2,
                    Role::Client => 1,
                },
                remote_goaway: false,
                local_goaway: false,
                close_reason: None,
            }),
            state_cv: Condvar::new(),
            closed: AtomicBool::new(false),
            closer: Box::new(closer),
            pings: Mutex::new(HashSet::new()),
            ping_cv: Condvar::new(),
            next_ping: AtomicU32::new(0),
        });
        let session = Session { shared };
        let reader_session = session.clone();
        std::thread::Builder::new()
            .name("yamux-reader".into())
            .spawn(move || reader_session.shared.reader_loop(reader))
            .map_err(|e| {
                session
                    .shared
                    .shutdown(format!("cannot start reader thread: {e}"))
            })
            .ok();
        if let Some(interval) = config.keepalive_interval {
            let ka = session.clone();
            let timeout = config.ping_timeout;
            std::thread::Builder::new()
                .name("yamux-keepalive".into())
                .spawn(move || ka.keepalive(interval, timeout))
                .map_err(|e| log::warning!("yamux: cannot start keepalive thread: {e}"))
                .ok();
        }
        session
    }

    /// Wait for the next stream opened by the peer and ACK it (once, right away, like Go).
    pub fn accept(&self) -> Result<Stream, Error> {
        let stream = {
            let mut st = self.shared.lock_state();
            loop {
                if let Some(s) = st.backlog.pop_front() {
                    break s;
                }
                if self.shared.is_closed() {
                    return Err(self.shared.closed_error(&st));
                }
                st = self
                    .shared
                    .state_cv
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let update = stream.lock().pending_window_update();
        self.shared.send_window_update(stream.id, update)?;
        Ok(Stream::new(self.shared.clone(), stream))
    }

    /// Open a new stream (even id). Sends WindowUpdate+SYN like Go.
    pub fn open(&self) -> Result<Stream, Error> {
        self.open_with(&[])
    }

    /// Open a new stream whose SYN frame already carries `first` (a Data+SYN frame), e.g. the
    /// broker's 4-byte id, so the peer never sees a stream without it.
    pub fn open_with(&self, first: &[u8]) -> Result<Stream, Error> {
        let shared = {
            let mut st = self.shared.lock_state();
            if self.shared.is_closed() {
                return Err(self.shared.closed_error(&st));
            }
            if st.remote_goaway {
                return Err(Error::RemoteGoAway);
            }
            let id = st.next_id;
            if id >= u32::MAX - 1 {
                return Err(Error::StreamsExhausted);
            }
            st.next_id += 2;
            let s = Arc::new(StreamShared::new(id, StreamState::Init));
            st.streams.insert(id, s.clone());
            s
        };
        let stream = Stream::new(self.shared.clone(), shared);
        if first.is_empty() {
            stream.send_syn()?;
        } else {
            let mut w = &stream;
            w.write_all(first)
                .map_err(|e| Error::Closed(format!("opening stream: {e}")))?;
        }
        Ok(stream)
    }

    /// Send GoAway(normal): the peer may not open new streams (ours are refused with RST).
    pub fn go_away(&self) -> Result<(), Error> {
        self.shared.lock_state().local_goaway = true;
        self.shared
            .send(Header::new(FrameType::GoAway, 0, 0, GO_AWAY_NORMAL), &[])
    }

    /// Close the session: frames already sent are written, then the connection is shut
    /// down and every stream fails or sees EOF.
    pub fn close(&self) {
        self.shared.drain();
        self.shared.shutdown("closed locally".into());
    }

    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Block until the session is closed or the peer sent GoAway(normal).
    pub fn wait_end(&self) -> End {
        let mut st = self.shared.lock_state();
        loop {
            if self.shared.is_closed() {
                return End::Closed(st.close_reason.clone().unwrap_or_default());
            }
            if st.remote_goaway {
                return End::RemoteGoAway;
            }
            st = self
                .shared
                .state_cv
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Send a ping and wait for its answer; returns the round-trip time.
    pub fn ping(&self, timeout: Duration) -> Result<Duration, Error> {
        let id = self.shared.next_ping.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.pings).insert(id);
        let start = Instant::now();
        self.shared
            .send(Header::new(FrameType::Ping, FLAG_SYN, 0, id), &[])?;
        let mut pings = lock(&self.shared.pings);
        loop {
            if !pings.contains(&id) {
                return Ok(start.elapsed());
            }
            if self.shared.is_closed() {
                return Err(Error::Closed("while waiting for ping answer".into()));
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                pings.remove(&id);
                return Err(Error::PingTimeout(timeout));
            }
            pings = self
                .shared
                .ping_cv
                .wait_timeout(pings, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Number of streams currently tracked (open or half-closed).
    pub fn num_streams(&self) -> usize {
        self.shared.lock_state().streams.len()
    }

    fn keepalive(&self, interval: Duration, timeout: Duration) {
        loop {
            let deadline = Instant::now() + interval;
            let mut st = self.shared.lock_state();
            while !self.shared.is_closed() && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                st = self
                    .shared
                    .state_cv
                    .wait_timeout(st, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            drop(st);
            if self.shared.is_closed() {
                return;
            }
            if let Err(e) = self.ping(timeout) {
                if !self.shared.is_closed() {
                    log::error!("yamux: keepalive failed: {e}");
                    self.shared.shutdown(format!("keepalive failed: {e}"));
                }
                return;
            }
        }
    }
}

/// Lock a mutex, recovering from poisoning (a panicking thread must not take the session down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why the reader loop stopped.
enum Stop {
    /// The connection ended or failed.
    Io(String),
    /// The peer broke the protocol: we answer GoAway(protocol error).
    Protocol(String),
    /// The peer sent an error GoAway.
    RemoteError(String),
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn closed_error(&self, st: &State) -> Error {
        Error::Closed(st.close_reason.clone().unwrap_or_default())
    }

    pub(crate) fn closed_reason(&self) -> String {
        self.lock_state().close_reason.clone().unwrap_or_default()
    }

    /// What streams report once the session is closed.
    pub(crate) fn closed_message(&self) -> String {
        format!("yamux session closed: {}", self.closed_reason())
    }

    /// Send one frame (header + body), whole and in order with every other frame. It is
    /// written before this returns unless another thread is writing, which then writes it
    /// too; if that write fails, the session ends (and with it every stream).
    pub(crate) fn send(&self, header: Header, body: &[u8]) -> Result<(), Error> {
        self.queue(header, body)?;
        self.flush()
    }

    /// Queue one frame; the next [`Shared::flush`] (by any thread) writes it.
    pub(crate) fn queue(&self, header: Header, body: &[u8]) -> Result<(), Error> {
        if self.is_closed() {
            return Err(Error::Closed(self.closed_reason()));
        }
        let mut q = lock(&self.queue);
        q.frames.extend_from_slice(&header.encode());
        q.frames.extend_from_slice(body);
        Ok(())
    }

    /// Write the queued frames, unless another thread is writing (it writes them then).
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.write_unless_writing(lock(&self.queue))
    }

    fn write_unless_writing<'a>(&'a self, mut q: MutexGuard<'a, Queue>) -> Result<(), Error> {
        if q.writing || q.frames.is_empty() {
            return Ok(());
        }
        q.writing = true;
        self.write_queued(q)
    }

    /// As the writing thread: write queued frames until none are left.
    fn write_queued<'a>(&'a self, mut q: MutexGuard<'a, Queue>) -> Result<(), Error> {
        loop {
            if q.frames.is_empty() {
                q.writing = false;
                self.queue_cv.notify_all();
                return Ok(());
            }
            let mut batch = std::mem::take(&mut q.frames);
            q.frames = std::mem::take(&mut q.spare);
            drop(q);
            let result = {
                let mut out = lock(&self.out);
                out.write_all(&batch).and_then(|()| out.flush())
            };
            batch.clear();
            q = lock(&self.queue);
            q.spare = batch;
            if let Err(e) = result {
                q.writing = false;
                self.queue_cv.notify_all();
                drop(q);
                let reason = format!("write failed: {e}");
                self.shutdown(reason.clone());
                return Err(Error::Closed(reason));
            }
        }
    }

    /// Wait until every frame queued so far is written (or writing failed).
    fn drain(&self) {
        let mut q = lock(&self.queue);
        while q.writing {
            q = self.queue_cv.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        let _ = self.write_unless_writing(q);
    }

    /// Send a stream's due window update (flags, delta), if there is one.
    pub(crate) fn send_window_update(
        &self,
        id: u32,
        update: Option<(u16, u32)>,
    ) -> Result<(), Error> {
        match update {
            Some((flags, delta)) => {
                self.send(Header::new(FrameType::WindowUpdate, flags, id, delta), &[])
            }
            None => Ok(()),
        }
    }

    /// End the session once: record why, shut the connection, wake every waiter.
    pub(crate) fn shutdown(&self, reason: String) {
        {
            let mut st = self.lock_state();
            if self.closed.swap(true, Ordering::SeqCst) {
                return;
            }
            st.close_reason = Some(reason);
        }
        (self.closer)();
        let streams: Vec<Arc<StreamShared>> = {
            let st = self.lock_state();
            self.state_cv.notify_all();
            st.streams
                .values()
                .chain(st.backlog.iter())
                .cloned()
                .collect()
        };
        let ended = self.closed_message();
        for s in streams {
            s.session_ended(&ended);
        }
        let _pings = lock(&self.pings);
        self.ping_cv.notify_all();
    }

    pub(crate) fn remove_stream(&self, id: u32) {
        self.lock_state().streams.remove(&id);
    }

    fn reader_loop<R: Read>(&self, reader: R) {
        let mut reader = io::BufReader::with_capacity(64 * 1024, reader);
        let reason = match self.read_frames(&mut reader) {
            Stop::Io(msg) => msg,
            Stop::RemoteError(msg) => {
                log::error!("yamux: {msg}");
                msg
            }
            Stop::Protocol(msg) => {
                log::error!("yamux: protocol error from peer: {msg}");
                let _ = self.send(
                    Header::new(FrameType::GoAway, 0, 0, GO_AWAY_PROTOCOL_ERROR),
                    &[],
                );
                format!("protocol error: {msg}")
            }
        };
        self.shutdown(reason);
    }

    fn read_frames<R: Read>(&self, reader: &mut R) -> Stop {
        let mut raw = [0u8; HEADER_LEN];
        // One buffer for every frame's data, reused.
        let mut data = Vec::new();
        loop {
            if let Err(e) = reader.read_exact(&mut raw) {
                return Stop::Io(match e.kind() {
                    io::ErrorKind::UnexpectedEof => "connection closed by peer".into(),
                    _ if self.is_closed() => self.closed_reason(),
                    _ => format!("read failed: {e}"),
                });
            }
            let header = match Header::decode(&raw) {
                Ok(h) => h,
                Err(e) => return Stop::Protocol(e.to_string()),
            };
            let step = match header.frame_type {
                FrameType::Data | FrameType::WindowUpdate => {
                    self.on_stream_frame(header, reader, &mut data)
                }
                FrameType::Ping => self.on_ping(header),
                FrameType::GoAway => self.on_go_away(header),
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    fn on_ping(&self, h: Header) -> Result<(), Stop> {
        if h.has(FLAG_SYN) {
            // Answer from this thread: sending never waits for another sender.
            return self
                .send(Header::new(FrameType::Ping, FLAG_ACK, 0, h.length), &[])
                .map_err(|e| Stop::Io(e.to_string()));
        }
        if lock(&self.pings).remove(&h.length) {
            self.ping_cv.notify_all();
        }
        Ok(())
    }

    fn on_go_away(&self, h: Header) -> Result<(), Stop> {
        match h.length {
            GO_AWAY_NORMAL => {
                log::debug!("yamux: peer sent GoAway, no new streams");
                self.lock_state().remote_goaway = true;
                self.state_cv.notify_all();
                Ok(())
            }
            GO_AWAY_PROTOCOL_ERROR => {
                Err(Stop::RemoteError("peer sent GoAway: protocol error".into()))
            }
            GO_AWAY_INTERNAL_ERROR => {
                Err(Stop::RemoteError("peer sent GoAway: internal error".into()))
            }
            code => Err(Stop::RemoteError(format!(
                "peer sent GoAway with unknown code {code}"
            ))),
        }
    }

    fn on_stream_frame<R: Read>(
        &self,
        h: Header,
        reader: &mut R,
        data: &mut Vec<u8>,
    ) -> Result<(), Stop> {
        if h.has(FLAG_SYN) {
            self.incoming_stream(h.stream_id)?;
        }
        let stream = self.lock_state().streams.get(&h.stream_id).cloned();
        let Some(stream) = stream else {
            // Likely a stream we reset or already closed: drain its data and go on (as Go).
            if h.frame_type == FrameType::Data && h.length > 0 {
                log::debug!("yamux: discarding data for unknown stream {}", h.stream_id);
                let copied = io::copy(&mut reader.take(u64::from(h.length)), &mut io::sink())
                    .map_err(|e| Stop::Io(format!("read failed: {e}")))?;
                if copied < u64::from(h.length) {
                    return Err(Stop::Io("connection closed by peer".into()));
                }
            }
            return Ok(());
        };
        // Data before flags: a reader must see the payload of a Data+FIN frame before the EOF.
        let result = match h.frame_type {
            FrameType::WindowUpdate => Ok(()),
            _ => self.read_data(&stream, h.length, reader, data),
        };
        result?;
        let remove = stream.process_flags(h.flags).map_err(Stop::Protocol)?;
        if remove {
            self.remove_stream(h.stream_id);
        }
        if h.flags & (FLAG_FIN | FLAG_RST) != 0 {
            stream.peer_ended();
        }
        if h.frame_type == FrameType::WindowUpdate {
            stream.grow_send_window(h.length).map_err(Stop::Protocol)?;
        }
        Ok(())
    }

    fn read_data<R: Read>(
        &self,
        stream: &StreamShared,
        len: u32,
        reader: &mut R,
        data: &mut Vec<u8>,
    ) -> Result<(), Stop> {
        if len == 0 {
            return Ok(());
        }
        // Only this thread lowers the receive window, so checking before reading is safe.
        let window = stream.lock().recv_window;
        if len > window {
            return Err(Stop::Protocol(format!(
                "receive window exceeded on stream {} (window {window}, frame {len})",
                stream.id
            )));
        }
        data.resize(len as usize, 0);
        reader.read_exact(data).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Stop::Io("connection closed by peer".into()),
            _ => Stop::Io(format!("read failed: {e}")),
        })?;
        let update = stream.push_data(data);
        self.send_window_update(stream.id, update)
            .map_err(|e| Stop::Io(e.to_string()))
    }

    fn incoming_stream(&self, id: u32) -> Result<(), Stop> {
        let reset = {
            let mut st = self.lock_state();
            // Each side opens streams of its own parity (host = client = odd).
            if id == 0 || id % 2 == st.next_id % 2 {
                return Err(Stop::Protocol(format!(
                    "peer opened stream {id}: invalid id for its side (0 or our parity)"
                )));
            }
            if st.streams.contains_key(&id) {
                return Err(Stop::Protocol(format!("duplicate stream {id}")));
            }
            if st.local_goaway {
                true
            } else if st.backlog.len() >= ACCEPT_BACKLOG {
                log::warning!("yamux: accept backlog exceeded, resetting stream {id}");
                true
            } else {
                let s = Arc::new(StreamShared::new(id, StreamState::SynReceived));
                st.streams.insert(id, s.clone());
                st.backlog.push_back(s);
                self.state_cv.notify_all();
                false
            }
        };
        if reset {
            self.send(Header::new(FrameType::WindowUpdate, FLAG_RST, id, 0), &[])
                .map_err(|e| Stop::Io(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
