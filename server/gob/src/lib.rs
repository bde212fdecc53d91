//! Go's `encoding/gob` wire format for Rust, as spoken by Mattermost's
//! plugin RPC (see `shared/docs/protocol.md` §4).
//!
//! Modules:
//! - `wire`: gob's integer/float/string primitives and a bounds-checked cursor.
//! - `types`: [`Type`], [`StructType`], [`GobType`] (Rust type → Go type).
//! - `value`: the dynamic [`Value`], [`InterfaceValue`], and the [`Bytes`],
//!   [`Empty`] and [`Any`] wrappers.
//! - `complex`: [`Complex64`] / [`Complex128`] (Go's complex kinds through serde).
//! - `encode`: [`Encoder`] (per-stream type ids, definitions, Go's zero omission).
//! - `decode`: [`Decoder`] (per-stream type table, split interface messages, [`Limits`]).
//! - `ser` / `de`: serde bridges [`to_value`] / [`from_value`].
//! - `error`: [`Error`].
//!
//! Typical use: one [`Encoder`] and one [`Decoder`] per stream direction;
//! `#[derive(Serialize, Deserialize, GobType)]` on model structs with
//! `#[serde(rename_all = "PascalCase", default)]` so field names are Go's.
//!
//! Things to know (all follow from gob itself):
//! - Zero values are not sent, so decoded structs rely on serde defaults; an
//!   empty `HashMap`/`Vec` is omitted like Go's nil (Go sends a non-nil empty
//!   map; Rust cannot tell the two apart).
//! - `Vec<u8>` is Go `[]byte` (wire id 5); `Bytes` says so explicitly.
//! - `Option<T>`/`Box<T>` are Go pointers: `None` omits the field; `None` in a
//!   slice or map is an error (Go cannot encode nil pointers there either).
//! - Interface values need a Go registration name ([`Any::new`]); the decoder
//!   keeps the sender's type so a decoded [`Any`] can be sent on unchanged.
//!   `Any`/`InterfaceValue` equality compares struct types by identity.
//! - A Go string that is not UTF-8 decodes as [`Value::Bytes`]: its bytes are kept (and
//!   distinct map keys stay distinct); into a Rust `String` it is an error.
//! - Go `complex64`/`complex128` are [`Complex64`]/[`Complex128`]; recursive non-struct
//!   types (`type RS []RS`) are [`Type::Recursive`] (`#[gob(recursive)]` on a newtype,
//!   or [`RecursiveType::of`]).
//! - Test vectors from Go live in `tests/data` (regenerate: `make gob-golden`).
//!
//! ```
//! use gob::{Any, Decoder, Encoder, GobType};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
//! #[serde(rename_all = "PascalCase", default)]
//! #[gob(name = "Z_OnActivateReturns")]
//! struct OnActivateReturns {
//!     a: Any, // Go `error`
//! }
//!
//! let mut enc = Encoder::new();
//! let mut wire = Vec::new();
//! enc.encode(&OnActivateReturns { a: Any::nil() }, &mut wire)?;
//! let back: OnActivateReturns = Decoder::new().decode(&mut wire.as_slice())?;
//! assert!(back.a.is_nil());
//! # Ok::<(), gob::Error>(())
//! ```

mod complex;
mod de;
mod decode;
mod encode;
mod error;
mod ser;
mod types;
mod value;
pub mod wire;

pub use complex::{Complex64, Complex128};
pub use de::from_value;
pub use decode::{DEFAULT_MAX_DEPTH, Decoder, Limits};
pub use encode::Encoder;
pub use error::Error;
pub use gob_derive::GobType;
pub use ser::to_value;
pub use types::{GobType, MarshalerKind, RecursiveType, StructType, Type};
pub use value::{Any, Bytes, Empty, InterfaceValue, Value};

/// Something that can be written to a gob stream; object-safe, so RPC
/// services can return `Box<dyn Encodable>`.
pub trait Encodable: Send + Sync {
    fn encode_into(&self, enc: &mut Encoder, out: &mut Vec<u8>) -> Result<(), Error>;
}

impl<T: serde::Serialize + GobType + Send + Sync> Encodable for T {
    fn encode_into(&self, enc: &mut Encoder, out: &mut Vec<u8>) -> Result<(), Error> {
        enc.encode(self, out)
    }
}

// Lets the derive macro refer to `::gob` from inside this crate's own tests.
extern crate self as gob;
