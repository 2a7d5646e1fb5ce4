//! `outputs.pb` written from a task's outputs as it returned them, unserialized
//! ([`SingleAttempt::typed_outputs`](flyte_runtime::SingleAttempt::typed_outputs)): a list or
//! dict (holding no files, which are uploaded from the value first) is serialized an element at
//! a time, each element converted to its literal and encoded straight into the upload, so that
//! the value is never held serialized, nor as literals, beside itself.
//!
//! Protobuf writes a message's length before it, so such an output is walked twice: a first
//! pass converts each element and counts its bytes (and is where a conversion fails, before
//! anything is uploaded, with the error converting the whole value gives); the second converts
//! each again and writes it. The bytes are prost's for the same `LiteralMap`. Only the outer
//! layer is walked: a serde `Serializer` that takes the value's `serialize_seq` or
//! `serialize_map` and serializes each element with ciborium, as the whole value would have
//! been. A value that is not the list or dict its type says is
//! serialized whole and converted as every other output is. A dict's entries are written in
//! the order the value gives them (a `HashMap`'s as it iterates), where prost sorts them: the
//! same map to any reader.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use ciborium::Value as Cbor;
use flyte_idl::core::{Literal, LiteralCollection, LiteralMap};
use flyte_idl::prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use flyte_idl::prost::Message;
use flyte_runtime::{Encoded, Type};
use serde::ser::{self, Impossible, Serialize};

use crate::literal::{dict_key, encode_owned, given_twice, not_serialized, LiteralError, Path, Writer};
use crate::storage::StorageError;
use crate::wire::{field, OutputPieces, PIECE};

/// One output, converted.
pub(crate) enum Output<'a> {
    /// Its literal, as [`to_literal_map_owned`](crate::literal::to_literal_map_owned) makes it.
    Literal(Box<Literal>),
    /// A list or dict the task returned, to be converted again as it is written: its type,
    /// and the length of its literal's `collection` or `map` field's contents.
    Streamed { value: Encoded, ty: &'a Type, len: u64 },
}

/// Why writing the outputs failed.
#[derive(Debug)]
pub(crate) enum WriteError {
    Storage(StorageError),
    /// An output serialized differently the second time (a `Serialize` that is not
    /// deterministic): what was uploaded is abandoned.
    Literal(LiteralError),
}

/// The outputs `values` (each a name, a value and its type), converted in the order given, by
/// name: what [`to_literal_map_owned`](crate::literal::to_literal_map_owned) makes, with the
/// same errors, except that a list or dict kept unserialized (see the module's documentation)
/// is only walked, to check it and count its bytes.
pub(crate) fn convert<'a>(
    values: Vec<(&'a str, Encoded, &'a Type)>,
) -> Result<BTreeMap<&'a str, Output<'a>>, LiteralError> {
    let mut outputs = BTreeMap::new();
    for (name, value, ty) in values {
        let path = Path::Root(name);
        let output = match streamable(&value, ty) {
            true => match walk(&value, ty, path, None) {
                Ok(len) => Output::Streamed { value, ty, len },
                Err(Stop::Convert(e)) => return Err(e),
                // Serialized whole, it fails (or not) as it always did.
                Err(Stop::Fallback | Stop::Storage(_)) => Output::Literal(Box::new(encode_owned(value, ty, path)?)),
            },
            false => Output::Literal(Box::new(encode_owned(value, ty, path)?)),
        };
        if outputs.insert(name, output).is_some() {
            return Err(given_twice(name));
        }
    }
    Ok(outputs)
}

/// Whether `value` is written element by element: a list or dict kept unserialized, holding no
/// files.
fn streamable(value: &Encoded, ty: &Type) -> bool {
    matches!(ty, Type::Collection(_) | Type::Dict(_))
        && !crate::files::holds_files(ty)
        && value.with_typed(|_| ()).is_some()
}

