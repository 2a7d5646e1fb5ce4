//! A runtime [`Type`] as Flyte's `core.LiteralType`, written as flytekit 1.16's `TypeEngine`
//! writes the Python type it stands for, so that a Rust task and a Python task can be wired
//! together: the same simple types, collections and maps, an `Optional` as a union with none
//! whose variants carry flytekit's transformer names as `structure.tag`, an enum's values, and
//! a struct as flytekit's dataclass (`STRUCT` with its JSON schema as `metadata`, its fields'
//! types as `structure.dataclass_type`, and the msgpack serialization annotation), a file as
//! flytekit's `FlyteFile` (a blob of one part, without a format), a directory as its
//! `FlyteDirectory` (a blob of many parts).

use std::collections::BTreeMap;

use flyte_idl::core::{
    blob_type, literal_type, BlobType, EnumType, LiteralType, SimpleType, TypeAnnotation, TypeStructure, UnionType,
};
use flyte_idl::prost_types;
use flyte_runtime::Type;
use serde_json::Value as Json;

/// The Flyte type of `ty`.
///
/// ```
/// use flyte_cluster::types::literal_type;
/// use flyte_idl::core::{literal_type::Type as Kind, SimpleType};
/// use flyte_runtime::Type;
///
/// let list = literal_type(&Type::Collection(Box::new(Type::Integer)));
/// let Some(Kind::CollectionType(element)) = list.r#type else { panic!("not a collection") };
/// assert_eq!(element.r#type, Some(Kind::Simple(SimpleType::Integer as i32)));
/// ```
pub fn literal_type(ty: &Type) -> LiteralType {
    let kind = |k: literal_type::Type| LiteralType {
        r#type: Some(k),
        ..LiteralType::default()
    };
    let simple = |s: SimpleType| kind(literal_type::Type::Simple(s as i32));
    match ty {
        Type::Integer => simple(SimpleType::Integer),
        Type::Float => simple(SimpleType::Float),
        Type::Boolean => simple(SimpleType::Boolean),
        Type::Str => simple(SimpleType::String),
        Type::Datetime(_) => simple(SimpleType::Datetime),
        Type::Timedelta(_) => simple(SimpleType::Duration),
        Type::None => simple(SimpleType::None),
        Type::Collection(element) => kind(literal_type::Type::CollectionType(Box::new(literal_type(element)))),
        Type::Dict(value) => kind(literal_type::Type::MapValueType(Box::new(literal_type(value)))),
        Type::Optional(inner) => kind(literal_type::Type::UnionType(UnionType {
            variants: vec![union_variant(inner), union_variant(&Type::None)],
        })),
        Type::Enum(values) => kind(literal_type::Type::EnumType(EnumType { values: values.clone() })),
        Type::File => kind(literal_type::Type::Blob(BlobType {
            format: String::new(),
            dimensionality: blob_type::BlobDimensionality::Single as i32,
        })),
        Type::Directory => kind(literal_type::Type::Blob(BlobType {
            format: String::new(),
            dimensionality: blob_type::BlobDimensionality::Multipart as i32,
        })),
        Type::Struct { fields, .. } => LiteralType {
            metadata: ty.json_schema().as_ref().and_then(to_struct),
            annotation: Some(msgpack_annotation()),
            structure: fields.as_ref().map(|fields| TypeStructure {
                tag: String::new(),
                dataclass_type: fields
                    .iter()
                    .map(|(name, ty)| (name.clone(), literal_type(ty)))
                    .collect(),
            }),
            ..simple(SimpleType::Struct)
        },
    }
}

/// A variant of a union: the type, tagged with the name of the flytekit transformer that
/// reads it, which is how flytekit picks the variant a union literal holds.
fn union_variant(ty: &Type) -> LiteralType {
    let mut variant = literal_type(ty);
    let tag = match ty {
        Type::Integer => "int",
        Type::Float => "float",
        Type::Boolean => "bool",
        Type::Str => "str",
        Type::Datetime(_) => "datetime",
        Type::Timedelta(_) => "timedelta",
        Type::None => "none",
        Type::Collection(_) => "Typed List",
        Type::Enum(_) => "DefaultEnumTransformer",
        Type::File => "FlyteFilePath",
        Type::Directory => "FlyteDirectory",
        Type::Struct { fields: Some(_), .. } => "Object-Dataclass-Transformer",
        // flytekit reads a value without a dataclass (a dict) with its dict transformer.
        Type::Dict(_) | Type::Struct { fields: None, .. } => "Typed Dict",
        // `Optional(Optional(T))` is built as one union; none nests another.
        Type::Optional(_) => "",
    };
    // A dataclass variant keeps its schema but not its fields' types, as flytekit writes it.
    let structure = variant.structure.take();
    variant.structure = Some(TypeStructure {
        tag: tag.to_owned(),
        dataclass_type: match ty {
            Type::Struct { .. } => BTreeMap::new(),
            _ => structure.map(|s| s.dataclass_type).unwrap_or_default(),
        },
    });
    variant
}

