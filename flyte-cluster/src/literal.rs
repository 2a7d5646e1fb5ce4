//! Values as Flyte's `core.Literal`s, and back, written and read as flytekit 1.16's `TypeEngine`
//! writes and reads the Python values they stand for, so that a Python task can consume a Rust
//! task's outputs and the reverse.
//!
//! A value is the runtime's [`Encoded`] (the serde form of the Rust value, as CBOR), and its
//! [`Type`] says everything the conversion needs: which literal to make, and how the Rust value
//! is written where that does not follow from the type (a datetime as RFC 3339 text or as
//! `SystemTime`'s seconds and nanoseconds). No Rust type is needed on either side.
//!
//! | `Type` | literal | read also |
//! |---|---|---|
//! | `Integer` | `scalar.primitive.integer` (`i64`: a `u64` above `i64::MAX` is an error) | a `float_value` without a fraction, as flytekit reads one from the console |
//! | `Float` | `scalar.primitive.float_value` | an `integer` |
//! | `Boolean` | `scalar.primitive.boolean` | |
//! | `Str` | `scalar.primitive.string_value` | |
//! | `Datetime(_)` | `scalar.primitive.datetime` (a `Timestamp`, UTC) | |
//! | `Timedelta(_)` | `scalar.primitive.duration` | |
//! | `None` | `scalar.none_type` | |
//! | `Collection(T)` | `collection { literals }` | |
//! | `Dict(T)` | `map { literals }` | `scalar.generic`, as the console sends a dict |
//! | `Optional(T)` | `scalar.union { value, type }`: `type` the variant's `LiteralType` with flytekit's tag ([`types`](crate::types)); none is the union of `scalar.none_type` and the `NONE` variant tagged `none` | the value without the union |
//! | `Enum(values)` | `scalar.primitive.string_value`, one of the values | |
//! | `File` | `scalar.blob { uri, metadata.type: { format: "", dimensionality: SINGLE } }`: the file's remote, else its path; read as a `FlyteFile` whose path and remote are the URI (`execute` then downloads it, [`files`](crate::files)) | a blob without metadata |
//! | `Directory` | `scalar.blob`, as `File` but `MULTIPART`: a `FlyteDirectory`'s prefix | |
//! | `Struct` | `scalar.binary { value: msgpack, tag: "msgpack" }`, as mashumaro writes a dataclass | `scalar.generic` (a protobuf `Struct`), as flytekit writes a dataclass with `FLYTE_USE_OLD_DC_FORMAT` |
//!
//! Any type is also read from `scalar.binary` msgpack: that is how propeller passes a field it
//! took out of a dataclass (`t(x=dc.field)`), and how flytekit reads it.
//!
//! Inside a struct the fields are msgpack as mashumaro writes a dataclass's: a map of the field
//! names in field order, an integer as an integer, a datetime as Python's `isoformat()`
//! (`"2024-01-02T03:04:05.000678+00:00"`; nine digits where the nanoseconds are not whole
//! microseconds, which Python 3.11 reads, keeping the microseconds), a duration as a float of seconds, an enum as
//! its value, none as nil, a nested struct as a map, a file as `{"path": uri}`; a field of an `Optional` type that the Rust
//! value leaves out (`#[serde(skip_serializing_if = ..)]`) is written as nil, and one flytekit
//! leaves out is read as none. A field flytekit sends that the type does not have is ignored, as
//! mashumaro ignores one; a field the Rust value has and its type does not is an error. A struct
//! without fields (a tuple, an enum with data, a map with other keys than strings) is its serde
//! form as msgpack, as it is.
//!
//! Reading checks every value against the type, and an error ([`LiteralError`]) says where in
//! the value ([`LiteralError::path`]: `x`, `x[3]`, `x["k"].field`, starting with the input's or
//! output's name in a literal map and with `value` for a single value) and what was wrong
//! ([`Problem`]).
//!
//! ```
//! use flyte_cluster::literal::{from_literal, to_literal, Problem};
//! use flyte_runtime::{Encoded, Type};
//!
//! let ty = Type::Collection(Box::new(Type::optional(Type::Integer)));
//! let literal = to_literal(&Encoded::encode(&vec![Some(1i64), None])?, &ty)?;
//! let back: Vec<Option<i64>> = from_literal(&literal, &ty)?.decode()?;
//! assert_eq!(back, [Some(1), None]);
//!
//! let too_big = to_literal(&Encoded::encode(&vec![Some(u64::MAX)])?, &ty).unwrap_err();
//! assert_eq!(too_big.path, "value[0]");
//! assert!(matches!(too_big.problem, Problem::OutOfRange { .. }));
//! assert_eq!(too_big.to_string(), "value[0]: 18446744073709551615 is out of range for Flyte's integer (i64)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use ciborium::Value as Cbor;
use flyte_idl::core::{
    blob_type::BlobDimensionality, literal, literal_type, primitive, scalar, Binary, Blob, BlobMetadata, BlobType,
    Literal, LiteralCollection, LiteralMap, LiteralType, Primitive, Scalar, Union, Void,
};
use flyte_idl::prost_types;
use flyte_runtime::{DatetimeForm, DurationForm, Encoded, Type};
use rmpv::Value as Msgpack;

/// The `Binary.tag` of a msgpack value, flytekit's `MESSAGEPACK`.
const MSGPACK: &str = "msgpack";

/// What the root of a single value is called in an error's path.
const ROOT: &str = "value";

/// How deep a msgpack document may nest before it is refused, so that reading it cannot run
/// out of stack: rmpv counts two per array or map, so this is 128 levels of lists in lists
/// (ciborium reads no deeper than 256 either).
const MAX_MSGPACK_DEPTH: usize = 256;

/// A value that does not convert: where in it, and what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct LiteralError {
    /// Where: the input's or output's name (`value` for a single value), then each step into it
    /// (`x[3]` an element of a list, `x["k"]` a map's value, `x.field` a struct's field).
    pub path: String,
    /// What was wrong there.
    pub problem: Problem,
}

/// What was wrong with a value, in a [`LiteralError`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The literal (or the Rust value, or the msgpack inside a struct) is not of the kind the
    /// type needs: a string where an integer was expected.
    #[error("expected {expected}, found {found}")]
    WrongKind {
        /// The type, as [`Type`]'s `Display` writes it.
        expected: String,
        /// What was there instead.
        found: String,
    },
    /// A value the target cannot hold: an integer beyond `i64`, a negative duration for
    /// `std::time::Duration`, an instant before 1970 for `SystemTime`.
    #[error("{value} is out of range for {target}")]
    OutOfRange {
        /// The value, as text.
        value: String,
        /// What could not hold it.
        target: &'static str,
    },
    /// A field of the struct that the value does not have (the path names the field).
    #[error("missing, and {of} has it (and it is not optional)")]
    MissingField {
        /// The struct, as [`Type`]'s `Display` writes it.
        of: String,
    },
    /// A field the Rust value has that its struct type does not list (the path names it).
    #[error("not a field of {of}")]
    UnknownField {
        /// The struct, as [`Type`]'s `Display` writes it.
        of: String,
    },
    /// A string that is not one of the enum's values.
    #[error("`{value}` is not one of the enum's values ({})", values.join(", "))]
    UnknownEnumValue {
        /// The string found.
        value: String,
        /// The enum's values.
        values: Vec<String>,
    },
    /// A literal map lacks an input or output of the interface (the path names it).
    #[error("no value in the literal map")]
    Missing,
    /// A literal map holds a name that is not an input or output of the interface, or a name
    /// is given twice.
    #[error("{0}")]
    Unexpected(&'static str),
    /// Anything else: bytes that do not decode, a datetime that does not parse, a binary value
    /// in another format than msgpack.
    #[error("{0}")]
    Invalid(String),
}

/// The literal of `value`, a value of type `ty`.
///
/// Fails when the value is not of that type: a string where the type is an integer, an integer
/// beyond `i64`, a string not among an enum's values, a struct without one of its fields or with
/// one its type does not list.
pub fn to_literal(value: &Encoded, ty: &Type) -> Result<Literal, LiteralError> {
    encode(value, ty, Path::Root(ROOT))
}

/// The value of type `ty` that `literal` holds, as the runtime's [`Encoded`]: what
/// `decode::<T>()` turns into the Rust type `ty` was described from.
///
/// Fails when the literal is not of that type (a string literal where the type is an integer,
/// a negative duration, an enum value the type does not list, a struct without a field that is
/// not optional), without panicking on anything a literal may hold.
pub fn from_literal(literal: &Literal, ty: &Type) -> Result<Encoded, LiteralError> {
    decode(literal, ty, Path::Root(ROOT))
}

/// A literal map of named values (a task's outputs, a workflow's inputs): each value converted
/// as [`to_literal`] does, under its name; an error's path starts with the name.
///
/// A name given twice is an error.
pub fn to_literal_map(values: &[(&str, &Encoded, &Type)]) -> Result<LiteralMap, LiteralError> {
    let mut literals = BTreeMap::new();
    for &(name, value, ty) in values {
        let literal = encode(value, ty, Path::Root(name))?;
        if literals.insert(name.to_owned(), literal).is_some() {
            return Err(given_twice(name));
        }
    }
    Ok(LiteralMap { literals })
}

/// The values of a literal map (a task's inputs), one per slot and in the slots' order, each
/// read as [`from_literal`] does; an error's path starts with the name.
///
/// Every slot must be in the map, and the map must hold nothing else (flytekit too refuses more
/// inputs than the interface has).
pub fn from_literal_map(
    map: &LiteralMap,
    slots: &[(&str, &Type)],
) -> Result<Vec<flyte_runtime::Encoded>, LiteralError> {
    if let Some(extra) = map.literals.keys().find(|k| !slots.iter().any(|(name, _)| name == k)) {
        return Err(Path::Root(extra).error(Problem::Unexpected("not in the interface")));
    }
    slots
        .iter()
        .map(|&(name, ty)| {
            let path = Path::Root(name);
            let literal = map.literals.get(name).ok_or_else(|| path.error(Problem::Missing))?;
            decode(literal, ty, path)
        })
        .collect()
}

/// [`to_literal`], taking the value: it is freed once read, and its strings and lists move into
/// the literal rather than being copied, so that a large value is not held twice over.
pub fn to_literal_owned(value: Encoded, ty: &Type) -> Result<Literal, LiteralError> {
    encode_owned(value, ty, Path::Root(ROOT))
}

/// [`from_literal`], taking the literal: a list's or map's elements are converted and freed one
/// by one, and strings move rather than being copied, so that the literal and the value are not
/// held whole at once.
pub fn from_literal_owned(literal: Literal, ty: &Type) -> Result<Encoded, LiteralError> {
    decode_owned(literal, ty, Path::Root(ROOT))
}

/// [`to_literal_map`], taking the values: each is freed as soon as it is converted (see
/// [`to_literal_owned`]).
pub fn to_literal_map_owned(values: Vec<(&str, Encoded, &Type)>) -> Result<LiteralMap, LiteralError> {
    let mut literals = BTreeMap::new();
    for (name, value, ty) in values {
        let literal = encode_owned(value, ty, Path::Root(name))?;
        if literals.insert(name.to_owned(), literal).is_some() {
            return Err(Path::Root(name).error(Problem::Unexpected("given twice")));
        }
    }
    Ok(LiteralMap { literals })
}

