//! [`Type`]: what an input or output of a task or workflow is, in Flyte's terms, without
//! Flyte's protobuf types. The crate that talks to a Flyte cluster turns a `Type` into a
//! `core.LiteralType`, and values into `core.Literal`s, following flytekit 1.16's `TypeEngine`.

use std::fmt;

use serde_json::{json, Map, Value as Json};

/// The Flyte type of a task's or workflow's input or output: the part of Flyte's
/// `core.LiteralType` that flytekit produces for the Python types a Rust type stands for.
///
/// A `Type` says two things: which Flyte type the value has (so that Flyte checks the wiring
/// and a Python task can consume the value), and, where the Rust value's serde form does not
/// follow from that, how the value is written (the forms of [`Type::Datetime`] and
/// [`Type::Timedelta`]). Everything a value converter needs is here: it converts without the
/// Rust type. The serde form meant is the non-human-readable one, which [`Encoded`](crate::Encoded)'s CBOR
/// holds and which tracing follows.
///
/// [`Task::interface`](crate::Task::interface) derives one per input and output; how, and the
/// table of Rust types, is in [`Typed`](crate::Typed). By hand:
///
/// ```
/// use flytekit::Type;
///
/// let ty = Type::Collection(Box::new(Type::optional(Type::Integer)));
/// assert_eq!(ty.to_string(), "list of optional integer");
/// // Flyte's `Optional[Optional[int]]` is one union, as flytekit makes it.
/// assert_eq!(Type::optional(Type::optional(Type::Float)), Type::Optional(Box::new(Type::Float)));
/// ```
///
/// The variants are named so that none shares its name with a type of std's (`Str`, not
/// `String`; `Dict`, not `Map`; `Timedelta`, not `Duration`): rustc writes a type's whole path
/// in its error messages (`std::string::String`) as soon as a dependency exposes another item
/// of that name, and every crate that uses flytekit would read its errors so.
///
/// # Flyte's types, as flytekit 1.16.31 writes them
///
/// | `Type` | `core.LiteralType` | Python type |
/// |---|---|---|
/// | `Integer` | `simple: INTEGER` | `int` |
/// | `Float` | `simple: FLOAT` | `float` |
/// | `Boolean` | `simple: BOOLEAN` | `bool` |
/// | `Str` | `simple: STRING` | `str` |
/// | `Datetime(_)` | `simple: DATETIME` | `datetime.datetime` |
/// | `Timedelta(_)` | `simple: DURATION` | `datetime.timedelta` |
/// | `None` | `simple: NONE` | `None` |
/// | `Collection(T)` | `collection_type: T` | `List[T]` |
/// | `Dict(T)` | `map_value_type: T` | `Dict[str, T]` |
/// | `Optional(T)` | `union_type { variants: [T + tag, NONE + tag "none"] }` | `Optional[T]` |
/// | `Enum(values)` | `enum_type { values }` | an `enum.Enum` whose values are `str` |
/// | `Struct` with fields | `simple: STRUCT`, `metadata`: [`Type::json_schema`], `annotation { cache-key-metadata { serialization-format: msgpack } }`, `structure { dataclass_type { field: LiteralType } }`; values are `Binary { value: msgpack, tag: "msgpack" }` | a `@dataclass` |
/// | `Struct` without fields | `simple: STRUCT`, the same `annotation`, no `metadata`, no `structure`; values msgpack | `dict` (untyped, or with non-`str` keys) |
///
/// # Union tags
///
/// flytekit marks each variant of a union with the name of the transformer that reads it
/// (`structure.tag`), and reads a union value by its tag: the converter must write the same
/// ones. Observed with flytekit 1.16.31 (`TypeEngine.to_literal_type(Optional[X])`):
///
/// | variant | tag | note |
/// |---|---|---|
/// | `Integer` | `"int"` | |
/// | `Float` | `"float"` | |
/// | `Boolean` | `"bool"` | |
/// | `Str` | `"str"` | |
/// | `Datetime(_)` | `"datetime"` | |
/// | `Timedelta(_)` | `"timedelta"` | |
/// | `None` (the second variant of every `Optional`) | `"none"` | |
/// | `Collection(_)` | `"Typed List"` | |
/// | `Dict(_)` | `"Typed Dict"` | |
/// | `Enum(_)` | `"DefaultEnumTransformer"` | |
/// | `Struct` with fields | `"Object-Dataclass-Transformer"` | the variant keeps `metadata` and `annotation`; its `structure` is the tag alone, without `dataclass_type` |
/// | `Struct` without fields | `"Typed Dict"` | flytekit's `dict` and `Dict[int, T]` both go through its dict transformer |
///
/// The variants come in that order: `[T, NONE]`. `Optional[Optional[T]]` is one union; so is
/// [`Type::optional`]'s. A union value is `scalar.union { value, type }`, `type` the variant's
/// type with its tag. Inside a collection or a map the same rules apply
/// (`List[Optional[int]]` is a collection of the union above).
///
/// # Values inside a struct
///
/// A struct's value is one msgpack document, as mashumaro writes a dataclass. Its fields are
/// the serde form, except where the field's `Type` says a Flyte type whose Python form differs:
/// flytekit writes a `datetime` field as an ISO 8601 string (`"2024-01-02T03:04:05.000678+00:00"`)
/// and a `timedelta` field as a float of seconds (`90.000005`), enums as their value, `None`
/// as nil. The `Type` of every field is there for the converter to do that.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// An integer, signed or not, of any width. Flyte's integers are `i64`: a value out of its
    /// range (a `u64` above `i64::MAX`) is a conversion error, not a wrap.
    Integer,
    /// `f32` or `f64`, as Flyte's `FLOAT` (an `f64`).
    Float,
    /// `bool`.
    Boolean,
    /// A string (`String`, `char`, `PathBuf`, ...).
    Str,
    /// An instant, written as the form says.
    Datetime(DatetimeForm),
    /// A span of time, written as the form says.
    Timedelta(DurationForm),
    /// No value: `()`, a unit struct.
    None,
    /// A list of values of one type: `Vec<T>`, `VecDeque<T>`, a set, an array.
    Collection(Box<Type>),
    /// A map from strings to values of one type: `HashMap<String, T>`, `BTreeMap<String, T>`
    /// (flytekit's `Dict[str, T]`; Flyte's maps have string keys only).
    Dict(Box<Type>),
    /// A file passed by reference: [`FlyteFile`](crate::FlyteFile), flytekit's `FlyteFile`,
    /// Flyte's single-part blob.
    File,
    /// A directory passed by reference: [`FlyteDirectory`](crate::FlyteDirectory), flytekit's
    /// `FlyteDirectory`, Flyte's multi-part blob.
    Directory,
    /// A value or none: `Option<T>`, flytekit's `Optional[T]`, a union of `T` and `NONE`.
    /// Build it with [`Type::optional`], which does not nest one in another.
    Optional(Box<Type>),
    /// One of a fixed set of strings: a Rust enum whose variants carry no data, its values the
    /// variants' serde names (`#[serde(rename_all = ..)]` applies), in declaration order, as a
    /// Python `enum.Enum` with `str` values lists them.
    Enum(Vec<String>),
    /// Anything else, as flytekit passes dataclasses: `STRUCT`, its value msgpack.
    Struct {
        /// The type's serde name (`#[serde(rename)]` applies), which flytekit takes from the
        /// dataclass's name; for a shape serde does not name, a description of it (`(u64,
        /// String)`, `map<u64, Point>`, `bytes`).
        name: String,
        /// The fields, in order, with their serde names, for a struct with named fields;
        /// `None` for every other shape: a tuple or tuple struct, an enum whose variants carry
        /// data, a map whose keys are not strings, serde's bytes, and a type that contains
        /// itself (flytekit cannot describe a recursive dataclass at all; described without
        /// fields, it is still passed whole as msgpack).
        fields: Option<Vec<(String, Type)>>,
    },
}

