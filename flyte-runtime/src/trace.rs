//! Tracing: the [`Type`] of any type with a `Deserialize` impl, found by running that impl
//! against a deserializer that records what it asks for. This is what describes the user's
//! own structs and enums, with nothing more from the user than the serde derives.
//!
//! # How
//!
//! The impl is run several times ("passes") on the [`Tracer`] deserializer, which hands it
//! sample values and records each thing it asks for: a struct's name and fields, a sequence's
//! element, an option's inner value, an enum's variants. One pass sees one variant of each
//! enum in it, so passes go on, each trying variants not seen yet, until a pass learns nothing
//! new; enums inside lists and options and other enums are covered too. Types are told apart
//! by their `TypeId` (the `typeid` crate gets one without `'static`), so two structs of one
//! name, or one generic struct with two arguments, do not mix. A type met again inside itself
//! (a tree) is not explored a second time: there its lists are empty and its options `None`,
//! so that a pass ends, and the type is described without fields.
//!
//! The serde-reflection crate does this for serde-generate, but it explores every variant only
//! of the enum it is asked to trace, and of an enum nested inside it only the first: its docs
//! ask to trace each enum by naming its type, which the macros cannot do for types nested in a
//! user's struct. It also keys types by name alone, so two `Point`s from two modules clash.
//!
//! What it sees, and the sample values it offers: [`traced`].

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use crate::flyte_type::{DatetimeForm, DurationForm, Type};

/// Why a type has no [`Type`]: what tracing its `Deserialize` impl ran into, and what to do.
///
/// ```
/// use flytekit::{traced, TypeError};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// #[serde(untagged)]
/// enum Loose {
///     Number(u64),
///     Text(String),
/// }
///
/// let err = traced::<Loose>().unwrap_err();
/// assert!(matches!(err, TypeError::SelfDescribing { .. }));
/// assert!(err.to_string().contains("implement `flytekit::Typed`"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The impl asked for a self-describing format, which tracing cannot follow.
    #[error(
        "`{type_name}` cannot be traced through its Deserialize impl, which calls `{what}`: tracing follows what binary formats see, so `#[serde(flatten)]`, `#[serde(tag = ..)]`, `#[serde(untagged)]` and impls that call `deserialize_any` are out of its reach; use plain derived serde attributes in it, or implement `flytekit::Typed` for the type to give its Flyte type yourself"
    )]
    SelfDescribing {
        /// The Rust type described (the input's or output's).
        type_name: &'static str,
        /// The deserializer method it called (`deserialize_any`, ...).
        what: &'static str,
    },
    /// The impl rejected the sample value tracing offered it: it validates what it reads.
    #[error(
        "`{type_name}` cannot be traced through its Deserialize impl, which rejected the sample value tracing offered it ({message}): a type that validates what it reads (a parsed string, a number in a range) cannot be traced; implement `flytekit::Typed` for the type (or for the struct of yours that holds it) to give its Flyte type yourself"
    )]
    Rejected {
        /// The Rust type described.
        type_name: &'static str,
        /// What the impl said.
        message: String,
    },
    /// The type nests without end: it holds itself with nothing (an `Option`, a `Vec`, a
    /// variant without it) to stop.
    #[error(
        "`{type_name}` cannot be traced: {detail}, which only a type that holds itself with no way to end does (a `Box<Self>` not inside an `Option` or a `Vec`, an enum whose every variant holds the enum); such a type has no finite value"
    )]
    Endless {
        /// The Rust type described.
        type_name: &'static str,
        /// Where it did not end.
        detail: String,
    },
    /// The impl panicked on a sample value.
    #[error(
        "`{type_name}` cannot be traced: its Deserialize impl panicked on the sample value tracing offered it ({message}); implement `flytekit::Typed` for the type (or for the struct of yours that holds it) to give its Flyte type yourself"
    )]
    Panicked {
        /// The Rust type described.
        type_name: &'static str,
        /// The panic's message, and where it happened.
        message: String,
    },
    /// Tracing did not see the whole type: a bug, in tracing or in the type's impl.
    #[error(
        "`{type_name}` could not be traced completely ({detail}); implement `flytekit::Typed` for the type to give its Flyte type yourself, and please report this"
    )]
    Incomplete {
        /// The Rust type described.
        type_name: &'static str,
        /// What was missing.
        detail: String,
    },
}