/// The error [`to_literal_map_owned`] gives for an output named twice.
pub(crate) fn given_twice(name: &str) -> LiteralError {
    Path::Root(name).error(Problem::Unexpected("given twice"))
}

/// The error converting a value gives for bytes that are not CBOR, at `path`.
pub(crate) fn not_serialized(path: Path<'_>, e: impl fmt::Display) -> LiteralError {
    path.error(Problem::Invalid(format!("not a serialized value: {e}")))
}

/// A dict's key as converting the dict reads it: text, or the error it gives at the dict's
/// `path`.
pub(crate) fn dict_key(k: Cbor, path: Path<'_>) -> Result<String, LiteralError> {
    match k {
        Cbor::Text(k) => Ok(k),
        k => Err(path.error(Problem::WrongKind {
            expected: "a map with string keys".into(),
            found: format!("a key that is {}", cbor_kind(&k)),
        })),
    }
}

/// [`from_literal_map`], taking the map: each literal is freed as it is converted (see
/// [`from_literal_owned`]), so that the map and the values are never held whole at once.
pub fn from_literal_map_owned(map: LiteralMap, slots: &[(&str, &Type)]) -> Result<Vec<Encoded>, LiteralError> {
    if let Some(extra) = map.literals.keys().find(|k| !slots.iter().any(|(name, _)| name == k)) {
        return Err(Path::Root(extra).error(Problem::Unexpected("not in the interface")));
    }
    let mut literals = map.literals;
    slots
        .iter()
        .map(|&(name, ty)| {
            let path = Path::Root(name);
            let literal = literals.remove(name).ok_or_else(|| path.error(Problem::Missing))?;
            decode_owned(literal, ty, path)
        })
        .collect()
}

pub(crate) fn encode_owned(value: Encoded, ty: &Type, path: Path<'_>) -> Result<Literal, LiteralError> {
    let cbor: Cbor = value.decode().map_err(|e| not_serialized(path, e))?;
    drop(value);
    Writer::default().literal_owned(cbor, ty, path)
}

fn decode_owned(literal: Literal, ty: &Type, path: Path<'_>) -> Result<Encoded, LiteralError> {
    // The literal's strings move into the CBOR value, each element's literal freed as it is
    // read; then the value is serialized (into a buffer of its exact size) and freed.
    let cbor = read_literal_owned(literal, ty, path)?;
    Encoded::encode(&cbor).map_err(|e| path.error(Problem::Invalid(e.to_string())))
}

fn encode(value: &Encoded, ty: &Type, path: Path<'_>) -> Result<Literal, LiteralError> {
    let cbor: Cbor = value
        .decode()
        .map_err(|e| path.error(Problem::Invalid(format!("not a serialized value: {e}"))))?;
    Writer::default().literal(&cbor, ty, path)
}

fn decode(literal: &Literal, ty: &Type, path: Path<'_>) -> Result<Encoded, LiteralError> {
    let cbor = read_literal(literal, ty, path)?;
    Encoded::encode(&cbor).map_err(|e| path.error(Problem::Invalid(e.to_string())))
}

// ---------------------------------------------------------------------------------------------
// Paths

/// Where a conversion is, inside a value: built on the stack as the conversion descends, and
/// written out only for an error.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
    Field(&'a Path<'a>, &'a str),
}

impl<'a> Path<'a> {
    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
    pub(crate) fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }
    fn field(&'a self, f: &'a str) -> Path<'a> {
        Path::Field(self, f)
    }
    fn error(&self, problem: Problem) -> LiteralError {
        LiteralError {
            path: self.to_string(),
            problem,
        }
    }
    fn wrong(&self, ty: &Type, found: impl Into<String>) -> LiteralError {
        self.error(Problem::WrongKind {
            expected: ty.to_string(),
            found: found.into(),
        })
    }
    fn out_of_range(&self, value: impl fmt::Display, target: &'static str) -> LiteralError {
        self.error(Problem::OutOfRange {
            value: value.to_string(),
            target,
        })
    }
    pub(crate) fn invalid(&self, message: impl Into<String>) -> LiteralError {
        self.error(Problem::Invalid(message.into()))
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Path::Key(parent, k) => write!(f, "{parent}[{k:?}]"),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// What a Rust type that cannot hold the value is called in [`Problem::OutOfRange`].
const FLYTE_INTEGER: &str = "Flyte's integer (i64)";
const STD_DURATION: &str = "std::time::Duration (never negative)";
const SYSTEM_TIME: &str = "SystemTime's serde form (from 1970 on)";
const INSTANT: &str = "a datetime";

// ---------------------------------------------------------------------------------------------
// Rust value (CBOR) -> literal

/// Writes literals; remembers each `Optional`'s union variants, which a long list of optional
/// structs would otherwise build (JSON schema and all) once per element.
#[derive(Default)]
pub(crate) struct Writer {
    variants: HashMap<*const Type, (LiteralType, LiteralType)>,
}

impl Writer {
    fn literal(&mut self, v: &Cbor, ty: &Type, path: Path<'_>) -> Result<Literal, LiteralError> {
        Ok(match ty {
            Type::Integer => primitive(primitive::Value::Integer(cbor_integer(v, ty, path)?)),
            Type::Float => primitive(primitive::Value::FloatValue(cbor_float(v, ty, path)?)),
            Type::Boolean => match v {
                Cbor::Bool(b) => primitive(primitive::Value::Boolean(*b)),
                _ => return Err(path.wrong(ty, cbor_kind(v))),
            },
            Type::Str => primitive(primitive::Value::StringValue(cbor_text(v, ty, path)?.to_owned())),
            Type::Datetime(form) => {
                let (seconds, nanos) = cbor_instant(v, *form, ty, path)?;
                primitive(primitive::Value::Datetime(prost_types::Timestamp {
                    seconds,
                    nanos: nanos as i32,
                }))
            }
            Type::Timedelta(form) => {
                let (secs, nanos) = cbor_duration(v, *form, ty, path)?;
                let seconds = i64::try_from(secs).map_err(|_| path.out_of_range(secs, "a protobuf Duration"))?;
                primitive(primitive::Value::Duration(prost_types::Duration {
                    seconds,
                    nanos: nanos as i32,
                }))
            }
            Type::None => match v {
                Cbor::Null => none_literal(),
                _ => return Err(path.wrong(ty, cbor_kind(v))),
            },
            Type::Collection(item) => {
                let Cbor::Array(items) = v else {
                    return Err(path.wrong(ty, cbor_kind(v)));
                };
                let literals = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.literal(x, item, path.index(i)))
                    .collect::<Result<_, _>>()?;
                Literal {
                    value: Some(literal::Value::Collection(LiteralCollection { literals })),
                    ..Literal::default()
                }
            }
            Type::Dict(value) => {
                let Cbor::Map(entries) = v else {
                    return Err(path.wrong(ty, cbor_kind(v)));
                };
                let mut literals = BTreeMap::new();
                for (k, x) in entries {
                    let Cbor::Text(k) = k else {
                        return Err(path.error(Problem::WrongKind {
                            expected: "a map with string keys".into(),
                            found: format!("a key that is {}", cbor_kind(k)),
                        }));
                    };
                    literals.insert(k.clone(), self.literal(x, value, path.key(k))?);
                }
                Literal {
                    value: Some(literal::Value::Map(LiteralMap { literals })),
                    ..Literal::default()
                }
            }
            Type::Optional(inner) => {
                let (some, none) = self
                    .variants
                    .entry(ty as *const Type)
                    .or_insert_with(|| union_variants(ty))
                    .clone();
                match v {
                    Cbor::Null => union(none_literal(), none),
                    _ => union(self.literal(v, inner, path)?, some),
                }
            }
            Type::Enum(values) => {
                let value = cbor_text(v, ty, path)?;
                check_enum(value, values, path)?;
                primitive(primitive::Value::StringValue(value.to_owned()))
            }
            Type::File | Type::Directory => scalar(scalar::Value::Blob(Blob {
                metadata: Some(BlobMetadata {
                    r#type: Some(BlobType {
                        format: String::new(),
                        dimensionality: dimensionality(ty) as i32,
                    }),
                }),
                uri: cbor_file_uri(v, ty, path)?.to_owned(),
            })),
            Type::Struct { .. } => {
                let packed = to_msgpack(v, ty, path)?;
                let mut bytes = Vec::new();
                rmpv::encode::write_value(&mut bytes, &packed).map_err(|e| path.invalid(e.to_string()))?;
                scalar(scalar::Value::Binary(Binary {
                    value: bytes,
                    tag: MSGPACK.to_owned(),
                }))
            }
        })
    }
}

impl Writer {
    /// [`literal`](Self::literal), taking the value: strings move into the literal, and a
    /// list's or map's elements are converted (and their CBOR freed) one by one.
    pub(crate) fn literal_owned(&mut self, v: Cbor, ty: &Type, path: Path<'_>) -> Result<Literal, LiteralError> {
        Ok(match (ty, v) {
            (Type::Str, Cbor::Text(s)) => primitive(primitive::Value::StringValue(s)),
            (Type::Collection(item), Cbor::Array(items)) => {
                let literals = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| self.literal_owned(x, item, path.index(i)))
                    .collect::<Result<_, _>>()?;
                Literal {
                    value: Some(literal::Value::Collection(LiteralCollection { literals })),
                    ..Literal::default()
                }
            }
            (Type::Dict(value), Cbor::Map(entries)) => {
                let mut literals = BTreeMap::new();
                for (k, x) in entries {
                    let Cbor::Text(k) = k else {
                        return Err(path.error(Problem::WrongKind {
                            expected: "a map with string keys".into(),
                            found: format!("a key that is {}", cbor_kind(&k)),
                        }));
                    };
                    let literal = self.literal_owned(x, value, path.key(&k))?;
                    literals.insert(k, literal);
                }
                Literal {
                    value: Some(literal::Value::Map(LiteralMap { literals })),
                    ..Literal::default()
                }
            }
            (Type::Optional(inner), v) if !v.is_null() => {
                let (some, _) = self
                    .variants
                    .entry(ty as *const Type)
                    .or_insert_with(|| union_variants(ty))
                    .clone();
                union(self.literal_owned(v, inner, path)?, some)
            }
            (_, v) => self.literal(&v, ty, path)?,
        })
    }
}

/// An `Optional`'s two union variants, `[T, NONE]`, each with its tag, as
/// [`types::literal_type`](crate::types::literal_type) writes them.
fn union_variants(ty: &Type) -> (LiteralType, LiteralType) {
    match crate::types::literal_type(ty).r#type {
        Some(literal_type::Type::UnionType(u)) => {
            let mut variants = u.variants.into_iter();
            let some = variants.next().unwrap_or_default();
            let none = variants.next().unwrap_or_default();
            (some, none)
        }
        _ => Default::default(),
    }
}

