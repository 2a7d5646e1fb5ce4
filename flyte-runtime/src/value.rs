//! Values crossing a task boundary, the way Flyte passes literals: serialized, one slot per
//! input or output, so a tuple output is several slots that downstream nodes bind separately.
//!
//! The encoding is CBOR (through serde), which round-trips everything serde can describe,
//! including NaN floats, byte strings and maps with non-string keys, which JSON would not.

use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ValueError;
use crate::interface::Describer;
use crate::trace::traced;

/// One value as the local runtime stores and passes it: serialized with serde, to CBOR. Cheap
/// to clone. A task container's outputs may instead hold the value unserialized
/// ([`SingleAttempt::typed_outputs`](crate::SingleAttempt::typed_outputs)), serialized when read.
///
/// Not to be confused with Flyte's `Literal`, the typed protobuf value a Flyte cluster passes
/// between tasks; the two convert through a task's typed interface.
///
/// ```
/// use flytekit::Encoded;
///
/// let encoded = Encoded::encode(&vec![1u64, 2, 3]).unwrap();
/// assert_eq!(encoded.decode::<Vec<u64>>().unwrap(), [1, 2, 3]);
/// ```
#[derive(Clone)]
pub struct Encoded(pub(crate) Bytes);

/// Where an [`Encoded`]'s bytes live. Most values are serialized here, into an `Arc<[u8]>` of
/// their exact size; bytes written elsewhere (a task container's input, converted as
/// `inputs.pb` streams in) are taken as they are, in the chunks they were written in: an
/// `Arc<[u8]>` cannot be made from a `Vec` without a copy (its counts sit in front of the
/// bytes), and chunks can be freed one by one as the value is decoded, so that a large input is
/// not held both as its bytes and as its value (see [`Encoded::decode_owned`]). Not
/// `bytes::Bytes` for both: the first clone of one made from a `Vec` allocates, which added 2%
/// to the instructions the local executor runs a 1,000-node graph in (`benches/scheduler.rs`,
/// under callgrind).
///
/// A task container's outputs are a third case: kept as the task returned them, unserialized
/// ([`SingleAttempt::typed_outputs`](crate::SingleAttempt::typed_outputs)), so that a large one
/// is serialized an element at a time straight into `outputs.pb` rather than beside itself.
#[derive(Clone)]
pub(crate) enum Bytes {
    Exact(Arc<[u8]>),
    Taken(Arc<Chunks>),
    Typed(Arc<Unserialized>),
}

/// A value kept unserialized: it has been serialized once, to check that it can be (and to
/// count its bytes), and is serialized again only when something reads it.
pub(crate) struct Unserialized {
    /// Behind a lock because a task's value need not be `Sync`, while an `Encoded` is shared.
    value: Mutex<Box<dyn Kept>>,
    /// Its bytes, once something asked for them contiguous (formatting, hashing, comparing).
    bytes: OnceLock<Box<[u8]>>,
}

/// A value an [`Unserialized`] can hold.
trait Kept: erased_serde::Serialize + Send {}

impl<T: Serialize + Send> Kept for T {}

/// Bytes taken in chunks, and their concatenation once something asks for them contiguous
/// ([`Encoded::as_bytes`] of a value of several chunks): made once, on demand, since decoding,
/// hashing, comparing and formatting all read the chunks in turn.
pub(crate) struct Chunks {
    chunks: Vec<Vec<u8>>,
    flat: OnceLock<Box<[u8]>>,
}

impl Bytes {
    /// The bytes in order, as the pieces they are held in.
    fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        let (exact, taken): (&[u8], &[Vec<u8>]) = match self {
            Bytes::Exact(bytes) => (bytes, &[]),
            Bytes::Taken(chunks) => (&[], &chunks.chunks),
            Bytes::Typed(typed) => (typed.bytes(), &[]),
        };
        std::iter::once(exact).chain(taken.iter().map(Vec::as_slice))
    }

    fn len(&self) -> usize {
        self.chunks().map(<[u8]>::len).sum()
    }

    fn contiguous(&self) -> &[u8] {
        match self {
            Bytes::Exact(bytes) => bytes,
            Bytes::Taken(chunks) => match &chunks.chunks[..] {
                [] => &[],
                [one] => one,
                several => chunks.flat.get_or_init(|| several.concat().into()),
            },
            Bytes::Typed(typed) => typed.bytes(),
        }
    }
}

