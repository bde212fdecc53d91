//! Go `net/rpc` with its gob codec (`net/rpc/server.go`, `client.go`), over any byte stream.
//!
//! Each stream carries two independent gob streams, one per direction, so each side keeps one
//! `gob::Decoder` for what it reads and one `gob::Encoder` for what it writes. A request is a
//! `Request{ServiceMethod, Seq}` value then the argument value; a response is
//! `Response{ServiceMethod, Seq, Error}` then the reply (Go's empty `struct{}` on error).
//!
//! On a yamux stream both sides decode what arrives on the session's reader thread, as the
//! bytes come in ([`crate::yamux::Receiver`]): a message then costs one thread wake-up, not
//! two. Server: each request runs on a worker thread of its own (like Go's goroutine per
//! call); responses are written whole, under one lock, as they finish (possibly out of
//! order). Client: calls are pipelined, matched to responses by `Seq` (first 0, like Go), each
//! reply handed straight to its waiting caller. When the stream dies every pending call fails.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::log;
use crate::yamux::Stream;

/// Go's `rpc.Request` (the unexported `next` field is never sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
pub struct Request {
    pub service_method: String,
    pub seq: u64,
}

/// Go's `rpc.Response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
pub struct Response {
    pub service_method: String,
    pub seq: u64,
    pub error: String,
}

/// A net/rpc service. `method` is the full `"Service.Method"` name as sent by the caller;
/// `body` the decoded argument. Return the reply value, or the error text the caller sees.
/// Unknown names should be answered with [`unknown_method`] (Go's wording).
pub trait Service: Send + Sync {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String>;

    /// Called after the response to `method` was written to the stream (or failed to be).
    /// Lets e.g. `Control.Quit` shut down only once its reply is on its way.
    fn replied(&self, _method: &str) {}
}

/// Go's error for a method the service does not have: `rpc: can't find method X.Y`.
pub fn unknown_method(method: &str) -> String {
    format!("rpc: can't find method {method}")
}

/// Go's error for a service name nobody registered: `rpc: can't find service X.Y`.
pub fn unknown_service(method: &str) -> String {
    format!("rpc: can't find service {method}")
}

/// Serves only calls addressed to one service name (what Go's `RegisterName` does); other
/// names are answered `rpc: can't find service …`.
pub struct Named {
    name: String,
    inner: Arc<dyn Service>,
}

impl Named {
    pub fn new(name: impl Into<String>, inner: Arc<dyn Service>) -> Named {
        Named {
            name: name.into(),
            inner,
        }
    }
}

