//! [`Typed`]: the types whose [`Type`] is known without tracing them: the standard ones (so that
//! the common case costs no tracing), and the user's own types that tracing cannot follow.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, LinkedList, VecDeque};
use std::hash::BuildHasher;
use std::num::{
    NonZeroI128, NonZeroI16, NonZeroI32, NonZeroI64, NonZeroI8, NonZeroIsize, NonZeroU128, NonZeroU16, NonZeroU32,
    NonZeroU64, NonZeroU8, NonZeroUsize,
};
use std::time::{Duration, SystemTime};

use crate::flyte_type::{DatetimeForm, DurationForm, Type};

/// A type whose Flyte [`Type`] is known without tracing it.
///
/// For each input and output of a `#[task]`, `#[workflow]` or `#[dynamic]`, the macros take
/// the type's `Typed` impl when it has one, and otherwise trace its `Deserialize` impl
/// ([`traced`](crate::traced)). The two agree wherever both apply (`Vec<u64>` and
/// `Vec<Duration>` are the same collections either way, and `Vec<Point>` is traced whole):
///
/// | Rust type | [`Type`] | Python (flytekit) |
/// |---|---|---|
/// | `i8` .. `i128`, `u8` .. `u128`, `isize`, `usize`, `NonZero*` | `Integer` | `int` |
/// | `f32`, `f64` | `Float` | `float` |
/// | `bool` | `Boolean` | `bool` |
/// | `String`, `char`, `Box<str>` | `Str` | `str` |
/// | `()` | `None` | `None` |
/// | `Vec<T>`, `VecDeque<T>`, `LinkedList<T>`, `HashSet<T>`, `BTreeSet<T>` | `Collection(T)` | `List[T]` |
/// | `HashMap<String, T>`, `BTreeMap<String, T>` | `Dict(T)` | `Dict[str, T]` |
/// | `Option<T>` | `Optional(T)` | `Optional[T]` |
/// | `Box<T>` | `T` | |
/// | `std::time::Duration` | `Timedelta(SecsNanos)` | `datetime.timedelta` |
/// | `std::time::SystemTime` | `Datetime(EpochSecsNanos)` | `datetime.datetime` |
/// | `chrono::DateTime<Utc>`, `DateTime<FixedOffset>` (feature `chrono`) | `Datetime(Rfc3339)` | `datetime.datetime` |
/// | `serde_json::Value` | `Struct` without fields | `dict` |
///
/// and, traced:
///
/// | Rust type | [`Type`] | Python (flytekit) |
/// |---|---|---|
/// | a struct with named fields | `Struct` with its fields, each traced | a `@dataclass` |
/// | an enum whose variants carry no data | `Enum` of the variants' serde names | an `enum.Enum` with `str` values |
/// | a newtype `struct Meters(f64)` | its inner type (`Float`) | |
/// | a unit struct | `None` | `None` |
/// | `[T; N]`, a tuple of one type `(T, T)` | `Collection(T)` | `List[T]` |
/// | any other tuple, a tuple struct, an enum with data, a map with keys other than strings (or enums), serde's bytes (`serde_bytes::ByteBuf`) | `Struct` without fields | `dict` |
///
/// There is no bytes type: flytekit 1.16 sends a Python `bytes` as a pickle file, which a Rust
/// task cannot read, so `Vec<u8>` is a collection of integers, as serde writes it.
///
/// Inside a struct, the fields are traced: `Duration`, `SystemTime`, chrono's `DateTime` and
/// `serde_json::Value` are recognised there too (see [`traced`](crate::traced)), but a field
/// whose type implements `Typed` by hand is traced all the same. To describe such a struct
/// exactly, implement `Typed` for the struct.
///
/// Implement `Typed` for a type of yours when tracing cannot describe it (see
/// [`TypeError`](crate::TypeError)) or describes it otherwise than you want:
///
/// ```
/// use flytekit::{task, Task, Type, Typed};
///
/// /// A count that deserializes from a string or a number: tracing cannot follow that.
/// #[derive(serde::Serialize)]
/// struct Count(u64);
///
/// impl<'de> serde::Deserialize<'de> for Count {
///     fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
///         // ... `deserialize_any`, accepting `"3"` and `3` ...
///         # u64::deserialize(d).map(Count)
///     }
/// }
///
/// impl Typed for Count {
///     fn flyte_type() -> Type {
///         Type::Integer
///     }
/// }
///
/// #[task]
/// fn total(counts: Vec<Count>) -> u64 {
///     counts.iter().map(|c| c.0).sum()
/// }
///
/// let interface = total.interface()?;
/// assert_eq!(interface.inputs, [("counts".to_string(), Type::Collection(Box::new(Type::Integer)))]);
/// # Ok::<(), flytekit::InterfaceError>(())
/// ```
pub trait Typed {
    /// The Flyte type of this Rust type.
    ///
    /// ```
    /// use flytekit::{Type, Typed};
    ///
    /// assert_eq!(<Vec<Option<String>>>::flyte_type(), Type::Collection(Box::new(Type::optional(Type::Str))));
    /// ```
    fn flyte_type() -> Type;
}

macro_rules! typed {
    ($ty:expr => $($t:ty),* $(,)?) => {
        $(impl Typed for $t {
            fn flyte_type() -> Type {
                $ty
            }
        })*
    };
}

typed!(Type::Integer => i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
typed!(Type::Integer => NonZeroI8, NonZeroI16, NonZeroI32, NonZeroI64, NonZeroI128, NonZeroIsize);
typed!(Type::Integer => NonZeroU8, NonZeroU16, NonZeroU32, NonZeroU64, NonZeroU128, NonZeroUsize);
typed!(Type::Float => f32, f64);
typed!(Type::Boolean => bool);
typed!(Type::Str => String, char, Box<str>);
typed!(Type::None => ());
typed!(Type::Timedelta(DurationForm::SecsNanos) => Duration);
typed!(Type::Datetime(DatetimeForm::EpochSecsNanos) => SystemTime);

impl Typed for serde_json::Value {
    fn flyte_type() -> Type {
        Type::Struct {
            name: "serde_json::Value".to_owned(),
            fields: None,
        }
    }
}

impl<T: Typed> Typed for Option<T> {
    fn flyte_type() -> Type {
        Type::optional(T::flyte_type())
    }
}

impl<T: Typed> Typed for Box<T> {
    fn flyte_type() -> Type {
        T::flyte_type()
    }
}

macro_rules! collection {
    ($($c:ident),*) => {
        $(impl<T: Typed> Typed for $c<T> {
            fn flyte_type() -> Type {
                Type::Collection(Box::new(T::flyte_type()))
            }
        })*
    };
}

collection!(Vec, VecDeque, LinkedList, BTreeSet);

impl<T: Typed, S: BuildHasher> Typed for HashSet<T, S> {
    fn flyte_type() -> Type {
        Type::Collection(Box::new(T::flyte_type()))
    }
}

impl<T: Typed, S: BuildHasher> Typed for HashMap<String, T, S> {
    fn flyte_type() -> Type {
        Type::Dict(Box::new(T::flyte_type()))
    }
}

impl<T: Typed> Typed for BTreeMap<String, T> {
    fn flyte_type() -> Type {
        Type::Dict(Box::new(T::flyte_type()))
    }
}

#[cfg(feature = "chrono")]
typed!(Type::Datetime(DatetimeForm::Rfc3339) => chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::FixedOffset>);
