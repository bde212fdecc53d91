//! serde → [`Value`]: the bridge the encoder uses for typed Rust values.
//!
//! `None` has no gob form: inside a struct it means "field omitted" (Go's nil
//! pointer); anywhere else it is an error, as in Go. Internally the
//! serializer therefore yields `Option<Value>`.

use serde::ser::{self, Serialize};

use crate::complex::COMPLEX_TOKEN;
use crate::value::{ANY_SLOT, ANY_TOKEN};
use crate::{Error, Value};

/// Convert any `Serialize` value into a gob [`Value`].
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, Error> {
    v.serialize(Ser)?
        .ok_or_else(|| Error::mismatch("cannot encode a nil value at top level"))
}

fn required(v: Option<Value>, what: &str) -> Result<Value, Error> {
    v.ok_or_else(|| Error::mismatch(format!("cannot encode nil (None) {what}")))
}

struct Ser;

pub(crate) struct SeqSer {
    items: Vec<Value>,
    array: bool,
}

pub(crate) struct MapSer {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

pub(crate) struct StructSer {
    fields: Vec<(String, Value)>,
}

type R = Result<Option<Value>, Error>;

impl ser::Serializer for Ser {
    type Ok = Option<Value>;
    type Error = Error;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = ser::Impossible<Option<Value>, Error>;
    type SerializeMap = MapSer;
    type SerializeStruct = StructSer;
    type SerializeStructVariant = ser::Impossible<Option<Value>, Error>;

    fn serialize_bool(self, v: bool) -> R {
        Ok(Some(Value::Bool(v)))
    }
    fn serialize_i8(self, v: i8) -> R {
        Ok(Some(Value::Int(v.into())))
    }
    fn serialize_i16(self, v: i16) -> R {
        Ok(Some(Value::Int(v.into())))
    }
    fn serialize_i32(self, v: i32) -> R {
        Ok(Some(Value::Int(v.into())))
    }
    fn serialize_i64(self, v: i64) -> R {
        Ok(Some(Value::Int(v)))
    }
    fn serialize_u8(self, v: u8) -> R {
        Ok(Some(Value::Uint(v.into())))
    }
    fn serialize_u16(self, v: u16) -> R {
        Ok(Some(Value::Uint(v.into())))
    }
    fn serialize_u32(self, v: u32) -> R {
        Ok(Some(Value::Uint(v.into())))
    }
    fn serialize_u64(self, v: u64) -> R {
        Ok(Some(Value::Uint(v)))
    }
    fn serialize_f32(self, v: f32) -> R {
        Ok(Some(Value::Float(v.into())))
    }
    fn serialize_f64(self, v: f64) -> R {
        Ok(Some(Value::Float(v)))
    }
    fn serialize_char(self, v: char) -> R {
        Ok(Some(Value::String(v.to_string())))
    }
    fn serialize_str(self, v: &str) -> R {
        Ok(Some(Value::String(v.to_string())))
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        Ok(Some(Value::Bytes(v.to_vec())))
    }
    fn serialize_none(self) -> R {
        Ok(None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
        v.serialize(Ser)
    }
    /// `()` and JSON `null`: a nil interface.
    fn serialize_unit(self) -> R {
        Ok(Some(Value::Interface(None)))
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(Some(Value::Struct(Vec::new())))
    }
    /// Unit enum variants become their (serde) names, like Go string enums.
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R {
        Ok(Some(Value::String(variant.to_string())))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> R {
        if name == ANY_TOKEN {
            let iv = ANY_SLOT.with(|slot| slot.borrow_mut().take());
            return match iv {
                Some(iv) => Ok(Some(Value::Interface(iv.map(Box::new)))),
                None => Err(Error::Custom(
                    "gob: Any serialized without its value".into(),
                )),
            };
        }
        if name == COMPLEX_TOKEN {
            return match v.serialize(Ser)? {
                Some(Value::Array(parts) | Value::Slice(parts)) => match parts[..] {
                    [Value::Float(re), Value::Float(im)] => Ok(Some(Value::Complex(re, im))),
                    _ => Err(Error::mismatch("a complex number needs two floats")),
                },
                _ => Err(Error::mismatch("a complex number needs two floats")),
            };
        }
        v.serialize(Ser)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> R {
        let inner = required(v.serialize(Ser)?, "enum payload")?;
        Ok(Some(Value::Map(vec![(
            Value::String(variant.to_string()),
            inner,
        )])))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, Error> {
        Ok(SeqSer {
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            array: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, Error> {
        Ok(SeqSer {
            items: Vec::with_capacity(len.min(4096)),
            array: true,
        })
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqSer, Error> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error::Unsupported(format!(
            "tuple variant {name}::{variant} has no Go form"
        )))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, Error> {
        Ok(MapSer {
            entries: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<StructSer, Error> {
        Ok(StructSer {
            fields: Vec::with_capacity(len),
        })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error::Unsupported(format!(
            "struct variant {name}::{variant} has no Go form"
        )))
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Option<Value>;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.items
            .push(required(v.serialize(Ser)?, "element in a slice")?);
        Ok(())
    }
    fn end(self) -> R {
        Ok(Some(if self.array {
            Value::Array(self.items)
        } else {
            Value::Slice(self.items)
        }))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Option<Value>;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> R {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Option<Value>;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> R {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Option<Value>;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.key = Some(required(k.serialize(Ser)?, "map key")?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error::Custom("map value without a key".into()))?;
        let value = required(v.serialize(Ser)?, "map value")?;
        self.entries.push((key, value));
        Ok(())
    }
    fn end(self) -> R {
        Ok(Some(Value::Map(self.entries)))
    }
}

impl ser::SerializeStruct for StructSer {
    type Ok = Option<Value>;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        // None = Go nil pointer: the field is simply not sent.
        if let Some(value) = v
            .serialize(Ser)
            .map_err(|e| e.context(&format!("field {name}")))?
        {
            self.fields.push((name.to_string(), value));
        }
        Ok(())
    }
    fn end(self) -> R {
        Ok(Some(Value::Struct(self.fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct S {
        id: String,
        n: Option<i32>,
        tags: Vec<u16>,
    }

    #[test]
    fn struct_skips_none() {
        let v = to_value(&S {
            id: "x".into(),
            n: None,
            tags: vec![1],
        })
        .unwrap();
        assert_eq!(
            v,
            Value::Struct(vec![
                ("Id".into(), Value::String("x".into())),
                ("Tags".into(), Value::Slice(vec![Value::Uint(1)])),
            ])
        );
    }

    #[test]
    fn none_in_slice_is_error() {
        assert!(to_value(&vec![Some(1), None]).is_err());
        assert!(to_value(&None::<i32>).is_err());
        let mut m = BTreeMap::new();
        m.insert("a", None::<i32>);
        assert!(to_value(&m).is_err());
    }
}
