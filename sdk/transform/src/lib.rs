//! Write a Data Sync row transform in Rust.
//!
//! A transform sits between a sync's source and its diff: it sees the source's columns
//! once per run (with the parameters the configuration gives it), then every row, and
//! returns each row changed, or nothing to drop it. Build it for `wasm32-unknown-unknown`;
//! the module imports nothing, so it can compute and nothing else.
//!
//! ```ignore
//! use datasync_transform::{Row, Transform, Value, export};
//!
//! struct Shout(usize);
//!
//! impl Transform for Shout {
//!     fn new(columns: &[String], _params: &str) -> Result<(Self, Vec<String>), String> {
//!         let at = columns.iter().position(|c| c == "name").ok_or("no column \"name\"")?;
//!         Ok((Shout(at), columns.to_vec()))
//!     }
//!     fn row(&mut self, mut row: Row) -> Result<Option<Row>, String> {
//!         if let Value::Text(name) = &mut row[self.0] {
//!             *name = name.to_uppercase();
//!         }
//!         Ok(Some(row))
//!     }
//! }
//!
//! export!(Shout);
//! ```

mod abi;

pub use abi::{
    Answer, decode_answer_columns, decode_answer_row, decode_row, decode_row_into, decode_setup,
    encode_columns, encode_error, encode_row, encode_row_into,
};

/// One value, as the source gave it. Exact numbers, dates and times are text in ISO and
/// canonical decimal form; JSON is its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(String),
    Text(String),
    Date(String),
    Time(String),
    Timestamp(String),
    Bytes(Vec<u8>),
    Json(String),
}

/// A row: one value per column, in the order `Transform::new` returned the columns.
pub type Row = Vec<Value>;

/// A transform: made once per run from the source's columns, then given every row.
pub trait Transform: Sized {
    /// Given the source's columns and the parameters (a JSON object, `{}` if none): the
    /// transform and the columns its rows will have; or why it cannot run.
    fn new(columns: &[String], params: &str) -> Result<(Self, Vec<String>), String>;

    /// A row in the source's columns: the row in the transform's columns, `None` to drop
    /// it, or an error (the run fails, naming the row).
    fn row(&mut self, row: Row) -> Result<Option<Row>, String>;
}

/// Exports a [`Transform`] as the module's `ds_alloc`, `ds_columns` and `ds_row`.
#[macro_export]
macro_rules! export {
    ($t:ty) => {
        ::std::thread_local! {
            static DATASYNC_TRANSFORM: ::core::cell::RefCell<Option<$t>> =
                const { ::core::cell::RefCell::new(None) };
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn ds_alloc(len: i32) -> i32 {
            $crate::__rt::alloc(len)
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn ds_columns(ptr: i32, len: i32) -> i64 {
            $crate::__rt::columns(ptr, len, |columns, params| {
                let (t, out) = <$t as $crate::Transform>::new(columns, params)?;
                DATASYNC_TRANSFORM.with(|s| *s.borrow_mut() = Some(t));
                Ok(out)
            })
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn ds_row(ptr: i32, len: i32) -> i64 {
            $crate::__rt::row(ptr, len, |row| {
                DATASYNC_TRANSFORM.with(|s| match s.borrow_mut().as_mut() {
                    Some(t) => $crate::Transform::row(t, row),
                    None => Err("ds_row was called before ds_columns".into()),
                })
            })
        }
    };
}

/// What [`export!`] expands to calls; not for direct use.
#[doc(hidden)]
pub mod __rt {
    use std::cell::RefCell;

    use super::{Row, abi};

    std::thread_local! {
        /// Where the engine writes its inputs (each no longer than the last `ds_alloc`).
        static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        /// The last answer: kept until the next call, while the engine reads it.
        static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        /// The last row the transform returned, whose buffers the next row is read into.
        static SPARE: RefCell<Row> = const { RefCell::new(Vec::new()) };
    }

    pub fn alloc(len: i32) -> i32 {
        INPUT.with(|b| {
            let mut b = b.borrow_mut();
            b.clear();
            b.resize(len.max(0) as usize, 0);
            b.as_mut_ptr() as i32
        })
    }

    /// The input the engine wrote: `len` bytes at `ptr` (the buffer `alloc` gave it).
    fn input<T>(ptr: i32, len: i32, f: impl FnOnce(&[u8]) -> T) -> T {
        INPUT.with(|b| {
            let b = b.borrow();
            let ok = b.as_ptr() as i32 == ptr && len >= 0 && len as usize <= b.len();
            f(if ok { &b[..len as usize] } else { &[] })
        })
    }

    /// Writes the answer into the buffer kept for answers (one allocation per run, not
    /// per row); its place, packed as the ABI says.
    fn answer(write: impl FnOnce(&mut Vec<u8>)) -> i64 {
        OUTPUT.with(|o| {
            let mut o = o.borrow_mut();
            o.clear();
            write(&mut o);
            ((o.as_ptr() as u32 as i64) << 32) | o.len() as i64
        })
    }

    pub fn columns(
        ptr: i32,
        len: i32,
        f: impl FnOnce(&[String], &str) -> Result<Vec<String>, String>,
    ) -> i64 {
        let out = input(ptr, len, |bytes| match abi::decode_setup(bytes) {
            Ok((columns, params)) => f(&columns, &params),
            Err(e) => Err(format!("unreadable input: {e}")),
        });
        answer(|o| match out {
            Ok(columns) => o.extend(abi::encode_columns(&columns)),
            Err(e) => o.extend(abi::encode_error(&e)),
        })
    }

    pub fn row(ptr: i32, len: i32, f: impl FnOnce(Row) -> Result<Option<Row>, String>) -> i64 {
        let mut row = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let out = input(ptr, len, |bytes| {
            match abi::decode_row_into(bytes, &mut row) {
                Ok(()) => f(row),
                Err(e) => Err(format!("unreadable input: {e}")),
            }
        });
        answer(|o| match out {
            Ok(Some(row)) => {
                abi::encode_row_into(o, &row);
                SPARE.with(|s| *s.borrow_mut() = row);
            }
            Ok(None) => o.push(1),
            Err(e) => o.extend(abi::encode_error(&e)),
        })
    }
}