/// Writes `outputs` (from [`convert`]) as the bytes of their `LiteralMap`, exactly as prost
/// encodes it, in pieces of about [`PIECE`] handed to `put`.
/// `uri` names the object in errors.
pub(crate) fn write(
    outputs: BTreeMap<&str, Output<'_>>,
    uri: &str,
    put: &mut dyn FnMut(Bytes) -> Result<(), StorageError>,
) -> Result<(), WriteError> {
    let mut pieces = Pieces {
        piece: Vec::with_capacity(PIECE),
        put,
    };
    for (name, output) in outputs {
        match output {
            Output::Literal(literal) => {
                // A map of this one entry is encoded as the entry alone.
                let map = LiteralMap {
                    literals: BTreeMap::from([(name.to_owned(), *literal)]),
                };
                let mut entry = OutputPieces::new(map);
                while let Some(piece) = entry.next_piece().map_err(|e| {
                    WriteError::Storage(StorageError::Store {
                        op: "write",
                        uri: uri.to_owned(),
                        source: Box::new(e),
                    })
                })? {
                    pieces.piece.extend_from_slice(&piece);
                    pieces.full().map_err(WriteError::Storage)?;
                }
            }
            Output::Streamed { value, ty, len } => {
                let container = match ty {
                    Type::Dict(_) => field::MAP,
                    _ => field::COLLECTION,
                };
                // As prost writes a map entry (an empty key left out), whose value is a
                // literal of the one field.
                let literal_len = key_len(container) as u64 + encoded_len_varint(len) as u64 + len;
                let key_len_ = match name.is_empty() {
                    true => 0,
                    false => key_len(field::LITERALS) + encoded_len_varint(name.len() as u64) + name.len(),
                };
                let entry_len = key_len_ as u64
                    + key_len(field::VALUE) as u64
                    + encoded_len_varint(literal_len) as u64
                    + literal_len;
                let piece = &mut pieces.piece;
                encode_key(field::LITERALS, WireType::LengthDelimited, piece);
                encode_varint(entry_len, piece);
                if !name.is_empty() {
                    encode_key(field::LITERALS, WireType::LengthDelimited, piece);
                    encode_varint(name.len() as u64, piece);
                    piece.extend_from_slice(name.as_bytes());
                }
                encode_key(field::VALUE, WireType::LengthDelimited, piece);
                encode_varint(literal_len, piece);
                encode_key(container, WireType::LengthDelimited, piece);
                encode_varint(len, piece);
                let path = Path::Root(name);
                match walk(&value, ty, path, Some(&mut pieces)) {
                    Ok(written) if written == len => {}
                    Err(Stop::Storage(e)) => return Err(WriteError::Storage(e)),
                    Err(Stop::Convert(e)) => return Err(WriteError::Literal(e)),
                    Ok(_) | Err(Stop::Fallback) => return Err(WriteError::Literal(path.invalid(
                        "the value serialized differently the second time (a `Serialize` that is not deterministic)",
                    ))),
                }
            }
        }
    }
    pieces.flush().map_err(WriteError::Storage)
}

/// The piece being filled, and where full ones go.
struct Pieces<'p> {
    piece: Vec<u8>,
    put: &'p mut dyn FnMut(Bytes) -> Result<(), StorageError>,
}

impl Pieces<'_> {
    /// Hands the piece over once it is [`PIECE`] long.
    fn full(&mut self) -> Result<(), StorageError> {
        match self.piece.len() >= PIECE {
            true => self.flush(),
            false => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        (self.put)(Bytes::from(piece))
    }
}

/// Walks the list or dict `value` (of type `ty`, at `path`) an element at a time, converting
/// each; with `pieces`, writing each element's bytes there. The length of the elements' bytes.
fn walk(value: &Encoded, ty: &Type, path: Path<'_>, pieces: Option<&mut Pieces<'_>>) -> Result<u64, Stop> {
    let mut walk = Walk {
        ty,
        path,
        writer: Writer::default(),
        len: 0,
        index: 0,
        key: None,
        pieces,
    };
    match value.with_typed(|v| flyte_runtime::erased_serde::serialize(v, &mut walk)) {
        Some(Ok(())) => Ok(walk.len),
        Some(Err(stop)) => Err(stop),
        None => Err(Stop::Fallback),
    }
}