impl Service for Named {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
        match method.rsplit_once('.') {
            Some((service, _)) if service == self.name => self.inner.call(method, body),
            _ => Err(unknown_service(method)),
        }
    }

    fn replied(&self, method: &str) {
        self.inner.replied(method)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Framing shared by both sides

/// The header of a message: a request or a response.
trait Header: DeserializeOwned {
    fn method(&self) -> &str;
}

impl Header for Request {
    fn method(&self) -> &str {
        &self.service_method
    }
}

impl Header for Response {
    fn method(&self) -> &str {
        &self.service_method
    }
}

/// One direction of net/rpc, received in pieces: pairs of (header, body) values.
struct Frames<H> {
    dec: gob::Decoder,
    /// Received bytes not decoded yet.
    buf: Vec<u8>,
    /// The header whose body is still to come.
    header: Option<H>,
    /// Set by the first error: the rest of the stream is ignored.
    stopped: bool,
}

impl<H: Header> Frames<H> {
    fn new() -> Frames<H> {
        Frames {
            dec: gob::Decoder::new(),
            buf: Vec::new(),
            header: None,
            stopped: false,
        }
    }

    /// Add `bytes` and pass every whole (header, body) pair to `pair`; the rest waits for
    /// more bytes. `Err` = malformed input, or what `pair` returned: the stream is unusable
    /// and later bytes are ignored.
    fn feed(
        &mut self,
        bytes: &[u8],
        mut pair: impl FnMut(H, gob::Value) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.buf.extend_from_slice(bytes);
        let mut used = 0;
        let result = loop {
            let value = match self.dec.decode_prefix(&self.buf[used..]) {
                Ok(Some((value, n))) => {
                    used += n;
                    value
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(self.describe(&e)),
            };
            let step = match self.header.take() {
                Some(header) => pair(header, value),
                None => gob::from_value(value)
                    .map(|h| self.header = Some(h))
                    .map_err(|e| self.describe(&e)),
            };
            if let Err(e) = step {
                break Err(e);
            }
        };
        self.buf.drain(..used);
        if result.is_err() {
            self.stopped = true;
            self.buf = Vec::new();
        }
        result
    }

    fn describe(&self, e: &gob::Error) -> String {
        match &self.header {
            Some(h) => format!("reading body of {}: {e}", h.method()),
            None => format!("reading header: {e}"),
        }
    }

    /// Why the stream ending now loses data, if it does (stopped, or between messages: no).
    fn cut_short(&self, reason: &str) -> Option<String> {
        let between_messages = self.buf.is_empty() && self.header.is_none();
        (!self.stopped && !between_messages).then(|| format!("{reason} in the middle of a message"))
    }
}

// ---------------------------------------------------------------------------------------------
// Server

struct ServerWriter {
    enc: gob::Encoder,
    buf: Vec<u8>,
}

/// Where responses go. They are queued under the writer lock, which keeps them in the order
/// they were encoded in (gob type definitions first), and written after it is released.
trait Output: Send + Sync {
    fn queue(&self, bytes: &[u8]) -> std::io::Result<()>;
    fn flush(&self) -> std::io::Result<()>;
}

impl Output for Stream {
    fn queue(&self, bytes: &[u8]) -> std::io::Result<()> {
        Stream::queue(self, bytes)
    }
    fn flush(&self) -> std::io::Result<()> {
        self.flush_queued()
    }
}

/// Any writer, written at once (for [`serve_io`]).
struct Plain<W>(Mutex<W>);

impl<W: Write + Send> Output for Plain<W> {
    fn queue(&self, bytes: &[u8]) -> std::io::Result<()> {
        lock(&self.0).write_all(bytes)
    }
    fn flush(&self) -> std::io::Result<()> {
        lock(&self.0).flush()
    }
}

/// What the calls of one served stream share.
struct Calls {
    writer: Mutex<ServerWriter>,
    out: Box<dyn Output>,
    service: Arc<dyn Service>,
    progress: Mutex<Progress>,
    changed: Condvar,
}

#[derive(Default)]
struct Progress {
    /// Requests still running.
    in_flight: usize,
    /// No more requests will be read.
    ended: bool,
}

impl Calls {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut lock(&self.progress));
        self.changed.notify_all();
    }

    /// Wait until no more requests come and every running one has written its response.
    fn wait_done(&self) {
        let mut p = lock(&self.progress);
        while !(p.ended && p.in_flight == 0) {
            p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Run one request on a worker thread (like Go's goroutine per call).
    fn start(self: &Arc<Calls>, req: Request, body: gob::Value) -> Result<(), String> {
        self.update(|p| p.in_flight += 1);
        let calls = self.clone();
        crate::workers::spawn(Box::new(move || {
            run_call(&req, body, &calls);
            calls.update(|p| p.in_flight -= 1);
        }))
        .map_err(|e| {
            self.update(|p| p.in_flight -= 1);
            format!("cannot start a thread for a call: {e}")
        })
    }
}

/// Decodes requests from the bytes of a served stream as they arrive and starts each call.
struct RequestReader {
    frames: Frames<Request>,
    calls: Arc<Calls>,
}

impl crate::yamux::Receiver for RequestReader {
    fn data(&mut self, bytes: &[u8]) {
        let calls = &self.calls;
        if let Err(e) = self.frames.feed(bytes, |req, body| calls.start(req, body)) {
            log::error!("rpc: server stops reading requests: {e}");
            self.calls.update(|p| p.ended = true);
        }
    }

    fn end(&mut self, reason: &str) {
        if let Some(e) = self.frames.cut_short(reason) {
            log::error!("rpc: server stops reading requests: {e}");
        }
        self.calls.update(|p| p.ended = true);
    }
}

impl RequestReader {
    fn new(out: Box<dyn Output>, service: Arc<dyn Service>) -> RequestReader {
        RequestReader {
            frames: Frames::new(),
            calls: Arc::new(Calls {
                writer: Mutex::new(ServerWriter {
                    enc: gob::Encoder::new(),
                    buf: Vec::new(),
                }),
                out,
                service,
                progress: Mutex::new(Progress::default()),
                changed: Condvar::new(),
            }),
        }
    }
}

/// Serve net/rpc requests on `stream` until the caller closes it or it fails, then wait for
/// the running requests' responses and close our side. Requests are decoded on the yamux
/// reader thread as they arrive and go straight to a worker thread.
pub fn serve(stream: Stream, service: Arc<dyn Service>) {
    let reader = RequestReader::new(Box::new(stream.clone()), service);
    let calls = reader.calls.clone();
    stream.deliver_to(Box::new(reader));
    calls.wait_done();
    let _ = stream.close();
}

/// [`serve`] over any reader and writer; returns once the reader ended and every running
/// request has written its response.
pub fn serve_io<R, W>(reader: R, writer: W, service: Arc<dyn Service>)
where
    R: Read,
    W: Write + Send + 'static,
{
    use crate::yamux::Receiver;
    let mut requests = RequestReader::new(Box::new(Plain(Mutex::new(writer))), service);
    let mut reader = reader;
    let mut chunk = vec![0u8; 64 * 1024];
    let why = loop {
        match reader.read(&mut chunk) {
            Ok(0) => break "end of input".to_owned(),
            Ok(n) => requests.data(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break e.to_string(),
        }
    };
    requests.end(&why);
    requests.calls.wait_done();
}

fn run_call(req: &Request, body: gob::Value, calls: &Calls) {
    let service = &*calls.service;
    let result = if req.service_method.contains('.') {
        // A panicking handler answers with an error instead of leaving the caller hanging.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            service.call(&req.service_method, body)
        }))
        .unwrap_or_else(|_| Err(format!("rpc: {} panicked", req.service_method)))
    } else {
        Err(format!(
            "rpc: service/method request ill-formed: {}",
            req.service_method
        ))
    };
    write_response(req, result, calls);
    service.replied(&req.service_method);
}

fn write_response(req: &Request, result: Result<Box<dyn gob::Encodable>, String>, calls: &Calls) {
    let mut w = lock(&calls.writer);
    let ServerWriter { enc, buf } = &mut *w;
    buf.clear();
    let mut resp = Response {
        service_method: req.service_method.clone(),
        seq: req.seq,
        error: String::new(),
    };
    let encoded = match &result {
        Ok(reply) => {
            let mut body = Vec::new();
            // The gob encoder leaves its state unchanged when encoding fails, so an error
            // response can still be sent on the same stream.
            match reply.encode_into(enc, &mut body) {
                Ok(()) => enc
                    .encode(&resp, buf)
                    .map(|()| buf.extend_from_slice(&body)),
                Err(e) => {
                    log::error!("rpc: encoding reply of {}: {e}", req.service_method);
                    resp.error = format!("rpc: encoding reply of {}: {e}", req.service_method);
                    encode_error(enc, &resp, buf)
                }
            }
        }
        Err(msg) => {
            resp.error = if msg.is_empty() {
                // Go treats an empty Error as success; never send one for a failure.
                "unknown error".to_string()
            } else {
                msg.clone()
            };
            encode_error(enc, &resp, buf)
        }
    };
    if let Err(e) = encoded {
        log::error!("rpc: encoding response of {}: {e}", req.service_method);
        return;
    }
    let queued = calls.out.queue(buf);
    drop(w);
    if let Err(e) = queued.and_then(|()| calls.out.flush()) {
        log::debug!("rpc: writing response of {}: {e}", req.service_method);
    }
}

fn encode_error(
    enc: &mut gob::Encoder,
    resp: &Response,
    buf: &mut Vec<u8>,
) -> Result<(), gob::Error> {
    // Body on error = Go's `invalidRequest`, an empty struct.
    enc.encode(resp, buf)?;
    enc.encode(&gob::Empty, buf)
}

// ---------------------------------------------------------------------------------------------
// Client

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with this error string (Go's `rpc.ServerError`).
    #[error("{0}")]
    Remote(String),
    /// Writing the request failed.
    #[error("rpc: writing request: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is shut down (before or while waiting for the answer).
    #[error("rpc: connection closed: {0}")]
    Closed(String),
    /// The arguments could not be encoded.
    #[error("rpc: encoding arguments: {0}")]
    Encode(gob::Error),
    /// The reply did not decode into the expected type (the stream stays usable).
    #[error("rpc: decoding reply: {0}")]
    Decode(gob::Error),
}

type Reply = Result<gob::Value, CallError>;

/// A net/rpc client on one stream. Cheap to clone; all clones share the stream. The stream is
/// closed when the last clone is dropped (or on [`Client::close`]).
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    writer: Mutex<ClientWriter>,
    pending: Arc<Pending>,
}

