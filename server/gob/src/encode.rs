//! The encoder: type definitions (each once per stream, as separate messages
//! before the value that needs them) and values, byte for byte like Go's
//! `encoding/gob`, including zero-value omission in structs.

use std::collections::HashMap;

use serde::Serialize;

use crate::types::{GobType, MarshalerKind, StructType, Type};
use crate::value::InterfaceValue;
use crate::wire::{put_bytes, put_float, put_int, put_uint};
use crate::{Error, Value, to_value};

/// First id our encoder hands out (Go's first user id is 64; 65 matches what a
/// fresh Go process typically sends and stays clear of the reserved range).
const FIRST_ID: i64 = 65;
/// Values nested deeper than this are refused instead of risking the stack.
const MAX_ENCODE_DEPTH: usize = 1000;

/// One encoder per stream direction; remembers which type ids it defined.
#[derive(Debug)]
pub struct Encoder {
    ids: HashMap<Type, i64>,
    next_id: i64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Built-in ids that are never defined on the wire.
fn builtin_id(ty: &Type) -> Option<i64> {
    Some(match ty {
        Type::Bool => 1,
        Type::Int => 2,
        Type::Uint => 3,
        Type::Float => 4,
        Type::Bytes => 5,
        Type::String => 6,
        Type::Complex => 7,
        Type::Interface => 8,
        _ => return None,
    })
}

impl Encoder {
    pub fn new() -> Self {
        Encoder {
            ids: HashMap::new(),
            next_id: FIRST_ID,
        }
    }

    /// Append type-definition messages for types not yet sent on this stream,
    /// then the value message.
    pub fn encode<T: Serialize + GobType + ?Sized>(
        &mut self,
        v: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let value = to_value(v)?;
        self.encode_value(&T::gob_type(), &value, out)
    }

    /// Like [`encode`](Self::encode) for a dynamic value of type `ty`.
    /// On error nothing is appended and the stream state is unchanged.
    pub fn encode_value(&mut self, ty: &Type, v: &Value, out: &mut Vec<u8>) -> Result<(), Error> {
        let before = (self.next_id, self.ids.len());
        let mut defs = Vec::new();
        let mut body = Vec::new();
        let result = (|| {
            let id = self.type_id(ty, &mut defs)?;
            put_int(&mut body, id);
            self.top(ty, v, &mut body, &mut defs, 0)
        })();
        if let Err(e) = result {
            // Forget ids assigned during the failed call: their definitions were never sent.
            if self.ids.len() != before.1 {
                let first_new = before.0;
                self.ids.retain(|_, id| *id < first_new);
            }
            self.next_id = before.0;
            return Err(e);
        }
        out.extend_from_slice(&defs);
        put_uint(out, body.len() as u64);
        out.extend_from_slice(&body);
        Ok(())
    }

    /// The id of `ty` on this stream, defining it (and its parts) if needed.
    fn type_id(&mut self, ty: &Type, defs: &mut Vec<u8>) -> Result<i64, Error> {
        if let Some(id) = builtin_id(ty) {
            return Ok(id);
        }
        if let Some(&id) = self.ids.get(ty) {
            return Ok(id);
        }
        let id = self.next_id;
        self.next_id += 1;
        // Registered before the parts so recursive types refer back to it.
        self.ids.insert(ty.clone(), id);
        let mut wire = Vec::new();
        self.wire_type(ty, id, &mut wire, defs)?;
        let mut msg = Vec::with_capacity(wire.len() + 4);
        put_int(&mut msg, -id);
        msg.extend_from_slice(&wire);
        put_uint(defs, msg.len() as u64);
        defs.extend_from_slice(&msg);
        Ok(id)
    }

    /// Encode Go's `wireType` struct for `ty` (see protocol.md §4.3).
    fn wire_type(
        &mut self,
        ty: &Type,
        id: i64,
        w: &mut Vec<u8>,
        defs: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match ty {
            Type::Array(elem, len) => {
                let elem = self.type_id(elem, defs)?;
                w.push(1); // ArrayT
                common(w, "", id);
                w.push(1);
                put_int(w, elem);
                if *len > 0 {
                    w.push(1);
                    put_int(w, *len as i64);
                }
                w.push(0);
            }
            Type::Slice(elem) => {
                let elem = self.type_id(elem, defs)?;
                w.push(2); // SliceT
                common(w, "", id);
                w.push(1);
                put_int(w, elem);
                w.push(0);
            }
            Type::Struct(st) => {
                let mut fields = Vec::with_capacity(st.fields().len());
                for (name, fty) in st.fields() {
                    fields.push((name.clone(), self.type_id(fty, defs)?));
                }
                w.push(3); // StructT
                common(w, st.name(), id);
                if !fields.is_empty() {
                    w.push(1);
                    put_uint(w, fields.len() as u64);
                    for (name, fid) in fields {
                        name_and_id(w, &name, fid);
                    }
                }
                w.push(0);
            }
            Type::Map(key, elem) => {
                let key = self.type_id(key, defs)?;
                let elem = self.type_id(elem, defs)?;
                w.push(4); // MapT
                common(w, "", id);
                w.push(1);
                put_int(w, key);
                w.push(1);
                put_int(w, elem);
                w.push(0);
            }
            Type::Marshaler(kind) => {
                w.push(match kind {
                    MarshalerKind::Gob => 5,
                    MarshalerKind::Binary => 6,
                    MarshalerKind::Text => 7,
                });
                common(w, "", id);
                w.push(0);
            }
            // Defined under its own id, so the definition can refer to itself.
            Type::Recursive(r) => return self.wire_type(r.definition(), id, w, defs),
            _ => {
                return Err(Error::Unsupported(format!(
                    "no definition for built-in {ty:?}"
                )));
            }
        }
        w.push(0); // end of wireType
        Ok(())
    }