/// A struct's value, or a value inside one, as mashumaro writes a dataclass's fields.
fn to_msgpack(v: &Cbor, ty: &Type, path: Path<'_>) -> Result<Msgpack, LiteralError> {
    Ok(match ty {
        Type::Integer => Msgpack::from(cbor_integer(v, ty, path)?),
        Type::Float => Msgpack::F64(cbor_float(v, ty, path)?),
        Type::Boolean => match v {
            Cbor::Bool(b) => Msgpack::Boolean(*b),
            _ => return Err(path.wrong(ty, cbor_kind(v))),
        },
        Type::Str => Msgpack::from(cbor_text(v, ty, path)?),
        Type::Datetime(form) => {
            let (secs, nanos) = cbor_instant(v, *form, ty, path)?;
            Msgpack::from(python_isoformat(secs, nanos, path)?)
        }
        Type::Timedelta(form) => {
            let (secs, nanos) = cbor_duration(v, *form, ty, path)?;
            Msgpack::F64(secs as f64 + f64::from(nanos) / 1e9)
        }
        Type::None => match v {
            Cbor::Null => Msgpack::Nil,
            _ => return Err(path.wrong(ty, cbor_kind(v))),
        },
        Type::Collection(item) => {
            let Cbor::Array(items) = v else {
                return Err(path.wrong(ty, cbor_kind(v)));
            };
            let items = items
                .iter()
                .enumerate()
                .map(|(i, x)| to_msgpack(x, item, path.index(i)))
                .collect::<Result<_, _>>()?;
            Msgpack::Array(items)
        }
        Type::Dict(value) => {
            let Cbor::Map(entries) = v else {
                return Err(path.wrong(ty, cbor_kind(v)));
            };
            let mut out = Vec::with_capacity(entries.len());
            for (k, x) in entries {
                let Cbor::Text(k) = k else {
                    return Err(path.error(Problem::WrongKind {
                        expected: "a map with string keys".into(),
                        found: format!("a key that is {}", cbor_kind(k)),
                    }));
                };
                out.push((Msgpack::from(k.as_str()), to_msgpack(x, value, path.key(k))?));
            }
            Msgpack::Map(out)
        }
        Type::Optional(inner) => match v {
            Cbor::Null => Msgpack::Nil,
            _ => to_msgpack(v, inner, path)?,
        },
        Type::Enum(values) => {
            let value = cbor_text(v, ty, path)?;
            check_enum(value, values, path)?;
            Msgpack::from(value)
        }
        // As mashumaro writes a FlyteFile or FlyteDirectory field.
        Type::File | Type::Directory => Msgpack::Map(vec![(
            Msgpack::from("path"),
            Msgpack::from(cbor_file_uri(v, ty, path)?),
        )]),
        Type::Struct {
            fields: Some(fields), ..
        } => {
            let Cbor::Map(entries) = v else {
                return Err(path.wrong(ty, cbor_kind(v)));
            };
            let mut given: Vec<(&str, &Cbor)> = Vec::with_capacity(entries.len());
            for (k, x) in entries {
                let Cbor::Text(k) = k else {
                    return Err(path.error(Problem::WrongKind {
                        expected: ty.to_string(),
                        found: format!("a map with a key that is {}", cbor_kind(k)),
                    }));
                };
                if !fields.iter().any(|(name, _)| name == k) {
                    return Err(path.field(k).error(Problem::UnknownField { of: ty.to_string() }));
                }
                given.push((k, x));
            }
            let mut out = Vec::with_capacity(fields.len());
            for (name, field_ty) in fields {
                let at = path.field(name);
                let value = match given.iter().find(|(k, _)| k == name) {
                    Some((_, x)) => to_msgpack(x, field_ty, at)?,
                    None if admits_none(field_ty) => Msgpack::Nil,
                    None => return Err(at.error(Problem::MissingField { of: ty.to_string() })),
                };
                out.push((Msgpack::from(name.as_str()), value));
            }
            Msgpack::Map(out)
        }
        Type::Struct { fields: None, .. } => cbor_to_msgpack(v, path)?,
    })
}

/// Any serde form as msgpack, as it is: a struct without fields.
fn cbor_to_msgpack(v: &Cbor, path: Path<'_>) -> Result<Msgpack, LiteralError> {
    Ok(match v {
        Cbor::Null => Msgpack::Nil,
        Cbor::Bool(b) => Msgpack::Boolean(*b),
        Cbor::Integer(n) => {
            let n = i128::from(*n);
            if let Ok(i) = i64::try_from(n) {
                Msgpack::from(i)
            } else if let Ok(u) = u64::try_from(n) {
                Msgpack::from(u)
            } else {
                return Err(path.out_of_range(n, "a msgpack integer"));
            }
        }
        Cbor::Float(f) => Msgpack::F64(*f),
        Cbor::Text(s) => Msgpack::from(s.as_str()),
        Cbor::Bytes(b) => Msgpack::Binary(b.clone()),
        Cbor::Array(items) => Msgpack::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| cbor_to_msgpack(x, path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(entries) => Msgpack::Map(
            entries
                .iter()
                .enumerate()
                .map(|(i, (k, x))| Ok((cbor_to_msgpack(k, path.index(i))?, cbor_to_msgpack(x, path.index(i))?)))
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Tag(tag, _) => return Err(path.invalid(format!("a CBOR tag ({tag}) has no msgpack form"))),
        _ => return Err(path.invalid("a CBOR value of an unknown kind")),
    })
}

fn cbor_integer(v: &Cbor, ty: &Type, path: Path<'_>) -> Result<i64, LiteralError> {
    match v {
        Cbor::Integer(n) => {
            let n = i128::from(*n);
            i64::try_from(n).map_err(|_| path.out_of_range(n, FLYTE_INTEGER))
        }
        // ciborium writes an `i128`/`u128` beyond 64 bits as a bignum (tags 2 and 3).
        Cbor::Tag(2 | 3, _) => Err(path.out_of_range("an integer beyond 64 bits", FLYTE_INTEGER)),
        _ => Err(path.wrong(ty, cbor_kind(v))),
    }
}

fn cbor_float(v: &Cbor, ty: &Type, path: Path<'_>) -> Result<f64, LiteralError> {
    match v {
        Cbor::Float(f) => Ok(*f),
        _ => Err(path.wrong(ty, cbor_kind(v))),
    }
}

fn cbor_text<'v>(v: &'v Cbor, ty: &Type, path: Path<'_>) -> Result<&'v str, LiteralError> {
    match v {
        Cbor::Text(s) => Ok(s),
        _ => Err(path.wrong(ty, cbor_kind(v))),
    }
}

/// The field `name` of a serde struct written as a CBOR map.
fn cbor_field<'v>(entries: &'v [(Cbor, Cbor)], name: &str) -> Option<&'v Cbor> {
    entries
        .iter()
        .find(|(k, _)| matches!(k, Cbor::Text(t) if t == name))
        .map(|(_, v)| v)
}

/// An unsigned integer field of a serde struct (`secs`, `nanos_since_epoch`, ...).
fn cbor_u64_field(entries: &[(Cbor, Cbor)], name: &str, ty: &Type, path: Path<'_>) -> Result<u64, LiteralError> {
    match cbor_field(entries, name) {
        Some(Cbor::Integer(n)) => u64::try_from(i128::from(*n)).map_err(|_| path.out_of_range(i128::from(*n), INSTANT)),
        Some(other) => Err(path.field(name).wrong(ty, cbor_kind(other))),
        None => Err(path.field(name).error(Problem::MissingField { of: ty.to_string() })),
    }
}

/// An instant, as seconds since the epoch and nanoseconds, from the datetime's serde form.
fn cbor_instant(v: &Cbor, form: DatetimeForm, ty: &Type, path: Path<'_>) -> Result<(i64, u32), LiteralError> {
    match form {
        DatetimeForm::Rfc3339 => {
            let text = cbor_text(v, ty, path)?;
            let parsed = DateTime::parse_from_rfc3339(text)
                .map_err(|e| path.invalid(format!("`{text}` is not an RFC 3339 date and time: {e}")))?;
            Ok((parsed.timestamp(), parsed.timestamp_subsec_nanos()))
        }
        DatetimeForm::EpochSecsNanos => {
            let Cbor::Map(entries) = v else {
                return Err(path.wrong(ty, cbor_kind(v)));
            };
            let secs = cbor_u64_field(entries, "secs_since_epoch", ty, path)?;
            let nanos = cbor_u64_field(entries, "nanos_since_epoch", ty, path)?;
            let secs = i64::try_from(secs).map_err(|_| path.out_of_range(secs, INSTANT))?;
            let nanos = u32::try_from(nanos)
                .ok()
                .filter(|n| *n < 1_000_000_000)
                .ok_or_else(|| path.out_of_range(format!("{nanos} nanoseconds"), INSTANT))?;
            Ok((secs, nanos))
        }
    }
}

/// A duration, as seconds and nanoseconds, from its serde form.
fn cbor_duration(v: &Cbor, form: DurationForm, ty: &Type, path: Path<'_>) -> Result<(u64, u32), LiteralError> {
    match form {
        DurationForm::SecsNanos => {
            let Cbor::Map(entries) = v else {
                return Err(path.wrong(ty, cbor_kind(v)));
            };
            let secs = cbor_u64_field(entries, "secs", ty, path)?;
            let nanos = cbor_u64_field(entries, "nanos", ty, path)?;
            let nanos = u32::try_from(nanos)
                .ok()
                .filter(|n| *n < 1_000_000_000)
                .ok_or_else(|| path.out_of_range(format!("{nanos} nanoseconds"), STD_DURATION))?;
            Ok((secs, nanos))
        }
    }
}

/// An instant as Python's `datetime.isoformat()` writes an aware UTC one, which is how
/// mashumaro writes a datetime field: `2024-01-02T03:04:05.000678+00:00`; with nine digits of
/// fraction where the nanoseconds are not whole microseconds.
fn python_isoformat(secs: i64, nanos: u32, path: Path<'_>) -> Result<String, LiteralError> {
    let instant = DateTime::<Utc>::from_timestamp(secs, nanos).ok_or_else(|| path.out_of_range(secs, INSTANT))?;
    let format = match nanos {
        0 => "%Y-%m-%dT%H:%M:%S+00:00",
        n if n % 1000 == 0 => "%Y-%m-%dT%H:%M:%S%.6f+00:00",
        _ => "%Y-%m-%dT%H:%M:%S%.9f+00:00",
    };
    Ok(instant.format(format).to_string())
}

fn check_enum(value: &str, values: &[String], path: Path<'_>) -> Result<(), LiteralError> {
    if values.iter().any(|v| v == value) {
        Ok(())
    } else {
        Err(path.error(Problem::UnknownEnumValue {
            value: value.to_owned(),
            values: values.to_vec(),
        }))
    }
}

/// A file's blob has one part, a directory's many.
fn dimensionality(ty: &Type) -> BlobDimensionality {
    match ty {
        Type::Directory => BlobDimensionality::Multipart,
        _ => BlobDimensionality::Single,
    }
}

/// Where a [`FlyteFile`](flyte_runtime::FlyteFile)'s (or a `FlyteDirectory`'s) serde form says the file is, for a
/// literal: its remote when it has one (an input passed on, or a file `execute` uploaded), its
/// path otherwise (as flytekit's local runs pass a local file).
fn cbor_file_uri<'v>(v: &'v Cbor, ty: &Type, path: Path<'_>) -> Result<&'v str, LiteralError> {
    let Cbor::Map(entries) = v else {
        return Err(path.wrong(ty, cbor_kind(v)));
    };
    let text = |name: &str| match cbor_field(entries, name) {
        Some(Cbor::Text(t)) => Some(t.as_str()),
        _ => None,
    };
    text("remote")
        .or_else(|| text("path"))
        .ok_or_else(|| path.invalid(format!("a {ty} whose path is not text")))
}