impl Unserialized {
    /// The value's bytes, serialized the first time. A value that then fails to serialize
    /// (it did once, when the slot was made: only a `Serialize` that is not deterministic)
    /// has no bytes, which decode as nothing.
    fn bytes(&self) -> &[u8] {
        self.bytes
            .get_or_init(|| self.serialized().map(Vec::into_boxed_slice).unwrap_or_default())
    }

    fn serialized(&self) -> Result<Vec<u8>, ciborium::ser::Error<std::io::Error>> {
        let mut bytes = Vec::new();
        self.with(|value| ciborium::into_writer(value, &mut bytes))?;
        Ok(bytes)
    }

    fn with<R>(&self, f: impl FnOnce(&dyn erased_serde::Serialize) -> R) -> R {
        // A panic while another serialization held the lock left the value as it was.
        let value = self.value.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let value: &dyn Kept = &**value;
        f(value)
    }
}

/// A reader over chunks it owns, each freed once read past: how a value taken in chunks is
/// decoded when nothing else holds it.
struct Draining {
    /// The chunks not read yet, the next one last (popped without moving the others).
    rest: Vec<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl std::io::Read for Draining {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rest.pop() {
                // The chunk read past is freed here, as the next one replaces it.
                Some(next) => (self.current, self.pos) = (next, 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A reader over borrowed chunks, in order: decoding a shared value without joining its chunks.
struct Chained<'a, I> {
    chunks: I,
    current: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]>> std::io::Read for Chained<'a, I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.next() {
                Some(next) => self.current = next,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = &self.current[n..];
        Ok(n)
    }
}

impl PartialEq for Encoded {
    fn eq(&self, other: &Encoded) -> bool {
        // Byte by byte across chunks, which may be cut at different places in the two.
        self.0.len() == other.0.len() && self.0.chunks().flatten().eq(other.0.chunks().flatten())
    }
}

impl Eq for Encoded {}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As a byte slice formats, without joining the chunks.
        let bytes = DebugBytes(&self.0);
        f.debug_tuple("Encoded").field(&bytes).finish()
    }
}

struct DebugBytes<'a>(&'a Bytes);

impl std::fmt::Debug for DebugBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.chunks().flatten()).finish()
    }
}

