//! The decoder: per-stream table of received type definitions, message
//! framing (including interface values split across messages, exactly like
//! Go's `decodeTypeSequence`), and wire → [`Value`] decoding under limits.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::types::{MarshalerKind, RecursiveType, StructType, Type};
use crate::value::InterfaceValue;
use crate::wire::Buf;
use crate::{Error, Value, from_value};

/// Go's first user type id; smaller ids are built in.
const FIRST_USER_ID: i64 = 64;
/// Cap on definitions per stream, so a hostile peer cannot grow the table forever.
const MAX_TYPES: usize = 65_536;
/// Most elements reserved up front for one container (see `Decoder::reserve`).
const MAX_RESERVE: usize = 4096;
/// Go refuses interface names longer than this (`decodeInterface`).
const MAX_NAME_LEN: usize = 1024;

/// Default nesting limit. Go's decoder has none for values it stores (its goroutine stacks
/// grow to 1 GB) and 10 000 for values it skips; ours recurses on fixed thread stacks
/// (2 MiB for spawned threads). 1000 is what our own encoder accepts, so every value we
/// send can be read back; decoding, deserializing and dropping a 1000-deep value needs less
/// than 512 KiB of stack in a release build (about 4.5 KiB per level in a debug build).
pub const DEFAULT_MAX_DEPTH: usize = 1000;

/// Decoder limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted (default 64 MiB; Go's own limit is 8 GiB).
    pub max_message_bytes: usize,
    /// Deepest nesting of structs/slices/maps/interfaces (default [`DEFAULT_MAX_DEPTH`]).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 << 20,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// A received `wireType`.
#[derive(Debug)]
enum WireType {
    Array {
        elem: i64,
        len: usize,
    },
    Slice {
        elem: i64,
    },
    Struct {
        name: String,
        fields: Vec<(String, i64)>,
    },
    Map {
        key: i64,
        elem: i64,
    },
    Marshaler(MarshalerKind),
}

