//! `inputs.pb` and `outputs.pb` a piece at a time: the outer layers of a `core.LiteralMap` (its
//! entries, and a list's or dict's literals inside them) read and written by hand in protobuf's
//! wire format, so that a large input or output is held once as it crosses, not as both the
//! object's bytes and the decoded map.
//!
//! Reading ([`read_inputs`]) follows the input's [`Type`]: where it is a `Collection` or a
//! `Dict`, the literal's `collection` or `map` is walked field by field, each element in turn;
//! every other literal (an element, or an input of another type) is decoded with prost from its
//! own bytes and converted by [`literal`](crate::literal)'s own reading, its CBOR appended to
//! the input's, which is written in chunks the runtime frees as it decodes them. A list is written as a CBOR array of indefinite length, a dict as a map
//! of indefinite length (their counts come last in the stream), which serde reads as it reads
//! definite ones. For a map task's element, only that element of each list is converted.
//!
//! Anything the walk does not follow gives up ([`Stop::Fallback`]), and the caller decodes the
//! whole object as before: an error (malformed bytes, a literal that does not convert, an input
//! missing or extra) is then the one the whole reading reports, in the order it reports them,
//! and a layout no writer produces (a value field given twice, an entry's value before its
//! key, a group) still reads as prost reads it. The one difference that stays: a dict's entries
//! are in the order `inputs.pb` has them, where the whole reading sorts them (prost's map is a
//! `BTreeMap`); a Rust map reads the same either way. And prost's limit of 100 nested messages
//! counts from each element decoded, not from the map: a value nested past it, which the whole
//! reading refuses, would read here.
//!
//! Writing ([`OutputPieces`]) encodes a converted map into pieces for a streaming upload, a
//! large list's or dict's literals one at a time (each freed once written), so that
//! `outputs.pb`'s bytes are never whole beside the map. The bytes are exactly prost's.

use std::collections::btree_map;

use bytes::{Buf, Bytes};
use flyte_idl::core::{literal, Literal};
use flyte_idl::prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, encoded_len_varint, WireType};
use flyte_idl::prost::{EncodeError, Message};
use flyte_runtime::{Encoded, Type};

use crate::literal::{read_literal_owned, LiteralError, Path};
use crate::storage::StorageError;

/// The field numbers this reader and writer know, as flyteidl's `literals.proto` numbers them
/// (a test checks them against the generated code).
pub(crate) mod field {
    /// `LiteralMap.literals`, `LiteralCollection.literals`; a map entry's key.
    pub const LITERALS: u32 = 1;
    /// A map entry's value.
    pub const VALUE: u32 = 2;
    /// `Literal.scalar`, `Literal.collection`, `Literal.map`, `Literal.offloaded_metadata`: the
    /// fields of `Literal`'s `value` oneof.
    pub const SCALAR: u32 = 1;
    pub const COLLECTION: u32 = 2;
    pub const MAP: u32 = 3;
    pub const OFFLOADED: u32 = 8;
}

/// The pieces of an object, in order.
pub(crate) trait Source {
    /// The next piece, or `None` after the last.
    fn next_piece(&mut self) -> Result<Option<Bytes>, StorageError>;
}

impl Source for crate::storage::Pieces {
    fn next_piece(&mut self) -> Result<Option<Bytes>, StorageError> {
        crate::storage::Pieces::next_piece(self)
    }
}

/// Why the streamed reading stopped short of the values.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The object could not be read.
    Storage(StorageError),
    /// Something the walk does not follow: the caller reads the whole object instead.
    Fallback(Fallback),
}

