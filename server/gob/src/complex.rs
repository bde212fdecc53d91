//! Go's `complex64` and `complex128` as Rust types.
//!
//! gob has one complex wire type (id 7, two float64s), as it has one float type; these
//! newtypes carry it through serde. The serializer recognises [`COMPLEX_TOKEN`] and
//! produces [`Value::Complex`](crate::Value::Complex); other serde formats see a
//! two-element sequence `[re, im]`, the same as `Value::to_json`.

use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::types::{GobType, Type};

/// Newtype name that tells our serializer "this pair is a complex number".
pub(crate) const COMPLEX_TOKEN: &str = "$gob::Complex";

/// Go `complex128`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex128 {
    pub re: f64,
    pub im: f64,
}

/// Go `complex64`: decoding checks each part against `f32`'s range, as Go does.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex64 {
    pub re: f32,
    pub im: f32,
}

macro_rules! complex {
    ($name:ident) => {
        impl GobType for $name {
            fn gob_type() -> Type {
                Type::Complex
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_newtype_struct(COMPLEX_TOKEN, &(self.re, self.im))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let (re, im) = d.deserialize_newtype_struct(COMPLEX_TOKEN, Parts(PhantomData))?;
                Ok($name { re, im })
            }
        }
    };
}

complex!(Complex128);
complex!(Complex64);

/// Reads the `(re, im)` pair, whether the format keeps the newtype or not.
struct Parts<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Parts<T> {
    type Value = (T, T);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a complex number (re, im)")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(T, T), D::Error> {
        <(T, T)>::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(T, T), A::Error> {
        let re = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let im = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok((re, im))
    }
}