/// One decoder per stream direction; keeps the received type table.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    types: HashMap<i64, Arc<WireType>>,
    /// Received ids converted to [`Type`] (for interface values), built lazily.
    converted: HashMap<i64, Type>,
    buf: Buf,
    /// Ids defined while decoding the current value (undone by `decode_prefix`).
    defined: Vec<i64>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            limits,
            types: HashMap::new(),
            converted: HashMap::new(),
            buf: Buf::default(),
            defined: Vec::new(),
        }
    }

    /// Read one value (with any type definitions and continuation messages
    /// it needs). `Error::Eof` when the stream ended cleanly before a message.
    pub fn decode_value<R: Read>(&mut self, r: &mut R) -> Result<Value, Error> {
        self.start_value();
        let id = self.type_sequence(r, false)?;
        self.top(r, id, 0)
    }

    fn start_value(&mut self) {
        // Like Go: leftovers of a previous message are dropped.
        self.buf = Buf::default();
        self.defined.clear();
    }

    /// Like [`decode_value`](Self::decode_value), also returning the sender's
    /// type of the value (e.g. to re-encode it unchanged).
    pub fn decode_typed<R: Read>(&mut self, r: &mut R) -> Result<(Type, Value), Error> {
        self.start_value();
        let id = self.type_sequence(r, false)?;
        let value = self.top(r, id, 0)?;
        let ty = self.type_of(id, 0)?;
        Ok((ty, value))
    }

    /// Read one value and map it into `T` (see [`from_value`]).
    pub fn decode<T: DeserializeOwned, R: Read>(&mut self, r: &mut R) -> Result<T, Error> {
        from_value(self.decode_value(r)?)
    }

    /// Decode the value at the front of `buf` if all of its messages are there:
    /// `Ok(Some((value, bytes used)))`. `Ok(None)` when `buf` ends first; the decoder is then
    /// as before the call, so the same bytes plus more can be offered again. For callers that
    /// receive the stream in chunks. Only whole messages are decoded, so offering a large
    /// message chunk by chunk costs no repeated decoding.
    pub fn decode_prefix(&mut self, buf: &[u8]) -> Result<Option<(Value, usize)>, Error> {
        let whole = self.whole_messages_len(buf)?;
        let mut r = &buf[..whole];
        match self.decode_value(&mut r) {
            Ok(v) => Ok(Some((v, whole - r.len()))),
            Err(Error::Eof) => Ok(None),
            // The value goes on in a message not received yet (Go splits a value where an
            // interface needs a new type): forget the definitions read for it.
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                for id in self.defined.drain(..) {
                    self.types.remove(&id);
                }
                self.converted.clear();
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Length of the longest prefix of `buf` made of whole messages (limits checked).
    fn whole_messages_len(&self, buf: &[u8]) -> Result<usize, Error> {
        let mut pos = 0;
        while let Some((len, prefix)) = uint_at(&buf[pos..])? {
            self.check_message_len(len)?;
            // No overflow: len is at most max_message_bytes, itself a usize.
            let end = pos + prefix + len as usize;
            if end > buf.len() {
                break;
            }
            pos = end;
        }
        Ok(pos)
    }

    fn check_message_len(&self, len: u64) -> Result<(), Error> {
        if len == 0 {
            return Err(Error::malformed("empty message"));
        }
        if len > self.limits.max_message_bytes as u64 {
            return Err(Error::Limit(format!(
                "message of {len} bytes exceeds the {} byte limit",
                self.limits.max_message_bytes
            )));
        }
        Ok(())
    }

    /// Read one length-prefixed message into the buffer.
    fn read_message<R: Read>(&mut self, r: &mut R, first: bool) -> Result<(), Error> {
        let len = match read_uint(r)? {
            Some(n) => n,
            None if first => return Err(Error::Eof),
            None => return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into())),
        };
        self.check_message_len(len)?;
        // Grow as data arrives instead of trusting the length up front.
        let mut data = Vec::new();
        r.take(len).read_to_end(&mut data)?;
        if (data.len() as u64) < len {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.buf = Buf::new(data);
        Ok(())
    }

    /// Go's `decodeTypeSequence`: absorb type definitions until a type id.
    fn type_sequence<R: Read>(&mut self, r: &mut R, is_interface: bool) -> Result<i64, Error> {
        let mut first = !is_interface;
        loop {
            if self.buf.is_empty() {
                self.read_message(r, first)?;
            }
            let id = self.buf.int()?;
            if id >= 0 {
                return Ok(id);
            }
            let def = id
                .checked_neg()
                .ok_or_else(|| Error::malformed("type id out of range"))?;
            self.recv_type(def)?;
            if !self.buf.is_empty() {
                if !is_interface {
                    return Err(Error::malformed(
                        "extra data in buffer after type definition",
                    ));
                }
                // Inside an interface the byte count of the value may follow.
                self.buf.uint()?;
            }
            first = false;
        }
    }

    fn recv_type(&mut self, id: i64) -> Result<(), Error> {
        if id < FIRST_USER_ID || self.types.contains_key(&id) {
            return Err(Error::malformed(format!(
                "duplicate type received (id {id})"
            )));
        }
        if self.types.len() >= MAX_TYPES {
            return Err(Error::Limit(format!(
                "more than {MAX_TYPES} type definitions"
            )));
        }
        let wire = read_wire_type(&mut self.buf)
            .map_err(|e| e.context(&format!("definition of type id {id}")))?;
        self.types.insert(id, Arc::new(wire));
        self.defined.push(id);
        Ok(())
    }

    /// A complete value: a struct's field list, or a singleton (`00` + value).
    fn top<R: Read>(&mut self, r: &mut R, id: i64, depth: usize) -> Result<Value, Error> {
        if let Some(w) = self.types.get(&id)
            && matches!(**w, WireType::Struct { .. })
        {
            return self.value(r, id, depth);
        }
        let delta = self.buf.uint()?;
        if delta != 0 {
            return Err(Error::malformed(format!(
                "non-zero delta {delta} for singleton of type id {id}"
            )));
        }
        self.value(r, id, depth)
    }

    fn value<R: Read>(&mut self, r: &mut R, id: i64, depth: usize) -> Result<Value, Error> {
        if depth > self.limits.max_depth {
            return Err(Error::Limit(format!(
                "nesting deeper than {}",
                self.limits.max_depth
            )));
        }
        Ok(match id {
            1 => Value::Bool(self.buf.uint()? != 0),
            2 => Value::Int(self.buf.int()?),
            3 => Value::Uint(self.buf.uint()?),
            4 => Value::Float(self.buf.float()?),
            5 => Value::Bytes(self.buf.bytes()?),
            6 => string_value(self.buf.bytes()?),
            7 => {
                let re = self.buf.float()?;
                Value::Complex(re, self.buf.float()?)
            }
            8 => self.interface(r, depth)?,
            _ => {
                let wire = self
                    .types
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| Error::malformed(format!("unknown type id {id}")))?;
                self.composite(r, &wire, depth)
                    .map_err(|e| e.context(&format!("type id {id}")))?
            }
        })
    }

    fn composite<R: Read>(
        &mut self,
        r: &mut R,
        wire: &WireType,
        depth: usize,
    ) -> Result<Value, Error> {
        Ok(match wire {
            WireType::Struct { fields, .. } => {
                let mut out = Vec::new();
                let mut field: i64 = -1;
                loop {
                    let delta = self.buf.uint()?;
                    if delta == 0 {
                        break;
                    }
                    field = i64::try_from(delta)
                        .ok()
                        .and_then(|d| field.checked_add(d))
                        .ok_or_else(|| Error::malformed("field number overflow"))?;
                    let (name, fid) = usize::try_from(field)
                        .ok()
                        .and_then(|i| fields.get(i))
                        .ok_or_else(|| {
                            Error::malformed(format!("field number {field} out of range"))
                        })?;
                    let v = self
                        .value(r, *fid, depth + 1)
                        .map_err(|e| e.context(&format!("field {name}")))?;
                    out.push((name.clone(), v));
                }
                Value::Struct(out)
            }
            WireType::Slice { elem } => {
                let n = self.count()?;
                Value::Slice(self.elements(r, *elem, n, depth)?)
            }
            WireType::Array { elem, len } => {
                let n = self.count()?;
                if n != *len {
                    return Err(Error::malformed(format!(
                        "array length {n}, type says {len}"
                    )));
                }
                Value::Array(self.elements(r, *elem, n, depth)?)
            }
            WireType::Map { key, elem } => {
                let n = self.count()?;
                let mut entries = Vec::with_capacity(self.reserve(n));
                for _ in 0..n {
                    let k = self.value(r, *key, depth + 1)?;
                    let v = self.value(r, *elem, depth + 1)?;
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            WireType::Marshaler(_) => Value::Marshaled(self.buf.bytes()?),
        })
    }

    /// An element count. Not checked against the bytes left in this message: when an
    /// element is an interface value of a type not yet sent on the stream, Go ends the
    /// message to send the definition and the elements go on in the next one (Go's
    /// `decodeSlice`: "there will be buffer reloads"). A hostile count costs nothing up
    /// front: every element still needs at least one byte of input, and little storage is
    /// reserved before the elements arrive (`reserve`).
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.buf.uint()?;
        usize::try_from(n).map_err(|_| Error::malformed(format!("element count {n} too large")))
    }

    /// Capacity to reserve for `n` elements: at most one per byte left in the message and
    /// at most [`MAX_RESERVE`]; larger containers grow as their elements arrive.
    fn reserve(&self, n: usize) -> usize {
        n.min(self.buf.remaining()).min(MAX_RESERVE)
    }

    fn elements<R: Read>(
        &mut self,
        r: &mut R,
        elem: i64,
        n: usize,
        depth: usize,
    ) -> Result<Vec<Value>, Error> {
        let mut items = Vec::with_capacity(self.reserve(n));
        for i in 0..n {
            items.push(
                self.value(r, elem, depth + 1)
                    .map_err(|e| e.context(&format!("element {i}")))?,
            );
        }
        Ok(items)
    }

    /// Go's `decodeInterface`: name, type sequence (may read more messages),
    /// byte count (not trusted), value.
    fn interface<R: Read>(&mut self, r: &mut R, depth: usize) -> Result<Value, Error> {
        let len = self.buf.uint()?;
        if len > MAX_NAME_LEN as u64 || len > self.buf.remaining() as u64 {
            return Err(Error::malformed(format!(
                "invalid interface type name length {len}"
            )));
        }
        if len == 0 {
            return Ok(Value::Interface(None));
        }
        let name = String::from_utf8_lossy(self.buf.take(len as usize)?).into_owned();
        let id = self.type_sequence(r, true)?;
        self.buf.uint()?; // byte count: only useful for skipping, not trusted
        let value = self
            .top(r, id, depth + 1)
            .map_err(|e| e.context(&format!("interface value {name}")))?;
        let ty = self.type_of(id, 0)?;
        Ok(Value::Interface(Some(Box::new(InterfaceValue {
            name,
            ty,
            value,
        }))))
    }

    /// The [`Type`] for a received id. A struct, or a slice/array/map type that refers to
    /// itself, is entered in `converted` before its parts, so cycles end there.
    fn type_of(&mut self, id: i64, depth: usize) -> Result<Type, Error> {
        if let Some(t) = builtin_type(id) {
            return Ok(t);
        }
        if let Some(t) = self.converted.get(&id) {
            return Ok(t.clone());
        }
        if depth > self.limits.max_depth {
            return Err(Error::Limit(format!(
                "type nesting deeper than {}",
                self.limits.max_depth
            )));
        }
        let wire = self
            .types
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::malformed(format!("unknown type id {id}")))?;
        let ty = match &*wire {
            WireType::Struct { name, fields } => {
                let st = StructType::deferred(name.clone());
                self.converted.insert(id, Type::Struct(st.clone()));
                let mut list = Vec::with_capacity(fields.len());
                for (fname, fid) in fields {
                    list.push((fname.clone(), self.type_of(*fid, depth + 1)?));
                }
                st.set_fields(list);
                Type::Struct(st)
            }
            WireType::Marshaler(k) => Type::Marshaler(*k),
            _ if self.refers_to_itself(id) => {
                let r = RecursiveType::deferred(format!("type id {id}"));
                self.converted.insert(id, Type::Recursive(r.clone()));
                r.set_definition(self.container_type(&wire, depth)?);
                Type::Recursive(r)
            }
            _ => self.container_type(&wire, depth)?,
        };
        self.converted.insert(id, ty.clone());
        Ok(ty)
    }

    /// The [`Type`] of a received slice, array or map definition.
    fn container_type(&mut self, wire: &WireType, depth: usize) -> Result<Type, Error> {
        Ok(match wire {
            WireType::Slice { elem } => Type::Slice(Box::new(self.type_of(*elem, depth + 1)?)),
            WireType::Array { elem, len } => {
                Type::Array(Box::new(self.type_of(*elem, depth + 1)?), *len)
            }
            WireType::Map { key, elem } => Type::Map(
                Box::new(self.type_of(*key, depth + 1)?),
                Box::new(self.type_of(*elem, depth + 1)?),
            ),
            WireType::Struct { .. } | WireType::Marshaler(_) => {
                return Err(Error::malformed("not a container type"));
            }
        })
    }

    /// Whether the definition of `id` leads back to `id` without passing through a struct
    /// (Go `type RS []RS`). Cycles through a struct need nothing more: the struct is entered
    /// in `converted` before its fields. Iterative, so a long chain of types cannot overflow.
    fn refers_to_itself(&self, id: i64) -> bool {
        let mut seen = HashSet::new();
        let mut stack = self.parts(id);
        while let Some(part) = stack.pop() {
            if part == id {
                return true;
            }
            if seen.insert(part) {
                stack.extend(self.parts(part));
            }
        }
        false
    }

    /// The type ids a received slice, array or map definition refers to.
    fn parts(&self, id: i64) -> Vec<i64> {
        match self.types.get(&id).map(|w| &**w) {
            Some(WireType::Slice { elem } | WireType::Array { elem, .. }) => vec![*elem],
            Some(WireType::Map { key, elem }) => vec![*key, *elem],
            Some(WireType::Struct { .. } | WireType::Marshaler(_)) | None => Vec::new(),
        }
    }
}