/// What the walk gave up on.
#[derive(Debug, PartialEq)]
pub(crate) enum Fallback {
    /// Bytes that are not protobuf (a bad varint or key, a length past its message's end, the
    /// object ending early): prost, reading the whole, says how.
    Malformed(&'static str),
    /// A layout prost reads but the walk does not follow.
    Unsupported(&'static str),
    /// An input under a name the interface does not have, or one it has missing.
    Inputs,
    /// A map task's input that is not a list, or has no element at the index.
    Element,
    /// A literal that does not convert.
    Convert(LiteralError),
}

fn malformed(why: &'static str) -> Stop {
    Stop::Fallback(Fallback::Malformed(why))
}

fn unsupported(why: &'static str) -> Stop {
    Stop::Fallback(Fallback::Unsupported(why))
}

fn convert(error: LiteralError) -> Stop {
    Stop::Fallback(Fallback::Convert(error))
}

/// The values of the `core.LiteralMap` whose `size` bytes `source` yields, one per slot and in
/// the slots' order, each what [`from_literal_map_owned`](crate::literal::from_literal_map_owned)
/// makes of it (a list or dict in indefinite-length CBOR). With `element`, each input is a
/// list of values of its slot's type and the value is its element at that index (a map task's
/// element, as `execute`'s `element_of` takes it); the other elements are decoded, to be
/// checked as the whole reading checks them, and dropped.
///
/// Held at once: each value as it is written (its buffer sized from its literal's length at
/// first), the values before it, the piece being read and the one element being converted.
pub(crate) fn read_inputs(
    source: impl Source,
    size: u64,
    slots: &[(&str, &Type)],
    element: Option<usize>,
) -> Result<Vec<Encoded>, Stop> {
    let mut wire = Wire {
        source,
        piece: Bytes::new(),
        pos: 0,
    };
    let mut values: Vec<Option<Encoded>> = vec![None; slots.len()];
    while wire.pos < size {
        let (tag, wire_type) = wire.key(size)?;
        if tag != field::LITERALS {
            wire.skip_field(wire_type, size)?;
            continue;
        }
        let end = wire.message(wire_type, size)?;
        // An entry's fields: its key, then its value (whose type the key says).
        let mut slot: Option<usize> = None;
        let mut out = CborChunks::default();
        while wire.pos < end {
            let (tag, wire_type) = wire.key(end)?;
            match (tag, slot) {
                (field::LITERALS, None) => {
                    let name = wire.text(wire_type, end)?;
                    let found = slots.iter().position(|(n, _)| *n == name);
                    slot = Some(found.ok_or(Stop::Fallback(Fallback::Inputs))?);
                }
                (field::VALUE, Some(i)) if out.is_empty() => {
                    let (name, ty) = slots[i];
                    let len = wire.message(wire_type, end)? - wire.pos;
                    match element {
                        None => {
                            // The CBOR is about as long as the literal (shorter for a list of
                            // strings, which carries less framing): its first chunk no larger.
                            out.expect(usize::try_from(len).unwrap_or(usize::MAX));
                            wire.literal(len, ty, Path::Root(name), &mut out)?;
                        }
                        Some(index) => wire.element(len, index, ty, Path::Root(name), &mut out)?,
                    }
                }
                (field::LITERALS | field::VALUE, _) => {
                    return Err(unsupported("an entry's value before its key, or given twice"))
                }
                _ => wire.skip_field(wire_type, end)?,
            }
        }
        let Some(i) = slot else {
            return Err(unsupported("an entry without a key"));
        };
        if out.is_empty() {
            if element.is_some() {
                return Err(Stop::Fallback(Fallback::Element));
            }
            let (name, ty) = slots[i];
            leaf(Literal::default(), ty, Path::Root(name), &mut out)?;
        }
        // A name given twice: the last one stands, as in prost's map.
        values[i] = Some(Encoded::from_cbor_chunks(out.into_chunks()));
    }
    if wire.fill()? {
        return Err(malformed("more bytes than the object's length"));
    }
    values
        .into_iter()
        .map(|v| v.ok_or(Stop::Fallback(Fallback::Inputs)))
        .collect()
}

/// How large a chunk of an input's CBOR [`CborChunks`] writes: the runtime frees each once decoded
/// ([`Encoded::decode_owned`]), so that a large input is not held both as its CBOR and as the
/// task's value; small beside such a value, large beside the allocator's bookkeeping.
const CHUNK: usize = 1 << 20;

/// An input's CBOR as it is written, in chunks of [`CHUNK`] bytes (the last one shorter).
#[derive(Default)]
struct CborChunks {
    full: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl CborChunks {
    /// Sizes the first chunk for a value of about `len` bytes, so that a small one is not
    /// given a whole chunk and a large one does not grow its first chunk by doubling.
    fn expect(&mut self, len: usize) {
        if self.full.is_empty() {
            self.current
                .reserve_exact(len.min(CHUNK).saturating_sub(self.current.len()));
        }
    }

    fn push(&mut self, byte: u8) {
        // Writing to a `Vec` cannot fail.
        let _ = std::io::Write::write_all(self, &[byte]);
    }

    fn is_empty(&self) -> bool {
        self.full.is_empty() && self.current.is_empty()
    }

    fn into_chunks(mut self) -> Vec<Vec<u8>> {
        self.full.push(self.current);
        self.full
    }
}

impl std::io::Write for CborChunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.current.len() == CHUNK {
            let next = Vec::with_capacity(CHUNK);
            self.full.push(std::mem::replace(&mut self.current, next));
        }
        let n = buf.len().min(CHUNK - self.current.len());
        self.current.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A reader of the wire format over the pieces of an object.
struct Wire<S> {
    source: S,
    /// What is left of the current piece.
    piece: Bytes,
    /// How many bytes of the object have been used.
    pos: u64,
}

impl<S: Source> Wire<S> {
    /// Makes `piece` non-empty, if anything is left of the object.
    fn fill(&mut self) -> Result<bool, Stop> {
        while self.piece.is_empty() {
            match self.source.next_piece().map_err(Stop::Storage)? {
                Some(piece) => self.piece = piece,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    fn byte(&mut self, end: u64) -> Result<u8, Stop> {
        if self.pos >= end {
            return Err(malformed("a varint running past its message's end"));
        }
        if !self.fill()? {
            return Err(malformed("the object ends early"));
        }
        let b = self.piece.get_u8();
        self.pos += 1;
        Ok(b)
    }

    /// A varint's bytes, to prost's limit of ten, for prost's own decoding.
    fn varint_bytes(&mut self, end: u64) -> Result<([u8; 10], usize), Stop> {
        let mut bytes = [0u8; 10];
        let mut n = 0;
        loop {
            let b = self.byte(end)?;
            bytes[n] = b;
            n += 1;
            if b < 0x80 || n == bytes.len() {
                return Ok((bytes, n));
            }
        }
    }

    fn varint(&mut self, end: u64) -> Result<u64, Stop> {
        let (bytes, n) = self.varint_bytes(end)?;
        decode_varint(&mut &bytes[..n]).map_err(|_| malformed("a bad varint"))
    }

    fn key(&mut self, end: u64) -> Result<(u32, WireType), Stop> {
        let (bytes, n) = self.varint_bytes(end)?;
        decode_key(&mut &bytes[..n]).map_err(|_| malformed("a bad field key"))
    }

    /// A length-delimited field's length, checked against its message's end; the end of its
    /// bytes.
    fn message(&mut self, wire_type: WireType, end: u64) -> Result<u64, Stop> {
        if wire_type != WireType::LengthDelimited {
            return Err(malformed("a message field of another wire type"));
        }
        let len = self.varint(end)?;
        if len > end - self.pos {
            return Err(malformed("a length past its message's end"));
        }
        Ok(self.pos + len)
    }

    /// The next `n` bytes (already checked to be within their message): a slice of the piece
    /// when it holds them all, else gathered into one buffer.
    fn take(&mut self, n: u64) -> Result<Bytes, Stop> {
        let n = usize::try_from(n).map_err(|_| malformed("a length past its message's end"))?;
        if n == 0 {
            return Ok(Bytes::new());
        }
        if !self.fill()? {
            return Err(malformed("the object ends early"));
        }
        if self.piece.len() >= n {
            self.pos += n as u64;
            return Ok(self.piece.split_to(n));
        }
        let mut gathered = Vec::with_capacity(n);
        while gathered.len() < n {
            if !self.fill()? {
                return Err(malformed("the object ends early"));
            }
            let k = (n - gathered.len()).min(self.piece.len());
            gathered.extend_from_slice(&self.piece[..k]);
            self.piece.advance(k);
            self.pos += k as u64;
        }
        Ok(Bytes::from(gathered))
    }

    fn skip(&mut self, mut n: u64) -> Result<(), Stop> {
        while n > 0 {
            if !self.fill()? {
                return Err(malformed("the object ends early"));
            }
            let k = usize::try_from(n).unwrap_or(usize::MAX).min(self.piece.len());
            self.piece.advance(k);
            self.pos += k as u64;
            n -= k as u64;
        }
        Ok(())
    }

    fn fixed(&mut self, wire_type: WireType, end: u64) -> Result<u64, Stop> {
        let n = if wire_type == WireType::SixtyFourBit { 8 } else { 4 };
        if n > end - self.pos {
            return Err(malformed("a fixed-width field past its message's end"));
        }
        Ok(n)
    }

    /// Skips a field this walk has no use for, as prost skips an unknown one.
    fn skip_field(&mut self, wire_type: WireType, end: u64) -> Result<(), Stop> {
        match wire_type {
            WireType::Varint => self.varint(end).map(drop),
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let n = self.fixed(wire_type, end)?;
                self.skip(n)
            }
            WireType::LengthDelimited => {
                let to = self.message(wire_type, end)?;
                self.skip(to - self.pos)
            }
            WireType::StartGroup | WireType::EndGroup => Err(unsupported("a group")),
        }
    }

    /// A string field (a map entry's key), checked to be UTF-8 as prost checks it.
    fn text(&mut self, wire_type: WireType, end: u64) -> Result<String, Stop> {
        let to = self.message(wire_type, end)?;
        let bytes = self.take(to - self.pos)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a key that is not UTF-8"))
    }

    /// The field as prost reads it (its key, then its value), appended to `into`.
    fn field_bytes(&mut self, tag: u32, wire_type: WireType, end: u64, into: &mut Vec<u8>) -> Result<(), Stop> {
        encode_key(tag, wire_type, into);
        match wire_type {
            WireType::Varint => encode_varint(self.varint(end)?, into),
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let n = self.fixed(wire_type, end)?;
                into.extend_from_slice(&self.take(n)?);
            }
            WireType::LengthDelimited => {
                let to = self.message(wire_type, end)?;
                encode_varint(to - self.pos, into);
                into.extend_from_slice(&self.take(to - self.pos)?);
            }
            WireType::StartGroup | WireType::EndGroup => return Err(unsupported("a group")),
        }
        Ok(())
    }

    /// The `Literal` of the next `len` bytes, a value of type `ty`, as CBOR appended to `out`.
    fn literal(&mut self, len: u64, ty: &Type, path: Path<'_>, out: &mut CborChunks) -> Result<(), Stop> {
        let (walked, item) = match ty {
            Type::Collection(item) => (field::COLLECTION, item),
            Type::Dict(value) => (field::MAP, value),
            _ => {
                let bytes = self.take(len)?;
                let literal = Literal::decode(bytes).map_err(|_| malformed("a literal prost does not decode"))?;
                return leaf(literal, ty, path, out);
            }
        };
        let mut opened = false;
        let mut index = 0;
        let rest = self.walk(len, walked, |wire, to| {
            if !opened {
                // An array or a map of indefinite length (major type 4 or 5, count 31).
                out.push(if walked == field::COLLECTION { 0x9f } else { 0xbf });
                opened = true;
            }
            if walked == field::COLLECTION {
                wire.elements(to, item, path, &mut index, out)
            } else {
                wire.entries(to, item, path, out)
            }
        })?;
        match rest {
            Some(rest) => leaf(rest, ty, path, out),
            None => {
                out.push(0xff);
                Ok(())
            }
        }
    }

    /// Element `index` of the list the `Literal` of the next `len` bytes holds, a value of type
    /// `ty`, as CBOR appended to `out`: a map task's input. The other elements are decoded, only
    /// to fail where prost, decoding the whole map, fails, and dropped.
    fn element(&mut self, len: u64, index: usize, ty: &Type, path: Path<'_>, out: &mut CborChunks) -> Result<(), Stop> {
        let mut count = 0;
        let rest = self.walk(len, field::COLLECTION, |wire, to| {
            while wire.pos < to {
                let (tag, wire_type) = wire.key(to)?;
                if tag != field::LITERALS {
                    wire.skip_field(wire_type, to)?;
                    continue;
                }
                let item_end = wire.message(wire_type, to)?;
                if count == index {
                    wire.literal(item_end - wire.pos, ty, path, out)?;
                } else {
                    let bytes = wire.take(item_end - wire.pos)?;
                    Literal::decode(bytes).map_err(|_| malformed("a literal prost does not decode"))?;
                }
                count += 1;
            }
            Ok(())
        })?;
        if rest.is_some() || count <= index {
            return Err(Stop::Fallback(Fallback::Element));
        }
        Ok(())
    }

    /// Walks the fields of the `Literal` of the next `len` bytes, handing `container` each
    /// `walked` field (its list's `collection` or its dict's `map`: the end of its bytes, which
    /// it reads) as it comes, and merging every other field into a literal as prost merges it.
    /// That literal when there was no `walked` field (the value is something else, to be read
    /// whole); `None` when there was.
    fn walk(
        &mut self,
        len: u64,
        walked: u32,
        mut container: impl FnMut(&mut Self, u64) -> Result<(), Stop>,
    ) -> Result<Option<Literal>, Stop> {
        let end = self.pos + len;
        // Its hash and metadata, or the value itself when it is not the list or dict the type
        // expects.
        let mut rest = Literal::default();
        let mut field_bytes = Vec::new();
        let mut seen = false;
        while self.pos < end {
            let (tag, wire_type) = self.key(end)?;
            if tag == walked && wire_type == WireType::LengthDelimited {
                // prost keeps a oneof's last value: a list after another value replaces it.
                if rest.value.is_some() {
                    return Err(unsupported("a literal with two values"));
                }
                seen = true;
                // A second `collection` field merges into the first: more elements.
                let to = self.message(wire_type, end)?;
                container(self, to)?;
            } else if seen && matches!(tag, field::SCALAR | field::COLLECTION | field::MAP | field::OFFLOADED) {
                return Err(unsupported("a literal with two values"));
            } else {
                field_bytes.clear();
                self.field_bytes(tag, wire_type, end, &mut field_bytes)?;
                rest.merge(&field_bytes[..])
                    .map_err(|_| malformed("a literal's field prost does not decode"))?;
            }
        }
        Ok((!seen).then_some(rest))
    }

    /// A `LiteralCollection`'s literals up to `end`, each an element of type `item`.
    fn elements(
        &mut self,
        end: u64,
        item: &Type,
        path: Path<'_>,
        index: &mut usize,
        out: &mut CborChunks,
    ) -> Result<(), Stop> {
        while self.pos < end {
            let (tag, wire_type) = self.key(end)?;
            if tag != field::LITERALS {
                self.skip_field(wire_type, end)?;
                continue;
            }
            let to = self.message(wire_type, end)?;
            self.literal(to - self.pos, item, path.index(*index), out)?;
            *index += 1;
        }
        Ok(())
    }

    /// A `LiteralMap`'s entries up to `end`, each value of type `value`, as CBOR map entries.
    fn entries(&mut self, end: u64, value: &Type, path: Path<'_>, out: &mut CborChunks) -> Result<(), Stop> {
        while self.pos < end {
            let (tag, wire_type) = self.key(end)?;
            if tag != field::LITERALS {
                self.skip_field(wire_type, end)?;
                continue;
            }
            let entry_end = self.message(wire_type, end)?;
            // prost leaves out an empty key (and a default value): an entry that starts with
            // its value has the key "".
            let mut key: Option<String> = None;
            let mut written = false;
            while self.pos < entry_end {
                let (tag, wire_type) = self.key(entry_end)?;
                match tag {
                    field::LITERALS if key.is_none() && !written => key = Some(self.text(wire_type, entry_end)?),
                    field::VALUE if !written => {
                        let k = key.as_deref().unwrap_or("");
                        text(k, path, out)?;
                        let to = self.message(wire_type, entry_end)?;
                        self.literal(to - self.pos, value, path.key(k), out)?;
                        written = true;
                    }
                    field::LITERALS | field::VALUE => {
                        return Err(unsupported("an entry's key after its value, or given twice"))
                    }
                    _ => self.skip_field(wire_type, entry_end)?,
                }
            }
            if !written {
                let k = key.as_deref().unwrap_or("");
                text(k, path, out)?;
                leaf(Literal::default(), value, path.key(k), out)?;
            }
        }
        Ok(())
    }
}

/// `literal`, converted as the whole reading converts it, as CBOR appended to `out`.
fn leaf(literal: Literal, ty: &Type, path: Path<'_>, out: &mut CborChunks) -> Result<(), Stop> {
    let value = read_literal_owned(literal, ty, path).map_err(convert)?;
    ciborium::into_writer(&value, &mut *out).map_err(|e| convert(path.invalid(e.to_string())))
}

/// A dict's key, as CBOR text.
fn text(key: &str, path: Path<'_>, out: &mut CborChunks) -> Result<(), Stop> {
    ciborium::into_writer(key, &mut *out).map_err(|e| convert(path.invalid(e.to_string())))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// How large a piece [`OutputPieces`] hands the upload; a literal larger than this is written a
/// literal of its list or dict at a time.
pub(crate) const PIECE: usize = 1 << 20;

/// The bytes of a `core.LiteralMap` (`outputs.pb`), exactly as prost encodes it, in pieces of
/// about [`PIECE`]: a large list's or dict's literals are encoded one at a time and freed once
/// written, so that the map and its bytes are never both whole.
pub(crate) struct OutputPieces {
    /// The lists and dicts being written, innermost last.
    open: Vec<Open>,
}

/// A list or dict being written: what is left of it, and what the literal holding it has
/// after it (its hash and metadata: prost writes fields in the order of their numbers).
struct Open {
    left: Left,
    after: Option<Literal>,
}

enum Left {
    Elements(std::vec::IntoIter<Literal>),
    Entries(btree_map::IntoIter<String, Literal>),
}

impl OutputPieces {
    /// The pieces of `map`.
    pub(crate) fn new(map: flyte_idl::core::LiteralMap) -> OutputPieces {
        OutputPieces {
            open: vec![Open {
                left: Left::Entries(map.literals.into_iter()),
                after: None,
            }],
        }
    }

    /// The next piece, or `None` once the map is written.
    pub(crate) fn next_piece(&mut self) -> Result<Option<Bytes>, EncodeError> {
        let mut piece = Vec::with_capacity(PIECE);
        while piece.len() < PIECE {
            let Some(open) = self.open.last_mut() else { break };
            let next = match &mut open.left {
                Left::Elements(literals) => literals.next().map(|l| (None, l)),
                Left::Entries(entries) => entries.next().map(|(k, l)| (Some(k), l)),
            };
            match next {
                Some((None, literal)) => {
                    encode_key(field::LITERALS, WireType::LengthDelimited, &mut piece);
                    encode_varint(literal.encoded_len() as u64, &mut piece);
                    self.write(literal, &mut piece)?;
                }
                Some((Some(key), literal)) => {
                    // As prost writes a map entry: an empty key and a default value left out.
                    let key_len = if key.is_empty() {
                        0
                    } else {
                        1 + encoded_len_varint(key.len() as u64) + key.len()
                    };
                    let skip_value = literal == Literal::default();
                    let value_len = literal.encoded_len();
                    let entry_len = key_len
                        + if skip_value {
                            0
                        } else {
                            1 + encoded_len_varint(value_len as u64) + value_len
                        };
                    encode_key(field::LITERALS, WireType::LengthDelimited, &mut piece);
                    encode_varint(entry_len as u64, &mut piece);
                    if !key.is_empty() {
                        encode_key(field::LITERALS, WireType::LengthDelimited, &mut piece);
                        encode_varint(key.len() as u64, &mut piece);
                        piece.extend_from_slice(key.as_bytes());
                    }
                    if !skip_value {
                        encode_key(field::VALUE, WireType::LengthDelimited, &mut piece);
                        encode_varint(value_len as u64, &mut piece);
                        self.write(literal, &mut piece)?;
                    }
                }
                None => {
                    if let Some(after) = self.open.pop().and_then(|open| open.after) {
                        after.encode(&mut piece)?;
                    }
                }
            }
        }
        Ok((!piece.is_empty()).then(|| Bytes::from(piece)))
    }

    /// `literal`'s fields: whole if it is small, else its list's or dict's field opened, to be
    /// written a literal at a time.
    fn write(&mut self, literal: Literal, piece: &mut Vec<u8>) -> Result<(), EncodeError> {
        if literal.encoded_len() <= PIECE {
            return literal.encode(piece);
        }
        let Literal { value, hash, metadata } = literal;
        let after = Literal {
            value: None,
            hash,
            metadata,
        };
        let left = match value {
            Some(literal::Value::Collection(c)) => {
                encode_key(field::COLLECTION, WireType::LengthDelimited, piece);
                encode_varint(c.encoded_len() as u64, piece);
                Left::Elements(c.literals.into_iter())
            }
            Some(literal::Value::Map(m)) => {
                encode_key(field::MAP, WireType::LengthDelimited, piece);
                encode_varint(m.encoded_len() as u64, piece);
                Left::Entries(m.literals.into_iter())
            }
            value => return Literal { value, ..after }.encode(piece),
        };
        self.open.push(Open {
            left,
            after: Some(after),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use flyte_idl::core::{LiteralCollection, LiteralMap};

    use super::*;
    use crate::literal::{from_literal_map_owned, to_literal, Problem};

    /// `bytes` in pieces of `size` (the last one shorter).
    struct Split(Vec<Bytes>);

    impl Source for Split {
        fn next_piece(&mut self) -> Result<Option<Bytes>, StorageError> {
            Ok((!self.0.is_empty()).then(|| self.0.remove(0)))
        }
    }

    fn split(bytes: &[u8], size: usize) -> Split {
        Split(bytes.chunks(size).map(Bytes::copy_from_slice).collect())
    }

    /// Piece sizes that cut every field somewhere: a byte at a time, odd sizes, the whole.
    const SIZES: [usize; 5] = [1, 3, 7, 64, usize::MAX];

    fn streamed(bytes: &[u8], slots: &[(&str, &Type)], size: usize) -> Result<Vec<Encoded>, Stop> {
        read_inputs(
            split(bytes, size.min(bytes.len().max(1))),
            bytes.len() as u64,
            slots,
            None,
        )
    }

    /// What the whole reading makes of `bytes`: prost's map, converted.
    fn whole(bytes: &[u8], slots: &[(&str, &Type)]) -> Result<Vec<Encoded>, String> {
        let map = LiteralMap::decode(bytes).map_err(|e| format!("decode: {e}"))?;
        from_literal_map_owned(map, slots).map_err(|e| format!("convert: {e}"))
    }

    fn cbor(value: &Encoded) -> ciborium::Value {
        value.decode().expect("the value is CBOR")
    }

    /// Reads `bytes` streamed at every piece size, and checks each value against the whole
    /// reading's (as CBOR values: the streamed lists and dicts are of indefinite length).
    fn same_as_whole(bytes: &[u8], slots: &[(&str, &Type)]) -> Vec<Encoded> {
        let expected = whole(bytes, slots).expect("the whole reading reads it");
        let mut last = Vec::new();
        for size in SIZES {
            let got = streamed(bytes, slots, size).unwrap_or_else(|e| panic!("pieces of {size}: {e:?}"));
            assert_eq!(got.len(), expected.len());
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(cbor(g), cbor(e), "input {i}, pieces of {size}");
            }
            last = got;
        }
        last
    }

    fn fallback(bytes: &[u8], slots: &[(&str, &Type)]) -> Fallback {
        let mut found = None;
        for size in SIZES {
            match streamed(bytes, slots, size) {
                Err(Stop::Fallback(why)) => {
                    if let Some(before) = &found {
                        assert_eq!(&why, before, "pieces of {size}");
                    }
                    found = Some(why);
                }
                other => panic!("pieces of {size}: {other:?}"),
            }
        }
        found.expect("SIZES is not empty")
    }

    fn lit<T: serde::Serialize>(value: &T, ty: &Type) -> Literal {
        to_literal(&Encoded::encode(value).unwrap(), ty).unwrap()
    }

    fn map_of(entries: Vec<(&str, Literal)>) -> Vec<u8> {
        LiteralMap {
            literals: entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
        .encode_to_vec()
    }

    fn list(ty: Type) -> Type {
        Type::Collection(Box::new(ty))
    }

    fn dict(ty: Type) -> Type {
        Type::Dict(Box::new(ty))
    }

    /// A field: its key, then `value` (already encoded for its wire type).
    fn field(tag: u32, wire_type: WireType, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(tag, wire_type, &mut out);
        if wire_type == WireType::LengthDelimited {
            encode_varint(value.len() as u64, &mut out);
        }
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn the_field_numbers_are_the_generated_codes() {
        let first = |l: &Literal| l.encode_to_vec()[0];
        let len = |tag: u32| ((tag << 3) | 2) as u8;
        assert_eq!(first(&lit(&1i64, &Type::Integer)), len(field::SCALAR));
        assert_eq!(first(&lit(&vec![1i64], &list(Type::Integer))), len(field::COLLECTION));
        let m: BTreeMap<String, i64> = [("k".to_owned(), 1)].into();
        let map_literal = lit(&m, &dict(Type::Integer));
        assert_eq!(first(&map_literal), len(field::MAP));
        let offloaded = Literal {
            value: Some(literal::Value::OffloadedMetadata(Default::default())),
            ..Literal::default()
        };
        assert_eq!(first(&offloaded), len(field::OFFLOADED));
        let collection = LiteralCollection {
            literals: vec![lit(&1i64, &Type::Integer)],
        };
        assert_eq!(collection.encode_to_vec()[0], len(field::LITERALS));
        // A map entry: its key, then its value.
        let entry = &map_of(vec![("k", lit(&1i64, &Type::Integer))])[2..];
        assert_eq!(entry[0], len(field::LITERALS));
        assert_eq!(entry[3], len(field::VALUE));
    }

    #[test]
    fn nested_lists_and_dicts_read_as_the_whole_reading_reads_them() {
        let nested = list(list(Type::Integer));
        let dict_of_lists = dict(list(Type::Str));
        let list_of_dicts = list(dict(Type::optional(Type::Float)));
        let strs = list(Type::Str);
        let d: HashMap<String, Vec<String>> = [
            ("a".to_owned(), vec!["x".to_owned(), "y".to_owned()]),
            ("b".to_owned(), vec![]),
            (String::new(), vec!["empty key".to_owned()]),
        ]
        .into();
        let l: Vec<BTreeMap<String, Option<f64>>> = vec![
            [("p".to_owned(), Some(1.5)), ("q".to_owned(), None)].into(),
            BTreeMap::new(),
        ];
        let bytes = map_of(vec![
            ("nested", lit(&vec![vec![1i64, 2], vec![], vec![-3]], &nested)),
            ("dict", lit(&d, &dict_of_lists)),
            ("dicts", lit(&l, &list_of_dicts)),
            ("empty", lit(&Vec::<String>::new(), &strs)),
            ("n", lit(&7i64, &Type::Integer)),
        ]);
        let slots = [
            ("n", &Type::Integer),
            ("nested", &nested),
            ("dict", &dict_of_lists),
            ("dicts", &list_of_dicts),
            ("empty", &strs),
        ];
        let got = same_as_whole(&bytes, &slots);
        // Typed, as a task decodes them: serde reads the indefinite lengths.
        assert_eq!(got[0].decode::<i64>().unwrap(), 7);
        assert_eq!(
            got[1].decode::<Vec<Vec<i64>>>().unwrap(),
            [vec![1, 2], vec![], vec![-3]]
        );
        assert_eq!(got[2].decode::<HashMap<String, Vec<String>>>().unwrap(), d);
        assert_eq!(got[3].decode::<Vec<BTreeMap<String, Option<f64>>>>().unwrap(), l);
        assert!(got[4].decode::<Vec<String>>().unwrap().is_empty());
        // A list is an array of indefinite length: opened with 0x9f, closed with 0xff.
        assert_eq!(got[1].as_bytes()[0], 0x9f);
        assert_eq!(got[1].as_bytes().last(), Some(&0xff));
        assert_eq!(got[2].as_bytes()[0], 0xbf);
    }

    #[test]
    fn a_list_of_strings_is_its_cbor_no_longer_than_its_literal() {
        let ty = list(Type::Str);
        let lines: Vec<String> = (0..100).map(|i| format!("line {i:04} {}", "x".repeat(i))).collect();
        let literal = lit(&lines, &ty);
        let literal_len = literal.encoded_len();
        let bytes = map_of(vec![("lines", literal)]);
        let got = same_as_whole(&bytes, &[("lines", &ty)]);
        assert_eq!(got[0].decode::<Vec<String>>().unwrap(), lines);
        // The first chunk is reserved at the literal's length: it never grows for strings.
        assert!(
            got[0].as_bytes().len() <= literal_len,
            "{} > {literal_len}",
            got[0].as_bytes().len()
        );
    }

    /// An input larger than a chunk is written in chunks of exactly [`CHUNK`] bytes, cut inside
    /// strings, and decodes to the same value whether it is taken (each chunk freed once read)
    /// or shared (read in place), its bytes the same either way.
    #[test]
    fn an_input_larger_than_a_chunk_is_chunked_and_decodes_taken_or_shared() {
        let ty = list(Type::Str);
        // 2.5 chunks of strings of uneven lengths, so the cuts fall inside them.
        let lines: Vec<String> = (0..2600)
            .map(|i| format!("{i:05}{}", "y".repeat(1000 + i % 7)))
            .collect();
        let bytes = map_of(vec![("lines", lit(&lines, &ty))]);
        let got = streamed(&bytes, &[("lines", &ty)], 64 * 1024).unwrap();
        let value = got.into_iter().next().unwrap();
        let whole = value.as_bytes().to_vec();
        assert!(whole.len() > 2 * CHUNK, "{} bytes", whole.len());
        assert_eq!(value, Encoded::from_cbor(whole.clone()));
        let shared = value.clone();
        assert_eq!(shared.clone().decode_owned::<Vec<String>>().unwrap(), lines);
        assert_eq!(shared.decode::<Vec<String>>().unwrap(), lines);
        drop(shared);
        assert_eq!(value.decode_owned::<Vec<String>>().unwrap(), lines);

        let mut out = CborChunks::default();
        out.expect(10);
        std::io::Write::write_all(&mut out, &vec![7u8; 2 * CHUNK + 5]).unwrap();
        out.push(8);
        let chunks = out.into_chunks();
        let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(lens, [CHUNK, CHUNK, 6]);
        assert_eq!(chunks[2], [7, 7, 7, 7, 7, 8]);
    }

    #[test]
    fn a_dicts_entries_out_of_order_or_given_twice_read_as_a_rust_map_reads_them() {
        let ty = dict(Type::Integer);
        let entry = |k: &str, v: i64| {
            let mut e = field(field::LITERALS, WireType::LengthDelimited, k.as_bytes());
            e.extend(field(
                field::VALUE,
                WireType::LengthDelimited,
                &lit(&v, &Type::Integer).encode_to_vec(),
            ));
            field(field::LITERALS, WireType::LengthDelimited, &e)
        };
        let mut inner = entry("z", 1);
        inner.extend(entry("a", 2));
        inner.extend(entry("z", 3));
        let literal = field(field::MAP, WireType::LengthDelimited, &inner);
        let mut top_entry = field(field::LITERALS, WireType::LengthDelimited, b"d");
        top_entry.extend(field(field::VALUE, WireType::LengthDelimited, &literal));
        let bytes = field(field::LITERALS, WireType::LengthDelimited, &top_entry);
        let slots = [("d", &ty)];
        let expected: BTreeMap<String, i64> = whole(&bytes, &slots).unwrap()[0].decode().unwrap();
        assert_eq!(expected, [("a".to_owned(), 2), ("z".to_owned(), 3)].into());
        for size in SIZES {
            let got = streamed(&bytes, &slots, size).unwrap();
            assert_eq!(got[0].decode::<BTreeMap<String, i64>>().unwrap(), expected);
            assert_eq!(got[0].decode::<HashMap<String, i64>>().unwrap().len(), 2);
        }
    }

    #[test]
    fn unknown_fields_are_skipped_at_every_level() {
        let ty = list(dict(Type::Str));
        let unknown = |tag: u32| {
            let mut f = field(tag, WireType::Varint, &[0x96, 0x01]);
            f.extend(field(tag + 1, WireType::ThirtyTwoBit, &[1, 2, 3, 4]));
            f.extend(field(tag + 2, WireType::SixtyFourBit, &[1; 8]));
            f.extend(field(tag + 3, WireType::LengthDelimited, b"skipped"));
            f
        };
        let s = |v: &str| lit(&v, &Type::Str).encode_to_vec();
        // A dict literal with an unknown field in its entry, its map and itself.
        let mut entry = unknown(10);
        entry.extend(field(field::LITERALS, WireType::LengthDelimited, b"k"));
        entry.extend(unknown(20));
        entry.extend(field(field::VALUE, WireType::LengthDelimited, &s("v")));
        let mut map = unknown(30);
        map.extend(field(field::LITERALS, WireType::LengthDelimited, &entry));
        let mut element = field(field::MAP, WireType::LengthDelimited, &map);
        element.extend(unknown(40));
        // Its hash and metadata, which the conversion does not read, as prost would keep them.
        element.extend(field(4, WireType::LengthDelimited, b"hash"));
        let mut collection = unknown(50);
        collection.extend(field(field::LITERALS, WireType::LengthDelimited, &element));
        let mut literal = unknown(60);
        literal.extend(field(field::COLLECTION, WireType::LengthDelimited, &collection));
        let mut top_entry = field(field::LITERALS, WireType::LengthDelimited, b"x");
        top_entry.extend(unknown(70));
        top_entry.extend(field(field::VALUE, WireType::LengthDelimited, &literal));
        let mut bytes = unknown(80);
        bytes.extend(field(field::LITERALS, WireType::LengthDelimited, &top_entry));
        bytes.extend(unknown(90));
        let got = same_as_whole(&bytes, &[("x", &ty)]);
        let back: Vec<BTreeMap<String, String>> = got[0].decode().unwrap();
        assert_eq!(back, [[("k".to_owned(), "v".to_owned())].into()]);
    }

    #[test]
    fn what_is_not_a_list_where_the_type_is_one_reads_as_the_whole_reading_does() {
        // A list propeller took out of a dataclass (msgpack), the console's dict (a protobuf
        // Struct), an optional list (a union), a list given in two `collection` fields (prost
        // merges them).
        let ints = list(Type::Integer);
        let floats = dict(Type::Float);
        let maybe = Type::optional(list(Type::Str));
        let mut packed = Vec::new();
        rmpv::encode::write_value(&mut packed, &rmpv::Value::Array(vec![1.into(), 2.into()])).unwrap();
        let binary = Literal {
            value: Some(literal::Value::Scalar(Box::new(flyte_idl::core::Scalar {
                value: Some(flyte_idl::core::scalar::Value::Binary(flyte_idl::core::Binary {
                    value: packed,
                    tag: "msgpack".to_owned(),
                })),
            }))),
            ..Literal::default()
        };
        let generic = Literal {
            value: Some(literal::Value::Scalar(Box::new(flyte_idl::core::Scalar {
                value: Some(flyte_idl::core::scalar::Value::Generic(
                    flyte_idl::prost_types::Struct {
                        fields: [(
                            "x".to_owned(),
                            flyte_idl::prost_types::Value {
                                kind: Some(flyte_idl::prost_types::value::Kind::NumberValue(0.5)),
                            },
                        )]
                        .into(),
                    },
                )),
            }))),
            ..Literal::default()
        };
        let twice = {
            let mut bytes = lit(&vec![1i64, 2], &ints).encode_to_vec();
            bytes.extend(lit(&vec![3i64], &ints).encode_to_vec());
            bytes
        };
        let mut entry = field(field::LITERALS, WireType::LengthDelimited, b"twice");
        entry.extend(field(field::VALUE, WireType::LengthDelimited, &twice));
        let mut bytes = map_of(vec![
            ("binary", binary),
            ("generic", generic),
            ("maybe", lit(&Some(vec!["a".to_owned()]), &maybe)),
        ]);
        bytes.extend(field(field::LITERALS, WireType::LengthDelimited, &entry));
        let slots = [
            ("binary", &ints),
            ("generic", &floats),
            ("maybe", &maybe),
            ("twice", &ints),
        ];
        let got = same_as_whole(&bytes, &slots);
        assert_eq!(got[0].decode::<Vec<i64>>().unwrap(), [1, 2]);
        assert_eq!(
            got[1].decode::<BTreeMap<String, f64>>().unwrap(),
            [("x".to_owned(), 0.5)].into()
        );
        assert_eq!(
            got[2].decode::<Option<Vec<String>>>().unwrap(),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(got[3].decode::<Vec<i64>>().unwrap(), [1, 2, 3]);
    }

    #[test]
    fn an_input_that_does_not_convert_or_is_extra_or_missing_falls_back() {
        let ty = list(Type::Integer);
        // Two integers, then a string; given in two `collection` fields, which prost merges.
        let element = |l: Literal| field(field::LITERALS, WireType::LengthDelimited, &l.encode_to_vec());
        let mut literal = lit(&vec![1i64], &ty).encode_to_vec();
        let more = [element(lit(&2i64, &Type::Integer)), element(lit(&"a", &Type::Str))].concat();
        literal.extend(field(field::COLLECTION, WireType::LengthDelimited, &more));
        let mut entry = field(field::LITERALS, WireType::LengthDelimited, b"xs");
        entry.extend(field(field::VALUE, WireType::LengthDelimited, &literal));
        let bytes = field(field::LITERALS, WireType::LengthDelimited, &entry);
        let Fallback::Convert(error) = fallback(&bytes, &[("xs", &ty)]) else {
            panic!("not a conversion error");
        };
        // The walk's error names the element, counted across both fields, as the whole
        // reading's does.
        assert_eq!(error.path, "xs[2]");
        assert!(matches!(error.problem, Problem::WrongKind { .. }));
        assert!(whole(&bytes, &[("xs", &ty)]).unwrap_err().contains("xs[2]"));

        // A dict's entry without its value: the default literal, which no type reads.
        let d = dict(Type::Integer);
        let entry = field(field::LITERALS, WireType::LengthDelimited, b"k");
        let literal = field(
            field::MAP,
            WireType::LengthDelimited,
            &field(field::LITERALS, WireType::LengthDelimited, &entry),
        );
        let mut top = field(field::LITERALS, WireType::LengthDelimited, b"d");
        top.extend(field(field::VALUE, WireType::LengthDelimited, &literal));
        let bytes = field(field::LITERALS, WireType::LengthDelimited, &top);
        let Fallback::Convert(error) = fallback(&bytes, &[("d", &d)]) else {
            panic!("not a conversion error");
        };
        assert_eq!(error.path, "d[\"k\"]");
        assert!(whole(&bytes, &[("d", &d)]).unwrap_err().contains("d[\"k\"]"));

        let ints = map_of(vec![
            ("xs", lit(&vec![1i64], &ty)),
            ("extra", lit(&1i64, &Type::Integer)),
        ]);
        assert_eq!(fallback(&ints, &[("xs", &ty)]), Fallback::Inputs);
        assert_eq!(
            fallback(&ints, &[("xs", &ty), ("extra", &Type::Integer), ("gone", &ty)]),
            Fallback::Inputs
        );
    }

    #[test]
    fn layouts_the_walk_does_not_follow_fall_back() {
        let ty = list(Type::Integer);
        let value = lit(&vec![1i64], &ty).encode_to_vec();
        let scalar = lit(&1i64, &Type::Integer).encode_to_vec();
        let top = |entry: Vec<u8>| field(field::LITERALS, WireType::LengthDelimited, &entry);
        let key = field(field::LITERALS, WireType::LengthDelimited, b"xs");
        let val = |v: &[u8]| field(field::VALUE, WireType::LengthDelimited, v);
        let slots = [("xs", &ty)];

        // A value before its key.
        let before = top([val(&value), key.clone()].concat());
        assert!(matches!(fallback(&before, &slots), Fallback::Unsupported(_)));
        // A list, then a scalar that replaces it (prost keeps a oneof's last value); and the other
        // way round.
        for both in [
            [value.clone(), scalar.clone()].concat(),
            [scalar.clone(), value.clone()].concat(),
        ] {
            let bytes = top([key.clone(), val(&both)].concat());
            assert!(matches!(fallback(&bytes, &slots), Fallback::Unsupported(_)));
        }
        // A group.
        let mut group = Vec::new();
        encode_key(5, WireType::StartGroup, &mut group);
        encode_key(5, WireType::EndGroup, &mut group);
        let bytes = [group, top([key.clone(), val(&value)].concat())].concat();
        assert_eq!(fallback(&bytes, &slots), Fallback::Unsupported("a group"));
        // Each of them reads the whole way as prost reads it (or fails as it does).
        assert!(whole(&before, &slots).is_ok());
    }

    #[test]
    fn malformed_bytes_fall_back_to_prosts_error() {
        let ty = list(Type::Str);
        let slots = [("xs", &ty)];
        let good = map_of(vec![("xs", lit(&vec!["abc".to_owned(), "de".to_owned()], &ty))]);
        // Cut anywhere: the object ends early, or a length runs past it.
        for cut in 1..good.len() {
            let why = fallback(&good[..cut], &slots);
            assert!(matches!(why, Fallback::Malformed(_)), "cut at {cut}: {why:?}");
            assert!(
                whole(&good[..cut], &slots).unwrap_err().starts_with("decode:"),
                "cut at {cut}"
            );
        }
        // A varint of eleven bytes, as a key and as a length.
        let bad_key = [0xff; 11];
        assert_eq!(fallback(&bad_key, &slots), Fallback::Malformed("a bad field key"));
        let bad_len = [[0x0a].as_slice(), &[0xff; 11]].concat();
        assert_eq!(fallback(&bad_len, &slots), Fallback::Malformed("a bad varint"));
        // A length past the end of its message, inside a well-formed outer one.
        let mut past = good.clone();
        past[1] += 1; // The entry, one byte longer than the object.
        assert!(matches!(fallback(&past, &slots), Fallback::Malformed(_)));
        // Tag 0, a wire type of 6, a key that is not UTF-8.
        assert_eq!(fallback(&[0x02, 0x00], &slots), Fallback::Malformed("a bad field key"));
        assert_eq!(fallback(&[0x0e], &slots), Fallback::Malformed("a bad field key"));
        let not_utf8 = top_entry_with_key(&[0xff, 0xfe]);
        assert_eq!(
            fallback(&not_utf8, &slots),
            Fallback::Malformed("a key that is not UTF-8")
        );
        for bytes in [&bad_key[..], &bad_len, &past, &[0x02, 0x00], &[0x0e], &not_utf8] {
            assert!(whole(bytes, &slots).unwrap_err().starts_with("decode:"), "{bytes:?}");
        }
    }

    fn top_entry_with_key(key: &[u8]) -> Vec<u8> {
        field(
            field::LITERALS,
            WireType::LengthDelimited,
            &field(field::LITERALS, WireType::LengthDelimited, key),
        )
    }

    #[test]
    fn a_name_given_twice_keeps_the_last_as_prost_does() {
        let first = map_of(vec![("n", lit(&1i64, &Type::Integer))]);
        let last = map_of(vec![("n", lit(&2i64, &Type::Integer))]);
        let got = same_as_whole(&[first, last].concat(), &[("n", &Type::Integer)]);
        assert_eq!(got[0].decode::<i64>().unwrap(), 2);
    }

    fn element_of(bytes: &[u8], slots: &[(&str, &Type)], index: usize, size: usize) -> Result<Vec<Encoded>, Stop> {
        read_inputs(
            split(bytes, size.min(bytes.len().max(1))),
            bytes.len() as u64,
            slots,
            Some(index),
        )
    }

    #[test]
    fn a_map_tasks_element_is_the_one_of_each_list_at_its_index() {
        let ints = list(Type::Integer);
        let dicts = list(dict(Type::Str));
        let xs: Vec<i64> = vec![10, 20, 30];
        let ds: Vec<BTreeMap<String, String>> = (0..3).map(|i| [(format!("k{i}"), "v".repeat(i))].into()).collect();
        let bytes = map_of(vec![("xs", lit(&xs, &ints)), ("ds", lit(&ds, &dicts))]);
        // Each slot's type is the element's: the interface of the task the map runs.
        let slots = [("xs", &Type::Integer), ("ds", &dict(Type::Str))];
        for index in 0..3 {
            for size in SIZES {
                let got = element_of(&bytes, &slots, index, size).unwrap_or_else(|e| panic!("{index}, {size}: {e:?}"));
                assert_eq!(got[0].decode::<i64>().unwrap(), xs[index]);
                assert_eq!(got[1].decode::<BTreeMap<String, String>>().unwrap(), ds[index]);
            }
        }
        // Past the end, a list that is not one, an entry without its value: the whole reading
        // says what is wrong.
        let element = |bytes: &[u8], slots: &[(&str, &Type)], index| match element_of(bytes, slots, index, 7) {
            Err(Stop::Fallback(why)) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(element(&bytes, &slots, 3), Fallback::Element);
        let scalar = map_of(vec![("xs", lit(&1i64, &Type::Integer))]);
        assert_eq!(element(&scalar, &[("xs", &Type::Integer)], 0), Fallback::Element);
        let no_value = top_entry_with_key(b"xs");
        assert_eq!(element(&no_value, &[("xs", &Type::Integer)], 0), Fallback::Element);
        // An element not taken still fails as prost fails on it: a string that is not UTF-8.
        let mut bad = lit(&vec!["ab".to_owned(), "cd".to_owned()], &list(Type::Str)).encode_to_vec();
        let at = bad.windows(2).position(|w| w == b"cd").unwrap();
        bad[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        let mut entry = field(field::LITERALS, WireType::LengthDelimited, b"xs");
        entry.extend(field(field::VALUE, WireType::LengthDelimited, &bad));
        let bad = field(field::LITERALS, WireType::LengthDelimited, &entry);
        assert!(matches!(
            element(&bad, &[("xs", &Type::Str)], 0),
            Fallback::Malformed(_)
        ));
        assert!(LiteralMap::decode(&bad[..]).is_err());
    }

    /// The pieces of `map`, written out, and how many there were.
    fn written(map: LiteralMap) -> (Vec<u8>, usize) {
        let mut pieces = OutputPieces::new(map);
        let mut bytes = Vec::new();
        let mut count = 0;
        while let Some(piece) = pieces.next_piece().unwrap() {
            assert!(!piece.is_empty());
            bytes.extend_from_slice(&piece);
            count += 1;
        }
        (bytes, count)
    }

    #[test]
    fn the_outputs_pieces_are_prosts_bytes() {
        let strs = list(Type::Str);
        let big: Vec<String> = (0..3000).map(|i| format!("{i:05}{}", "y".repeat(1000))).collect();
        let nested: Vec<Vec<String>> = vec![big.clone(), vec![], big[..10].to_vec()];
        let dict_big: BTreeMap<String, String> = big.iter().map(|s| (s[..5].to_owned(), s.clone())).collect();
        let mut with_hash = lit(&big, &strs);
        with_hash.hash = "h".to_owned();
        with_hash.metadata = [("m".to_owned(), "n".to_owned())].into();
        let mut dict_with_empty = lit(&dict_big, &dict(Type::Str));
        if let Some(literal::Value::Map(m)) = &mut dict_with_empty.value {
            m.literals.insert(String::new(), Literal::default());
        }
        let map = LiteralMap {
            literals: [
                ("big".to_owned(), lit(&big, &strs)),
                ("hashed".to_owned(), with_hash),
                ("nested".to_owned(), lit(&nested, &list(strs.clone()))),
                ("dict".to_owned(), dict_with_empty),
                ("small".to_owned(), lit(&vec!["a".to_owned()], &strs)),
                (String::new(), Literal::default()),
                ("n".to_owned(), lit(&1i64, &Type::Integer)),
            ]
            .into(),
        };
        let expected = map.encode_to_vec();
        let (bytes, count) = written(map);
        assert!(
            bytes == expected,
            "{} bytes written, prost's are {}",
            bytes.len(),
            expected.len()
        );
        // In pieces of about PIECE, not one.
        assert!(count >= expected.len() / (PIECE + 2048), "{count} pieces");

        let (bytes, count) = written(LiteralMap::default());
        assert!(bytes.is_empty() && count == 0);
    }
}