/// A [`FlyteFile`](flyte_runtime::FlyteFile) (or `FlyteDirectory`) at `uri`, as read from a
/// literal: its path is the URI until `execute` downloads it.
fn file_to_cbor(uri: &str, path: Path<'_>) -> Result<Cbor, LiteralError> {
    if uri.is_empty() {
        return Err(path.invalid("a file without a URI"));
    }
    Ok(Cbor::Map(vec![
        (Cbor::Text("path".into()), Cbor::Text(uri.to_owned())),
        (Cbor::Text("remote".into()), Cbor::Text(uri.to_owned())),
    ]))
}

fn admits_none(ty: &Type) -> bool {
    matches!(ty, Type::Optional(_) | Type::None)
}

fn scalar(value: scalar::Value) -> Literal {
    Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar { value: Some(value) }))),
        ..Literal::default()
    }
}

fn primitive(value: primitive::Value) -> Literal {
    scalar(scalar::Value::Primitive(Primitive { value: Some(value) }))
}

fn none_literal() -> Literal {
    scalar(scalar::Value::NoneType(Void {}))
}

fn union(value: Literal, stored: LiteralType) -> Literal {
    scalar(scalar::Value::Union(Box::new(Union {
        value: Some(Box::new(value)),
        r#type: Some(stored),
    })))
}

// ---------------------------------------------------------------------------------------------
// literal -> Rust value (CBOR)

fn scalar_of(lit: &Literal) -> Option<&scalar::Value> {
    match &lit.value {
        Some(literal::Value::Scalar(s)) => s.value.as_ref(),
        _ => None,
    }
}

fn primitive_of(lit: &Literal) -> Option<&primitive::Value> {
    match scalar_of(lit) {
        Some(scalar::Value::Primitive(p)) => p.value.as_ref(),
        _ => None,
    }
}

fn read_literal(lit: &Literal, ty: &Type, path: Path<'_>) -> Result<Cbor, LiteralError> {
    // A field propeller took out of a dataclass arrives as msgpack, whatever its type.
    if let Some(scalar::Value::Binary(binary)) = scalar_of(lit) {
        return read_binary(binary, ty, path);
    }
    let wrong = || path.wrong(ty, literal_kind(lit));
    Ok(match ty {
        Type::Integer => match primitive_of(lit) {
            Some(primitive::Value::Integer(i)) => Cbor::from(*i),
            // flytekit reads a float as an integer (the console sends numbers as floats).
            Some(primitive::Value::FloatValue(f)) => Cbor::from(integral(*f).ok_or_else(wrong)?),
            _ => return Err(wrong()),
        },
        Type::Float => match primitive_of(lit) {
            Some(primitive::Value::FloatValue(f)) => Cbor::Float(*f),
            Some(primitive::Value::Integer(i)) => Cbor::Float(*i as f64),
            _ => return Err(wrong()),
        },
        Type::Boolean => match primitive_of(lit) {
            Some(primitive::Value::Boolean(b)) => Cbor::Bool(*b),
            _ => return Err(wrong()),
        },
        Type::Str => match primitive_of(lit) {
            Some(primitive::Value::StringValue(s)) => Cbor::Text(s.clone()),
            _ => return Err(wrong()),
        },
        Type::Datetime(form) => match primitive_of(lit) {
            Some(primitive::Value::Datetime(ts)) => {
                let nanos = u32::try_from(ts.nanos)
                    .ok()
                    .filter(|n| *n < 1_000_000_000)
                    .ok_or_else(|| path.invalid(format!("a timestamp with {} nanoseconds", ts.nanos)))?;
                instant_to_cbor(ts.seconds, nanos, *form, path)?
            }
            _ => return Err(wrong()),
        },
        Type::Timedelta(form) => match primitive_of(lit) {
            Some(primitive::Value::Duration(d)) => {
                let (Ok(secs), Ok(nanos)) = (u64::try_from(d.seconds), u32::try_from(d.nanos)) else {
                    return Err(path.out_of_range(format!("{}s {}ns", d.seconds, d.nanos), STD_DURATION));
                };
                if nanos >= 1_000_000_000 {
                    return Err(path.invalid(format!("a duration with {nanos} nanoseconds")));
                }
                duration_to_cbor(secs, nanos, *form)
            }
            _ => return Err(wrong()),
        },
        Type::None => match scalar_of(lit) {
            Some(scalar::Value::NoneType(_)) => Cbor::Null,
            _ => return Err(wrong()),
        },
        Type::Collection(item) => match &lit.value {
            Some(literal::Value::Collection(c)) => Cbor::Array(
                c.literals
                    .iter()
                    .enumerate()
                    .map(|(i, x)| read_literal(x, item, path.index(i)))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(wrong()),
        },
        Type::Dict(value) => match &lit.value {
            Some(literal::Value::Map(m)) => Cbor::Map(
                m.literals
                    .iter()
                    .map(|(k, x)| Ok((Cbor::Text(k.clone()), read_literal(x, value, path.key(k))?)))
                    .collect::<Result<_, _>>()?,
            ),
            // What the console sends for a `Dict[str, T]`, which flytekit's dict transformer reads.
            _ => match scalar_of(lit) {
                Some(scalar::Value::Generic(s)) => from_msgpack(&struct_to_msgpack(s), ty, path)?,
                _ => return Err(wrong()),
            },
        },
        Type::Optional(inner) => {
            let value = match scalar_of(lit) {
                Some(scalar::Value::Union(u)) => u
                    .value
                    .as_deref()
                    .ok_or_else(|| path.invalid("a union literal without a value"))?,
                _ => lit,
            };
            match scalar_of(value) {
                Some(scalar::Value::NoneType(_)) => Cbor::Null,
                _ => read_literal(value, inner, path)?,
            }
        }
        Type::Enum(values) => match primitive_of(lit) {
            Some(primitive::Value::StringValue(s)) => {
                check_enum(s, values, path)?;
                Cbor::Text(s.clone())
            }
            _ => return Err(wrong()),
        },
        Type::File | Type::Directory => match scalar_of(lit) {
            Some(scalar::Value::Blob(blob)) => {
                // flytekit leaves the metadata out of a blob it did not type (a file's, at times).
                let given = blob
                    .metadata
                    .as_ref()
                    .and_then(|m| m.r#type.as_ref())
                    .map_or(dimensionality(ty) as i32, |t| t.dimensionality);
                if given != dimensionality(ty) as i32 {
                    let found = if given == BlobDimensionality::Multipart as i32 {
                        "a multi-part blob (a directory)"
                    } else {
                        "a single-part blob (a file)"
                    };
                    return Err(path.wrong(ty, found.to_owned()));
                }
                file_to_cbor(&blob.uri, path)?
            }
            _ => return Err(wrong()),
        },
        Type::Struct { .. } => match scalar_of(lit) {
            Some(scalar::Value::Generic(s)) => from_msgpack(&struct_to_msgpack(s), ty, path)?,
            _ => return Err(wrong()),
        },
    })
}

/// [`read_literal`], taking the literal: strings move into the value, and a list's or map's
/// literals are read (and freed) one by one.
pub(crate) fn read_literal_owned(lit: Literal, ty: &Type, path: Path<'_>) -> Result<Cbor, LiteralError> {
    if let Some(scalar::Value::Binary(_)) = scalar_of(&lit) {
        return read_literal(&lit, ty, path);
    }
    match (ty, lit.value) {
        (Type::Str, Some(literal::Value::Scalar(sc))) => match *sc {
            Scalar {
                value:
                    Some(scalar::Value::Primitive(Primitive {
                        value: Some(primitive::Value::StringValue(s)),
                    })),
            } => Ok(Cbor::Text(s)),
            sc => read_literal(
                &Literal {
                    value: Some(literal::Value::Scalar(Box::new(sc))),
                    ..lit
                },
                ty,
                path,
            ),
        },
        (Type::Collection(item), Some(literal::Value::Collection(c))) => Ok(Cbor::Array(
            c.literals
                .into_iter()
                .enumerate()
                .map(|(i, x)| read_literal_owned(x, item, path.index(i)))
                .collect::<Result<_, _>>()?,
        )),
        (Type::Dict(value), Some(literal::Value::Map(m))) => Ok(Cbor::Map(
            m.literals
                .into_iter()
                .map(|(k, x)| {
                    let v = read_literal_owned(x, value, path.key(&k))?;
                    Ok((Cbor::Text(k), v))
                })
                .collect::<Result<_, _>>()?,
        )),
        (ty, value) => read_literal(&Literal { value, ..lit }, ty, path),
    }
}

fn read_binary(binary: &Binary, ty: &Type, path: Path<'_>) -> Result<Cbor, LiteralError> {
    if binary.tag != MSGPACK {
        return Err(path.invalid(format!(
            "a binary value tagged `{}`, where {ty} is read from msgpack",
            binary.tag
        )));
    }
    let mut bytes = binary.value.as_slice();
    let value = rmpv::decode::read_value_with_max_depth(&mut bytes, MAX_MSGPACK_DEPTH)
        .map_err(|e| path.invalid(format!("the binary value is not msgpack: {e}")))?;
    if !bytes.is_empty() {
        return Err(path.invalid(format!("{} bytes after the msgpack value", bytes.len())));
    }
    from_msgpack(&value, ty, path)
}

/// The integer a float holds, if it has no fraction and fits.
fn integral(f: f64) -> Option<i64> {
    // -2^63 is exact as a float; 2^63 is the first float above `i64::MAX`.
    (f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)).then_some(f as i64)
}

/// A value of type `ty` from a dataclass's msgpack (or a protobuf `Struct` made msgpack).
fn from_msgpack(v: &Msgpack, ty: &Type, path: Path<'_>) -> Result<Cbor, LiteralError> {
    let wrong = || path.wrong(ty, msgpack_kind(v));
    Ok(match ty {
        Type::Integer => match v {
            Msgpack::Integer(n) => match n.as_i64() {
                Some(i) => Cbor::from(i),
                None => return Err(path.out_of_range(n, FLYTE_INTEGER)),
            },
            // A protobuf `Struct` has only floats.
            Msgpack::F64(f) => Cbor::from(integral(*f).ok_or_else(wrong)?),
            Msgpack::F32(f) => Cbor::from(integral(f64::from(*f)).ok_or_else(wrong)?),
            _ => return Err(wrong()),
        },
        Type::Float => Cbor::Float(msgpack_number(v).ok_or_else(wrong)?),
        Type::Boolean => match v {
            Msgpack::Boolean(b) => Cbor::Bool(*b),
            _ => return Err(wrong()),
        },
        Type::Str => Cbor::Text(msgpack_text(v, ty, path)?.to_owned()),
        Type::Datetime(form) => {
            let text = msgpack_text(v, ty, path)?;
            let (secs, nanos) = parse_python_datetime(text, path)?;
            instant_to_cbor(secs, nanos, *form, path)?
        }
        Type::Timedelta(form) => {
            let seconds = msgpack_number(v).ok_or_else(wrong)?;
            let (secs, nanos) = seconds_to_duration(seconds, path)?;
            duration_to_cbor(secs, nanos, *form)
        }
        Type::None => match v {
            Msgpack::Nil => Cbor::Null,
            _ => return Err(wrong()),
        },
        Type::Collection(item) => match v {
            Msgpack::Array(items) => Cbor::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| from_msgpack(x, item, path.index(i)))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(wrong()),
        },
        Type::Dict(value) => match v {
            Msgpack::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, x) in entries {
                    let Some(k) = k.as_str() else {
                        return Err(path.error(Problem::WrongKind {
                            expected: "a map with string keys".into(),
                            found: format!("a key that is {}", msgpack_kind(k)),
                        }));
                    };
                    out.push((Cbor::Text(k.to_owned()), from_msgpack(x, value, path.key(k))?));
                }
                Cbor::Map(out)
            }
            _ => return Err(wrong()),
        },
        Type::Optional(inner) => match v {
            Msgpack::Nil => Cbor::Null,
            _ => from_msgpack(v, inner, path)?,
        },
        Type::Enum(values) => {
            let text = msgpack_text(v, ty, path)?;
            check_enum(text, values, path)?;
            Cbor::Text(text.to_owned())
        }
        Type::File | Type::Directory => match v {
            Msgpack::Map(entries) => {
                let uri = entries
                    .iter()
                    .find(|(k, _)| k.as_str() == Some("path"))
                    .and_then(|(_, x)| x.as_str())
                    .ok_or_else(|| path.invalid("a file without a `path` string"))?;
                file_to_cbor(uri, path)?
            }
            _ => return Err(wrong()),
        },
        Type::Struct {
            fields: Some(fields), ..
        } => {
            let Msgpack::Map(entries) = v else {
                return Err(wrong());
            };
            let mut out = Vec::with_capacity(fields.len());
            for (name, field_ty) in fields {
                let at = path.field(name);
                let found = entries.iter().find(|(k, _)| k.as_str() == Some(name.as_str()));
                let value = match found {
                    Some((_, x)) => from_msgpack(x, field_ty, at)?,
                    None if admits_none(field_ty) => Cbor::Null,
                    None => return Err(at.error(Problem::MissingField { of: ty.to_string() })),
                };
                out.push((Cbor::Text(name.clone()), value));
            }
            Cbor::Map(out)
        }
        Type::Struct { fields: None, .. } => msgpack_to_cbor(v, path)?,
    })
}

