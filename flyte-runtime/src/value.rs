//! Values crossing a task boundary, the way Flyte passes literals: serialized, one slot per
//! input or output, so a tuple output is several slots that downstream nodes bind separately.
//!
//! The encoding is CBOR (through serde), which round-trips everything serde can describe,
//! including NaN floats, byte strings and maps with non-string keys, which JSON would not.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ValueError;
use crate::interface::Describer;
use crate::trace::traced;

/// One value as the local runtime stores and passes it: serialized with serde, to CBOR. Cheap
/// to clone.
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
/// their exact size; a buffer written elsewhere (a task container's input, converted as
/// `inputs.pb` streams in) is taken as it is, since an `Arc<[u8]>` cannot be made from a `Vec`
/// without a copy (its counts sit in front of the bytes). Not `bytes::Bytes` for both: the first
/// clone of one made from a `Vec` allocates, which added 2% to the instructions the local
/// executor runs a 1,000-node graph in (`benches/scheduler.rs`, under callgrind).
#[derive(Clone)]
pub(crate) enum Bytes {
    Exact(Arc<[u8]>),
    Taken(Arc<Vec<u8>>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Exact(bytes) => bytes,
            Bytes::Taken(bytes) => bytes,
        }
    }
}

impl PartialEq for Encoded {
    fn eq(&self, other: &Encoded) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Encoded {}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Encoded").field(&self.as_bytes()).finish()
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
    pub fn from_cbor(mut bytes: Vec<u8>) -> Encoded {
        bytes.shrink_to_fit();
        Encoded(Bytes::Taken(Arc::new(bytes)))
    }

    /// Deserializes the value as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        ciborium::from_reader(&self.0[..]).map_err(|e| ValueError {
            op: "deserialize",
            type_name: std::any::type_name::<T>(),
            message: e.to_string(),
        })
    }

    /// A literal from bytes that [`encode`](Self::encode) produced.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Encoded {
        Encoded(Bytes::Exact(bytes.into()))
    }

    /// The serialized bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
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
        hasher.update((literal.as_bytes().len() as u64).to_le_bytes());
        hasher.update(literal.as_bytes());
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
    /// Deserializes from one literal per slot.
    fn decode(slots: &[Encoded]) -> Result<Self, ValueError>;
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
    slots.get(i).ok_or_else(|| ValueError {
        op: "deserialize",
        type_name,
        message: format!("expected at least {} value(s), got {}", i + 1, slots.len()),
    })
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
    fn decode(slots: &[Encoded]) -> Result<Self, ValueError> {
        slot(slots, 0, std::any::type_name::<T>())?.decode()
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
            #[allow(unused_variables)]
            fn decode(slots: &[Encoded]) -> Result<Self, ValueError> {
                Ok(($(slot(slots, $i, std::any::type_name::<$t>())?.decode::<$t>()?,)*))
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