struct ClientWriter {
    stream: Stream,
    enc: gob::Encoder,
    buf: Vec<u8>,
    seq: u64,
}

#[derive(Default)]
struct Pending {
    state: Mutex<PendingState>,
}

#[derive(Default)]
struct PendingState {
    calls: HashMap<u64, Arc<Slot>>,
    /// Set once no more responses can come: why.
    closed: Option<String>,
}

/// Where a waiting caller gets its reply. Each thread reuses its own: a thread waits for one
/// call at a time, and a per-call channel would cost allocations on every call.
#[derive(Default)]
struct Slot {
    reply: Mutex<Option<Reply>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, reply: Reply) {
        *lock(&self.reply) = Some(reply);
        self.ready.notify_one();
    }

    fn wait(&self) -> Reply {
        let mut reply = lock(&self.reply);
        loop {
            if let Some(r) = reply.take() {
                return r;
            }
            reply = self.ready.wait(reply).unwrap_or_else(|p| p.into_inner());
        }
    }
}

thread_local! {
    static SLOT: Arc<Slot> = Arc::default();
}

impl Pending {
    /// Answer call `seq` (ignored if nobody waits for it).
    fn answer(&self, seq: u64, reply: Reply) -> bool {
        let slot = lock(&self.state).calls.remove(&seq);
        match slot {
            Some(slot) => {
                slot.put(reply);
                true
            }
            None => false,
        }
    }