/// Why a walk stopped.
#[derive(Debug)]
enum Stop {
    /// Something the walk does not follow (the value is not the list or dict its type says,
    /// a dict's keys out of order, an element that does not serialize): the value is
    /// converted whole instead, which fails (or not) as it always did.
    Fallback,
    /// An element that does not convert, as converting the whole value reports it.
    Convert(LiteralError),
    /// The upload failed.
    Storage(StorageError),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Fallback => f.write_str("not a list or dict written element by element"),
            Stop::Convert(e) => e.fmt(f),
            Stop::Storage(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        // The value's own error: serialized whole, it gives it again where it always did.
        Stop::Fallback
    }
}

/// A serde `Serializer` for the outer layer of a list or dict.
struct Walk<'a, 'p, 'q> {
    ty: &'a Type,
    path: Path<'a>,
    /// One for the whole value: it remembers each `Optional`'s variants.
    writer: Writer,
    /// The bytes of the elements so far.
    len: u64,
    index: usize,
    /// A dict's key, between its `serialize_key` and `serialize_value`.
    key: Option<String>,
    pieces: Option<&'p mut Pieces<'q>>,
}

impl Walk<'_, '_, '_> {
    /// `message`, the encoding of one element in its list or dict, counted and, in the writing
    /// pass, written.
    fn emit(&mut self, message: impl Message) -> Result<(), Stop> {
        self.len += message.encoded_len() as u64;
        if let Some(pieces) = &mut self.pieces {
            // Into a `Vec`, which grows as needed: encoding cannot run out of room.
            message.encode(&mut pieces.piece).map_err(|_| Stop::Fallback)?;
            pieces.full().map_err(Stop::Storage)?;
        }
        Ok(())
    }
}

/// `value` as the CBOR value the whole value's serialization would have held for it.
fn cbor<T: Serialize + ?Sized>(value: &T, path: Path<'_>) -> Result<Cbor, Stop> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes).map_err(|_| Stop::Fallback)?;
    ciborium::from_reader(&bytes[..]).map_err(|e| Stop::Convert(not_serialized(path, e)))
}

impl ser::SerializeSeq for &mut Walk<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let Type::Collection(item) = self.ty else {
            return Err(Stop::Fallback);
        };
        let (path, i) = (self.path, self.index);
        self.index += 1;
        let cbor = cbor(value, path)?;
        let literal = self
            .writer
            .literal_owned(cbor, item, path.index(i))
            .map_err(Stop::Convert)?;
        self.emit(LiteralCollection {
            literals: vec![literal],
        })
    }

    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Walk<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeMap for &mut Walk<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        // In the order the value gives them: prost writes a map's entries sorted, but a reader
        // takes them in any order (and the last of a key given twice, as converting the whole
        // value keeps it), so a `HashMap` is written as it iterates.
        self.key = Some(dict_key(cbor(key, self.path)?, self.path).map_err(Stop::Convert)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let (Type::Dict(item), Some(key)) = (self.ty, self.key.take()) else {
            return Err(Stop::Fallback);
        };
        let path = self.path;
        let cbor = cbor(value, path.key(&key))?;
        let literal = self
            .writer
            .literal_owned(cbor, item, path.key(&key))
            .map_err(Stop::Convert)?;
        self.emit(LiteralMap {
            literals: BTreeMap::from([(key.clone(), literal)]),
        })?;
        Ok(())
    }

    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// Anything but a list or a dict (or a newtype around one) is not walked.
macro_rules! fallback {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), Stop> {
            Err(Stop::Fallback)
        })*
    };
}