fn msgpack_number(v: &Msgpack) -> Option<f64> {
    match v {
        Msgpack::F64(f) => Some(*f),
        Msgpack::F32(f) => Some(f64::from(*f)),
        Msgpack::Integer(n) => n.as_f64(),
        _ => None,
    }
}

fn msgpack_text<'v>(v: &'v Msgpack, ty: &Type, path: Path<'_>) -> Result<&'v str, LiteralError> {
    match v {
        Msgpack::String(s) => s
            .as_str()
            .ok_or_else(|| path.invalid("a msgpack string that is not UTF-8")),
        _ => Err(path.wrong(ty, msgpack_kind(v))),
    }
}

/// Any msgpack as the serde form it is: a struct without fields.
fn msgpack_to_cbor(v: &Msgpack, path: Path<'_>) -> Result<Cbor, LiteralError> {
    Ok(match v {
        Msgpack::Nil => Cbor::Null,
        Msgpack::Boolean(b) => Cbor::Bool(*b),
        Msgpack::Integer(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cbor::from(i),
            (None, Some(u)) => Cbor::from(u),
            (None, None) => return Err(path.invalid(format!("the msgpack integer {n}"))),
        },
        Msgpack::F32(f) => Cbor::Float(f64::from(*f)),
        Msgpack::F64(f) => Cbor::Float(*f),
        Msgpack::String(s) => Cbor::Text(
            s.as_str()
                .ok_or_else(|| path.invalid("a msgpack string that is not UTF-8"))?
                .to_owned(),
        ),
        Msgpack::Binary(b) => Cbor::Bytes(b.clone()),
        Msgpack::Array(items) => Cbor::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| msgpack_to_cbor(x, path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Msgpack::Map(entries) => Cbor::Map(
            entries
                .iter()
                .enumerate()
                .map(|(i, (k, x))| Ok((msgpack_to_cbor(k, path.index(i))?, msgpack_to_cbor(x, path.index(i))?)))
                .collect::<Result<_, _>>()?,
        ),
        Msgpack::Ext(kind, _) => return Err(path.invalid(format!("a msgpack extension (type {kind})"))),
    })
}

/// A protobuf `Struct` (flytekit's older dataclass literal, `scalar.generic`) as the msgpack
/// flytekit would have written: numbers are floats, which the integer fields take back.
fn struct_to_msgpack(s: &prost_types::Struct) -> Msgpack {
    Msgpack::Map(
        s.fields
            .iter()
            .map(|(k, v)| (Msgpack::from(k.as_str()), value_to_msgpack(v)))
            .collect(),
    )
}

fn value_to_msgpack(v: &prost_types::Value) -> Msgpack {
    use prost_types::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Msgpack::Nil,
        Some(Kind::NumberValue(n)) => Msgpack::F64(*n),
        Some(Kind::StringValue(s)) => Msgpack::from(s.as_str()),
        Some(Kind::BoolValue(b)) => Msgpack::Boolean(*b),
        Some(Kind::StructValue(s)) => struct_to_msgpack(s),
        Some(Kind::ListValue(l)) => Msgpack::Array(l.values.iter().map(value_to_msgpack).collect()),
    }
}

/// A datetime as Python's `isoformat()` writes it (what mashumaro writes), with an offset or
/// without one (a naive datetime, read as UTC as flytekit reads one): seconds since the epoch
/// and nanoseconds.
fn parse_python_datetime(text: &str, path: Path<'_>) -> Result<(i64, u32), LiteralError> {
    if let Ok(aware) = DateTime::parse_from_rfc3339(text) {
        return Ok((aware.timestamp(), aware.timestamp_subsec_nanos()));
    }
    match NaiveDateTime::from_str(text) {
        Ok(naive) => {
            let utc = naive.and_utc();
            Ok((utc.timestamp(), utc.timestamp_subsec_nanos()))
        }
        Err(e) => Err(path.invalid(format!("`{text}` is not an ISO 8601 date and time: {e}"))),
    }
}

/// A float of seconds (mashumaro's `timedelta`) as whole seconds and nanoseconds, rounded to
/// the nanosecond.
fn seconds_to_duration(seconds: f64, path: Path<'_>) -> Result<(u64, u32), LiteralError> {
    // 2^64 is the first float above `u64::MAX`.
    if !(0.0..18_446_744_073_709_551_616.0).contains(&seconds) {
        return Err(path.out_of_range(format!("{seconds} seconds"), STD_DURATION));
    }
    let whole = seconds.trunc();
    let nanos = ((seconds - whole) * 1e9).round();
    let (secs, nanos) = if nanos >= 1e9 {
        (whole as u64 + 1, 0)
    } else {
        (whole as u64, nanos as u32)
    };
    Ok((secs, nanos))
}