/// The [`Type`] of `T`, by tracing its `Deserialize` impl: running it several times against a
/// deserializer that hands it sample values and records what it asks for, until every variant
/// of every enum in it was seen. This is what the macros use for a type that is not
/// [`Typed`](crate::Typed).
///
/// # What tracing sees
///
/// The serde form that binary formats see (not human-readable, as [`Encoded`]'s CBOR): a
/// struct's fields by their serde names, an enum's variants by theirs, a newtype's inner value.
/// A few types whose serde form hides what they are are recognised by the type the impl builds
/// and by what it asks for: `std::time::Duration` (a struct `{secs, nanos}` to serde) is a
/// duration, `SystemTime` a datetime, chrono's `DateTime` (a string to serde; with the feature
/// `chrono`) a datetime, `serde_json::Value` a struct without fields, wherever they appear. A
/// type that implements [`Typed`](crate::Typed) by hand is traced all the same when it is
/// inside a struct: only a task's own input or output type goes through its `Typed` impl.
///
/// The sample values are `1` for integers (so that `NonZeroU64` and the like accept them),
/// `0.0`, `false`, `'A'`, the string `"1970-01-01T00:00:00Z"` (so that types that parse an
/// instant from a string accept it) and sixteen zero bytes (so that a UUID accepts them). An
/// impl that rejects them, or that needs a self-describing format (`#[serde(flatten)]`,
/// `#[serde(tag = ..)]`, `#[serde(untagged)]`, `deserialize_any`), or that panics on them,
/// cannot be traced: [`TypeError`] says which, and what to do.
///
/// [`Encoded`]: crate::Encoded
///
/// ```
/// use flytekit::{traced, Type};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Point {
///     x: f64,
///     #[serde(rename = "why")]
///     y: f64,
/// }
///
/// let fields = vec![("x".to_string(), Type::Float), ("why".to_string(), Type::Float)];
/// assert_eq!(traced::<Point>()?, Type::Struct { name: "Point".into(), fields: Some(fields) });
/// assert_eq!(traced::<Vec<u8>>()?, Type::Collection(Box::new(Type::Integer)));
/// # Ok::<(), flytekit::TypeError>(())
/// ```
pub fn traced<T: DeserializeOwned>() -> Result<Type, TypeError> {
    let type_name = std::any::type_name::<T>();
    let mut state = State::default();
    for _ in 0..MAX_PASSES {
        state.learned = false;
        let mut top = Shape::Unknown;
        // An impl that panics on a sample value is a type that cannot be traced, not a crash.
        crate::panic::catch(|| Tracer::new(&mut state, &mut top, 0, false).and_then(T::deserialize))
            .map_err(|caught| TypeError::Panicked {
                type_name,
                message: caught.to_string(),
            })?
            .map_err(|e| e.into_type_error(type_name))?;
        if !state.learned {
            return Convert::new(&state, type_name).shape(&top);
        }
    }
    Err(TypeError::Incomplete {
        type_name,
        detail: format!("tracing learned something new in each of {MAX_PASSES} passes"),
    })
}

/// Passes before giving up; each learns at least one container or variant.
const MAX_PASSES: usize = 10_000;
/// How deep values nest in one pass before it stops: far more than any type written by hand
/// needs, and far less than a thread's stack holds.
const MAX_DEPTH: usize = 64;

const SAMPLE_STR: &str = "1970-01-01T00:00:00Z";
const SAMPLE_BYTES: [u8; 16] = [0; 16];

/// What tracing learned, across passes.
#[derive(Default)]
struct State {
    containers: HashMap<TypeId, Container>,
    /// The containers being deserialized, outermost first, with the variant of an enum.
    stack: Vec<(TypeId, Option<usize>)>,
    /// Whether this pass recorded anything not known before.
    learned: bool,
}

/// A struct or an enum, by serde's name for it.
struct Container {
    name: &'static str,
    form: Form,
}