/// `cache-key-metadata: {serialization-format: msgpack}`: how flytekit marks a struct whose
/// literal is msgpack bytes.
fn msgpack_annotation() -> TypeAnnotation {
    let format = serde_json::json!({"cache-key-metadata": {"serialization-format": "msgpack"}});
    TypeAnnotation {
        annotations: to_struct(&format),
    }
}

/// A JSON object as a protobuf `Struct`; `None` for any other JSON value.
pub fn to_struct(json: &Json) -> Option<prost_types::Struct> {
    match to_value(json).kind {
        Some(prost_types::value::Kind::StructValue(s)) => Some(s),
        _ => None,
    }
}

/// A JSON value as a protobuf `Value` (numbers become doubles, as protobuf's JSON mapping has
/// them).
pub fn to_value(json: &Json) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match json {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Json::Object(fields) => Kind::StructValue(prost_types::Struct {
            fields: fields.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyte_runtime::{DatetimeForm, DurationForm};

    fn simple(s: SimpleType) -> Option<literal_type::Type> {
        Some(literal_type::Type::Simple(s as i32))
    }

    #[test]
    fn simple_types_are_flytekits() {
        for (ty, expected) in [
            (Type::Integer, SimpleType::Integer),
            (Type::Float, SimpleType::Float),
            (Type::Boolean, SimpleType::Boolean),
            (Type::Str, SimpleType::String),
            (Type::Datetime(DatetimeForm::Rfc3339), SimpleType::Datetime),
            (Type::Timedelta(DurationForm::SecsNanos), SimpleType::Duration),
            (Type::None, SimpleType::None),
        ] {
            let lt = literal_type(&ty);
            assert_eq!(lt.r#type, simple(expected), "{ty}");
            assert_eq!((lt.metadata, lt.annotation, lt.structure), (None, None, None), "{ty}");
        }
    }

    #[test]
    fn an_optional_is_a_union_with_none_tagged_as_flytekit_tags_it() {
        let lt = literal_type(&Type::optional(Type::Collection(Box::new(Type::Integer))));
        let Some(literal_type::Type::UnionType(union)) = lt.r#type else {
            panic!("not a union: {lt:?}")
        };
        let tags: Vec<&str> = union
            .variants
            .iter()
            .map(|v| v.structure.as_ref().map_or("", |s| s.tag.as_str()))
            .collect();
        assert_eq!(tags, ["Typed List", "none"]);
        assert_eq!(union.variants[1].r#type, simple(SimpleType::None));
    }

    #[test]
    fn a_struct_has_its_schema_fields_and_msgpack_annotation() {
        let point = Type::Struct {
            name: "Point".into(),
            fields: Some(vec![
                ("x".into(), Type::Integer),
                ("o".into(), Type::optional(Type::Str)),
            ]),
        };
        let lt = literal_type(&point);
        assert_eq!(lt.r#type, simple(SimpleType::Struct));
        let schema = lt.metadata.expect("a schema");
        assert_eq!(
            schema.fields["title"].kind,
            Some(prost_types::value::Kind::StringValue("Point".into()))
        );
        let structure = lt.structure.expect("a structure");
        assert_eq!(structure.tag, "");
        assert_eq!(structure.dataclass_type["x"].r#type, simple(SimpleType::Integer));
        assert!(lt.annotation.is_some());
        // In a union, the variant drops the fields' types and is tagged.
        let Some(literal_type::Type::UnionType(union)) = literal_type(&Type::optional(point)).r#type else {
            panic!("not a union")
        };
        let variant = union.variants[0].structure.as_ref().expect("tagged");
        assert_eq!(variant.tag, "Object-Dataclass-Transformer");
        assert!(variant.dataclass_type.is_empty());
    }

    #[test]
    fn a_struct_without_fields_is_a_bare_struct() {
        let lt = literal_type(&Type::Struct {
            name: "map<u64, String>".into(),
            fields: None,
        });
        assert_eq!(lt.r#type, simple(SimpleType::Struct));
        assert_eq!((lt.metadata, lt.structure), (None, None));
        assert!(lt.annotation.is_some());
    }
}
