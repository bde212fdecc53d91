//! Go `net/rpc` with its gob codec (`net/rpc/server.go`, `client.go`), over any byte stream.
//!
//! Each stream carries two independent gob streams, one per direction, so each side keeps one
//! `gob::Decoder` for what it reads and one `gob::Encoder` for what it writes. A request is a
//! `Request{ServiceMethod, Seq}` value then the argument value; a response is
//! `Response{ServiceMethod, Seq, Error}` then the reply (Go's empty `struct{}` on error).
//!
//! Server: one thread reads requests and runs each on a thread of its own (like Go's goroutine
//! per call); responses are written whole, under one lock, as they finish (possibly out of
//! order). Client: calls are pipelined, matched to responses by `Seq` (first 0, like Go), by
//! one reader thread per client; when the stream dies every pending call fails.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
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
// Server

struct ServerWriter {
    out: Box<dyn Write + Send>,
    enc: gob::Encoder,
    buf: Vec<u8>,
}

/// Counts requests still running, so `serve` can wait for them before closing the stream.
struct InFlight {
    count: Mutex<usize>,
    cv: Condvar,
}

/// Serve net/rpc requests on `stream` until the caller closes it (EOF) or it fails, then wait
/// for the running requests' responses and close our side.
pub fn serve(stream: Stream, service: Arc<dyn Service>) {
    serve_io(stream.clone(), stream.clone(), service);
    let _ = stream.close();
}

/// [`serve`] over any reader and writer; returns once the reader ended and every running
/// request has written its response.
pub fn serve_io<R, W>(reader: R, writer: W, service: Arc<dyn Service>)
where
    R: Read,
    W: Write + Send + 'static,
{
    let writer = Arc::new(Mutex::new(ServerWriter {
        out: Box::new(writer),
        enc: gob::Encoder::new(),
        buf: Vec::new(),
    }));
    let in_flight = Arc::new(InFlight {
        count: Mutex::new(0),
        cv: Condvar::new(),
    });
    read_requests(reader, &writer, &in_flight, &service);
    let mut n = lock(&in_flight.count);
    while *n > 0 {
        n = in_flight.cv.wait(n).unwrap_or_else(|p| p.into_inner());
    }
}

fn read_requests<R: Read>(
    reader: R,
    writer: &Arc<Mutex<ServerWriter>>,
    in_flight: &Arc<InFlight>,
    service: &Arc<dyn Service>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut dec = gob::Decoder::new();
    loop {
        let req: Request = match dec.decode(&mut reader) {
            Ok(r) => r,
            Err(gob::Error::Eof) => return,
            Err(e) => {
                if !is_disconnect(&e) {
                    log::error!("rpc: server cannot decode request: {e}");
                }
                return;
            }
        };
        // The body is read whatever the method: the gob stream must stay in step.
        let body = match dec.decode_value(&mut reader) {
            Ok(v) => v,
            Err(e) => {
                log::error!("rpc: reading body of {}: {e}", req.service_method);
                return;
            }
        };
        *lock(&in_flight.count) += 1;
        let (writer, in_flight2, service) = (writer.clone(), in_flight.clone(), service.clone());
        let spawned = crate::workers::spawn(Box::new(move || {
            run_call(&req, body, &writer, &*service);
            let mut n = lock(&in_flight2.count);
            *n -= 1;
            in_flight2.cv.notify_all();
        }));
        if let Err(e) = spawned {
            log::error!("rpc: cannot start a thread for a call: {e}");
            let mut n = lock(&in_flight.count);
            *n -= 1;
            return;
        }
    }
}

fn is_disconnect(e: &gob::Error) -> bool {
    matches!(e, gob::Error::Io(io) if matches!(io.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe))
}

fn run_call(req: &Request, body: gob::Value, writer: &Mutex<ServerWriter>, service: &dyn Service) {
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
    write_response(req, result, writer);
    service.replied(&req.service_method);
}

