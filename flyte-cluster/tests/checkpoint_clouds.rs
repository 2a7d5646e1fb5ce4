//! `abfs://` against Azurite, Microsoft's Azure Blob Storage emulator, on loopback (see
//! `tests/support/azurite.rs`), configured as a user configures Azure: object_store's
//! `AZURE_STORAGE_USE_EMULATOR` and `AZURITE_BLOB_STORAGE_URL`. Storage round trips (an upload
//! in parts among them), every checkpoint case of `support/checkpoint_cases.rs`, blobs damaged
//! through the emulator's own API, and one task container's `execute` over three attempts.

#[path = "../../tests/support/azurite.rs"]
mod azurite;

#[macro_use]
#[path = "support/checkpoint_cases.rs"]
mod cases;

/// The Rust twins: the seed is run here as a task container.
#[path = "../../examples/twins.rs"]
mod twins;

use azurite::Azurite;
use cases::{attempt, expect_corrupt, Root};
use flyte_cluster::execute::{execute_task, ExecuteArgs, Executed, ERROR_FILE, OUTPUTS_FILE};
use flyte_cluster::storage::{Location, StorageError, PART_SIZE};
use flyte_idl::core::{container_error, ErrorDocument, LiteralMap};
use flyte_idl::prost::Message;
use flyte_runtime::{Encoded, SingleAttempt, Type};

/// A new container on the shared Azurite.
fn abfs_root() -> Root {
    Root::new(Azurite::shared().new_container("ckpt"), None)
}

checkpoint_cases!(on_abfs, abfs_root());

/// `abfs://container` without the scheme.
fn container(root: &str) -> &str {
    root.strip_prefix("abfs://").expect("an abfs:// root")
}