    /// A complete value as Go's `encode` writes it: structs as their field
    /// list, everything else as a singleton (`00` then the value).
    fn top(
        &mut self,
        ty: &Type,
        v: &Value,
        out: &mut Vec<u8>,
        defs: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        if let Type::Struct(st) = ty {
            return self.structure(st, v, out, defs, depth);
        }
        out.push(0);
        self.value(ty, v, out, defs, depth)
    }

    fn value(
        &mut self,
        ty: &Type,
        v: &Value,
        out: &mut Vec<u8>,
        defs: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > MAX_ENCODE_DEPTH {
            return Err(Error::Limit(format!(
                "value nested deeper than {MAX_ENCODE_DEPTH}"
            )));
        }
        let v = match (ty, v) {
            // A typed slot holding an interface wrapper: encode what is inside.
            (Type::Interface, _) => v,
            (_, Value::Interface(Some(iv))) => &iv.value,
            _ => v,
        };
        match ty {
            Type::Bool => match v {
                Value::Bool(b) => put_uint(out, u64::from(*b)),
                _ => return Err(mismatch(ty, v)),
            },
            Type::Int => put_int(out, as_int(v).ok_or_else(|| mismatch(ty, v))?),
            Type::Uint => put_uint(out, as_uint(v).ok_or_else(|| mismatch(ty, v))?),
            Type::Float => put_float(out, as_float(v).ok_or_else(|| mismatch(ty, v))?),
            Type::Complex => match v {
                Value::Complex(re, im) => {
                    put_float(out, *re);
                    put_float(out, *im);
                }
                _ => return Err(mismatch(ty, v)),
            },
            Type::Bytes | Type::String | Type::Marshaler(_) => match v {
                Value::Bytes(b) | Value::Marshaled(b) => put_bytes(out, b),
                Value::String(s) => put_bytes(out, s.as_bytes()),
                Value::Slice(items) if *ty == Type::Bytes => {
                    let bytes = items
                        .iter()
                        .map(|x| as_uint(x).and_then(|u| u8::try_from(u).ok()))
                        .collect::<Option<Vec<u8>>>()
                        .ok_or_else(|| mismatch(ty, v))?;
                    put_bytes(out, &bytes);
                }
                _ => return Err(mismatch(ty, v)),
            },
            Type::Interface => match v {
                Value::Interface(None) => out.push(0),
                Value::Interface(Some(iv)) => self.interface(iv, out, defs, depth)?,
                other => match InterfaceValue::infer(other) {
                    Some(Some(iv)) => self.interface(&iv, out, defs, depth)?,
                    _ => return Err(mismatch(ty, v)),
                },
            },
            Type::Slice(elem) => match v {
                Value::Slice(items) | Value::Array(items) => {
                    self.elements(elem, items, out, defs, depth)?
                }
                Value::Bytes(b) | Value::Marshaled(b) => {
                    let items: Vec<Value> = b.iter().map(|&x| Value::Uint(x.into())).collect();
                    self.elements(elem, &items, out, defs, depth)?
                }
                _ => return Err(mismatch(ty, v)),
            },
            Type::Array(elem, len) => match v {
                Value::Slice(items) | Value::Array(items) if items.len() == *len => {
                    self.elements(elem, items, out, defs, depth)?
                }
                _ => {
                    return Err(Error::mismatch(format!(
                        "array of length {len} needs as many elements"
                    )));
                }
            },
            Type::Map(kt, vt) => match v {
                Value::Map(entries) => {
                    put_uint(out, entries.len() as u64);
                    for (k, e) in entries {
                        self.value(kt, k, out, defs, depth + 1)?;
                        self.value(vt, e, out, defs, depth + 1)?;
                    }
                }
                Value::Struct(fields) => {
                    put_uint(out, fields.len() as u64);
                    for (k, e) in fields {
                        self.value(kt, &Value::String(k.clone()), out, defs, depth + 1)?;
                        self.value(vt, e, out, defs, depth + 1)?;
                    }
                }
                _ => return Err(mismatch(ty, v)),
            },
            Type::Struct(st) => self.structure(st, v, out, defs, depth)?,
            Type::Recursive(r) => self.value(r.definition(), v, out, defs, depth + 1)?,
        }
        Ok(())
    }