impl Encoded {
    /// Serializes `value`.
    ///
    /// Twice: once to count its bytes, then into a buffer of that size, which becomes the value
    /// without a copy; so that a large value is held once beside what it was serialized from
    /// (a growing buffer copied into its shared one would be up to three times its size).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Encoded, ValueError> {
        let failed = |e: ciborium::ser::Error<std::io::Error>| ValueError {
            op: "serialize",
            type_name: std::any::type_name::<T>(),
            message: e.to_string(),
        };
        let mut counted = Counter(0);
        ciborium::into_writer(value, &mut counted).map_err(failed)?;
        // One allocation of exactly that size (an exact-size iterator collects in place).
        let mut bytes: Arc<[u8]> = std::iter::repeat_n(0u8, counted.0).collect();
        let mut rest = Arc::get_mut(&mut bytes).expect("a new Arc is not shared");
        let fits = ciborium::into_writer(value, &mut rest).is_ok() && rest.is_empty();
        if !fits {
            // A value that serialized to another length the second time (a `Serialize` that is
            // not deterministic): serialize it once more, the usual way.
            let mut bytes = Vec::new();
            ciborium::into_writer(value, &mut bytes).map_err(failed)?;
            return Ok(Encoded(Bytes::Exact(bytes.into())));
        }
        Ok(Encoded(Bytes::Exact(bytes)))
    }

    /// The value whose CBOR is `bytes` (one value, as [`encode`](Self::encode) writes it, or with
    /// arrays and maps of indefinite length, which [`decode`](Self::decode) reads as well),
    /// taking the buffer over without a copy: for a value serialized piece by piece elsewhere,
    /// such as a task container's input converted as it is read. Spare capacity is given back
    /// first.
    ///
    /// The bytes are not checked here: what is not CBOR of the type fails when decoded.
    pub fn from_cbor(bytes: Vec<u8>) -> Encoded {
        Encoded::from_cbor_chunks(vec![bytes])
    }

    /// The value whose CBOR is the concatenation of `chunks`, as [`from_cbor`](Self::from_cbor)
    /// takes one buffer: for a large value written in chunks, which
    /// [`decode_owned`](Self::decode_owned) frees one by one as it reads them. Empty chunks are
    /// dropped and spare capacity given back.
    pub fn from_cbor_chunks(mut chunks: Vec<Vec<u8>>) -> Encoded {
        chunks.retain(|chunk| !chunk.is_empty());
        for chunk in &mut chunks {
            chunk.shrink_to_fit();
        }
        Encoded(Bytes::Taken(Arc::new(Chunks {
            chunks,
            flat: OnceLock::new(),
        })))
    }

    /// `value` kept unserialized, once checked to serialize: what a task container's outputs
    /// are ([`SingleAttempt::typed_outputs`](crate::SingleAttempt::typed_outputs)), to be
    /// serialized through [`with_typed`](Self::with_typed). It fails as
    /// [`encode`](Self::encode) fails; read as bytes, it is serialized then.
    pub fn typed<T: Serialize + Send + 'static>(value: T) -> Result<Encoded, ValueError> {
        ciborium::into_writer(&value, &mut Counter(0)).map_err(|e| ValueError {
            op: "serialize",
            type_name: std::any::type_name::<T>(),
            message: e.to_string(),
        })?;
        Ok(Encoded(Bytes::Typed(Arc::new(Unserialized {
            value: Mutex::new(Box::new(value)),
            bytes: OnceLock::new(),
        }))))
    }

    /// For a value kept unserialized (an output of an attempt run with
    /// [`SingleAttempt::typed_outputs`](crate::SingleAttempt::typed_outputs)), `f` called with
    /// it, to serialize it some other way: a task container writes a large list or dict into
    /// `outputs.pb` an element at a time. `None` for a value held as bytes.
    pub fn with_typed<R>(&self, f: impl FnOnce(&dyn erased_serde::Serialize) -> R) -> Option<R> {
        match &self.0 {
            Bytes::Typed(typed) => Some(typed.with(f)),
            Bytes::Exact(_) | Bytes::Taken(_) => None,
        }
    }

    /// Deserializes the value as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        match &self.0 {
            Bytes::Exact(bytes) => from_cbor(&bytes[..]),
            // Into a buffer freed once read, unless something already asked for the bytes.
            Bytes::Typed(typed) => match typed.bytes.get() {
                Some(bytes) => from_cbor(&bytes[..]),
                None => {
                    let bytes = typed.serialized().map_err(|e| ValueError {
                        op: "serialize",
                        type_name: std::any::type_name::<T>(),
                        message: e.to_string(),
                    })?;
                    from_cbor(&bytes[..])
                }
            },
            Bytes::Taken(_) => from_cbor(Chained {
                chunks: self.0.chunks(),
                current: &[],
            }),
        }
    }

    /// Deserializes the value as a `T`, taking it: when nothing else holds the value (no clone
    /// of it), a value taken in chunks ([`from_cbor_chunks`](Self::from_cbor_chunks)) frees each
    /// chunk once read, so that a large value is not held both as its bytes and as the `T`
    /// being made from them. Otherwise as [`decode`](Self::decode).
    pub fn decode_owned<T: DeserializeOwned>(self) -> Result<T, ValueError> {
        match self.0 {
            Bytes::Taken(chunks) => match Arc::try_unwrap(chunks) {
                Ok(Chunks { mut chunks, flat }) => {
                    drop(flat);
                    chunks.reverse();
                    from_cbor(Draining {
                        rest: chunks,
                        current: Vec::new(),
                        pos: 0,
                    })
                }
                Err(shared) => Encoded(Bytes::Taken(shared)).decode(),
            },
            _ => self.decode(),
        }
    }

    /// A literal from bytes that [`encode`](Self::encode) produced.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Encoded {
        Encoded(Bytes::Exact(bytes.into()))
    }

    /// The serialized bytes. A value taken in several chunks
    /// ([`from_cbor_chunks`](Self::from_cbor_chunks)) joins them the first time, and keeps that
    /// copy beside them.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.contiguous()
    }

    /// The serialized bytes in order, as the pieces they are held in (one for most values):
    /// what hashing reads, so as not to join a large value's chunks.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.0.chunks()
    }

    /// How many bytes the value serializes to.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// `T` deserialized from the CBOR `reader` yields.