/// The bytes of a large object: no run of them repeats at the part size.
fn large(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn objects_are_written_read_listed_copied_and_deleted_on_abfs() {
    let az = Azurite::shared();
    let root = az.new_container("store");
    let c = container(&root);
    let at = |rel: &str| Location::parse(&format!("{root}/{rel}")).unwrap();

    at("a/one.txt").write(b"one").unwrap();
    assert_eq!(at("a/one.txt").read().unwrap(), b"one");
    // What the emulator holds, read past object_store.
    assert_eq!(az.get(c, "a/one.txt"), b"one");
    assert_eq!(
        az.committed_blocks(c, "a/one.txt"),
        0,
        "a small object is one PUT, no blocks"
    );
    at("a/with space/ü 100%.txt").write(b"u").unwrap();
    assert_eq!(at("a/with space/ü 100%.txt").read().unwrap(), b"u");
    at("a/empty").write(b"").unwrap();
    assert_eq!(at("a/empty").read().unwrap(), b"");

    // Two parts and a bit: an upload in parts (blocks, then the block list).
    let big = large(2 * PART_SIZE + 12_345);
    at("a/big.bin").write(&big).unwrap();
    assert_eq!(az.committed_blocks(c, "a/big.bin"), 3);
    assert!(az.get(c, "a/big.bin") == big, "the emulator holds other bytes");
    assert!(at("a/big.bin").read().unwrap() == big, "read back other bytes");
    let mut sizes = Vec::new();
    let mut seen = 0usize;
    at("a/big.bin")
        .read_each(|size, chunk| {
            sizes.push(size);
            seen += chunk.len();
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(seen, big.len());
    assert!(sizes.iter().all(|&s| s == big.len() as u64));

    assert_eq!(
        at("a").list().unwrap(),
        ["big.bin", "empty", "one.txt", "with space/ü 100%.txt"]
    );

    // In the store, and across to a new name.
    at("a/big.bin").copy_to(&at("b/big.bin")).unwrap();
    assert!(az.get(c, "b/big.bin") == big);

    match at("a/missing").read() {
        Err(StorageError::NotFound { uri }) => assert_eq!(uri, format!("{root}/a/missing")),
        other => panic!("expected NotFound, got {:?}", other.map(|b| b.len())),
    }
    assert_eq!(at("a/missing").read_if_exists().unwrap(), None);
    at("a/one.txt").delete().unwrap();
    assert!(matches!(at("a/one.txt").read(), Err(StorageError::NotFound { .. })));
    // Gone already: not an error.
    at("a/one.txt").delete().unwrap();
    assert_eq!(at("a").list().unwrap(), ["big.bin", "empty", "with space/ü 100%.txt"]);
}

#[test]
fn an_upload_in_parts_that_fails_midway_leaves_no_object_on_abfs() {
    let az = Azurite::shared();
    let root = az.new_container("abandon");
    let at = Location::parse(&format!("{root}/half.bin")).unwrap();
    let part = bytes::Bytes::from(large(PART_SIZE + 1));
    let mut given = 0;
    let written = at
        .write_from(|| {
            given += 1;
            match given {
                1 | 2 => Ok(Some(part.clone())),
                _ => Err("the source failed"),
            }
        })
        .unwrap();
    assert_eq!(written, Err("the source failed"));
    assert!(matches!(at.read(), Err(StorageError::NotFound { .. })));
    assert_eq!(Location::parse(&root).unwrap().list().unwrap(), Vec::<String>::new());
}

/// Damage made through Azurite's own API, not flytekit's: a flipped byte in a bytes
/// checkpoint, a changed file in a directory checkpoint.
#[test]
fn a_blob_changed_through_the_emulator_is_a_corrupt_checkpoint() {
    let az = Azurite::shared();
    let root = abfs_root();
    let c = container(&root.uri);

    attempt(&root, "a1", None).write(b"some bytes").unwrap();
    let mut bytes = az.get(c, "a1/_dst_cp");
    assert_eq!(bytes, b"some bytes");
    bytes[0] ^= 0x01;
    az.put(c, "a1/_dst_cp", &bytes);
    let reason = expect_corrupt(attempt(&root, "a2", Some("a1")).read(), "a1/_dst_cp");
    assert!(reason.starts_with("does not match its manifest"), "{reason}");

    let tree = cases::tree();
    attempt(&root, "b1", None).save(tree.path()).unwrap();
    // Restored whole before the damage.
    let out = tempfile::tempdir().unwrap();
    cases::check_tree(
        &attempt(&root, "b2", Some("b1"))
            .restore(out.path().join("r"))
            .unwrap()
            .unwrap(),
    );
    let file = "b1/ckpt-0000000000000000/sub/b.bin";
    assert_eq!(az.get(c, file), [0u8, 1, 2, 255]);
    az.put(c, file, &[0u8, 1, 2, 254]);
    let target = out.path().join("r3");
    let reason = expect_corrupt(attempt(&root, "b3", Some("b1")).restore(&target), "sub/b.bin");
    assert!(reason.starts_with("does not match its manifest"), "{reason}");
    assert!(!target.exists(), "a failed restore leaves a missing target missing");
}

/// `execute` as propeller runs a task container three times: inputs.pb, error.pb, outputs.pb
/// and each attempt's checkpoint prefix all on `abfs://`.
#[test]
fn execute_runs_three_attempts_with_everything_on_abfs() {
    let root = Azurite::shared().new_container("execute");
    let inputs = format!("{root}/inputs/inputs.pb");
    let n = Encoded::encode(&7u64).unwrap();
    let map = flyte_cluster::literal::to_literal_map(&[("n_iterations", &n, &Type::Integer)]).unwrap();
    Location::parse(&inputs).unwrap().write(&map.encode_to_vec()).unwrap();
    let prefix = |k: u32| format!("{root}/metadata/n0/{k}");
    let checkpoint_path = |k: u32| format!("{}/_flytecheckpoints", prefix(k));

    let mut failures = Vec::new();
    for k in 0..3u32 {
        let args = ExecuteArgs {
            task: "checkpoint_clouds.use_checkpoint".to_owned(),
            inputs: inputs.clone(),
            output_prefix: prefix(k),
            raw_output_data_prefix: format!("{root}/raw"),
            checkpoint_path: checkpoint_path(k),
            prev_checkpoint: k.checked_sub(1).map(checkpoint_path),
            map: false,
        };
        let attempt = SingleAttempt::new("e", "n0", k + 1);
        match execute_task(&twins::checkpoint::use_checkpoint, &args, attempt, "").unwrap() {
            Executed::Failed(failure) => {
                let doc = Location::parse(&format!("{}/{ERROR_FILE}", prefix(k)))
                    .unwrap()
                    .read()
                    .unwrap();
                let error = ErrorDocument::decode(&doc[..]).unwrap().error.unwrap();
                assert_eq!(error.kind, container_error::Kind::Recoverable as i32);
                assert_eq!(error.message, failure.message);
                failures.push(failure.message);
            }
            Executed::Outputs => {
                let out = Location::parse(&format!("{}/{OUTPUTS_FILE}", prefix(k)))
                    .unwrap()
                    .read()
                    .unwrap();
                let map = LiteralMap::decode(&out[..]).unwrap();
                let value: u64 = flyte_cluster::literal::from_literal(&map.literals["o0"], &Type::Integer)
                    .unwrap()
                    .decode()
                    .unwrap();
                assert_eq!((k, value), (2, 7));
            }
            Executed::Futures => panic!("a plain task wrote futures.pb"),
        }
    }
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].ends_with("failed at iteration 3"), "{failures:?}");
    assert!(failures[1].ends_with("failed at iteration 6"), "{failures:?}");
    // What each attempt committed, for the next, under its own prefix.
    let committed = |k: u32| {
        Location::parse(&format!("{}/_dst_cp", checkpoint_path(k)))
            .unwrap()
            .read()
            .unwrap()
    };
    assert_eq!(
        (committed(0), committed(1), committed(2)),
        (b"3".to_vec(), b"6".to_vec(), b"7".to_vec())
    );
}