/// How a [`Type::Datetime`] value is written in its serde form.
///
/// ```
/// use std::time::SystemTime;
/// use flytekit::{flyte_type, DatetimeForm, Type};
///
/// assert_eq!(flyte_type!(SystemTime)?, Type::Datetime(DatetimeForm::EpochSecsNanos));
/// assert_eq!(flyte_type!(chrono::DateTime<chrono::Utc>)?, Type::Datetime(DatetimeForm::Rfc3339));
/// # Ok::<(), flytekit::TypeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatetimeForm {
    /// An RFC 3339 string, with its offset (`"2024-01-02T03:04:05.000678Z"`,
    /// `"2024-01-02T05:04:05+02:00"`): chrono's `DateTime<Utc>` and `DateTime<FixedOffset>`.
    /// Written back in UTC, with a `Z`.
    Rfc3339,
    /// `{ secs_since_epoch: u64, nanos_since_epoch: u32 }`: `std::time::SystemTime` (serde
    /// cannot write an instant before 1970).
    EpochSecsNanos,
}

/// How a [`Type::Timedelta`] value is written in its serde form.
///
/// ```
/// use std::time::Duration;
/// use flytekit::{flyte_type, DurationForm, Type};
///
/// assert_eq!(flyte_type!(Duration)?, Type::Timedelta(DurationForm::SecsNanos));
/// # Ok::<(), flytekit::TypeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationForm {
    /// `{ secs: u64, nanos: u32 }`: `std::time::Duration`, which is never negative.
    SecsNanos,
}