// Inlined into each `decode`, as the one call it replaced was: called once per node run, it
// otherwise shows in the local executor's per-node instruction count.
#[inline]
fn from_cbor<T: DeserializeOwned>(reader: impl std::io::Read) -> Result<T, ValueError> {
    ciborium::from_reader(reader).map_err(|e| ValueError {
        op: "deserialize",
        type_name: std::any::type_name::<T>(),
        message: e.to_string(),
    })
}

/// Each node's (or map element's) output slots, once it has them.
pub(crate) type Outputs = Vec<Option<Vec<Encoded>>>;

/// A SHA-256 over `label` and each literal (length-prefixed, so slots cannot run together),
/// in hex: the identity of an execution's inputs, or of a cached task call.
pub(crate) fn digest(label: &[u8], literals: &[Encoded]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update((label.len() as u64).to_le_bytes());
    hasher.update(label);
    for literal in literals {
        hasher.update((literal.len() as u64).to_le_bytes());
        for chunk in literal.chunks() {
            hasher.update(chunk);
        }
    }
    format!("{:x}", hasher.finalize())
}

/// What a type needs to be a task's input or output.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task or workflow input or output",
    label = "not serializable",
    note = "tasks exchange values the way Flyte exchanges literals, serialized with serde: add `#[derive(serde::Serialize, serde::Deserialize)]` to the type, or use a type that has them"
)]
pub trait Value: Serialize + DeserializeOwned + Send + 'static {}

// `do_not_recommend` keeps rustc's error on the type the user wrote (`Point`), with the
// messages above, instead of on serde's traits.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Value for T {}

/// The shape of an interface whose values form a single slot (`fn f(x: u64)`, `-> u64`).
#[doc(hidden)]
pub enum One {}

/// The shape of an interface of zero or several slots (`fn f()`, `fn f(a: u8, b: u8)`,
/// `-> ()`, `-> (u8, String)`), written as a tuple.
#[doc(hidden)]
pub enum Many {}

/// A task's or workflow's inputs or outputs as a list of slots.
///
/// `Shape` is [`One`] or [`Many`]; the macros pick it from the signature, so that a single
/// input is written `9` and not `(9,)`, and a tuple output can still be destructured.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a task or workflow input or output",
    label = "not serializable",
    note = "tasks exchange values the way Flyte exchanges literals, serialized with serde: add `#[derive(serde::Serialize, serde::Deserialize)]` to the type, or use a type that has them"
)]
pub trait Values<Shape>: Sized + Send + 'static {
    /// The Rust type names, one per slot.
    fn type_names() -> Vec<&'static str>;
    /// What describes each slot's Flyte type by tracing (see [`traced`]): what a `Task`,
    /// `Workflow` or `Dynamic` impl written by hand describes its interface with. The macros'
    /// impls describe theirs through `Typed` first.
    #[doc(hidden)]
    fn describers() -> Vec<Describer>;
    /// Serializes, one literal per slot.
    fn encode(&self) -> Result<Vec<Encoded>, ValueError>;
    /// One literal per slot, each kept unserialized once checked to serialize (see
    /// [`SingleAttempt::typed_outputs`](crate::SingleAttempt::typed_outputs)); fails as
    /// [`encode`](Self::encode) fails.
    fn encode_typed(self) -> Result<Vec<Encoded>, ValueError> {
        self.encode()
    }
    /// Deserializes from one literal per slot.
    fn decode(slots: &[Encoded]) -> Result<Self, ValueError>;
    /// Deserializes from one literal per slot, taking them: each slot is decoded with
    /// [`Encoded::decode_owned`] and freed before the next, so that a large input is not held
    /// both as its bytes and as its value. The same value, or error, as [`decode`](Self::decode).
    fn decode_owned(slots: Vec<Encoded>) -> Result<Self, ValueError> {
        Self::decode(&slots)
    }
    /// Reads one JSON value per slot (a command line's inputs); on error, the slot's index
    /// and what serde said.
    #[doc(hidden)]
    fn from_json(values: Vec<serde_json::Value>) -> Result<Self, (usize, String)>;
    /// One JSON value per slot.
    #[doc(hidden)]
    fn to_json(&self) -> Result<Vec<serde_json::Value>, String>;
}