enum Form {
    /// Met only inside itself, where nothing is recorded.
    Pending,
    Unit,
    Newtype(Shape),
    Tuple(Vec<Shape>),
    Struct(Vec<(&'static str, Shape)>),
    /// Each variant's name, and whether it carries no data, once seen.
    Enum(Vec<(&'static str, Option<bool>)>),
}

/// What a value asked the deserializer for.
#[derive(Clone)]
enum Shape {
    /// Not recorded (inside a type met again inside itself).
    Unknown,
    Unit,
    Bool,
    Int(&'static str),
    Float(&'static str),
    Char,
    Str,
    Bytes,
    /// A type recognised by what its impl builds.
    Special(Type),
    Option(Box<Shape>),
    Seq(Box<Shape>),
    Map(Box<Shape>, Box<Shape>),
    Tuple(Vec<Shape>),
    Named(TypeId),
}

/// What a `Deserialize` impl can do to the tracer other than succeed.
#[derive(Debug)]
enum Failure {
    /// `serde::de::Error::custom`: the impl rejected a sample value.
    Custom(String),
    /// A method tracing cannot answer.
    NotSupported(&'static str),
    /// Values nested more than [`MAX_DEPTH`] deep, or an enum had no variant left to end on.
    Endless(String),
    /// The same type seen as two different kinds of container.
    Inconsistent(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Custom(m) | Failure::Endless(m) | Failure::Inconsistent(m) => f.write_str(m),
            Failure::NotSupported(what) => write!(f, "`{what}` is not supported"),
        }
    }
}

impl std::error::Error for Failure {}

impl de::Error for Failure {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Failure::Custom(msg.to_string())
    }
}

impl Failure {
    fn into_type_error(self, type_name: &'static str) -> TypeError {
        match self {
            Failure::Custom(message) => TypeError::Rejected { type_name, message },
            Failure::NotSupported(what) => TypeError::SelfDescribing { type_name, what },
            Failure::Endless(detail) => TypeError::Endless { type_name, detail },
            Failure::Inconsistent(detail) => TypeError::Incomplete { type_name, detail },
        }
    }
}

/// Types recognised by the type a `deserialize_str` visitor builds: chrono's `DateTime`s
/// (chrono builds a `DateTime<FixedOffset>` from the string, then converts it). Without the
/// feature `chrono` nothing is, and `V` goes unused.
#[cfg_attr(not(feature = "chrono"), allow(clippy::extra_unused_type_parameters))]
fn special_str<V: ?Sized>() -> Option<Type> {
    #[cfg(feature = "chrono")]
    {
        let id = typeid::of::<V>();
        if id == typeid::of::<chrono::DateTime<chrono::FixedOffset>>()
            || id == typeid::of::<chrono::DateTime<chrono::Utc>>()
        {
            return Some(Type::Datetime(DatetimeForm::Rfc3339));
        }
    }
    None
}

/// Types recognised by the type a `deserialize_struct` visitor builds, and its fields: serde
/// reads a `Duration` as one, and a `SystemTime` as a `Duration` since the epoch.
fn special_struct<V: ?Sized>(fields: &[&str]) -> Option<Type> {
    if typeid::of::<V>() != typeid::of::<std::time::Duration>() {
        return None;
    }
    match fields {
        ["secs", "nanos"] => Some(Type::Timedelta(DurationForm::SecsNanos)),
        ["secs_since_epoch", "nanos_since_epoch"] => Some(Type::Datetime(DatetimeForm::EpochSecsNanos)),
        _ => None,
    }
}

/// Types recognised by the type a `deserialize_any` visitor builds: `serde_json::Value`, and
/// `FlyteFile` and `FlyteDirectory`, which read a bare path as well as their parts.
fn special_any<V: ?Sized>() -> Option<Type> {
    let id = typeid::of::<V>();
    if id == typeid::of::<crate::FlyteFile>() {
        return Some(Type::File);
    }
    if id == typeid::of::<crate::FlyteDirectory>() {
        return Some(Type::Directory);
    }
    (id == typeid::of::<serde_json::Value>()).then(|| Type::Struct {
        name: "serde_json::Value".to_owned(),
        fields: None,
    })
}

/// The deserializer that records: `out` receives what the value at hand asked for.
struct Tracer<'a> {
    state: &'a mut State,
    out: &'a mut Shape,
    depth: usize,
    /// Inside a type met again inside itself: record nothing, explore nothing more.
    cut: bool,
}

impl<'a> Tracer<'a> {
    fn new(state: &'a mut State, out: &'a mut Shape, depth: usize, cut: bool) -> Result<Self, Failure> {
        if depth > MAX_DEPTH {
            return Err(Failure::Endless(format!("its values nest more than {MAX_DEPTH} deep")));
        }
        Ok(Tracer { state, out, depth, cut })
    }

    /// Enters container `id` (pushed on the stack; the caller pops it) and tells whether its
    /// inside is cut: it is when the container is already being deserialized further out.
    fn enter(&mut self, id: TypeId, name: &'static str, variant: Option<usize>) -> Result<bool, Failure> {
        let again = self.state.stack.iter().any(|&(s, _)| s == id);
        if !self.state.containers.contains_key(&id) {
            self.state.learned = true;
            self.state.containers.insert(
                id,
                Container {
                    name,
                    form: Form::Pending,
                },
            );
        }
        self.state.stack.push((id, variant));
        Ok(self.cut || again)
    }

    /// Records `form` for container `id` if it has none yet and this visit is not cut.
    fn record(state: &mut State, id: TypeId, cut: bool, form: Form) {
        if cut {
            return;
        }
        if let Some(container) = state.containers.get_mut(&id) {
            if matches!(container.form, Form::Pending) {
                container.form = form;
                state.learned = true;
            }
        }
    }

    /// Deserializes each of `slots` in turn from `visitor`'s sequence, recording into them.
    fn seq<'de, V: Visitor<'de>>(
        state: &mut State,
        slots: &mut [Shape],
        depth: usize,
        cut: bool,
        visitor: V,
    ) -> Result<V::Value, Failure> {
        visitor.visit_seq(Elements {
            state,
            slots: slots.iter_mut(),
            depth,
            cut,
        })
    }

    /// A container of `form` built by `build` from its slots, named `name`.
    fn container<'de, V: Visitor<'de>>(
        mut self,
        name: &'static str,
        mut slots: Vec<Shape>,
        form: impl FnOnce(Vec<Shape>) -> Form,
        visitor: V,
        build: impl FnOnce(&mut State, &mut [Shape], usize, bool, V) -> Result<V::Value, Failure>,
    ) -> Result<V::Value, Failure> {
        let id = typeid::of::<V::Value>();
        let cut = self.enter(id, name, None)?;
        let value = build(self.state, &mut slots, self.depth, cut, visitor);
        self.state.stack.pop();
        let value = value?;
        Self::record(self.state, id, cut, form(slots));
        *self.out = Shape::Named(id);
        Ok(value)
    }
}

/// A sequence of the tracer's, one element per slot.
struct Elements<'a> {
    state: &'a mut State,
    slots: std::slice::IterMut<'a, Shape>,
    depth: usize,
    cut: bool,
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = Failure;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Failure> {
        match self.slots.next() {
            Some(slot) => seed
                .deserialize(Tracer::new(self.state, slot, self.depth + 1, self.cut)?)
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.len())
    }
}

/// A map of the tracer's: one entry, or none when cut.
struct Entries<'a> {
    state: &'a mut State,
    key: Option<&'a mut Shape>,
    value: Option<&'a mut Shape>,
    depth: usize,
    cut: bool,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Failure;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Failure> {
        match self.key.take() {
            Some(slot) => seed
                .deserialize(Tracer::new(self.state, slot, self.depth + 1, self.cut)?)
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Failure> {
        let slot = self
            .value
            .take()
            .ok_or_else(|| Failure::Inconsistent("a map value was asked for before its key".to_owned()))?;
        seed.deserialize(Tracer::new(self.state, slot, self.depth + 1, self.cut)?)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.key.is_some()))
    }
}

/// One variant of an enum, as the tracer hands it to the enum's impl.
struct Variant<'a> {
    state: &'a mut State,
    enum_id: TypeId,
    index: usize,
    name: &'static str,
    depth: usize,
    cut: bool,
}

impl Variant<'_> {
    /// Records whether this variant carries no data.
    fn learn(&mut self, unit: bool) {
        if let Some(Container {
            form: Form::Enum(variants),
            ..
        }) = self.state.containers.get_mut(&self.enum_id)
        {
            if let Some((_, kind @ None)) = variants.get_mut(self.index) {
                *kind = Some(unit);
                self.state.learned = true;
            }
        }
    }
}