impl Type {
    /// `Optional(ty)`, but `ty` itself when it already admits none (`Optional(_)` or `None`),
    /// as flytekit makes `Optional[Optional[T]]` one union.
    ///
    /// ```
    /// use flytekit::Type;
    ///
    /// assert_eq!(Type::optional(Type::Str), Type::Optional(Box::new(Type::Str)));
    /// assert_eq!(Type::optional(Type::optional(Type::Str)), Type::optional(Type::Str));
    /// assert_eq!(Type::optional(Type::None), Type::None);
    /// ```
    pub fn optional(ty: Type) -> Type {
        match ty {
            Type::Optional(_) | Type::None => ty,
            other => Type::Optional(Box::new(other)),
        }
    }

    /// The JSON schema flytekit puts in a dataclass's `LiteralType.metadata`, for a struct with
    /// fields; `None` for every other type, which has none (flytekit writes none for `dict`
    /// either).
    ///
    /// It is the schema mashumaro writes for the Python twin of the struct: `title` the name,
    /// every field `required` (a dataclass field without a default is, `Optional` or not),
    /// `additionalProperties: false`; a nested struct's schema in place; lists as `{type:
    /// array, items}`, maps as `{type: object, propertyNames: {type: string},
    /// additionalProperties}`, an `Optional` as `{anyOf: [T, {type: null}]}`, an enum as
    /// `{enum: [values]}`, a datetime as `{type: string, format: date-time}`, a duration as
    /// `{type: number, format: time-delta}`. A struct without fields nested in one is `{}`
    /// (any value): its shape is not described.
    ///
    /// ```
    /// use flytekit::Type;
    /// use serde_json::json;
    ///
    /// let point = Type::Struct {
    ///     name: "Point".into(),
    ///     fields: Some(vec![("x".into(), Type::Float), ("tags".into(), Type::Collection(Box::new(Type::Str)))]),
    /// };
    /// assert_eq!(
    ///     point.json_schema(),
    ///     Some(json!({
    ///         "title": "Point",
    ///         "type": "object",
    ///         "properties": {
    ///             "x": {"type": "number"},
    ///             "tags": {"type": "array", "items": {"type": "string"}},
    ///         },
    ///         "required": ["x", "tags"],
    ///         "additionalProperties": false,
    ///     }))
    /// );
    /// assert_eq!(Type::Integer.json_schema(), None);
    /// ```
    pub fn json_schema(&self) -> Option<Json> {
        match self {
            Type::Struct { fields: Some(_), .. } => Some(self.schema()),
            _ => None,
        }
    }

    /// This type's schema where it appears in a struct's.
    fn schema(&self) -> Json {
        let simple = |ty: &str| json!({ "type": ty });
        match self {
            Type::Integer => simple("integer"),
            Type::Float => simple("number"),
            Type::Boolean => simple("boolean"),
            Type::Str => simple("string"),
            Type::None => simple("null"),
            Type::Datetime(_) => json!({"type": "string", "format": "date-time"}),
            Type::Timedelta(_) => json!({"type": "number", "format": "time-delta"}),
            Type::Collection(item) => json!({"type": "array", "items": item.schema()}),
            Type::Dict(value) => json!({
                "type": "object",
                "propertyNames": {"type": "string"},
                "additionalProperties": value.schema(),
            }),
            Type::Optional(inner) => json!({"anyOf": [inner.schema(), {"type": "null"}]}),
            // As flytekit 1.16 describes a FlyteFile field: its path and its (unused) metadata.
            Type::File => json!({
                "type": "object",
                "title": "FlyteFile",
                "properties": {
                    "path": {"anyOf": [{"type": "string"}, {"type": "string", "format": "path"}], "default": null},
                    "metadata": {
                        "anyOf": [
                            {"type": "object", "additionalProperties": {"type": "string"}, "propertyNames": {"type": "string"}},
                            {"type": "null"},
                        ],
                        "default": null,
                    },
                },
                "additionalProperties": false,
            }),
            Type::Directory => json!({
                "type": "object",
                "title": "FlyteDirectory",
                "properties": {
                    "path": {"anyOf": [{"type": "string"}, {"type": "string", "format": "path"}], "default": null},
                },
                "additionalProperties": false,
            }),
            Type::Enum(values) => json!({ "enum": values }),
            Type::Struct { fields: None, .. } => Json::Object(Map::new()),
            Type::Struct {
                name,
                fields: Some(fields),
            } => {
                let properties: Map<String, Json> = fields.iter().map(|(f, ty)| (f.clone(), ty.schema())).collect();
                let required: Vec<&String> = fields.iter().map(|(f, _)| f).collect();
                json!({
                    "title": name,
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                })
            }
        }
    }
}