fn json_slot<T: DeserializeOwned>(
    values: &mut std::vec::IntoIter<serde_json::Value>,
    i: usize,
) -> Result<T, (usize, String)> {
    let value = values.next().ok_or((i, "missing".to_owned()))?;
    serde_json::from_value(value).map_err(|e| (i, e.to_string()))
}

fn slot<'a>(slots: &'a [Encoded], i: usize, type_name: &'static str) -> Result<&'a Encoded, ValueError> {
    slots.get(i).ok_or_else(|| missing(i, slots.len(), type_name))
}

/// Slot `i` of `count`, taken from the slots in turn.
fn owned_slot(slot: Option<Encoded>, i: usize, count: usize, type_name: &'static str) -> Result<Encoded, ValueError> {
    slot.ok_or_else(|| missing(i, count, type_name))
}

fn missing(i: usize, count: usize, type_name: &'static str) -> ValueError {
    ValueError {
        op: "deserialize",
        type_name,
        message: format!("expected at least {} value(s), got {count}", i + 1),
    }
}

#[diagnostic::do_not_recommend]
impl<T: Value> Values<One> for T {
    fn type_names() -> Vec<&'static str> {
        vec![std::any::type_name::<T>()]
    }
    fn describers() -> Vec<Describer> {
        vec![traced::<T>]
    }
    fn encode(&self) -> Result<Vec<Encoded>, ValueError> {
        Ok(vec![Encoded::encode(self)?])
    }
    fn encode_typed(self) -> Result<Vec<Encoded>, ValueError> {
        Ok(vec![Encoded::typed(self)?])
    }
    fn decode(slots: &[Encoded]) -> Result<Self, ValueError> {
        slot(slots, 0, std::any::type_name::<T>())?.decode()
    }
    fn decode_owned(mut slots: Vec<Encoded>) -> Result<Self, ValueError> {
        if slots.is_empty() {
            return Err(missing(0, 0, std::any::type_name::<T>()));
        }
        slots.swap_remove(0).decode_owned()
    }
    fn from_json(values: Vec<serde_json::Value>) -> Result<Self, (usize, String)> {
        json_slot(&mut values.into_iter(), 0)
    }
    fn to_json(&self) -> Result<Vec<serde_json::Value>, String> {
        Ok(vec![serde_json::to_value(self).map_err(|e| e.to_string())?])
    }
}

macro_rules! tuple_values {
    ($($t:ident $i:tt),*) => {
        impl<$($t: Value),*> Values<Many> for ($($t,)*) {
            fn type_names() -> Vec<&'static str> {
                vec![$(std::any::type_name::<$t>()),*]
            }
            fn describers() -> Vec<Describer> {
                vec![$(traced::<$t> as Describer),*]
            }
            fn encode(&self) -> Result<Vec<Encoded>, ValueError> {
                Ok(vec![$(Encoded::encode(&self.$i)?),*])
            }
            fn encode_typed(self) -> Result<Vec<Encoded>, ValueError> {
                Ok(vec![$(Encoded::typed(self.$i)?),*])
            }
            #[allow(unused_variables)]
            fn decode(slots: &[Encoded]) -> Result<Self, ValueError> {
                Ok(($(slot(slots, $i, std::any::type_name::<$t>())?.decode::<$t>()?,)*))
            }
            #[allow(unused_variables, unused_mut)]
            fn decode_owned(slots: Vec<Encoded>) -> Result<Self, ValueError> {
                let count = slots.len();
                let mut slots = slots.into_iter();
                Ok(($(owned_slot(slots.next(), $i, count, std::any::type_name::<$t>())?.decode_owned::<$t>()?,)*))
            }
            #[allow(unused_variables, unused_mut)]
            fn from_json(values: Vec<serde_json::Value>) -> Result<Self, (usize, String)> {
                let mut values = values.into_iter();
                Ok(($(json_slot::<$t>(&mut values, $i)?,)*))
            }
            fn to_json(&self) -> Result<Vec<serde_json::Value>, String> {
                Ok(vec![$(serde_json::to_value(&self.$i).map_err(|e| e.to_string())?),*])
            }
        }
    };
}

