//! Dynamic gob values and the small wrapper types with a fixed Go meaning:
//! `Bytes` (`[]byte`), `Empty` (`struct{}`), `Any` (an interface value).

use std::cell::RefCell;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::types::{GobType, StructType, Type};
use crate::{Error, from_value, to_value};

/// A decoded (or to-be-encoded) gob value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Complex(f64, f64),
    Bytes(Vec<u8>),
    String(String),
    Slice(Vec<Value>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// Fields present on the wire, by Go field name, in wire order.
    Struct(Vec<(String, Value)>),
    /// A Go interface value; `None` is nil.
    Interface(Option<Box<InterfaceValue>>),
    /// The payload of a GobEncoder/BinaryMarshaler/TextMarshaler type
    /// (`*url.URL` → its `String()`).
    Marshaled(Vec<u8>),
}

/// A non-nil interface value: Go registration name, concrete type, value.
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceValue {
    pub name: String,
    pub ty: Type,
    pub value: Value,
}

impl Value {
    /// Look up a struct field (or string map key) by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::String(s) if s == name))
                .map(|(_, v)| v),
            Value::Interface(Some(iv)) => iv.value.field(name),
            _ => None,
        }
    }

    /// Best-effort JSON view (for props and logging). Interfaces are
    /// transparent, byte strings become base64 like Go's `encoding/json`.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_with(&|name| name.to_owned())
    }

    /// [`Value::to_json`] with struct fields named by `field_name` (Go field name → the
    /// name its JSON tag gives it), so a typed Go value reads like its JSON form.
    pub fn to_json_with(&self, field_name: &dyn Fn(&str) -> String) -> serde_json::Value {
        use serde_json::Value as J;
        let json = |v: &Value| v.to_json_with(field_name);
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Uint(u) => J::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Complex(re, im) => {
                J::Array(vec![json(&Value::Float(*re)), json(&Value::Float(*im))])
            }
            Value::Bytes(b) => J::String(base64(b)),
            Value::Marshaled(b) => match std::str::from_utf8(b) {
                Ok(s) => J::String(s.to_string()),
                Err(_) => J::String(base64(b)),
            },
            Value::String(s) => J::String(s.clone()),
            Value::Slice(items) | Value::Array(items) => J::Array(items.iter().map(json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (json_key(k), json(v)))
                    .collect(),
            ),
            Value::Struct(fields) => J::Object(
                fields
                    .iter()
                    .map(|(k, v)| (field_name(k), json(v)))
                    .collect(),
            ),
            Value::Interface(None) => J::Null,
            Value::Interface(Some(iv)) => json(&iv.value),
        }
    }
}

fn json_key(k: &Value) -> String {
    match k.to_json() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Standard base64 with padding (what Go's `encoding/json` does for `[]byte`).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl InterfaceValue {
    /// Wrap a plain value as an interface the way Go's basic registrations
    /// name it: `string`, `bool`, `int64`, `uint64`, `float64`, `[]uint8`,
    /// `[]interface {}` and `map[string]interface {}` (elements wrapped too).
    /// Returns `None` for values that have no natural Go interface form.
    pub fn infer(v: &Value) -> Option<Option<InterfaceValue>> {
        let (name, ty, value) = match v {
            Value::Interface(iv) => return Some(iv.as_deref().cloned()),
            Value::Bool(_) => ("bool", Type::Bool, v.clone()),
            Value::Int(_) => ("int64", Type::Int, v.clone()),
            // serde serializes non-negative JSON integers as u64; JSON has one integer type,
            // so keep them int64 as `Any::from_json` does, and uint64 only beyond i64.
            Value::Uint(u) => match i64::try_from(*u) {
                Ok(i) => ("int64", Type::Int, Value::Int(i)),
                Err(_) => ("uint64", Type::Uint, v.clone()),
            },
            Value::Float(_) => ("float64", Type::Float, v.clone()),
            Value::Complex(..) => ("complex128", Type::Complex, v.clone()),
            Value::String(_) => ("string", Type::String, v.clone()),
            Value::Bytes(_) => ("[]uint8", Type::Bytes, v.clone()),
            Value::Slice(items) | Value::Array(items) => (
                "[]interface {}",
                Type::Slice(Box::new(Type::Interface)),
                Value::Slice(items.iter().map(wrap_interface).collect::<Option<_>>()?),
            ),
            Value::Map(entries) => (
                "map[string]interface {}",
                string_any_map(),
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| Some((Value::String(key_string(k)?), wrap_interface(v)?)))
                        .collect::<Option<_>>()?,
                ),
            ),
            Value::Struct(fields) if json_number_text(fields).is_some() => {
                let text = json_number_text(fields)?;
                return Some(Any::from_json(&serde_json::from_str(text).ok()?).0);
            }
            Value::Struct(fields) => (
                "map[string]interface {}",
                string_any_map(),
                Value::Map(
                    fields
                        .iter()
                        .map(|(k, v)| Some((Value::String(k.clone()), wrap_interface(v)?)))
                        .collect::<Option<_>>()?,
                ),
            ),
            Value::Marshaled(_) => return None,
        };
        Some(Some(InterfaceValue {
            name: name.to_string(),
            ty,
            value,
        }))
    }
}