/// A Go string. Go strings may hold any bytes; invalid UTF-8 is kept as [`Value::Bytes`]
/// rather than replaced, so distinct map keys stay distinct and re-encoding sends the same
/// bytes. Deserializing such a value into a Rust `String` is a clear error.
fn string_value(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::String(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

fn builtin_type(id: i64) -> Option<Type> {
    Some(match id {
        1 => Type::Bool,
        2 => Type::Int,
        3 => Type::Uint,
        4 => Type::Float,
        5 => Type::Bytes,
        6 => Type::String,
        7 => Type::Complex,
        8 => Type::Interface,
        _ => return None,
    })
}

/// A gob uint at the start of `buf` and its encoded length; `Ok(None)` if `buf` ends first.
fn uint_at(buf: &[u8]) -> Result<Option<(u64, usize)>, Error> {
    let Some(&b) = buf.first() else {
        return Ok(None);
    };
    if b < 0x80 {
        return Ok(Some((u64::from(b), 1)));
    }
    let n = usize::from(b.wrapping_neg());
    if n > 8 {
        return Err(Error::malformed(format!(
            "invalid uint length byte {b:#04x}"
        )));
    }
    let Some(bytes) = buf.get(1..=n) else {
        return Ok(None);
    };
    let x = bytes.iter().fold(0u64, |x, &d| (x << 8) | u64::from(d));
    Ok(Some((x, n + 1)))
}

/// Read a gob uint straight from the stream (message lengths).
/// `Ok(None)` = clean end of stream before the first byte.
fn read_uint<R: Read>(r: &mut R) -> Result<Option<u64>, Error> {
    let mut first = [0u8; 1];
    loop {
        match r.read(&mut first) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        }
    }
    let b = first[0];
    if b < 0x80 {
        return Ok(Some(u64::from(b)));
    }
    let n = usize::from(b.wrapping_neg());
    if n > 8 {
        return Err(Error::malformed(format!(
            "invalid message length byte {b:#04x}"
        )));
    }
    let mut bytes = [0u8; 8];
    r.read_exact(&mut bytes[..n])?;
    Ok(Some(
        bytes[..n]
            .iter()
            .fold(0u64, |x, &d| (x << 8) | u64::from(d)),
    ))
}

/// Walk the fields of a built-in struct: calls `f(field_number)` per field.
fn fields(
    buf: &mut Buf,
    max: i64,
    mut f: impl FnMut(&mut Buf, i64) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut field: i64 = -1;
    loop {
        let delta = buf.uint()?;
        if delta == 0 {
            return Ok(());
        }
        if delta > max as u64 + 1 {
            return Err(Error::malformed(format!(
                "field delta {delta} out of range"
            )));
        }
        field += delta as i64;
        if field > max {
            return Err(Error::malformed(format!(
                "field number {field} out of range"
            )));
        }
        f(buf, field)?;
    }
}

/// `CommonType{Name, Id}` → name (the id inside is informational).
fn read_common(buf: &mut Buf) -> Result<String, Error> {
    let mut name = String::new();
    fields(buf, 1, |b, n| {
        match n {
            0 => name = b.string()?,
            _ => {
                b.int()?;
            }
        }
        Ok(())
    })?;
    Ok(name)
}

fn read_wire_type(buf: &mut Buf) -> Result<WireType, Error> {
    let mut result: Option<WireType> = None;
    fields(buf, 6, |b, n| {
        if result.is_some() {
            return Err(Error::malformed("wireType with more than one kind"));
        }
        result = Some(match n {
            0 => {
                let (mut elem, mut len) = (None, 0i64);
                fields(b, 2, |b, n| {
                    match n {
                        0 => drop(read_common(b)?),
                        1 => elem = Some(b.int()?),
                        _ => len = b.int()?,
                    }
                    Ok(())
                })?;
                let len = usize::try_from(len)
                    .map_err(|_| Error::malformed(format!("negative array length {len}")))?;
                WireType::Array {
                    elem: elem.ok_or_else(|| Error::malformed("array without element type"))?,
                    len,
                }
            }
            1 => {
                let mut elem = None;
                fields(b, 1, |b, n| {
                    match n {
                        0 => drop(read_common(b)?),
                        _ => elem = Some(b.int()?),
                    }
                    Ok(())
                })?;
                WireType::Slice {
                    elem: elem.ok_or_else(|| Error::malformed("slice without element type"))?,
                }
            }
            2 => {
                let (mut name, mut list) = (String::new(), Vec::new());
                fields(b, 1, |b, n| {
                    match n {
                        0 => name = read_common(b)?,
                        _ => list = read_field_list(b)?,
                    }
                    Ok(())
                })?;
                WireType::Struct { name, fields: list }
            }
            3 => {
                let (mut key, mut elem) = (None, None);
                fields(b, 2, |b, n| {
                    match n {
                        0 => drop(read_common(b)?),
                        1 => key = Some(b.int()?),
                        _ => elem = Some(b.int()?),
                    }
                    Ok(())
                })?;
                WireType::Map {
                    key: key.ok_or_else(|| Error::malformed("map without key type"))?,
                    elem: elem.ok_or_else(|| Error::malformed("map without element type"))?,
                }
            }
            k => {
                fields(b, 0, |b, _| read_common(b).map(drop))?;
                WireType::Marshaler(match k {
                    4 => MarshalerKind::Gob,
                    5 => MarshalerKind::Binary,
                    _ => MarshalerKind::Text,
                })
            }
        });
        Ok(())
    })?;
    result.ok_or_else(|| Error::malformed("empty wireType"))
}

/// `[]*fieldType`, each `{Name string, Id typeId}`.
fn read_field_list(buf: &mut Buf) -> Result<Vec<(String, i64)>, Error> {
    let n = buf.uint()?;
    if n > buf.remaining() as u64 {
        return Err(Error::malformed(format!(
            "field list of {n} exceeds the message"
        )));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (mut name, mut id) = (String::new(), 0i64);
        fields(buf, 1, |b, f| {
            match f {
                0 => name = b.string()?,
                _ => id = b.int()?,
            }
            Ok(())
        })?;
        out.push((name, id));
    }
    Ok(out)
}
