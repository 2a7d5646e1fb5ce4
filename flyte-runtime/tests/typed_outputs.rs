//! A task container's attempt with its outputs kept unserialized
//! (`SingleAttempt::typed_outputs`): each output is the value the task returned, serialized to
//! the same bytes as the attempt's usual outputs, and a value that cannot be serialized fails
//! the attempt as it does otherwise.

use flyte_runtime::backend::LocalDir;
use flyte_runtime::{Encoded, SingleAttempt};
use flytekit::task;

#[task]
fn pair(n: u64) -> (Vec<String>, u64) {
    ((0..n).map(|i| format!("line {i}")).collect(), n * 2)
}

/// Serializes to an error: what a `Serialize` impl may do.
struct Refused;

impl serde::Serialize for Refused {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused to serialize"))
    }
}

impl<'de> serde::Deserialize<'de> for Refused {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Refused)
    }
}

#[task]
fn refused(n: u64) -> (u64, Refused) {
    (n, Refused)
}

fn run(
    attempt: SingleAttempt,
    task: &impl flyte_runtime::Task,
    n: u64,
) -> Result<Vec<Encoded>, flyte_runtime::AttemptFailure> {
    let dir = tempfile::tempdir().unwrap();
    let backend = Box::new(LocalDir::new(dir.path()).unwrap());
    attempt.run_owned(task, vec![Encoded::encode(&n).unwrap()], backend)
}

#[test]
fn typed_outputs_are_the_values_and_serialize_as_encoded_ones() {
    let encoded = run(SingleAttempt::new("e", "n0", 1), &pair, 3).unwrap();
    let typed = run(SingleAttempt::new("e", "n0", 1).typed_outputs(), &pair, 3).unwrap();
    assert_eq!(typed.len(), 2);
    assert!(encoded.iter().all(|e| e.with_typed(|_| ()).is_none()));
    for (t, e) in typed.iter().zip(&encoded) {
        // Serialized through the handle, as a task container does, the bytes are the same.
        let mut bytes = Vec::new();
        t.with_typed(|value| ciborium::into_writer(value, &mut bytes))
            .expect("an output of a typed attempt is kept typed")
            .unwrap();
        assert_eq!(bytes, e.as_bytes());
    }
    assert_eq!(
        typed[0].decode::<Vec<String>>().unwrap(),
        ["line 0", "line 1", "line 2"]
    );
    assert_eq!(typed[1].clone().decode_owned::<u64>().unwrap(), 6);
    // Read as bytes, they are what the usual attempt returns.
    assert_eq!(typed, encoded);
    assert_eq!(format!("{typed:?}"), format!("{encoded:?}"));
}

#[test]
fn a_typed_output_that_does_not_serialize_fails_the_attempt_as_it_would_otherwise() {
    let encoded = run(SingleAttempt::new("e", "n0", 1), &refused, 3).unwrap_err();
    let typed = run(SingleAttempt::new("e", "n0", 1).typed_outputs(), &refused, 3).unwrap_err();
    assert_eq!(typed.kind, encoded.kind);
    assert_eq!(typed.cause, encoded.cause);
    assert!(typed.cause.contains("refused to serialize"), "{}", typed.cause);
}
