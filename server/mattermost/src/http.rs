//! ServeHTTP plumbing: the request (with a streamed body) and the response writer.
//!
//! The body comes over its own broker stream with io_rpc.go's credit protocol: the plugin
//! writes a zig-zag varint "give me up to n bytes", the host copies up to n bytes and closes
//! the stream (FIN) once the body is exhausted. The response goes back as net/rpc calls on
//! another stream (`Plugin.Header`, `Plugin.SyncHeader`, `Plugin.WriteHeader`,
//! `Plugin.Write`), each awaited before the next because the host serves them concurrently.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use gob::{Bytes, Empty};
use goplugin::Stream;
use goplugin::netrpc;

/// Go `http.Header`: canonical key → values.
pub type Header = BTreeMap<String, Vec<String>>;

/// Largest single `Plugin.Write` payload: each gob message is buffered whole on both sides.
const MAX_WRITE_CHUNK: usize = 1 << 20;

/// An incoming HTTP request (`/plugins/<id>` already stripped from `path`).
pub struct HttpRequest {
    pub method: String,
    /// Path and query as the server forwards them, e.g. `/status?x=1`.
    pub url: String,
    pub proto: String,
    pub header: Header,
    pub host: String,
    pub remote_addr: String,
    /// The original request URI (with the `/plugins/<id>` prefix).
    pub request_uri: String,
    body: BodyReader,
}

impl HttpRequest {
    pub(crate) fn new(wire: crate::server::HttpRequestWire, body: BodyReader) -> Self {
        HttpRequest {
            method: wire.method,
            url: wire.url,
            proto: wire.proto,
            header: wire.header,
            host: wire.host,
            remote_addr: wire.remote_addr,
            request_uri: wire.request_uri,
            body,
        }
    }

    /// The URL path without the query.
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }

    /// The raw query string (after `?`), empty if none.
    pub fn query(&self) -> &str {
        self.url.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// First value of a header, case-insensitive.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }

    /// The authenticated user (`Mattermost-User-Id`, set by the server only for valid sessions).
    pub fn user_id(&self) -> Option<&str> {
        self.header_value("Mattermost-User-Id")
            .filter(|s| !s.is_empty())
    }

    /// The body as a stream (read it at most once).
    pub fn body(&mut self) -> &mut BodyReader {
        &mut self.body
    }

    /// Reads the whole body, failing when it exceeds `limit` bytes.
    pub fn read_body(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let read = (&mut self.body)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)?;
        if read > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("request body larger than {limit} bytes"),
            ));
        }
        Ok(out)
    }
}

/// The request body: reads from the host with the varint credit protocol.
pub struct BodyReader {
    stream: Option<Stream>,
}

impl BodyReader {
    pub(crate) fn new(stream: Option<Stream>) -> Self {
        BodyReader { stream }
    }

    /// Closes the body stream (FIN); later reads return EOF.
    pub(crate) fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            // Best effort: the host also stops when ServeHTTP returns.
            let _ = stream.close();
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        // One credit request per read, like Go's remoteIOReader: extra credit is harmless.
        stream.write_all(&put_varint(buf.len() as i64))?;
        stream.read(buf)
    }
}

/// Go's `binary.PutVarint`: zig-zag, then unsigned LEB128.
pub(crate) fn put_varint(n: i64) -> Vec<u8> {
    let mut ux = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::with_capacity(10);
    while ux >= 0x80 {
        out.push((ux as u8) | 0x80);
        ux >>= 7;
    }
    out.push(ux as u8);
    out
}

/// Writes the response through the host's response-writer RPC server.
pub struct ResponseWriter {
    client: Option<netrpc::Client>,
    header: Header,
    /// The server's own headers were fetched and merged (done once, before the first sync).
    fetched_server_header: bool,
    header_dirty: bool,
    status: Option<u16>,
}

impl ResponseWriter {
    pub(crate) fn new(client: netrpc::Client) -> Self {
        ResponseWriter {
            client: Some(client),
            header: Header::new(),
            fetched_server_header: false,
            header_dirty: true,
            status: None,
        }
    }

    /// Sets a response header (replacing earlier values). Takes effect at the next write.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.header
            .insert(canonical_header_key(name), vec![value.to_owned()]);
        self.header_dirty = true;
    }

    /// The status sent so far (None until `write_header` or the first body write).
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Sends the status line and headers. Only the first call counts (like Go).
    pub fn write_header(&mut self, status: u16) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.sync_header()?;
        let _: Empty = self.call("Plugin.WriteHeader", &i64::from(status))?;
        self.status = Some(status);
        Ok(())
    }

    /// Convenience: status, Content-Type and a whole body.
    pub fn send(&mut self, status: u16, content_type: &str, body: &[u8]) -> io::Result<()> {
        self.set_header("Content-Type", content_type);
        self.write_header(status)?;
        self.write_all(body)
    }

    /// Convenience: a JSON body.
    pub fn send_json(&mut self, status: u16, value: &serde_json::Value) -> io::Result<()> {
        self.send(status, "application/json", value.to_string().as_bytes())
    }

    /// Closes the response stream (FIN). Later writes fail.
    pub(crate) fn close(&mut self) {
        if let Some(client) = self.client.take() {
            client.close();
        }
    }

    fn sync_header(&mut self) -> io::Result<()> {
        if !self.fetched_server_header {
            // SyncHeader replaces the server's header map, so start from what it already set.
            let server: Header = self.call("Plugin.Header", &Empty)?;
            for (k, v) in server {
                self.header.entry(k).or_insert(v);
            }
            self.fetched_server_header = true;
            self.header_dirty = true;
        }
        if self.header_dirty {
            let header = self.header.clone();
            let _: Empty = self.call("Plugin.SyncHeader", &header)?;
            self.header_dirty = false;
        }
        Ok(())
    }

    fn call<A, R>(&self, method: &str, args: &A) -> io::Result<R>
    where
        A: serde::Serialize + gob::GobType,
        R: serde::de::DeserializeOwned,
    {
        let client = self.client.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "response already finished")
        })?;
        client
            .call::<A, R>(method, args)
            .map_err(|e| io::Error::other(format!("{method}: {e}")))
    }
}

impl Write for ResponseWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.status.is_none() {
            self.write_header(200)?;
        } else {
            self.sync_header()?;
        }
        let chunk = &buf[..buf.len().min(MAX_WRITE_CHUNK)];
        let _: Empty = self.call("Plugin.Write", &Bytes(chunk.to_vec()))?;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for plain ASCII keys: `content-type` → `Content-Type`.
pub fn canonical_header_key(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_matches_go() {
        // binary.PutVarint(32768) = 80 80 04; PutVarint(1) = 02; PutVarint(63) = 7e; 64 = 80 01.
        assert_eq!(put_varint(32768), vec![0x80, 0x80, 0x04]);
        assert_eq!(put_varint(1), vec![0x02]);
        assert_eq!(put_varint(63), vec![0x7e]);
        assert_eq!(put_varint(64), vec![0x80, 0x01]);
    }

    #[test]
    fn header_keys_are_canonical() {
        assert_eq!(canonical_header_key("content-type"), "Content-Type");
        assert_eq!(canonical_header_key("X-REQUEST-ID"), "X-Request-Id");
    }
}
