//! [`Value`] → serde: maps decoded gob values into Rust types by field name.
//!
//! Interfaces are transparent (their inner value) unless the target is
//! [`crate::Any`]; `Marshaled` payloads read as bytes or UTF-8 strings; Int and
//! Uint feed any integer type, range-checked by serde's own visitors.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use crate::value::{ANY_SLOT, ANY_TOKEN, InterfaceValue};
use crate::{Error, Value};

/// Deserialize a Rust value from a gob [`Value`]. Unknown fields are ignored;
/// missing fields follow serde (`#[serde(default)]`, `Option` → `None`).
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    T::deserialize(De(v))
}

/// A deserializer over an owned value.
pub(crate) struct De(pub Value);

impl De {
    /// Strip interface wrappers (nil stays `Interface(None)`).
    fn concrete(self) -> Value {
        let mut v = self.0;
        while let Value::Interface(Some(iv)) = v {
            v = iv.value;
        }
        v
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float",
        Value::Complex(..) => "complex",
        Value::Bytes(_) => "[]byte",
        Value::String(_) => "string",
        Value::Slice(_) => "slice",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
        Value::Interface(_) => "nil interface",
        Value::Marshaled(_) => "marshaled bytes",
    }
}

fn unexpected(v: &Value, wanted: &str) -> Error {
    Error::mismatch(format!("expected {wanted}, found {}", kind(v)))
}