impl<'de> de::EnumAccess<'de> for Variant<'_> {
    type Error = Failure;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Failure> {
        let tag = seed.deserialize(de::value::BorrowedStrDeserializer::<Failure>::new(self.name))?;
        Ok((tag, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_> {
    type Error = Failure;

    fn unit_variant(mut self) -> Result<(), Failure> {
        self.learn(true);
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(mut self, seed: S) -> Result<S::Value, Failure> {
        self.learn(false);
        // What a variant holds is not described (an enum with data is a struct without
        // fields), but it is explored, for the enums and structs in it.
        let mut inner = Shape::Unknown;
        seed.deserialize(Tracer::new(self.state, &mut inner, self.depth + 1, self.cut)?)
    }

    fn tuple_variant<V: Visitor<'de>>(mut self, len: usize, visitor: V) -> Result<V::Value, Failure> {
        self.learn(false);
        let mut slots = vec![Shape::Unknown; len];
        Tracer::seq(self.state, &mut slots, self.depth, self.cut, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        mut self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Failure> {
        self.learn(false);
        let mut slots = vec![Shape::Unknown; fields.len()];
        Tracer::seq(self.state, &mut slots, self.depth, self.cut, visitor)
    }
}

macro_rules! primitives {
    ($($method:ident $visit:ident $sample:expr => $shape:expr;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
            *self.out = $shape;
            visitor.$visit($sample)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Failure;

    primitives! {
        deserialize_bool visit_bool false => Shape::Bool;
        deserialize_i8 visit_i8 1 => Shape::Int("i8");
        deserialize_i16 visit_i16 1 => Shape::Int("i16");
        deserialize_i32 visit_i32 1 => Shape::Int("i32");
        deserialize_i64 visit_i64 1 => Shape::Int("i64");
        deserialize_i128 visit_i128 1 => Shape::Int("i128");
        deserialize_u8 visit_u8 1 => Shape::Int("u8");
        deserialize_u16 visit_u16 1 => Shape::Int("u16");
        deserialize_u32 visit_u32 1 => Shape::Int("u32");
        deserialize_u64 visit_u64 1 => Shape::Int("u64");
        deserialize_u128 visit_u128 1 => Shape::Int("u128");
        deserialize_f32 visit_f32 0.0 => Shape::Float("f32");
        deserialize_f64 visit_f64 0.0 => Shape::Float("f64");
        deserialize_char visit_char 'A' => Shape::Char;
        deserialize_bytes visit_bytes &SAMPLE_BYTES => Shape::Bytes;
        deserialize_byte_buf visit_bytes &SAMPLE_BYTES => Shape::Bytes;
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        *self.out = special_str::<V::Value>().map_or(Shape::Str, Shape::Special);
        visitor.visit_str(SAMPLE_STR)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        self.deserialize_str(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        *self.out = Shape::Unit;
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        match special_any::<V::Value>() {
            // The sample each visitor takes: a path for a file or directory.
            Some(ty @ (Type::File | Type::Directory)) => {
                *self.out = Shape::Special(ty);
                visitor.visit_str("sample")
            }
            Some(ty) => {
                *self.out = Shape::Special(ty);
                visitor.visit_unit()
            }
            None => Err(Failure::NotSupported("deserialize_any")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Failure> {
        Err(Failure::NotSupported("deserialize_identifier"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        if self.cut {
            *self.out = Shape::Option(Box::new(Shape::Unknown));
            return visitor.visit_none();
        }
        let mut inner = Shape::Unknown;
        let value = visitor.visit_some(Tracer::new(self.state, &mut inner, self.depth + 1, false)?)?;
        *self.out = Shape::Option(Box::new(inner));
        Ok(value)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        let mut element = vec![Shape::Unknown; usize::from(!self.cut)];
        let value = Tracer::seq(self.state, &mut element, self.depth, self.cut, visitor)?;
        *self.out = Shape::Seq(Box::new(element.pop().unwrap_or(Shape::Unknown)));
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Failure> {
        let (mut key, mut value) = (Shape::Unknown, Shape::Unknown);
        let entries = Entries {
            state: self.state,
            key: (!self.cut).then_some(&mut key),
            value: (!self.cut).then_some(&mut value),
            depth: self.depth,
            cut: self.cut,
        };
        let map = visitor.visit_map(entries)?;
        *self.out = Shape::Map(Box::new(key), Box::new(value));
        Ok(map)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Failure> {
        let mut slots = vec![Shape::Unknown; len];
        let value = Tracer::seq(self.state, &mut slots, self.depth, self.cut, visitor)?;
        *self.out = Shape::Tuple(slots);
        Ok(value)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Failure> {
        self.container(
            name,
            Vec::new(),
            |_| Form::Unit,
            visitor,
            |_, _, _, _, visitor| visitor.visit_unit(),
        )
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Failure> {
        self.container(
            name,
            vec![Shape::Unknown],
            |mut slots| Form::Newtype(slots.pop().unwrap_or(Shape::Unknown)),
            visitor,
            |state, slots, depth, cut, visitor| match slots.first_mut() {
                Some(slot) => visitor.visit_newtype_struct(Tracer::new(state, slot, depth + 1, cut)?),
                None => Err(Failure::Inconsistent("a newtype without its value".to_owned())),
            },
        )
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Failure> {
        self.container(name, vec![Shape::Unknown; len], Form::Tuple, visitor, Tracer::seq)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Failure> {
        let special = special_struct::<V::Value>(fields);
        let record = |slots: Vec<Shape>| Form::Struct(fields.iter().copied().zip(slots).collect());
        match special {
            Some(ty) => {
                let mut slots = vec![Shape::Unknown; fields.len()];
                let value = Tracer::seq(self.state, &mut slots, self.depth, true, visitor)?;
                *self.out = Shape::Special(ty);
                Ok(value)
            }
            None => self.container(name, vec![Shape::Unknown; fields.len()], record, visitor, Tracer::seq),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Failure> {
        if variants.is_empty() {
            return Err(Failure::NotSupported("deserialize_enum with no variants"));
        }
        let id = typeid::of::<V::Value>();
        if !self.state.containers.contains_key(&id) {
            self.state.learned = true;
            let form = Form::Enum(variants.iter().map(|&v| (v, None)).collect());
            self.state.containers.insert(id, Container { name, form });
        }
        let (index, variant) = self.choose(id, name)?;
        self.enter(id, name, Some(index))?;
        let value = visitor.visit_enum(Variant {
            state: &mut *self.state,
            enum_id: id,
            index,
            name: variant,
            depth: self.depth + 1,
            cut: self.cut,
        });
        self.state.stack.pop();
        *self.out = Shape::Named(id);
        value
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

impl Tracer<'_> {
    /// The variant of enum `id` to deserialize: one not seen yet (and not being deserialized
    /// further out, which would not end), else one without data, else one not being
    /// deserialized further out.
    fn choose(&self, id: TypeId, name: &str) -> Result<(usize, &'static str), Failure> {
        let Some(Container {
            form: Form::Enum(variants),
            ..
        }) = self.state.containers.get(&id)
        else {
            return Err(Failure::Inconsistent(format!(
                "`{name}` was deserialized as an enum and as something else"
            )));
        };
        let open = |i: usize| !self.state.stack.contains(&(id, Some(i)));
        let pick = |want: &dyn Fn(usize, Option<bool>) -> bool| {
            variants.iter().enumerate().position(|(i, (_, kind))| want(i, *kind))
        };
        let index = pick(&|i, kind| kind.is_none() && open(i))
            .or_else(|| pick(&|_, kind| kind == Some(true)))
            .or_else(|| pick(&|i, _| open(i)))
            .ok_or_else(|| Failure::Endless(format!("every variant of `{name}` holds `{name}` again")))?;
        Ok((index, variants[index].0))
    }
}

/// Turns what tracing recorded into a [`Type`].
struct Convert<'a> {
    state: &'a State,
    type_name: &'static str,
    /// The containers that hold themselves, directly or not.
    recursive: HashSet<TypeId>,
}

impl<'a> Convert<'a> {
    fn new(state: &'a State, type_name: &'static str) -> Self {
        Convert {
            state,
            type_name,
            recursive: recursive(state),
        }
    }

    fn shape(&self, shape: &Shape) -> Result<Type, TypeError> {
        Ok(match shape {
            Shape::Unknown => return Err(self.incomplete("a part of it was not traced".to_owned())),
            Shape::Unit => Type::None,
            Shape::Bool => Type::Boolean,
            Shape::Int(_) => Type::Integer,
            Shape::Float(_) => Type::Float,
            Shape::Char | Shape::Str => Type::Str,
            Shape::Bytes => self.opaque(shape),
            Shape::Special(ty) => ty.clone(),
            Shape::Option(inner) => Type::optional(self.shape(inner)?),
            Shape::Seq(item) => Type::Collection(Box::new(self.shape(item)?)),
            Shape::Map(key, value) => match self.shape(key)? {
                Type::Str | Type::Enum(_) => Type::Dict(Box::new(self.shape(value)?)),
                _ => self.opaque(shape),
            },
            // A tuple whose elements are all of one type is serde's form of an array too.
            Shape::Tuple(items) => {
                let types = items.iter().map(|s| self.shape(s)).collect::<Result<Vec<_>, _>>()?;
                match types.split_first() {
                    Some((first, rest)) if rest.iter().all(|t| t == first) => Type::Collection(Box::new(first.clone())),
                    _ => self.opaque(shape),
                }
            }
            Shape::Named(id) => self.container(*id)?,
        })
    }

    fn container(&self, id: TypeId) -> Result<Type, TypeError> {
        let container = self
            .state
            .containers
            .get(&id)
            .ok_or_else(|| self.incomplete("a type was named but not traced".to_owned()))?;
        let name = container.name;
        let without_fields = || Type::Struct {
            name: name.to_owned(),
            fields: None,
        };
        Ok(match &container.form {
            Form::Pending => return Err(self.incomplete(format!("`{name}` was met only inside itself"))),
            _ if self.recursive.contains(&id) => without_fields(),
            Form::Unit => Type::None,
            // A newtype is its inner value in every serde format: `struct Meters(f64)` is a float.
            Form::Newtype(inner) => self.shape(inner)?,
            Form::Tuple(_) => without_fields(),
            Form::Struct(fields) => Type::Struct {
                name: name.to_owned(),
                fields: Some(
                    fields
                        .iter()
                        .map(|(field, shape)| Ok(((*field).to_owned(), self.shape(shape)?)))
                        .collect::<Result<_, TypeError>>()?,
                ),
            },
            Form::Enum(variants) => {
                if variants.iter().any(|(_, kind)| *kind == Some(false)) {
                    without_fields()
                } else if let Some((variant, _)) = variants.iter().find(|(_, kind)| kind.is_none()) {
                    return Err(self.incomplete(format!("the variant `{name}::{variant}` was never reached")));
                } else {
                    Type::Enum(variants.iter().map(|(v, _)| (*v).to_owned()).collect())
                }
            }
        })
    }

    /// A shape without a Flyte type of its own, named after its serde form.
    fn opaque(&self, shape: &Shape) -> Type {
        Type::Struct {
            name: self.spelled(shape),
            fields: None,
        }
    }

    /// A shape as Rust-like text: `(u64, String)`, `map<u64, Point>`.
    fn spelled(&self, shape: &Shape) -> String {
        let list = |shapes: &[Shape]| shapes.iter().map(|s| self.spelled(s)).collect::<Vec<_>>().join(", ");
        match shape {
            Shape::Unknown => "_".to_owned(),
            Shape::Unit => "()".to_owned(),
            Shape::Bool => "bool".to_owned(),
            Shape::Int(name) | Shape::Float(name) => (*name).to_owned(),
            Shape::Char => "char".to_owned(),
            Shape::Str => "String".to_owned(),
            Shape::Bytes => "bytes".to_owned(),
            Shape::Special(ty) => ty.to_string(),
            Shape::Option(inner) => format!("Option<{}>", self.spelled(inner)),
            Shape::Seq(item) => format!("Vec<{}>", self.spelled(item)),
            Shape::Map(key, value) => format!("map<{}, {}>", self.spelled(key), self.spelled(value)),
            Shape::Tuple(items) if items.len() == 1 => format!("({},)", list(items)),
            Shape::Tuple(items) => format!("({})", list(items)),
            Shape::Named(id) => self.state.containers.get(id).map_or("_", |c| c.name).to_owned(),
        }
    }

    fn incomplete(&self, detail: String) -> TypeError {
        TypeError::Incomplete {
            type_name: self.type_name,
            detail,
        }
    }
}

/// The containers from which the shapes recorded reach back to themselves. (An enum's
/// variants are not followed: an enum with data is described without what it holds.)
fn recursive(state: &State) -> HashSet<TypeId> {
    fn mentions(shape: &Shape, into: &mut Vec<TypeId>) {
        match shape {
            Shape::Named(id) => into.push(*id),
            Shape::Option(inner) | Shape::Seq(inner) => mentions(inner, into),
            Shape::Map(key, value) => {
                mentions(key, into);
                mentions(value, into);
            }
            Shape::Tuple(items) => items.iter().for_each(|s| mentions(s, into)),
            _ => {}
        }
    }
    let edges: HashMap<TypeId, Vec<TypeId>> = state
        .containers
        .iter()
        .map(|(&id, container)| {
            let mut to = Vec::new();
            match &container.form {
                Form::Newtype(shape) => mentions(shape, &mut to),
                Form::Tuple(shapes) => shapes.iter().for_each(|s| mentions(s, &mut to)),
                Form::Struct(fields) => fields.iter().for_each(|(_, s)| mentions(s, &mut to)),
                Form::Pending | Form::Unit | Form::Enum(_) => {}
            }
            (id, to)
        })
        .collect();
    edges
        .keys()
        .copied()
        .filter(|&start| {
            let mut seen = HashSet::new();
            let mut stack = edges[&start].clone();
            while let Some(id) = stack.pop() {
                if id == start {
                    return true;
                }
                if seen.insert(id) {
                    stack.extend(edges.get(&id).into_iter().flatten().copied());
                }
            }
            false
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::{BTreeMap, HashMap};
    use std::time::Duration;

    fn opaque(name: &str) -> Type {
        Type::Struct {
            name: name.into(),
            fields: None,
        }
    }

    fn fields(ty: Type) -> Vec<(String, Type)> {
        match ty {
            Type::Struct { fields: Some(f), .. } => f,
            other => panic!("not a struct with fields: {other:?}"),
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Shape2 {
        Dot,
        Circle { r: f64 },
    }

    #[derive(Deserialize, PartialEq, Eq, PartialOrd, Ord)]
    #[allow(dead_code)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Fast,
        SlowAndSteady,
        #[serde(rename = "OFF")]
        Off,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        shapes: Vec<Shape2>,
        mode: Option<Mode>,
        modes: HashMap<String, Vec<Mode>>,
        by_mode: BTreeMap<Mode, u8>,
    }

    #[test]
    fn nested_enums_have_all_their_variants() {
        let modes = Type::Enum(vec!["fast".into(), "slow-and-steady".into(), "OFF".into()]);
        assert_eq!(
            fields(traced::<Nested>().unwrap()),
            vec![
                ("shapes".to_string(), Type::Collection(Box::new(opaque("Shape2")))),
                ("mode".to_string(), Type::optional(modes.clone())),
                (
                    "modes".to_string(),
                    Type::Dict(Box::new(Type::Collection(Box::new(modes))))
                ),
                // Unit variants are strings in serde's form, so such keys are strings.
                ("by_mode".to_string(), Type::Dict(Box::new(Type::Integer))),
            ]
        );
    }

    /// An enum inside a variant of another is explored too, and an enum whose first variant
    /// holds the enum again still ends.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum List {
        Cons(u64, Box<List>),
        Nil,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Holder {
        list: List,
        inner: Option<Box<Holder>>,
        mode: Mode,
    }

    #[test]
    fn recursive_enums_end() {
        assert_eq!(traced::<List>().unwrap(), opaque("List"));
        assert_eq!(traced::<Holder>().unwrap(), opaque("Holder"));
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Tree {
        value: u64,
        children: Vec<Tree>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Forest {
        trees: Vec<Tree>,
        age: Duration,
        ages: Vec<Option<Duration>>,
    }

    #[test]
    fn a_recursive_type_has_no_fields_and_what_holds_it_has() {
        assert_eq!(traced::<Tree>().unwrap(), opaque("Tree"));
        let duration = Type::Timedelta(DurationForm::SecsNanos);
        assert_eq!(
            fields(traced::<Forest>().unwrap()),
            vec![
                ("trees".into(), Type::Collection(Box::new(opaque("Tree")))),
                ("age".into(), duration.clone()),
                ("ages".into(), Type::Collection(Box::new(Type::optional(duration)))),
            ]
        );
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Endless(Box<Endless>);

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Loop {
        Again(Box<Loop>),
    }

    #[test]
    fn a_type_without_finite_values_is_an_error() {
        let err = traced::<Endless>().unwrap_err();
        assert!(matches!(err, TypeError::Endless { .. }), "{err}");
        assert!(err.to_string().contains("nest more than 64 deep"), "{err}");
        let err = traced::<Loop>().unwrap_err();
        assert!(
            err.to_string().contains("every variant of `Loop` holds `Loop` again"),
            "{err}"
        );
    }

    mod a {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub struct Point {
            pub x: u64,
        }
    }

    mod b {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub struct Point {
            pub label: String,
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Pair<T> {
        value: T,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Namesakes {
        a: a::Point,
        b: b::Point,
        n: Pair<u64>,
        s: Pair<String>,
    }

    #[test]
    fn types_of_one_name_stay_apart() {
        let point = |field: &str, ty: Type| Type::Struct {
            name: "Point".into(),
            fields: Some(vec![(field.into(), ty)]),
        };
        let pair = |ty: Type| Type::Struct {
            name: "Pair".into(),
            fields: Some(vec![("value".into(), ty)]),
        };
        assert_eq!(
            fields(traced::<Namesakes>().unwrap()),
            vec![
                ("a".into(), point("x", Type::Integer)),
                ("b".into(), point("label", Type::Str)),
                ("n".into(), pair(Type::Integer)),
                ("s".into(), pair(Type::Str)),
            ]
        );
    }

    #[test]
    fn shapes_without_a_flyte_type_are_named_after_their_form() {
        assert_eq!(traced::<(u64, String)>().unwrap(), opaque("(u64, String)"));
        assert_eq!(
            traced::<HashMap<u64, Vec<f32>>>().unwrap(),
            opaque("map<u64, Vec<f32>>")
        );
        // Serde cannot tell a tuple of one type from an array.
        assert_eq!(
            traced::<(u8, u16)>().unwrap(),
            Type::Collection(Box::new(Type::Integer))
        );
        assert_eq!(traced::<[u8; 3]>().unwrap(), Type::Collection(Box::new(Type::Integer)));
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Checked {
        n: std::num::NonZeroU64,
        at: std::time::SystemTime,
        any: serde_json::Value,
    }

    #[derive(Debug)]
    struct Fussy;

    impl<'de> Deserialize<'de> for Fussy {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let n = u8::deserialize(d)?;
            assert!(n > 1, "{n} is too small");
            Ok(Fussy)
        }
    }

    #[test]
    fn a_panicking_impl_is_an_error() {
        let err = traced::<Vec<Fussy>>().unwrap_err();
        let TypeError::Panicked { type_name, message } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*type_name, "alloc::vec::Vec<flyte_runtime::trace::tests::Fussy>");
        assert!(
            message.starts_with("1 is too small (at flyte-runtime/src/trace.rs:"),
            "{message}"
        );
    }

    #[test]
    fn special_types_are_recognised_inside_structs() {
        assert_eq!(
            fields(traced::<Checked>().unwrap()),
            vec![
                ("n".into(), Type::Integer),
                ("at".into(), Type::Datetime(DatetimeForm::EpochSecsNanos)),
                ("any".into(), opaque("serde_json::Value")),
            ]
        );
    }
}