/// An instant in the datetime's serde form.
fn instant_to_cbor(secs: i64, nanos: u32, form: DatetimeForm, path: Path<'_>) -> Result<Cbor, LiteralError> {
    Ok(match form {
        DatetimeForm::Rfc3339 => {
            let utc = DateTime::<Utc>::from_timestamp(secs, nanos).ok_or_else(|| path.out_of_range(secs, INSTANT))?;
            Cbor::Text(utc.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        DatetimeForm::EpochSecsNanos => {
            let since = u64::try_from(secs).map_err(|_| path.out_of_range(format!("{secs} seconds"), SYSTEM_TIME))?;
            Cbor::Map(vec![
                (Cbor::from("secs_since_epoch"), Cbor::from(since)),
                (Cbor::from("nanos_since_epoch"), Cbor::from(nanos)),
            ])
        }
    })
}

/// A duration in its serde form.
fn duration_to_cbor(secs: u64, nanos: u32, form: DurationForm) -> Cbor {
    match form {
        DurationForm::SecsNanos => Cbor::Map(vec![
            (Cbor::from("secs"), Cbor::from(secs)),
            (Cbor::from("nanos"), Cbor::from(nanos)),
        ]),
    }
}

// ---------------------------------------------------------------------------------------------
// What was found, for errors

fn literal_kind(lit: &Literal) -> String {
    let kind = match &lit.value {
        None => "an empty literal",
        Some(literal::Value::Collection(_)) => "a collection literal",
        Some(literal::Value::Map(_)) => "a map literal",
        Some(literal::Value::OffloadedMetadata(_)) => "an offloaded literal",
        Some(literal::Value::Scalar(s)) => match &s.value {
            None => "an empty scalar",
            Some(scalar::Value::Primitive(p)) => match &p.value {
                None => "an empty primitive",
                Some(primitive::Value::Integer(_)) => "an integer literal",
                Some(primitive::Value::FloatValue(f)) if f.fract() != 0.0 => "a float literal with a fraction",
                Some(primitive::Value::FloatValue(_)) => "a float literal",
                Some(primitive::Value::StringValue(_)) => "a string literal",
                Some(primitive::Value::Boolean(_)) => "a boolean literal",
                Some(primitive::Value::Datetime(_)) => "a datetime literal",
                Some(primitive::Value::Duration(_)) => "a duration literal",
            },
            Some(scalar::Value::Blob(_)) => "a blob literal",
            Some(scalar::Value::Binary(_)) => "a binary literal",
            Some(scalar::Value::Schema(_)) => "a schema literal",
            Some(scalar::Value::NoneType(_)) => "a none literal",
            Some(scalar::Value::Error(_)) => "an error literal",
            Some(scalar::Value::Generic(_)) => "a generic (protobuf Struct) literal",
            Some(scalar::Value::StructuredDataset(_)) => "a structured dataset literal",
            Some(scalar::Value::Union(_)) => "a union literal",
        },
    };
    kind.to_owned()
}

fn cbor_kind(v: &Cbor) -> String {
    let kind = match v {
        Cbor::Integer(_) => "an integer",
        Cbor::Bytes(_) => "bytes",
        Cbor::Float(_) => "a float",
        Cbor::Text(_) => "a string",
        Cbor::Bool(_) => "a boolean",
        Cbor::Null => "none",
        Cbor::Tag(..) => "a tagged value",
        Cbor::Array(_) => "a sequence",
        Cbor::Map(_) => "a map",
        _ => "a value of an unknown kind",
    };
    format!("{kind} in the Rust value")
}

fn msgpack_kind(v: &Msgpack) -> String {
    let kind = match v {
        Msgpack::Nil => "nil",
        Msgpack::Boolean(_) => "a boolean",
        Msgpack::Integer(_) => "an integer",
        Msgpack::F32(f) if f.fract() != 0.0 => "a float with a fraction",
        Msgpack::F64(f) if f.fract() != 0.0 => "a float with a fraction",
        Msgpack::F32(_) | Msgpack::F64(_) => "a float",
        Msgpack::String(_) => "a string",
        Msgpack::Binary(_) => "bytes",
        Msgpack::Array(_) => "an array",
        Msgpack::Map(_) => "a map",
        Msgpack::Ext(..) => "an extension",
    };
    format!("{kind} in msgpack")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};

    use super::*;

    fn enc<T: Serialize + ?Sized>(value: &T) -> Encoded {
        Encoded::encode(value).expect("the test value serializes")
    }

    /// What the by-value conversions give, as text: they must give what the by-reference
    /// ones give, value or error, on every case of these tests.
    fn same<V: Debug>(by_ref: &Result<V, LiteralError>, by_value: Result<V, LiteralError>, what: &str) {
        let text = |r: &Result<V, LiteralError>| match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error at {}: {e}", e.path),
        };
        assert_eq!(
            text(by_ref),
            text(&by_value),
            "by value and by reference differ on {what}"
        );
    }

    fn checked_to_literal(value: &Encoded, ty: &Type) -> Result<Literal, LiteralError> {
        let by_ref = to_literal(value, ty);
        same(&by_ref, to_literal_owned(value.clone(), ty), &format!("{ty}"));
        by_ref
    }

    fn checked_from_literal(literal: &Literal, ty: &Type) -> Result<Encoded, LiteralError> {
        let by_ref = from_literal(literal, ty);
        same(
            &by_ref,
            from_literal_owned(literal.clone(), ty),
            &format!("{literal:?} as {ty}"),
        );
        by_ref
    }

    /// `value` as a literal of `ty`, asserting that it reads back as itself.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T, ty: &Type) -> Literal {
        let literal = checked_to_literal(&enc(&value), ty).unwrap_or_else(|e| panic!("{value:?} as {ty}: {e}"));
        let back: T = checked_from_literal(&literal, ty)
            .unwrap_or_else(|e| panic!("{literal:?} as {ty}: {e}"))
            .decode()
            .expect("decodes as the Rust type");
        assert_eq!(back, value, "{ty}");
        literal
    }

    fn read<T: DeserializeOwned>(literal: &Literal, ty: &Type) -> T {
        checked_from_literal(literal, ty)
            .unwrap_or_else(|e| panic!("{literal:?} as {ty}: {e}"))
            .decode()
            .expect("decodes as the Rust type")
    }

    fn read_err(literal: &Literal, ty: &Type) -> LiteralError {
        checked_from_literal(literal, ty).expect_err("reading fails")
    }

    fn write_err<T: Serialize>(value: &T, ty: &Type) -> LiteralError {
        checked_to_literal(&enc(value), ty).expect_err("writing fails")
    }

    fn list(ty: Type) -> Type {
        Type::Collection(Box::new(ty))
    }

    fn dict(ty: Type) -> Type {
        Type::Dict(Box::new(ty))
    }

    fn color() -> Type {
        Type::Enum(vec!["red".into(), "green".into()])
    }

    fn msgpack_of(literal: &Literal) -> Msgpack {
        let Some(scalar::Value::Binary(binary)) = scalar_of(literal) else {
            panic!("not binary: {literal:?}")
        };
        assert_eq!(binary.tag, "msgpack");
        rmpv::decode::read_value(&mut binary.value.as_slice()).expect("msgpack")
    }

    fn binary(value: &Msgpack) -> Literal {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).expect("msgpack written");
        scalar(scalar::Value::Binary(Binary {
            value: bytes,
            tag: MSGPACK.into(),
        }))
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
        Green,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: i64,
        b: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        n: u64,
        when: chrono::DateTime<chrono::Utc>,
        took: Duration,
        color: Color,
        inner: Inner,
        items: Vec<Option<Inner>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        unit: (),
    }

    fn inner_type() -> Type {
        Type::Struct {
            name: "Inner".into(),
            fields: Some(vec![("a".into(), Type::Integer), ("b".into(), Type::Str)]),
        }
    }

    fn outer_type() -> Type {
        Type::Struct {
            name: "Outer".into(),
            fields: Some(vec![
                ("n".into(), Type::Integer),
                ("when".into(), Type::Datetime(DatetimeForm::Rfc3339)),
                ("took".into(), Type::Timedelta(DurationForm::SecsNanos)),
                ("color".into(), color()),
                ("inner".into(), inner_type()),
                ("items".into(), list(Type::optional(inner_type()))),
                ("note".into(), Type::optional(Type::Str)),
                ("unit".into(), Type::None),
            ]),
        }
    }

    fn outer() -> Outer {
        Outer {
            n: 7,
            when: "2024-01-02T03:04:05.000678Z".parse().expect("a datetime"),
            took: Duration::new(90, 5_000),
            color: Color::Green,
            inner: Inner { a: -1, b: "x".into() },
            items: vec![None, Some(Inner { a: 2, b: "".into() })],
            note: None,
            unit: (),
        }
    }

    // ---- one test per row of the type table

    #[test]
    fn integers_are_i64_primitives_to_the_bounds() {
        for (value, expected) in [
            (0i128, 0i64),
            (-42, -42),
            (i64::MIN.into(), i64::MIN),
            (i64::MAX.into(), i64::MAX),
        ] {
            let literal = round_trip(value, &Type::Integer);
            assert_eq!(primitive_of(&literal), Some(&primitive::Value::Integer(expected)));
        }
        round_trip(i64::MAX as u64, &Type::Integer);
        round_trip(200u8, &Type::Integer);
    }

    #[test]
    fn an_integer_beyond_i64_is_an_error_not_a_wrap() {
        let err = write_err(&(i64::MAX as u64 + 1), &Type::Integer);
        assert_eq!(err.path, "value");
        assert_eq!(
            err.problem,
            Problem::OutOfRange {
                value: "9223372036854775808".into(),
                target: FLYTE_INTEGER
            }
        );
        let err = write_err(&(u128::MAX), &Type::Integer);
        assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
        let err = write_err(&vec![i128::from(i64::MIN) - 1], &list(Type::Integer));
        assert_eq!(err.path, "value[0]");
        // Inside a struct too, and from flytekit's msgpack.
        let big = Msgpack::from(u64::MAX);
        let err = read_err(&binary(&big), &Type::Integer);
        assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
    }

    #[test]
    fn an_integer_reads_from_a_whole_float_as_flytekit_reads_the_consoles() {
        let whole = primitive(primitive::Value::FloatValue(-3.0));
        assert_eq!(read::<i64>(&whole, &Type::Integer), -3);
        let fraction = primitive(primitive::Value::FloatValue(2.5));
        let err = read_err(&fraction, &Type::Integer);
        assert_eq!(
            err.to_string(),
            "value: expected integer, found a float literal with a fraction"
        );
        let too_big = primitive(primitive::Value::FloatValue(1e19));
        assert!(matches!(
            read_err(&too_big, &Type::Integer).problem,
            Problem::WrongKind { .. }
        ));
    }

    #[test]
    fn floats_are_float_values_and_read_integers_too() {
        let literal = round_trip(1.5f64, &Type::Float);
        assert_eq!(primitive_of(&literal), Some(&primitive::Value::FloatValue(1.5)));
        round_trip(0.25f32, &Type::Float);
        round_trip(f64::INFINITY, &Type::Float);
        let nan: f64 = read(&primitive(primitive::Value::FloatValue(f64::NAN)), &Type::Float);
        assert!(nan.is_nan());
        assert_eq!(read::<f64>(&primitive(primitive::Value::Integer(4)), &Type::Float), 4.0);
    }

    #[test]
    fn booleans_and_strings_are_primitives() {
        let literal = round_trip(true, &Type::Boolean);
        assert_eq!(primitive_of(&literal), Some(&primitive::Value::Boolean(true)));
        let literal = round_trip("héllo".to_string(), &Type::Str);
        assert_eq!(
            primitive_of(&literal),
            Some(&primitive::Value::StringValue("héllo".into()))
        );
        round_trip('c', &Type::Str);
        round_trip(std::path::PathBuf::from("/a/b"), &Type::Str);
    }

    #[test]
    fn an_rfc3339_datetime_is_a_utc_timestamp() {
        let ty = Type::Datetime(DatetimeForm::Rfc3339);
        let utc: chrono::DateTime<chrono::Utc> = "2024-01-02T03:04:05.000678Z".parse().expect("a datetime");
        let literal = round_trip(utc, &ty);
        let expected = prost_types::Timestamp {
            seconds: 1_704_164_645,
            nanos: 678_000,
        };
        assert_eq!(primitive_of(&literal), Some(&primitive::Value::Datetime(expected)));
        // An offset is folded into the instant; it reads back in UTC.
        let offset: chrono::DateTime<chrono::FixedOffset> =
            "2024-01-02T05:04:05.000678+02:00".parse().expect("a datetime");
        let literal = to_literal(&enc(&offset), &ty).expect("converts");
        assert_eq!(read::<String>(&literal, &ty), "2024-01-02T03:04:05.000678Z");
        // Before 1970, and to the nanosecond.
        round_trip(
            "1969-07-20T20:17:40.123456789Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .expect("a datetime"),
            &ty,
        );
        let err = write_err(&"yesterday", &ty);
        assert!(matches!(err.problem, Problem::Invalid(_)), "{err}");
    }

    #[test]
    fn a_system_time_is_a_timestamp_from_1970_on() {
        let ty = Type::Datetime(DatetimeForm::EpochSecsNanos);
        let literal = round_trip(UNIX_EPOCH + Duration::new(1_704_164_645, 678_000), &ty);
        let expected = prost_types::Timestamp {
            seconds: 1_704_164_645,
            nanos: 678_000,
        };
        assert_eq!(primitive_of(&literal), Some(&primitive::Value::Datetime(expected)));
        round_trip(SystemTime::UNIX_EPOCH, &ty);
        let before = primitive(primitive::Value::Datetime(prost_types::Timestamp {
            seconds: -1,
            nanos: 0,
        }));
        let err = read_err(&before, &ty);
        assert!(
            matches!(
                err.problem,
                Problem::OutOfRange {
                    target: SYSTEM_TIME,
                    ..
                }
            ),
            "{err}"
        );
        let bad = primitive(primitive::Value::Datetime(prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        }));
        assert!(matches!(read_err(&bad, &ty).problem, Problem::Invalid(_)));
    }

    #[test]
    fn a_duration_is_a_protobuf_duration_never_negative() {
        let ty = Type::Timedelta(DurationForm::SecsNanos);
        let literal = round_trip(Duration::new(90, 5_000), &ty);
        let expected = prost_types::Duration {
            seconds: 90,
            nanos: 5_000,
        };
        assert_eq!(primitive_of(&literal), Some(&primitive::Value::Duration(expected)));
        let negative = primitive(primitive::Value::Duration(prost_types::Duration {
            seconds: -1,
            nanos: -500_000_000,
        }));
        let err = read_err(&negative, &ty);
        assert!(
            matches!(
                err.problem,
                Problem::OutOfRange {
                    target: STD_DURATION,
                    ..
                }
            ),
            "{err}"
        );
        let err = write_err(&Duration::MAX, &ty);
        assert!(matches!(err.problem, Problem::OutOfRange { .. }), "{err}");
    }

    #[test]
    fn none_is_the_none_scalar() {
        let literal = round_trip((), &Type::None);
        assert_eq!(scalar_of(&literal), Some(&scalar::Value::NoneType(Void {})));
        let err = read_err(&primitive(primitive::Value::Integer(0)), &Type::None);
        assert_eq!(err.to_string(), "value: expected none, found an integer literal");
        assert!(matches!(write_err(&1, &Type::None).problem, Problem::WrongKind { .. }));
    }

    #[test]
    fn a_list_is_a_collection_and_errors_name_the_index() {
        let literal = round_trip(vec![1i64, 2, 3], &list(Type::Integer));
        let Some(literal::Value::Collection(c)) = &literal.value else {
            panic!("not a collection")
        };
        assert_eq!(c.literals.len(), 3);
        round_trip(Vec::<String>::new(), &list(Type::Str));
        round_trip(vec![vec![1.5f64], vec![]], &list(list(Type::Float)));
        let err = write_err(&vec![vec![1i64], vec![2, -3]], &list(list(Type::Str)));
        assert_eq!(
            err.to_string(),
            "value[0][0]: expected string, found an integer in the Rust value"
        );
        let err = read_err(&primitive(primitive::Value::Integer(1)), &list(Type::Integer));
        assert_eq!(
            err.to_string(),
            "value: expected list of integer, found an integer literal"
        );
    }

    #[test]
    fn a_map_with_string_keys_is_a_literal_map_and_errors_name_the_key() {
        let value: BTreeMap<String, i64> = [("a".to_string(), 1), ("b c".to_string(), -2)].into();
        let literal = round_trip(value, &dict(Type::Integer));
        let Some(literal::Value::Map(m)) = &literal.value else {
            panic!("not a map")
        };
        assert_eq!(m.literals.keys().collect::<Vec<_>>(), ["a", "b c"]);
        let value: HashMap<String, Vec<String>> = [("k".to_string(), vec!["x".to_string(), "y".into()])].into();
        let err = write_err(&value, &dict(list(Type::Integer)));
        assert_eq!(err.path, r#"value["k"][0]"#);
        let numbered: HashMap<u64, i64> = [(1, 1)].into();
        assert!(matches!(
            write_err(&numbered, &dict(Type::Integer)).problem,
            Problem::WrongKind { .. }
        ));
    }

    #[test]
    fn an_optional_is_a_union_tagged_as_flytekit_tags_it() {
        let ty = Type::optional(Type::Integer);
        let Some(literal_type::Type::UnionType(union_type)) = crate::types::literal_type(&ty).r#type else {
            panic!("not a union")
        };
        let some = round_trip(Some(5i64), &ty);
        let Some(scalar::Value::Union(u)) = scalar_of(&some) else {
            panic!("not a union: {some:?}")
        };
        assert_eq!(u.r#type.as_ref(), Some(&union_type.variants[0]));
        assert_eq!(
            u.r#type
                .as_ref()
                .and_then(|t| t.structure.as_ref())
                .map(|s| s.tag.as_str()),
            Some("int")
        );
        assert_eq!(
            u.value.as_deref().and_then(primitive_of),
            Some(&primitive::Value::Integer(5))
        );
        let none = round_trip(None::<i64>, &ty);
        let Some(scalar::Value::Union(u)) = scalar_of(&none) else {
            panic!("not a union: {none:?}")
        };
        assert_eq!(u.r#type.as_ref(), Some(&union_type.variants[1]));
        assert_eq!(
            u.value.as_deref().and_then(scalar_of),
            Some(&scalar::Value::NoneType(Void {}))
        );
        // The value without the union reads too, as flytekit reads it.
        assert_eq!(
            read::<Option<i64>>(&primitive(primitive::Value::Integer(3)), &ty),
            Some(3)
        );
        assert_eq!(read::<Option<i64>>(&none_literal(), &ty), None);
        // Nested in a list, with the path through the union.
        let err = read_err(
            &Literal {
                value: Some(literal::Value::Collection(LiteralCollection {
                    literals: vec![
                        none,
                        union(
                            primitive(primitive::Value::StringValue("x".into())),
                            LiteralType::default(),
                        ),
                    ],
                })),
                ..Literal::default()
            },
            &list(ty.clone()),
        );
        assert_eq!(err.to_string(), "value[1]: expected integer, found a string literal");
        let empty = scalar(scalar::Value::Union(Box::default()));
        assert!(matches!(read_err(&empty, &ty).problem, Problem::Invalid(_)));
    }

    #[test]
    fn an_enum_is_a_string_among_its_values() {
        let literal = round_trip(Color::Green, &color());
        assert_eq!(
            primitive_of(&literal),
            Some(&primitive::Value::StringValue("green".into()))
        );
        let err = write_err(&"blue", &color());
        assert_eq!(
            err.problem,
            Problem::UnknownEnumValue {
                value: "blue".into(),
                values: vec!["red".into(), "green".into()]
            }
        );
        assert_eq!(
            err.to_string(),
            "value: `blue` is not one of the enum's values (red, green)"
        );
        let err = read_err(&primitive(primitive::Value::StringValue("Red".into())), &color());
        assert!(matches!(err.problem, Problem::UnknownEnumValue { .. }), "{err}");
    }

    #[test]
    fn a_struct_is_msgpack_as_mashumaro_writes_a_dataclass() {
        let literal = round_trip(outer(), &outer_type());
        let nil = Msgpack::Nil;
        let expected = Msgpack::Map(vec![
            ("n".into(), 7.into()),
            ("when".into(), "2024-01-02T03:04:05.000678+00:00".into()),
            ("took".into(), Msgpack::F64(90.000005)),
            ("color".into(), "green".into()),
            (
                "inner".into(),
                Msgpack::Map(vec![("a".into(), (-1).into()), ("b".into(), "x".into())]),
            ),
            (
                "items".into(),
                Msgpack::Array(vec![
                    nil.clone(),
                    Msgpack::Map(vec![("a".into(), 2.into()), ("b".into(), "".into())]),
                ]),
            ),
            // Left out by `skip_serializing_if`, written as nil for mashumaro.
            ("note".into(), nil.clone()),
            ("unit".into(), nil),
        ]);
        assert_eq!(msgpack_of(&literal), expected);
    }

    #[test]
    fn a_datetime_in_a_struct_is_pythons_isoformat() {
        let path = Path::Root(ROOT);
        assert_eq!(python_isoformat(0, 0, path).unwrap(), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            python_isoformat(-1, 5_000, path).unwrap(),
            "1969-12-31T23:59:59.000005+00:00"
        );
        assert_eq!(
            python_isoformat(1, 1, path).unwrap(),
            "1970-01-01T00:00:01.000000001+00:00"
        );
        // Read with an offset, without one (naive, as UTC), and with Python's `Z`.
        assert_eq!(
            parse_python_datetime("2024-01-02T05:04:05+02:00", path).unwrap(),
            (1_704_164_645, 0)
        );
        assert_eq!(
            parse_python_datetime("2024-01-02T03:04:05.5", path).unwrap(),
            (1_704_164_645, 500_000_000)
        );
        assert_eq!(
            parse_python_datetime("2024-01-02T03:04:05Z", path).unwrap(),
            (1_704_164_645, 0)
        );
        assert!(matches!(
            parse_python_datetime("2024-13-02", path).unwrap_err().problem,
            Problem::Invalid(_)
        ));
        assert_eq!(seconds_to_duration(90.000005, path).unwrap(), (90, 5_000));
        assert_eq!(seconds_to_duration(0.9999999999, path).unwrap(), (1, 0));
        assert!(matches!(
            seconds_to_duration(-1.0, path).unwrap_err().problem,
            Problem::OutOfRange { .. }
        ));
        assert!(matches!(
            seconds_to_duration(f64::NAN, path).unwrap_err().problem,
            Problem::OutOfRange { .. }
        ));
    }

    #[test]
    fn a_struct_reads_what_flytekit_may_leave_out_or_add() {
        let ty = inner_type();
        let extra = Msgpack::Map(vec![
            ("b".into(), "y".into()),
            ("zzz".into(), Msgpack::Array(vec![])),
            ("a".into(), 3.into()),
        ]);
        assert_eq!(read::<Inner>(&binary(&extra), &ty), Inner { a: 3, b: "y".into() });
        let missing = Msgpack::Map(vec![("a".into(), 3.into())]);
        let err = read_err(&binary(&missing), &ty);
        assert_eq!(err.path, "value.b");
        assert_eq!(
            err.problem,
            Problem::MissingField {
                of: "struct Inner".into()
            }
        );
        // An optional field flytekit leaves out is none.
        let ty = Type::Struct {
            name: "Maybe".into(),
            fields: Some(vec![("o".into(), Type::optional(Type::Str))]),
        };
        #[derive(Debug, PartialEq, Deserialize)]
        struct Maybe {
            o: Option<String>,
        }
        assert_eq!(read::<Maybe>(&binary(&Msgpack::Map(vec![])), &ty), Maybe { o: None });
    }

    #[test]
    fn a_struct_value_must_match_its_fields() {
        #[derive(Serialize)]
        struct Partial {
            a: i64,
        }
        let err = write_err(&Partial { a: 1 }, &inner_type());
        assert_eq!(
            err.to_string(),
            "value.b: missing, and struct Inner has it (and it is not optional)"
        );
        #[derive(Serialize)]
        struct More {
            a: i64,
            b: String,
            c: bool,
        }
        let more = More {
            a: 1,
            b: "".into(),
            c: true,
        };
        let err = write_err(&vec![more], &list(inner_type()));
        assert_eq!(err.path, "value[0].c");
        assert_eq!(
            err.problem,
            Problem::UnknownField {
                of: "struct Inner".into()
            }
        );
        let wrong = Msgpack::Map(vec![("a".into(), "one".into()), ("b".into(), "".into())]);
        let err = read_err(&binary(&wrong), &inner_type());
        assert_eq!(err.to_string(), "value.a: expected integer, found a string in msgpack");
    }

    #[test]
    fn a_struct_reads_from_flytekits_older_generic_literal() {
        let json = serde_json::json!({
            "n": 7.0, "when": "2024-01-02T03:04:05.000678+00:00", "took": 90.000005, "color": "green",
            "inner": {"a": -1.0, "b": "x"}, "items": [null, {"a": 2.0, "b": ""}], "note": null, "unit": null,
        });
        let generic = scalar(scalar::Value::Generic(
            crate::types::to_struct(&json).expect("an object"),
        ));
        assert_eq!(read::<Outer>(&generic, &outer_type()), outer());
        let console = serde_json::json!({"k": {"a": 1.0, "b": "x"}});
        let generic = scalar(scalar::Value::Generic(
            crate::types::to_struct(&console).expect("an object"),
        ));
        let read_map: BTreeMap<String, Inner> = read(&generic, &dict(inner_type()));
        assert_eq!(read_map["k"], Inner { a: 1, b: "x".into() });
        let fraction = serde_json::json!({"a": 1.5, "b": "x"});
        let generic = scalar(scalar::Value::Generic(
            crate::types::to_struct(&fraction).expect("an object"),
        ));
        assert!(matches!(
            read_err(&generic, &inner_type()).problem,
            Problem::WrongKind { .. }
        ));
    }

    #[test]
    fn a_struct_without_fields_is_its_serde_form_as_msgpack() {
        let pair = Type::Struct {
            name: "(u64, String)".into(),
            fields: None,
        };
        let literal = round_trip((u64::MAX, "x".to_string()), &pair);
        assert_eq!(msgpack_of(&literal), Msgpack::Array(vec![u64::MAX.into(), "x".into()]));
        let by_number = Type::Struct {
            name: "map<u64, Vec<u8>>".into(),
            fields: None,
        };
        let value: BTreeMap<u64, serde_bytes_like::Bytes> = [(1, serde_bytes_like::Bytes(vec![0, 255]))].into();
        round_trip(value, &by_number);
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum Shape {
            Circle(f64),
            Square { side: f64 },
            Nothing,
        }
        let shape = Type::Struct {
            name: "Shape".into(),
            fields: None,
        };
        round_trip(
            vec![Shape::Circle(1.0), Shape::Square { side: 2.0 }, Shape::Nothing],
            &list(shape),
        );
    }

    /// A byte string with serde's bytes form (`serde_bytes` without the dependency).
    mod serde_bytes_like {
        #[derive(Debug, PartialEq)]
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for Bytes {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = Bytes;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                        Ok(Bytes(v.to_vec()))
                    }
                }
                d.deserialize_bytes(Visit)
            }
        }
    }

    // ---- what any type reads, and what no type reads

    #[test]
    fn any_type_reads_a_field_propeller_took_out_of_a_dataclass() {
        assert_eq!(read::<i64>(&binary(&Msgpack::from(-5)), &Type::Integer), -5);
        assert_eq!(
            read::<Vec<String>>(&binary(&Msgpack::Array(vec!["a".into()])), &list(Type::Str)),
            ["a"]
        );
        let when = binary(&"2024-01-02T03:04:05+00:00".into());
        assert_eq!(
            read::<String>(&when, &Type::Datetime(DatetimeForm::Rfc3339)),
            "2024-01-02T03:04:05Z"
        );
        let took = binary(&Msgpack::F64(1.5));
        assert_eq!(
            read::<Duration>(&took, &Type::Timedelta(DurationForm::SecsNanos)),
            Duration::from_millis(1500)
        );
        assert_eq!(
            read::<Option<Color>>(&binary(&Msgpack::Nil), &Type::optional(color())),
            None
        );
    }

    #[test]
    fn binary_that_is_not_msgpack_is_an_error_not_a_panic() {
        let other = scalar(scalar::Value::Binary(Binary {
            value: vec![1],
            tag: "pickle".into(),
        }));
        let err = read_err(&other, &Type::Integer);
        assert_eq!(
            err.to_string(),
            "value: a binary value tagged `pickle`, where integer is read from msgpack"
        );
        for bytes in [
            vec![],
            vec![0xc1],
            vec![0x92, 0x01],
            vec![0x01, 0x02],
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        ] {
            let broken = scalar(scalar::Value::Binary(Binary {
                value: bytes.clone(),
                tag: MSGPACK.into(),
            }));
            // Truncated, trailing or reserved bytes: an error at the value (rmpv reads the
            // reserved marker 0xc1 as nil, which is not a struct).
            let err = read_err(&broken, &outer_type());
            assert_eq!(err.path, "value", "{bytes:?}: {err}");
        }
        let deep = (0..2 * MAX_MSGPACK_DEPTH).fold(Msgpack::Nil, |v, _| Msgpack::Array(vec![v]));
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &deep).expect("written");
        let deep = scalar(scalar::Value::Binary(Binary {
            value: bytes,
            tag: MSGPACK.into(),
        }));
        let any = Type::Struct {
            name: "any".into(),
            fields: None,
        };
        assert!(matches!(read_err(&deep, &any).problem, Problem::Invalid(_)));
        // Just under the limit, it reads, typed or not.
        let depth = MAX_MSGPACK_DEPTH / 2 - 8;
        let nested = binary(&(0..depth).fold(Msgpack::from(1), |v, _| Msgpack::Array(vec![v])));
        from_literal(&nested, &any).expect("reads");
        let ty = (0..depth).fold(Type::Integer, |t, _| list(t));
        from_literal(&nested, &ty).expect("reads");
    }

    #[test]
    fn a_literal_of_another_kind_is_named_in_the_error() {
        for (literal, found) in [
            (Literal::default(), "an empty literal"),
            (scalar(scalar::Value::Blob(Default::default())), "a blob literal"),
            (primitive(primitive::Value::Boolean(true)), "a boolean literal"),
            (
                Literal {
                    value: Some(literal::Value::Map(LiteralMap::default())),
                    ..Literal::default()
                },
                "a map literal",
            ),
        ] {
            let err = read_err(&literal, &inner_type());
            assert_eq!(
                err.problem,
                Problem::WrongKind {
                    expected: "struct Inner".into(),
                    found: found.into()
                }
            );
        }
    }

    // ---- literal maps

    #[test]
    fn a_literal_map_holds_each_value_under_its_name() {
        let (x, s) = (enc(&3i64), enc(&"s"));
        let map = to_literal_map(&[("x", &x, &Type::Integer), ("s", &s, &Type::Str)]).expect("converts");
        assert_eq!(map.literals.keys().collect::<Vec<_>>(), ["s", "x"]);
        let values = from_literal_map(&map, &[("x", &Type::Integer), ("s", &Type::Str)]).expect("reads");
        assert_eq!(values[0].decode::<i64>().unwrap(), 3);
        assert_eq!(values[1].decode::<String>().unwrap(), "s");

        let err = to_literal_map(&[("x", &x, &Type::Integer), ("x", &x, &Type::Integer)]).unwrap_err();
        assert_eq!(err.to_string(), "x: given twice");
        let err = to_literal_map(&[("xs", &x, &list(Type::Integer))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "xs: expected list of integer, found an integer in the Rust value"
        );
        let err = from_literal_map(&map, &[("x", &Type::Integer), ("s", &Type::Str), ("y", &Type::Str)]).unwrap_err();
        assert_eq!((err.path.as_str(), &err.problem), ("y", &Problem::Missing));
        let err = from_literal_map(&map, &[("x", &Type::Integer)]).unwrap_err();
        assert_eq!(err.to_string(), "s: not in the interface");
        let err = from_literal_map(&map, &[("x", &Type::Str), ("s", &Type::Str)]).unwrap_err();
        assert_eq!(err.to_string(), "x: expected string, found an integer literal");
    }

    fn owned<'a>(values: &[(&'a str, &Encoded, &'a Type)]) -> Vec<(&'a str, Encoded, &'a Type)> {
        values.iter().map(|&(n, e, t)| (n, e.clone(), t)).collect()
    }

    #[test]
    fn the_by_value_literal_maps_are_the_by_reference_ones() {
        let (x, s) = (enc(&3i64), enc(&"s"));
        let xs = enc(&vec![vec!["a".to_owned()], vec![]]);
        let lists = list(list(Type::Str));
        let values = [("x", &x, &Type::Integer), ("s", &s, &Type::Str), ("xs", &xs, &lists)];
        let map = to_literal_map(&values).expect("converts");
        same(&Ok(map.clone()), to_literal_map_owned(owned(&values)), "a map");
        let twice = [("x", &x, &Type::Integer), ("x", &x, &Type::Integer)];
        same(
            &to_literal_map(&twice),
            to_literal_map_owned(owned(&twice)),
            "a name given twice",
        );
        let slots: &[&[(&str, &Type)]] = &[
            &[("x", &Type::Integer), ("s", &Type::Str), ("xs", &lists)],
            &[("xs", &lists), ("s", &Type::Str), ("x", &Type::Integer)],
            &[
                ("x", &Type::Integer),
                ("s", &Type::Str),
                ("xs", &lists),
                ("y", &Type::Str),
            ],
            &[("x", &Type::Integer)],
            &[("x", &Type::Str), ("s", &Type::Str), ("xs", &lists)],
            &[
                ("x", &Type::Integer),
                ("s", &Type::Str),
                ("xs", &list(list(Type::Integer))),
            ],
        ];
        for slots in slots {
            same(
                &from_literal_map(&map, slots),
                from_literal_map_owned(map.clone(), slots),
                &format!("{slots:?}"),
            );
        }
    }

    #[test]
    fn a_file_is_a_single_part_blob_of_its_remote_or_its_path_and_reads_back_with_its_uri_as_both() {
        use flyte_runtime::FlyteFile;
        let blob = |l: &Literal| match scalar_of(l) {
            Some(scalar::Value::Blob(b)) => b.clone(),
            other => panic!("not a blob: {other:?}"),
        };
        let passed_on = to_literal(
            &enc(&FlyteFile::downloaded("/tmp/in/a.csv", "s3://b/raw/a.csv")),
            &Type::File,
        )
        .unwrap();
        assert_eq!(blob(&passed_on).uri, "s3://b/raw/a.csv");
        let metadata = blob(&passed_on).metadata.unwrap().r#type.unwrap();
        assert_eq!(
            (metadata.format.as_str(), metadata.dimensionality),
            ("", BlobDimensionality::Single as i32)
        );
        let local = to_literal(&enc(&FlyteFile::new("/data/b.csv")), &Type::File).unwrap();
        assert_eq!(blob(&local).uri, "/data/b.csv");

        let back: FlyteFile = from_literal(&passed_on, &Type::File).unwrap().decode().unwrap();
        assert_eq!(back, FlyteFile::downloaded("s3://b/raw/a.csv", "s3://b/raw/a.csv"));

        // A directory is not a file; a blob without a URI is nothing.
        let mut dir = blob(&passed_on);
        dir.metadata = Some(BlobMetadata {
            r#type: Some(BlobType {
                format: String::new(),
                dimensionality: BlobDimensionality::Multipart as i32,
            }),
        });
        let err = from_literal(&scalar(scalar::Value::Blob(dir)), &Type::File).unwrap_err();
        assert_eq!(
            err.to_string(),
            "value: expected file, found a multi-part blob (a directory)"
        );
        let err = from_literal(&scalar(scalar::Value::Blob(Blob::default())), &Type::File).unwrap_err();
        assert!(err.to_string().contains("a file without a URI"), "{err}");
        let err = from_literal(&primitive(primitive::Value::Integer(3)), &Type::File).unwrap_err();
        assert!(matches!(err.problem, Problem::WrongKind { .. }), "{err}");
    }

    #[test]
    fn a_file_inside_a_struct_is_its_uri_under_path_as_mashumaro_writes_it() {
        use flyte_runtime::FlyteFile;
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Report {
            name: String,
            data: FlyteFile,
        }
        let ty = flyte_runtime::flyte_type!(Report).unwrap();
        let value = Report {
            name: "r".into(),
            data: FlyteFile::downloaded("/tmp/x.csv", "gs://b/x.csv"),
        };
        let literal = to_literal(&enc(&value), &ty).unwrap();
        let Some(scalar::Value::Binary(binary)) = scalar_of(&literal) else {
            panic!("{literal:?}")
        };
        let packed = rmpv::decode::read_value(&mut binary.value.as_slice()).unwrap();
        assert_eq!(
            packed,
            Msgpack::Map(vec![
                (Msgpack::from("name"), Msgpack::from("r")),
                (
                    Msgpack::from("data"),
                    Msgpack::Map(vec![(Msgpack::from("path"), Msgpack::from("gs://b/x.csv"))])
                ),
            ])
        );
        let back: Report = from_literal(&literal, &ty).unwrap().decode().unwrap();
        assert_eq!(back.data, FlyteFile::downloaded("gs://b/x.csv", "gs://b/x.csv"));
    }
}