fn write_response(
    req: &Request,
    result: Result<Box<dyn gob::Encodable>, String>,
    writer: &Mutex<ServerWriter>,
) {
    let mut w = lock(writer);
    let ServerWriter { out, enc, buf } = &mut *w;
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
    if let Err(e) = out.write_all(buf).and_then(|()| out.flush()) {
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
    calls: HashMap<u64, mpsc::Sender<Reply>>,
    /// Set once the reader stopped: why.
    closed: Option<String>,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        let _ = lock(&self.writer).stream.close();
    }
}

static CLIENT_THREADS: AtomicUsize = AtomicUsize::new(0);

impl Client {
    /// Start a client on `stream` (spawns its reader thread).
    pub fn new(stream: Stream) -> Client {
        let pending = Arc::new(Pending::default());
        let reader = stream.clone();
        let pending2 = pending.clone();
        let n = CLIENT_THREADS.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name(format!("rpc-client-{n}"))
            .spawn(move || read_responses(reader, &pending2));
        if let Err(e) = spawned {
            lock(&pending.state).closed = Some(format!("cannot start reader thread: {e}"));
        }
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
        let rx = self.send(method, args)?;
        rx.recv().unwrap_or_else(|_| {
            Err(CallError::Closed(
                lock(&self.inner.pending.state)
                    .closed
                    .clone()
                    .unwrap_or_else(|| "reader stopped".into()),
            ))
        })
    }

    fn send<A>(&self, method: &str, args: &A) -> Result<mpsc::Receiver<Reply>, CallError>
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
        let (tx, rx) = mpsc::channel();
        {
            let mut p = lock(&self.inner.pending.state);
            if let Some(reason) = &p.closed {
                return Err(CallError::Closed(reason.clone()));
            }
            p.calls.insert(req.seq, tx);
        }
        *seq += 1;
        if let Err(e) = stream.write_all(buf) {
            lock(&self.inner.pending.state).calls.remove(&req.seq);
            return Err(CallError::Io(e));
        }
        Ok(rx)
    }

    /// Close the stream (FIN). Pending calls fail once the server closes its side.
    pub fn close(&self) {
        let _ = lock(&self.inner.writer).stream.close();
    }

    /// True once the reader stopped (stream closed or broken).
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.pending.state).closed.is_some()
    }
}

fn read_responses<R: Read>(reader: R, pending: &Pending) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut dec = gob::Decoder::new();
    let reason = loop {
        let resp: Response = match dec.decode(&mut reader) {
            Ok(r) => r,
            Err(gob::Error::Eof) => break "stream closed by the server".to_string(),
            Err(e) => break format!("reading response header: {e}"),
        };
        let body = match dec.decode_value(&mut reader) {
            Ok(v) => v,
            Err(e) => break format!("reading body of {}: {e}", resp.service_method),
        };
        let tx = lock(&pending.state).calls.remove(&resp.seq);
        let Some(tx) = tx else {
            log::debug!(
                "rpc: response to unknown call {} ({})",
                resp.seq,
                resp.service_method
            );
            continue;
        };
        let reply = if resp.error.is_empty() {
            Ok(body)
        } else {
            Err(CallError::Remote(resp.error))
        };
        let _ = tx.send(reply);
    };
    let calls = {
        let mut p = lock(&pending.state);
        p.closed = Some(reason.clone());
        std::mem::take(&mut p.calls)
    };
    for (_, tx) in calls {
        let _ = tx.send(Err(CallError::Closed(reason.clone())));
    }
}

/// Fuzzing hook: run the client's response reader over `input` with calls 0..4 pending;
/// returns how many of them got an answer (rather than the "closed" error).
#[cfg(test)]
pub(crate) fn fuzz_client_input(input: &[u8]) -> usize {
    let pending = Pending::default();
    let mut receivers = Vec::new();
    for seq in 0..4 {
        let (tx, rx) = mpsc::channel();
        lock(&pending.state).calls.insert(seq, tx);
        receivers.push(rx);
    }
    read_responses(input, &pending);
    receivers
        .iter()
        .filter(|rx| !matches!(rx.try_recv(), Ok(Err(CallError::Closed(_)))))
        .count()
}

#[cfg(test)]
mod tests;