/// A short description, for messages: `integer`, `list of optional string`, `struct Point`,
/// `map of string to float`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Integer => f.write_str("integer"),
            Type::Float => f.write_str("float"),
            Type::Boolean => f.write_str("boolean"),
            Type::Str => f.write_str("string"),
            Type::Datetime(_) => f.write_str("datetime"),
            Type::Timedelta(_) => f.write_str("duration"),
            Type::None => f.write_str("none"),
            Type::Collection(item) => write!(f, "list of {item}"),
            Type::Dict(value) => write!(f, "map of string to {value}"),
            Type::Optional(inner) => write!(f, "optional {inner}"),
            Type::File => f.write_str("file"),
            Type::Directory => f.write_str("directory"),
            Type::Enum(values) => write!(f, "enum of {}", values.join(", ")),
            Type::Struct { name, fields: Some(_) } => write!(f, "struct {name}"),
            Type::Struct { name, fields: None } => write!(f, "struct {name} (without fields)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> Type {
        Type::Struct {
            name: "Inner".into(),
            fields: Some(vec![("a".into(), Type::Integer), ("b".into(), Type::Str)]),
        }
    }

    /// The schema flytekit 1.16.31 writes for
    /// `@dataclass class Outer: n: int; f: float; b: bool; inner: Inner; ys: List[Inner];
    /// mo: Dict[str, Inner]; oi: Optional[Inner]; color: Color; when: datetime;
    /// d: timedelta; nested: List[List[str]]; oo: Optional[List[int]]; none: None`
    /// (`Inner` has `a: int, b: str`; `Color` has the values `red`, `green`), from its
    /// `LiteralType.metadata`.
    #[test]
    fn the_schema_is_mashumaros() {
        let outer = Type::Struct {
            name: "Outer".into(),
            fields: Some(vec![
                ("n".into(), Type::Integer),
                ("f".into(), Type::Float),
                ("b".into(), Type::Boolean),
                ("inner".into(), point()),
                ("ys".into(), Type::Collection(Box::new(point()))),
                ("mo".into(), Type::Dict(Box::new(point()))),
                ("oi".into(), Type::optional(point())),
                ("color".into(), Type::Enum(vec!["red".into(), "green".into()])),
                ("when".into(), Type::Datetime(DatetimeForm::Rfc3339)),
                ("d".into(), Type::Timedelta(DurationForm::SecsNanos)),
                (
                    "nested".into(),
                    Type::Collection(Box::new(Type::Collection(Box::new(Type::Str)))),
                ),
                ("oo".into(), Type::optional(Type::Collection(Box::new(Type::Integer)))),
                ("none".into(), Type::None),
            ]),
        };
        let inner = json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
            "title": "Inner",
            "required": ["a", "b"],
            "additionalProperties": false,
        });
        let expected = json!({
            "type": "object",
            "title": "Outer",
            "properties": {
                "n": {"type": "integer"},
                "f": {"type": "number"},
                "b": {"type": "boolean"},
                "inner": inner,
                "ys": {"type": "array", "items": inner},
                "mo": {"type": "object", "propertyNames": {"type": "string"}, "additionalProperties": inner},
                "oi": {"anyOf": [inner, {"type": "null"}]},
                "color": {"enum": ["red", "green"]},
                "when": {"type": "string", "format": "date-time"},
                "d": {"type": "number", "format": "time-delta"},
                "nested": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "oo": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
                "none": {"type": "null"},
            },
            "required": ["n", "f", "b", "inner", "ys", "mo", "oi", "color", "when", "d", "nested", "oo", "none"],
            "additionalProperties": false,
        });
        assert_eq!(outer.json_schema(), Some(expected));
    }

    #[test]
    fn only_structs_with_fields_have_a_schema() {
        let opaque = Type::Struct {
            name: "(u64, String)".into(),
            fields: None,
        };
        assert_eq!(opaque.json_schema(), None);
        assert_eq!(Type::Dict(Box::new(Type::Integer)).json_schema(), None);
        let holder = Type::Struct {
            name: "Holder".into(),
            fields: Some(vec![("pair".into(), opaque)]),
        };
        assert_eq!(holder.json_schema().unwrap()["properties"]["pair"], json!({}));
    }

    #[test]
    fn optional_does_not_nest() {
        let once = Type::optional(Type::Integer);
        assert_eq!(Type::optional(once.clone()), once);
        assert_eq!(Type::optional(Type::None), Type::None);
        assert_eq!(
            Type::Collection(Box::new(once.clone())),
            Type::Collection(Box::new(Type::Optional(Box::new(Type::Integer))))
        );
    }

    #[test]
    fn descriptions_read_as_text() {
        assert_eq!(Type::Dict(Box::new(Type::Float)).to_string(), "map of string to float");
        assert_eq!(point().to_string(), "struct Inner");
        assert_eq!(Type::Enum(vec!["a".into(), "b".into()]).to_string(), "enum of a, b");
    }
}
