//! Type descriptions: what the encoder announces on the wire, and what the
//! decoder reconstructs from received definitions. `GobType` maps Rust types
//! to their Go counterparts.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// The Go type of a value, as far as gob cares.
///
/// Pointers do not exist on the wire (`*T` is `T`), and all sizes of
/// signed/unsigned integers and floats collapse to one kind each.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Uint,
    Float,
    Complex,
    /// Go `[]byte` (wire id 5).
    Bytes,
    String,
    /// Any Go interface (`any`, `error`, ...), wire id 8.
    Interface,
    Slice(Box<Type>),
    Array(Box<Type>, usize),
    Map(Box<Type>, Box<Type>),
    Struct(StructType),
    /// A type that implements GobEncoder / BinaryMarshaler / TextMarshaler.
    Marshaler(MarshalerKind),
    /// A slice, array or map type that refers to itself (Go `type RS []RS`,
    /// `type RM map[string]RM`), which a plain tree of `Type`s cannot spell.
    Recursive(RecursiveType),
}

struct RecursiveInner {
    name: String,
    ty: OnceLock<Type>,
    build: Option<fn() -> Type>,
}

/// A named non-struct type whose definition may mention itself. Like
/// [`StructType`], cheap to clone, compared by identity, its definition built
/// lazily so it can refer back to the type.
#[derive(Clone)]
pub struct RecursiveType(Arc<RecursiveInner>);

impl RecursiveType {
    /// The recursive type of the Rust type `T`, created once per process;
    /// `build` returns its definition (a slice, array or map type) and may call
    /// `T::gob_type()` again.
    pub fn of<T: ?Sized + 'static>(name: &str, build: fn() -> Type) -> Self {
        static CACHE: OnceLock<Mutex<HashMap<TypeId, RecursiveType>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut map = match cache.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(TypeId::of::<T>())
            .or_insert_with(|| {
                RecursiveType(Arc::new(RecursiveInner {
                    name: name.to_string(),
                    ty: OnceLock::new(),
                    build: Some(build),
                }))
            })
            .clone()
    }

    /// A type whose definition is filled in later with [`set_definition`];
    /// used by the decoder for received self-referring definitions.
    pub(crate) fn deferred(name: String) -> Self {
        RecursiveType(Arc::new(RecursiveInner {
            name,
            ty: OnceLock::new(),
            build: None,
        }))
    }

    pub(crate) fn set_definition(&self, ty: Type) {
        let _ = self.0.ty.set(ty);
    }

    /// A name for messages (Go's name when the type came from Rust).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// What the type is: a slice, array or map type (an interface before it is set).
    pub fn definition(&self) -> &Type {
        self.0
            .ty
            .get_or_init(|| self.0.build.map_or(Type::Interface, |b| b()))
    }
}

impl PartialEq for RecursiveType {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for RecursiveType {}
impl Hash for RecursiveType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}

impl fmt::Debug for RecursiveType {
    // Only the name: printing the definition would loop.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "recursive {}", self.name())
    }
}

/// Which of Go's custom-encoding interfaces a type uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarshalerKind {
    Gob,
    Binary,
    Text,
}

type FieldList = Vec<(String, Type)>;

struct StructInner {
    name: String,
    fields: OnceLock<FieldList>,
    build: Option<fn() -> FieldList>,
}

/// A Go struct type: a name and an ordered field list.
///
/// Cheap to clone (shared). Equality and hashing are by identity, which is
/// what lets recursive types (a field list mentioning the struct itself) be
/// described: the field list is built lazily on first use.
#[derive(Clone)]
pub struct StructType(Arc<StructInner>);