    fn elements(
        &mut self,
        elem: &Type,
        items: &[Value],
        out: &mut Vec<u8>,
        defs: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        put_uint(out, items.len() as u64);
        for item in items {
            self.value(elem, item, out, defs, depth + 1)?;
        }
        Ok(())
    }

    /// Fields as (delta, value) in definition order, zero values omitted, `00` end.
    fn structure(
        &mut self,
        st: &StructType,
        v: &Value,
        out: &mut Vec<u8>,
        defs: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        let owned;
        let values: &[(String, Value)] = match v {
            Value::Struct(fields) => fields,
            Value::Interface(Some(iv)) => return self.structure(st, &iv.value, out, defs, depth),
            Value::Map(entries) => {
                owned = entries
                    .iter()
                    .map(|(k, e)| match k {
                        Value::String(s) => Ok((s.clone(), e.clone())),
                        _ => Err(Error::mismatch(format!(
                            "struct {} from a map needs string keys",
                            st.name()
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                &owned
            }
            _ => {
                return Err(Error::mismatch(format!(
                    "struct {} from {}",
                    st.name(),
                    kind(v)
                )));
            }
        };
        let mut last: i64 = -1;
        let mut cursor = 0;
        for (i, (name, fty)) in st.fields().iter().enumerate() {
            // Values usually come in declaration order: try the cursor first.
            let found = match values.get(cursor) {
                Some((n, val)) if n == name => {
                    cursor += 1;
                    Some(val)
                }
                _ => values.iter().find(|(n, _)| n == name).map(|(_, val)| val),
            };
            let Some(val) = found else { continue };
            if is_zero(fty, val) {
                continue;
            }
            put_uint(out, (i as i64 - last) as u64);
            last = i as i64;
            self.value(fty, val, out, defs, depth + 1)
                .map_err(|e| e.context(&format!("{}.{}", st.name(), name)))?;
        }
        out.push(0);
        Ok(())
    }

    /// Go's `encodeInterface`: name, type id, byte count, value. Any needed
    /// definitions go to `defs`, i.e. before the whole value (no split message).
    fn interface(
        &mut self,
        iv: &InterfaceValue,
        out: &mut Vec<u8>,
        defs: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        if iv.name.is_empty() {
            return Err(Error::mismatch(
                "non-nil interface value needs a Go registration name",
            ));
        }
        put_bytes(out, iv.name.as_bytes());
        let id = self.type_id(&iv.ty, defs)?;
        put_int(out, id);
        let mut inner = Vec::new();
        self.top(&iv.ty, &iv.value, &mut inner, defs, depth + 1)
            .map_err(|e| e.context(&format!("interface value {}", iv.name)))?;
        put_uint(out, inner.len() as u64);
        out.extend_from_slice(&inner);
        Ok(())
    }
}

/// `CommonType{Name, Id}` as the first field of a wire type.
fn common(w: &mut Vec<u8>, name: &str, id: i64) {
    w.push(1);
    name_and_id(w, name, id);
}

/// A struct value laid out as `{Name string, Id typeId}`: both `CommonType` and
/// `fieldType` are. An empty name is omitted (delta 2 goes straight to `Id`).
fn name_and_id(w: &mut Vec<u8>, name: &str, id: i64) {
    if name.is_empty() {
        w.push(2);
    } else {
        w.push(1);
        put_bytes(w, name.as_bytes());
        w.push(1);
    }
    put_int(w, id);
    w.push(0);
}

/// Whether Go would leave this struct field out. Struct-typed fields and
/// arrays are always sent (Go sends non-pointer structs and non-nil pointers).
fn is_zero(ty: &Type, v: &Value) -> bool {
    match ty {
        Type::Recursive(r) => is_zero(r.definition(), v),
        Type::Struct(_) | Type::Array(..) => false,
        // A non-nil interface is sent even when it holds a zero value.
        Type::Interface => matches!(v, Value::Interface(None)),
        _ => match v {
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Uint(u) => *u == 0,
            Value::Float(f) => *f == 0.0,
            Value::Complex(re, im) => *re == 0.0 && *im == 0.0,
            Value::Bytes(b) | Value::Marshaled(b) => b.is_empty(),
            Value::String(s) => s.is_empty(),
            Value::Slice(items) | Value::Array(items) => items.is_empty(),
            Value::Map(entries) => entries.is_empty(),
            Value::Struct(fields) => matches!(ty, Type::Map(..)) && fields.is_empty(),
            Value::Interface(None) => true,
            Value::Interface(Some(iv)) => is_zero(ty, &iv.value),
        },
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Uint(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

fn as_uint(v: &Value) -> Option<u64> {
    match v {
        Value::Uint(u) => Some(*u),
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::Uint(u) => Some(*u as f64),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float",
        Value::Complex(..) => "complex",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Slice(_) => "slice",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
        Value::Interface(None) => "nil interface",
        Value::Interface(Some(_)) => "interface",
        Value::Marshaled(_) => "marshaled bytes",
    }
}

fn mismatch(ty: &Type, v: &Value) -> Error {
    Error::mismatch(format!("cannot encode {} as {ty:?}", kind(v)))
}