impl<'de> de::Deserializer<'de> for De {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::Uint(u) => visitor.visit_u64(u),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Complex(re, im) => {
                visitor.visit_seq(Seq(vec![Value::Float(re), Value::Float(im)].into_iter()))
            }
            Value::Bytes(b) | Value::Marshaled(b) => visitor.visit_byte_buf(b),
            Value::String(s) => visitor.visit_string(s),
            Value::Slice(items) | Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            Value::Map(entries) => visitor.visit_map(MapAcc {
                iter: entries.into_iter(),
                pending: None,
            }),
            Value::Struct(fields) => visitor.visit_map(StructAcc {
                iter: fields.into_iter(),
                pending: None,
            }),
            Value::Interface(_) => visitor.visit_none(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Interface(None) => visitor.visit_none(),
            other => visitor.visit_some(De(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == ANY_TOKEN {
            let iv = match self.0 {
                Value::Interface(iv) => iv.map(|b| *b),
                other => InterfaceValue::infer(&other).ok_or_else(|| {
                    Error::mismatch(format!("{} cannot be held in an interface", kind(&other)))
                })?,
            };
            ANY_SLOT.with(|slot| *slot.borrow_mut() = Some(iv));
            return visitor.visit_unit();
        }
        visitor.visit_newtype_struct(self)
    }

    /// Like Go, a finite value beyond `f32`'s range is an error, not infinity.
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = match self.concrete() {
            Value::Float(f) => f,
            Value::Int(i) => i as f64,
            Value::Uint(u) => u as f64,
            other => return Err(unexpected(&other, "a number")),
        };
        if f.is_finite() && f.abs() > f64::from(f32::MAX) {
            return Err(Error::mismatch(format!("{f} out of range for f32")));
        }
        visitor.visit_f32(f as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::Float(f) => visitor.visit_f64(f),
            Value::Int(i) => visitor.visit_f64(i as f64),
            Value::Uint(u) => visitor.visit_f64(u as f64),
            other => Err(unexpected(&other, "a number")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) | Value::Marshaled(b) => match String::from_utf8(b) {
                Ok(s) => visitor.visit_string(s),
                Err(_) => Err(Error::mismatch(
                    "string is not valid UTF-8 (decode into Vec<u8> or gob::Bytes to keep it)",
                )),
            },
            other => Err(unexpected(&other, "a string")),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::Bytes(b) | Value::Marshaled(b) => visitor.visit_byte_buf(b),
            Value::String(s) => visitor.visit_byte_buf(s.into_bytes()),
            Value::Interface(None) => visitor.visit_byte_buf(Vec::new()),
            Value::Slice(items) | Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            other => Err(unexpected(&other, "bytes")),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::Slice(items) | Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
            Value::Bytes(b) | Value::Marshaled(b) => visitor.visit_seq(Seq(b
                .into_iter()
                .map(|x| Value::Uint(x.into()))
                .collect::<Vec<_>>()
                .into_iter())),
            Value::Interface(None) => visitor.visit_seq(Seq(Vec::new().into_iter())),
            Value::Complex(re, im) => {
                visitor.visit_seq(Seq(vec![Value::Float(re), Value::Float(im)].into_iter()))
            }
            other => Err(unexpected(&other, "a slice")),
        }
    }

    /// Fixed-length targets (`[T; N]`, tuples) take exactly `len` elements: Go refuses an
    /// array of another length, and dropping the extra elements would lose data silently.
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let value = self.concrete();
        let found = match &value {
            Value::Slice(items) | Value::Array(items) => Some(items.len()),
            Value::Bytes(b) | Value::Marshaled(b) => Some(b.len()),
            _ => None,
        };
        if let Some(found) = found
            && found != len
        {
            return Err(Error::mismatch(format!(
                "{} of {found} elements into a fixed length of {len}",
                kind(&value)
            )));
        }
        De(value).deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::Interface(None) => visitor.visit_map(MapAcc {
                iter: Vec::new().into_iter(),
                pending: None,
            }),
            v @ (Value::Map(_) | Value::Struct(_)) => De(v).deserialize_any(visitor),
            other => Err(unexpected(&other, "a map or struct")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.concrete() {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Map(mut entries) if entries.len() == 1 => match entries.pop() {
                Some((Value::String(variant), payload)) => {
                    visitor.visit_enum(Enum { variant, payload })
                }
                _ => Err(Error::mismatch("enum map must have one string key")),
            },
            other => Err(unexpected(&other, "an enum (string)")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char identifier
    }
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(De(v))).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapAcc {
    iter: std::vec::IntoIter<(Value, Value)>,
    pending: Option<Value>,
}

impl<'de> de::MapAccess<'de> for MapAcc {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.pending = Some(v);
                seed.deserialize(De(k)).map(Some)
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .pending
            .take()
            .ok_or_else(|| Error::Custom("map value requested before its key".into()))?;
        seed.deserialize(De(v))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct StructAcc {
    iter: std::vec::IntoIter<(String, Value)>,
    pending: Option<(String, Value)>,
}

impl<'de> de::MapAccess<'de> for StructAcc {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some((k, v)) => {
                let key = seed.deserialize(de::value::StrDeserializer::<Error>::new(&k))?;
                self.pending = Some((k, v));
                Ok(Some(key))
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (name, v) = self
            .pending
            .take()
            .ok_or_else(|| Error::Custom("field value requested before its name".into()))?;
        seed.deserialize(De(v))
            .map_err(|e| e.context(&format!("field {name}")))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Enum {
    variant: String,
    payload: Value,
}

impl<'de> de::EnumAccess<'de> for Enum {
    type Error = Error;
    type Variant = De;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De), Error> {
        let v = seed.deserialize(de::value::StringDeserializer::<Error>::new(self.variant))?;
        Ok((v, De(self.payload)))
    }
}

impl<'de> de::VariantAccess<'de> for De {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Type;
    use crate::{Any, Bytes};

    #[derive(serde::Deserialize, Debug, PartialEq, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct S {
        id: String,
        n: i32,
        tags: Vec<String>,
        url: String,
        raw: Bytes,
        maybe: Option<u8>,
    }

    #[test]
    fn integers_are_range_checked() {
        assert!(from_value::<u8>(Value::Int(300)).is_err());
        assert!(from_value::<u64>(Value::Int(-1)).is_err());
        assert_eq!(from_value::<i8>(Value::Uint(5)).unwrap(), 5);
        assert_eq!(from_value::<u32>(Value::Int(70000)).unwrap(), 70000);
        assert_eq!(from_value::<f64>(Value::Int(2)).unwrap(), 2.0);
    }

    #[test]
    fn structs_by_name_with_defaults_and_unknown_fields() {
        let v = Value::Struct(vec![
            ("Unknown".into(), Value::Map(vec![])),
            ("N".into(), Value::Int(-4)),
            ("Url".into(), Value::Marshaled(b"/a?b=c".to_vec())),
            ("Raw".into(), Value::Bytes(vec![1, 2])),
            ("Tags".into(), Value::Slice(vec![Value::String("t".into())])),
        ]);
        let s: S = from_value(v).unwrap();
        assert_eq!(
            s,
            S {
                n: -4,
                url: "/a?b=c".into(),
                raw: Bytes(vec![1, 2]),
                tags: vec!["t".into()],
                ..S::default()
            }
        );
    }

    #[test]
    fn interfaces_are_transparent_unless_any() {
        let iv = InterfaceValue {
            name: "string".into(),
            ty: Type::String,
            value: Value::String("x".into()),
        };
        let wrapped = Value::Interface(Some(Box::new(iv.clone())));
        assert_eq!(from_value::<String>(wrapped.clone()).unwrap(), "x");
        assert_eq!(from_value::<Any>(wrapped).unwrap(), Any(Some(iv)));
        assert_eq!(
            from_value::<Option<String>>(Value::Interface(None)).unwrap(),
            None
        );
        assert!(from_value::<Any>(Value::Interface(None)).unwrap().is_nil());
        // A plain value into Any gets Go's basic name.
        assert_eq!(
            from_value::<Any>(Value::Int(3)).unwrap().name(),
            Some("int64")
        );
    }
}