impl StructType {
    /// A struct type with a known field list.
    pub fn new(name: impl Into<String>, fields: Vec<(String, Type)>) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(fields);
        StructType(Arc::new(StructInner {
            name: name.into(),
            fields: cell,
            build: None,
        }))
    }

    /// The struct type of the Rust type `T`, created once per process.
    ///
    /// `build` runs on first access to the fields, so it may refer to
    /// `T::gob_type()` again (recursive types) without looping.
    pub fn of<T: ?Sized + 'static>(name: &str, build: fn() -> Vec<(String, Type)>) -> Self {
        static CACHE: OnceLock<Mutex<HashMap<TypeId, StructType>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut map = match cache.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(TypeId::of::<T>())
            .or_insert_with(|| {
                StructType(Arc::new(StructInner {
                    name: name.to_string(),
                    fields: OnceLock::new(),
                    build: Some(build),
                }))
            })
            .clone()
    }

    /// A struct type whose fields are filled in later with [`set_fields`];
    /// used by the decoder for received (possibly recursive) definitions.
    pub(crate) fn deferred(name: String) -> Self {
        StructType(Arc::new(StructInner {
            name,
            fields: OnceLock::new(),
            build: None,
        }))
    }

    pub(crate) fn set_fields(&self, fields: FieldList) {
        let _ = self.0.fields.set(fields);
    }

    /// Go's name for the type ("" for unnamed structs like `struct{}`).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Fields in Go declaration order: (Go field name, type).
    pub fn fields(&self) -> &[(String, Type)] {
        self.0
            .fields
            .get_or_init(|| self.0.build.map(|b| b()).unwrap_or_default())
    }

    /// Identity of this struct type (stable while any clone is alive).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl PartialEq for StructType {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for StructType {}
impl Hash for StructType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for StructType {
    // Only the name: printing fields would loop on recursive types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "struct {}", self.name())
    }
}

/// A Rust type with a known Go (gob) type. Derive it with `#[derive(GobType)]`.
pub trait GobType {
    fn gob_type() -> Type;

    /// The Go type of a slice of `Self`. Only `u8` overrides it: Go's
    /// `[]uint8` is `[]byte` (wire id 5), so `Vec<u8>` must be sent as bytes.
    #[doc(hidden)]
    fn gob_slice_type() -> Type
    where
        Self: Sized,
    {
        Type::Slice(Box::new(Self::gob_type()))
    }
}

macro_rules! simple {
    ($kind:ident: $($t:ty),*) => {$(
        impl GobType for $t { fn gob_type() -> Type { Type::$kind } }
    )*};
}
simple!(Bool: bool);
simple!(Int: i8, i16, i32, i64, isize);
simple!(Uint: u16, u32, u64, usize);

impl GobType for u8 {
    fn gob_type() -> Type {
        Type::Uint
    }
    fn gob_slice_type() -> Type {
        Type::Bytes
    }
}
simple!(Float: f32, f64);
simple!(String: String, str, char);

impl<T: GobType + ?Sized> GobType for &T {
    fn gob_type() -> Type {
        T::gob_type()
    }
}
impl<T: GobType> GobType for Vec<T> {
    fn gob_type() -> Type {
        T::gob_slice_type()
    }
}
impl<T: GobType> GobType for [T] {
    fn gob_type() -> Type {
        T::gob_slice_type()
    }
}
impl<T: GobType, const N: usize> GobType for [T; N] {
    fn gob_type() -> Type {
        Type::Array(Box::new(T::gob_type()), N)
    }
}
impl<T: GobType> GobType for Option<T> {
    fn gob_type() -> Type {
        T::gob_type()
    }
}
impl<T: GobType + ?Sized> GobType for Box<T> {
    fn gob_type() -> Type {
        T::gob_type()
    }
}
impl<T: GobType + ?Sized> GobType for Arc<T> {
    fn gob_type() -> Type {
        T::gob_type()
    }
}
impl<K: GobType, V: GobType, S> GobType for HashMap<K, V, S> {
    fn gob_type() -> Type {
        Type::Map(Box::new(K::gob_type()), Box::new(V::gob_type()))
    }
}
impl<K: GobType, V: GobType> GobType for BTreeMap<K, V> {
    fn gob_type() -> Type {
        Type::Map(Box::new(K::gob_type()), Box::new(V::gob_type()))
    }
}
/// A JSON value is carried as a Go interface (`any`), like Mattermost's props.
impl GobType for serde_json::Value {
    fn gob_type() -> Type {
        Type::Interface
    }
}
/// `map[string]any`.
impl GobType for serde_json::Map<String, serde_json::Value> {
    fn gob_type() -> Type {
        Type::Map(Box::new(Type::String), Box::new(Type::Interface))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_vectors_are_go_byte_slices() {
        assert_eq!(<Vec<u8>>::gob_type(), Type::Bytes);
        assert_eq!(<[u8]>::gob_type(), Type::Bytes);
        assert_eq!(<Vec<u16>>::gob_type(), Type::Slice(Box::new(Type::Uint)));
        assert_eq!(<[u8; 4]>::gob_type(), Type::Array(Box::new(Type::Uint), 4));
        assert_eq!(
            <Option<Box<Vec<String>>>>::gob_type(),
            Type::Slice(Box::new(Type::String))
        );
    }
}