    /// No more responses: fail every waiting call with `reason`, and every later one.
    fn close(&self, reason: &str) {
        let calls = {
            let mut p = lock(&self.state);
            p.closed.get_or_insert_with(|| reason.to_owned());
            std::mem::take(&mut p.calls)
        };
        for (_, slot) in calls {
            slot.put(Err(CallError::Closed(reason.to_owned())));
        }
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        let _ = lock(&self.writer).stream.close();
    }
}

impl Client {
    /// Start a client on `stream`. Responses are decoded as they arrive, on the yamux
    /// session's reader thread, and handed straight to the waiting callers.
    pub fn new(stream: Stream) -> Client {
        let pending = Arc::new(Pending::default());
        stream.deliver_to(Box::new(ResponseReader::new(pending.clone())));
        Client {
            inner: Arc::new(ClientInner {
                writer: Mutex::new(ClientWriter {
                    stream,
                    enc: gob::Encoder::new(),
                    buf: Vec::new(),
                    seq: 0,
                }),
                pending,
            }),
        }
    }

    /// Call `method` ("Service.Method") with `args` and decode the reply into `R`.
    pub fn call<A, R>(&self, method: &str, args: &A) -> Result<R, CallError>
    where
        A: Serialize + gob::GobType + ?Sized,
        R: DeserializeOwned,
    {
        let value = self.call_value(method, args)?;
        gob::from_value(value).map_err(CallError::Decode)
    }

    /// Like [`Client::call`], returning the reply as a dynamic value.
    pub fn call_value<A>(&self, method: &str, args: &A) -> Result<gob::Value, CallError>
    where
        A: Serialize + gob::GobType + ?Sized,
    {
        SLOT.with(|slot| {
            self.send(method, args, slot)?;
            slot.wait()
        })
    }