impl ser::Serializer for &mut Walk<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Impossible<(), Stop>;
    type SerializeTupleVariant = Impossible<(), Stop>;
    type SerializeMap = Self;
    type SerializeStruct = Impossible<(), Stop>;
    type SerializeStructVariant = Impossible<(), Stop>;

    fallback!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Stop> {
        Err(Stop::Fallback)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Stop> {
        // ciborium writes a newtype as what it wraps.
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Stop> {
        Err(Stop::Fallback)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        match self.ty {
            Type::Collection(_) => Ok(self),
            _ => Err(Stop::Fallback),
        }
    }

    fn serialize_tuple(self, len: usize) -> Result<Self, Stop> {
        // ciborium writes a tuple as an array.
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop::Fallback)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop::Fallback)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self, Stop> {
        match self.ty {
            Type::Dict(_) => Ok(self),
            _ => Err(Stop::Fallback),
        }
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop::Fallback)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop::Fallback)
    }

    fn is_human_readable(&self) -> bool {
        // As ciborium's serializer says, so that a value serializes here as it would there.
        false
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::literal::to_literal_map_owned;

    fn list(item: Type) -> Type {
        Type::Collection(Box::new(item))
    }

    fn dict(value: Type) -> Type {
        Type::Dict(Box::new(value))
    }

    /// An output's name, its value as bytes and kept unserialized, and its type.
    type Slot<'a> = (&'a str, (Encoded, Encoded), &'a Type);

    /// A value both ways: kept unserialized, and serialized as it always was.
    fn both<T: serde::Serialize + Send + Clone + 'static>(value: T) -> (Encoded, Encoded) {
        (Encoded::encode(&value).unwrap(), Encoded::typed(value).unwrap())
    }

    /// What `convert` and `write` make of `values`, in the pieces `write` handed over.
    fn written(values: Vec<(&str, Encoded, &Type)>) -> Result<Vec<Bytes>, LiteralError> {
        let outputs = convert(values)?;
        let mut pieces = Vec::new();
        match write(outputs, "mem://outputs.pb", &mut |piece| {
            pieces.push(piece);
            Ok(())
        }) {
            Ok(()) => Ok(pieces),
            Err(WriteError::Literal(e)) => Err(e),
            Err(WriteError::Storage(e)) => panic!("{e}"),
        }
    }

    /// Lists and dicts walked element by element, and every other output, written together are
    /// prost's bytes for the map converting them whole makes; in pieces of about `PIECE`.
    #[test]
    fn the_bytes_written_are_prosts_for_the_whole_map() {
        let strs = list(Type::Str);
        let ints = dict(Type::Integer);
        let nested = list(list(Type::Integer));
        let optionals = dict(Type::Optional(Box::new(Type::Float)));
        let triple = list(Type::Integer);
        // More than a piece, so that the list is written in several.
        let lines: Vec<String> = (0..1500).map(|i| format!("{i}:{}", "w".repeat(900 + i % 11))).collect();
        let counts: BTreeMap<String, i64> = [("".to_owned(), 1), ("a".to_owned(), -2), ("b".to_owned(), 3)].into();
        let maybe: HashMap<String, Option<f64>> = (0..20)
            .map(|i| (format!("k{i}"), (i % 3 != 0).then_some(i as f64)))
            .collect();
        let slots: Vec<Slot<'_>> = vec![
            ("o0", both(lines), &strs),
            ("o1", both(counts), &ints),
            ("o2", both(7u64), &Type::Integer),
            ("o3", both(vec![vec![1i64, 2], vec![], vec![-3]]), &nested),
            ("o4", both(maybe), &optionals),
            ("a", both(Vec::<String>::new()), &strs),
            ("o6", both([4i64, 5, 6]), &triple),
            // Held as bytes: converted whole.
            (
                "o5",
                (Encoded::encode(&["x"]).unwrap(), Encoded::encode(&["x"]).unwrap()),
                &strs,
            ),
        ];
        let whole: Vec<(&str, Encoded, &Type)> = slots.iter().map(|(n, (e, _), t)| (*n, e.clone(), *t)).collect();
        let expected = to_literal_map_owned(whole).unwrap().encode_to_vec();
        let typed: Vec<(&str, Encoded, &Type)> = slots.iter().map(|(n, (_, t), ty)| (*n, t.clone(), *ty)).collect();

        let outputs = convert(typed.clone()).unwrap();
        let streamed: Vec<&str> = outputs
            .iter()
            .filter(|(_, o)| matches!(o, Output::Streamed { .. }))
            .map(|(n, _)| *n)
            .collect();
        // A value held as bytes is converted whole; a HashMap is walked in its own order.
        assert_eq!(streamed, ["a", "o0", "o1", "o3", "o4", "o6"]);

        let pieces = written(typed).unwrap();
        assert!(pieces.len() > 1, "{} piece(s)", pieces.len());
        assert!(
            pieces.iter().all(|p| p.len() < PIECE + 2048),
            "{:?}",
            pieces.iter().map(Bytes::len).collect::<Vec<_>>()
        );
        // The same map; and byte for byte without the HashMap, whose entries prost sorts.
        assert_eq!(
            LiteralMap::decode(&pieces.concat()[..]).unwrap(),
            LiteralMap::decode(&expected[..]).unwrap()
        );
        let sorted_whole: Vec<(&str, Encoded, &Type)> = slots
            .iter()
            .filter(|(n, _, _)| *n != "o4")
            .map(|(n, (e, _), t)| (*n, e.clone(), *t))
            .collect();
        let sorted_typed: Vec<(&str, Encoded, &Type)> = slots
            .iter()
            .filter(|(n, _, _)| *n != "o4")
            .map(|(n, (_, t), ty)| (*n, t.clone(), *ty))
            .collect();
        assert_eq!(
            written(sorted_typed).unwrap().concat(),
            to_literal_map_owned(sorted_whole).unwrap().encode_to_vec()
        );
    }

    /// A list or dict that does not convert fails, before anything is written, with the
    /// error converting it whole gives: at the same element, the first output in the order
    /// given that fails.
    #[test]
    fn an_element_that_does_not_convert_fails_as_the_whole_value_does() {
        let ints = list(Type::Integer);
        let dict_ints = dict(Type::Integer);
        let cases: Vec<Vec<Slot<'_>>> = vec![
            vec![("o0", both(vec![1u64, 2, 3, u64::MAX, 5]), &ints)],
            vec![("o0", both(BTreeMap::from([("k".to_owned(), u64::MAX)])), &dict_ints)],
            vec![("o0", both(BTreeMap::from([(1u32, 1i64)])), &dict_ints)],
            vec![("o0", both(vec!["text"]), &ints)],
            vec![
                ("z", both(vec![u64::MAX]), &ints),
                ("a", both(vec![1u64, u64::MAX]), &ints),
            ],
            vec![("o0", both(vec![1i64]), &ints), ("o0", both(vec![2i64]), &ints)],
        ];
        for case in cases {
            let whole: Vec<(&str, Encoded, &Type)> = case.iter().map(|(n, (e, _), t)| (*n, e.clone(), *t)).collect();
            let typed: Vec<(&str, Encoded, &Type)> = case.iter().map(|(n, (_, t), ty)| (*n, t.clone(), *ty)).collect();
            let expected = to_literal_map_owned(whole).unwrap_err();
            let got = written(typed).unwrap_err();
            assert_eq!(got.to_string(), expected.to_string());
            assert_eq!(got.path, expected.path);
        }
        let err = written(vec![("o0", Encoded::typed(vec![1u64, 2, 3, u64::MAX]).unwrap(), &ints)]).unwrap_err();
        assert_eq!(err.path, "o0[3]");
    }

    /// A value that serializes differently the second time is refused, not written wrong.
    #[test]
    fn a_list_that_changes_between_the_passes_is_refused() {
        struct Growing(std::sync::atomic::AtomicUsize);
        impl serde::Serialize for Growing {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.collect_seq(0..n as i64)
            }
        }
        let ints = list(Type::Integer);
        let value = Encoded::typed(Growing(0.into())).unwrap();
        let err = written(vec![("o0", value, &ints)]).unwrap_err();
        assert_eq!(err.path, "o0");
        assert!(err.to_string().contains("serialized differently"), "{err}");
    }
}