/// With serde_json's `arbitrary_precision` feature (the workspace enables it for exact
/// numbers from sources, and Cargo unifies features), a JSON number serializes as this
/// private one-field struct holding the number's text.
fn json_number_text(fields: &[(String, Value)]) -> Option<&str> {
    match fields {
        [(name, Value::String(text))] if name == "$serde_json::private::Number" => Some(text),
        _ => None,
    }
}

fn string_any_map() -> Type {
    Type::Map(Box::new(Type::String), Box::new(Type::Interface))
}

fn key_string(k: &Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s.clone()),
        Value::Interface(Some(iv)) => key_string(&iv.value),
        _ => None,
    }
}

fn wrap_interface(v: &Value) -> Option<Value> {
    Some(Value::Interface(InterfaceValue::infer(v)?.map(Box::new)))
}

/// Go `[]byte`. Serialized with `serialize_bytes` (wire type id 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl GobType for Bytes {
    fn gob_type() -> Type {
        Type::Bytes
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes(v.as_bytes().to_vec()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Bytes, E> {
                Ok(Bytes(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Bytes, E> {
                Ok(Bytes(Vec::new()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// Go `struct{}{}`: the body of no-argument calls and of empty replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Empty;

impl GobType for Empty {
    fn gob_type() -> Type {
        Type::Struct(StructType::of::<Empty>("", Vec::new))
    }
}

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit_struct("Empty")
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Go decodes any struct into struct{}; accept and ignore whatever came.
        de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

/// A Go interface value (`any` or `error`); `None` is nil.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Any(pub Option<InterfaceValue>);

/// Newtype name that tells our serializer/deserializer "this is an `Any`".
pub(crate) const ANY_TOKEN: &str = "$gob::Any";

thread_local! {
    /// Side channel for `Any` through serde: the gob serializer/deserializer
    /// recognise [`ANY_TOKEN`] and exchange the full interface value (with its
    /// Go type) here, which serde's data model could not carry.
    pub(crate) static ANY_SLOT: RefCell<Option<Option<InterfaceValue>>> = const { RefCell::new(None) };
}

impl Any {
    pub fn nil() -> Any {
        Any(None)
    }

    /// An interface value holding `v` under the Go registration name
    /// `go_name` (e.g. `"*model.AppError"`).
    pub fn new<T: Serialize + GobType>(go_name: &str, v: &T) -> Result<Any, Error> {
        Ok(Any(Some(InterfaceValue {
            name: go_name.to_string(),
            ty: T::gob_type(),
            value: to_value(v)?,
        })))
    }

    /// string→"string", bool→"bool", integer→"int64" (beyond i64: "uint64"),
    /// other number→"float64", array→"[]interface {}",
    /// object→"map[string]interface {}", null→nil.
    pub fn from_json(v: &serde_json::Value) -> Any {
        use serde_json::Value as J;
        let (name, ty, value) = match v {
            J::Null => return Any(None),
            J::Bool(b) => ("bool", Type::Bool, Value::Bool(*b)),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    ("int64", Type::Int, Value::Int(i))
                } else if let Some(u) = n.as_u64() {
                    ("uint64", Type::Uint, Value::Uint(u))
                } else {
                    (
                        "float64",
                        Type::Float,
                        Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                    )
                }
            }
            J::String(s) => ("string", Type::String, Value::String(s.clone())),
            J::Array(items) => (
                "[]interface {}",
                Type::Slice(Box::new(Type::Interface)),
                Value::Slice(
                    items
                        .iter()
                        .map(|e| Value::Interface(Any::from_json(e).0.map(Box::new)))
                        .collect(),
                ),
            ),
            J::Object(map) => (
                "map[string]interface {}",
                string_any_map(),
                Value::Map(
                    map.iter()
                        .map(|(k, e)| {
                            (
                                Value::String(k.clone()),
                                Value::Interface(Any::from_json(e).0.map(Box::new)),
                            )
                        })
                        .collect(),
                ),
            ),
        };
        Any(Some(InterfaceValue {
            name: name.to_string(),
            ty,
            value,
        }))
    }

    /// Best-effort JSON view of the inner value.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_with(&|name| name.to_owned())
    }

    /// [`Value::to_json_with`] of the inner value.
    pub fn to_json_with(&self, field_name: &dyn Fn(&str) -> String) -> serde_json::Value {
        match &self.0 {
            None => serde_json::Value::Null,
            Some(iv) => iv.value.to_json_with(field_name),
        }
    }

    /// The Go registration name, `None` when nil.
    pub fn name(&self) -> Option<&str> {
        self.0.as_ref().map(|iv| iv.name.as_str())
    }

    pub fn is_nil(&self) -> bool {
        self.0.is_none()
    }

    /// Decode the inner value into a Rust type (by field name, like `from_value`).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        from_value(Value::Interface(self.0.clone().map(Box::new)))
    }
}

impl GobType for Any {
    fn gob_type() -> Type {
        Type::Interface
    }
}

impl Serialize for Any {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct JsonView<'a>(&'a Any);
        impl Serialize for JsonView<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.to_json().serialize(s)
            }
        }
        ANY_SLOT.with(|slot| *slot.borrow_mut() = Some(self.0.clone()));
        let result = s.serialize_newtype_struct(ANY_TOKEN, &JsonView(self));
        ANY_SLOT.with(|slot| slot.borrow_mut().take());
        result
    }
}

impl<'de> Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Any;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an interface value")
            }
            // The gob deserializer parks the value in ANY_SLOT and calls visit_unit.
            fn visit_unit<E: de::Error>(self) -> Result<Any, E> {
                Ok(Any(ANY_SLOT
                    .with(|slot| slot.borrow_mut().take())
                    .flatten()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Any, E> {
                Ok(Any(None))
            }
            fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<Any, D2::Error> {
                let j = serde_json::Value::deserialize(d)?;
                Ok(Any::from_json(&j))
            }
        }
        d.deserialize_newtype_struct(ANY_TOKEN, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn from_json_names() {
        let j = serde_json::json!({"s": "x", "n": 3, "f": 1.5, "a": [true, null]});
        let any = Any::from_json(&j);
        assert_eq!(any.name(), Some("map[string]interface {}"));
        assert_eq!(any.to_json(), j);
        assert_eq!(Any::from_json(&serde_json::json!(-2)).name(), Some("int64"));
        assert_eq!(
            Any::from_json(&serde_json::json!(u64::MAX)).name(),
            Some("uint64")
        );
        assert!(Any::from_json(&serde_json::Value::Null).is_nil());
    }
}