    fn send<A>(&self, method: &str, args: &A, slot: &Arc<Slot>) -> Result<(), CallError>
    where
        A: Serialize + gob::GobType + ?Sized,
    {
        // The serde conversion needs no stream state, so it runs before the writer lock:
        // concurrent callers then serialise only on the wire encoding and the write.
        let args_value = gob::to_value(args).map_err(CallError::Encode)?;
        let args_type = A::gob_type();
        let mut w = lock(&self.inner.writer);
        let ClientWriter {
            stream,
            enc,
            buf,
            seq,
        } = &mut *w;
        let req = Request {
            service_method: method.to_string(),
            seq: *seq,
        };
        // Arguments first, into their own buffer: if they fail to encode, nothing was added
        // to the encoder's state (a failed encode leaves it unchanged) and nothing is sent.
        // Type ids need not be in wire order, only defined before use.
        let mut body = Vec::new();
        enc.encode_value(&args_type, &args_value, &mut body)
            .map_err(CallError::Encode)?;
        buf.clear();
        enc.encode(&req, buf).map_err(CallError::Encode)?;
        buf.extend_from_slice(&body);
        {
            let mut p = lock(&self.inner.pending.state);
            if let Some(reason) = &p.closed {
                return Err(CallError::Closed(reason.clone()));
            }
            p.calls.insert(req.seq, slot.clone());
        }
        *seq += 1;
        let queued = stream.queue(buf);
        let stream = stream.clone();
        drop(w);
        if let Err(e) = queued.and_then(|()| stream.flush_queued()) {
            let still_ours = lock(&self.inner.pending.state).calls.remove(&req.seq);
            if still_ours.is_none() {
                // The stream closed meanwhile and the slot got (or is getting) that error:
                // take it, so the thread's next call does not find it.
                let _ = slot.wait();
            }
            return Err(CallError::Io(e));
        }
        Ok(())
    }

    /// Close the stream (FIN). Pending calls fail once the server closes its side.
    pub fn close(&self) {
        let _ = lock(&self.inner.writer).stream.close();
    }

    /// True once no more responses can come (stream closed or broken).
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.pending.state).closed.is_some()
    }
}

/// Decodes responses from the bytes of the client's stream as they arrive and answers the
/// waiting calls. Stops at the first malformed response: every pending call fails then.
struct ResponseReader {
    frames: Frames<Response>,
    pending: Arc<Pending>,
}

impl ResponseReader {
    fn new(pending: Arc<Pending>) -> ResponseReader {
        ResponseReader {
            frames: Frames::new(),
            pending,
        }
    }
}

impl crate::yamux::Receiver for ResponseReader {
    fn data(&mut self, bytes: &[u8]) {
        let pending = &self.pending;
        let fed = self.frames.feed(bytes, |resp, body| {
            let reply = if resp.error.is_empty() {
                Ok(body)
            } else {
                Err(CallError::Remote(resp.error))
            };
            if !pending.answer(resp.seq, reply) {
                log::debug!(
                    "rpc: response to unknown call {} ({})",
                    resp.seq,
                    resp.service_method
                );
            }
            Ok(())
        });
        if let Err(reason) = fed {
            self.pending.close(&reason);
        }
    }

    fn end(&mut self, reason: &str) {
        let why = self.frames.cut_short(reason);
        self.pending.close(why.as_deref().unwrap_or(reason));
    }
}

/// Fuzzing hook: run the client's response reader over `input`, handed over in pieces of
/// `piece` bytes, with calls 0..4 pending; returns how many of them got an answer (rather
/// than the "closed" error).
#[cfg(test)]
pub(crate) fn fuzz_client_input(input: &[u8], piece: usize) -> usize {
    use crate::yamux::Receiver;
    let pending = Arc::new(Pending::default());
    let slots: Vec<Arc<Slot>> = (0..4).map(|_| Arc::default()).collect();
    for (seq, slot) in slots.iter().enumerate() {
        lock(&pending.state).calls.insert(seq as u64, slot.clone());
    }
    let mut reader = ResponseReader::new(pending);
    for chunk in input.chunks(piece.max(1)) {
        reader.data(chunk);
    }
    reader.end("end of input");
    slots
        .iter()
        .filter(|slot| !matches!(slot.wait(), Err(CallError::Closed(_))))
        .count()
}

#[cfg(test)]
mod tests;