/// Invokes `$m!` once per tuple arity an interface supports (0 to 12 slots, as
/// `#[task]` allows), with each element's type parameter and index.
macro_rules! for_each_tuple {
    ($m:ident) => {
        $m!();
        $m!(A 0);
        $m!(A 0, B 1);
        $m!(A 0, B 1, C 2);
        $m!(A 0, B 1, C 2, D 3);
        $m!(A 0, B 1, C 2, D 3, E 4);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
        $m!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
    };
}
pub(crate) use for_each_tuple;

for_each_tuple!(tuple_values);

/// A writer that only counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A value that serializes to another length each time still encodes (as its third
    /// serialization), as does one whose second serialization fails.
    #[test]
    fn a_value_serialized_differently_the_second_time_still_encodes() {
        struct Shifting(std::cell::Cell<u32>);
        impl Serialize for Shifting {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let n = self.0.get();
                self.0.set(n + 1);
                match n {
                    0 => s.serialize_str("short"),
                    1 => s.serialize_str("a good deal longer than the first time"),
                    _ => s.serialize_str("third"),
                }
            }
        }
        let encoded = Encoded::encode(&Shifting(std::cell::Cell::new(0))).unwrap();
        assert_eq!(encoded.decode::<String>().unwrap(), "third");
        let encoded = Encoded::encode(&Shifting(std::cell::Cell::new(1))).unwrap();
        assert_eq!(encoded.decode::<String>().unwrap(), "third");
        assert_eq!(Encoded::encode("same").unwrap().as_bytes(), b"\x64same");
    }

    /// A buffer written elsewhere is the value its CBOR is, arrays and maps of indefinite
    /// length too, and equals the same value serialized here.
    #[test]
    fn a_value_from_its_cbor_decodes_and_equals_the_one_encoded() {
        // ["ab", "c"] as an array of indefinite length: 0x9f, the items, 0xff.
        let taken = Encoded::from_cbor(b"\x9f\x62ab\x61c\xff".to_vec());
        assert_eq!(taken.decode::<Vec<String>>().unwrap(), ["ab", "c"]);
        let definite = Encoded::from_cbor(b"\x82\x62ab\x61c".to_vec());
        assert_eq!(definite, Encoded::encode(&["ab", "c"]).unwrap());
        assert_ne!(taken, definite);
        // {"k": 1} as a map of indefinite length.
        let map = Encoded::from_cbor(b"\xbf\x61k\x01\xff".to_vec());
        assert_eq!(
            map.decode::<HashMap<String, u8>>().unwrap(),
            [("k".to_owned(), 1)].into()
        );
        assert_eq!(format!("{definite:?}"), "Encoded([130, 98, 97, 98, 97, 99])");
        assert!(Encoded::from_cbor(vec![0xff]).decode::<u8>().is_err());
    }

    /// A value taken in chunks, cut anywhere, is the same value as taken whole: it decodes
    /// (taken or shared), compares, formats, hashes and seals as the one buffer does.
    #[test]
    fn a_value_in_chunks_is_the_value_its_bytes_are() {
        let value = (0..200u32)
            .map(|i| format!("{i}:{}", "z".repeat(i as usize % 13)))
            .collect::<Vec<_>>();
        let whole = Encoded::encode(&value).unwrap();
        let bytes = whole.as_bytes();
        let cut = |at: &[usize]| {
            let mut chunks = Vec::new();
            let mut from = 0;
            for &to in at {
                chunks.push(bytes[from..to].to_vec());
                from = to;
            }
            chunks.push(bytes[from..].to_vec());
            Encoded::from_cbor_chunks(chunks)
        };
        let chunked = cut(&[1, 2, 2, 700, bytes.len() - 1]);
        let other_cuts = cut(&[300, 301]);
        assert_eq!(chunked, whole);
        assert_eq!(chunked, other_cuts);
        let shorter = Encoded::from_cbor_chunks(vec![bytes[..10].to_vec(), bytes[10..bytes.len() - 1].to_vec()]);
        assert_ne!(chunked, shorter);
        let mut changed = bytes.to_vec();
        changed[500] ^= 1;
        assert_ne!(
            chunked,
            Encoded::from_cbor_chunks(vec![changed[..400].to_vec(), changed[400..].to_vec()])
        );
        assert_eq!(format!("{chunked:?}"), format!("{whole:?}"));
        assert_eq!(
            digest(b"t", std::slice::from_ref(&chunked)),
            digest(b"t", std::slice::from_ref(&whole))
        );
        assert_eq!(chunked.decode::<Vec<String>>().unwrap(), value);
        // Shared: read in place, the other holder's bytes untouched.
        let shared = chunked.clone();
        assert_eq!(shared.decode_owned::<Vec<String>>().unwrap(), value);
        assert_eq!(chunked.as_bytes(), bytes);
        // Taken: each chunk freed as it is read.
        assert_eq!(other_cuts.decode_owned::<Vec<String>>().unwrap(), value);
        assert_eq!(chunked.decode_owned::<Vec<String>>().unwrap(), value);
        assert!(Encoded::from_cbor_chunks(vec![vec![0x82, 0x01], vec![]])
            .decode_owned::<Vec<u8>>()
            .is_err());
        assert_eq!(Encoded::from_cbor_chunks(vec![]).as_bytes(), b"");
    }

    /// Taking the slots decodes the same values, and fails with the same errors, as reading
    /// them in place.
    #[test]
    fn slots_taken_decode_as_slots_read() {
        let slots = <(u64, String) as Values<Many>>::encode(&(7, "x".into())).unwrap();
        let back = <(u64, String) as Values<Many>>::decode_owned(slots.clone()).unwrap();
        assert_eq!(back, (7, "x".to_string()));
        let short = slots[..1].to_vec();
        let read = <(u64, String) as Values<Many>>::decode(&short).unwrap_err();
        let taken = <(u64, String) as Values<Many>>::decode_owned(short).unwrap_err();
        assert_eq!(taken.to_string(), read.to_string());
        assert!(taken.message.contains("expected at least 2 value(s), got 1"), "{taken}");
        let wrong = <(String, u64) as Values<Many>>::decode_owned(slots.clone()).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            <(String, u64) as Values<Many>>::decode(&slots).unwrap_err().to_string()
        );
        let missing = <u64 as Values<One>>::decode_owned(Vec::new()).unwrap_err();
        assert_eq!(
            missing.to_string(),
            <u64 as Values<One>>::decode(&[]).unwrap_err().to_string()
        );
        assert_eq!(<u64 as Values<One>>::decode_owned(slots).unwrap(), 7);
    }

    #[test]
    fn floats_bytes_and_non_string_keys_round_trip() {
        let nan = Encoded::encode(&f64::NAN).unwrap();
        assert!(nan.decode::<f64>().unwrap().is_nan());
        let map: HashMap<(u8, u8), Vec<u8>> = [((1, 2), vec![0, 255])].into();
        let back: HashMap<(u8, u8), Vec<u8>> = Encoded::encode(&map).unwrap().decode().unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn tuples_are_one_slot_per_element() {
        let slots = <(u64, String) as Values<Many>>::encode(&(7, "x".into())).unwrap();
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[1].decode::<String>().unwrap(), "x");
        let back = <(u64, String) as Values<Many>>::decode(&slots).unwrap();
        assert_eq!(back, (7, "x".to_string()));
        assert!(<() as Values<Many>>::encode(&()).unwrap().is_empty());
    }

    #[test]
    fn decoding_the_wrong_type_names_it() {
        let err = Encoded::encode("text").unwrap().decode::<u64>().unwrap_err();
        assert_eq!(err.op, "deserialize");
        assert_eq!(err.type_name, "u64");
        let missing = <u64 as Values<One>>::decode(&[]).unwrap_err();
        assert!(missing.message.contains("expected at least 1"), "{missing}");
    }
}
