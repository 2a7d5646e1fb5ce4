//! `abfs://` against Azurite, Microsoft's Azure Blob Storage emulator, on loopback (see
//! `tests/support/azurite.rs`), configured as a user configures Azure: object_store's
//! `AZURE_STORAGE_USE_EMULATOR` and `AZURITE_BLOB_STORAGE_URL`. Storage round trips (an upload
//! in parts among them), every checkpoint case of `support/checkpoint_cases.rs`, blobs damaged
//! through the emulator's own API, and one task container's `execute` over three attempts.
//!
//! `gs://` against fake-gcs-server (`tests/support/fake_gcs.rs`), configured as a user points
//! object_store's GCS client at an emulator: `GOOGLE_SERVICE_ACCOUNT_KEY` naming `gcs_base_url`,
//! with `disable_oauth`. **Reading only**: that server answers the XML API's `GET`, listing and
//! `DELETE`, but refuses object_store's `PUT` and `POST ?uploads` (HTTP 400 `invalid
//! uploadType`), so no write, copy or upload in parts through `gs://` runs here, nor any
//! checkpoint case that commits on `gs://`. What is covered: objects (a 16 MiB one streamed, names
//! with spaces and non-ASCII) put there through the server's JSON API and read, listed and deleted
//! through `gs://`; checkpoints committed on `file://` and copied there object by object, read and
//! restored from `gs://` (bytes, state, a directory), with damage and a dead commit found; and
//! `execute` over three attempts reading its inputs and each previous checkpoint from `gs://`.
//! The refusal itself is pinned, so that a release of the server that takes writes shows up.

#[path = "../../tests/support/azurite.rs"]
mod azurite;
#[path = "../../tests/support/fake_gcs.rs"]
mod fake_gcs;

#[macro_use]
#[path = "support/checkpoint_cases.rs"]
mod cases;

/// The Rust twins: the seed is run here as a task container.
#[path = "../../examples/twins.rs"]
mod twins;

use azurite::Azurite;
use cases::{attempt, expect_corrupt, Root};
use fake_gcs::FakeGcs;
use flyte_cluster::checkpoint::checkpoint;
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

/// `gs://bucket` without the scheme.
fn bucket(root: &str) -> &str {
    root.strip_prefix("gs://").expect("a gs:// root")
}

#[test]
fn objects_put_into_the_emulator_are_read_listed_and_deleted_on_gs() {
    let gcs = FakeGcs::shared();
    let root = gcs.new_bucket("store");
    let b = bucket(&root);
    let at = |rel: &str| Location::parse(&format!("{root}/{rel}")).unwrap();

    gcs.put(b, "a/one.txt", b"one");
    gcs.put(b, "a/with space/ü 100%.txt", b"u");
    gcs.put(b, "a/empty", b"");
    let big = large(2 * PART_SIZE + 12_345);
    gcs.put(b, "a/big.bin", &big);
    // A sibling whose name starts like the prefix: not under `a/`.
    gcs.put(b, "ab", b"x");

    assert_eq!(at("a/one.txt").read().unwrap(), b"one");
    assert_eq!(at("a/with space/ü 100%.txt").read().unwrap(), b"u");
    assert_eq!(at("a/empty").read().unwrap(), b"");
    assert!(at("a/big.bin").read().unwrap() == big, "read back other bytes");
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    at("a/big.bin")
        .read_each(|size, chunk| {
            sizes.push(size);
            seen.extend_from_slice(chunk);
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
    assert!(seen == big, "streamed other bytes");
    assert!(sizes.len() > 1, "16 MiB came as one chunk");
    assert!(sizes.iter().all(|&s| s == big.len() as u64));

    assert_eq!(
        at("a").list().unwrap(),
        ["big.bin", "empty", "one.txt", "with space/ü 100%.txt"]
    );
    assert_eq!(Location::parse(&root).unwrap().list().unwrap().len(), 5);

    match at("a/missing").read() {
        Err(StorageError::NotFound { uri }) => assert_eq!(uri, format!("{root}/a/missing")),
        other => panic!("expected NotFound, got {:?}", other.map(|b| b.len())),
    }
    assert_eq!(at("a/missing").read_if_exists().unwrap(), None);
    at("a/one.txt").delete().unwrap();
    assert_eq!(gcs.get(b, "a/one.txt"), None, "the emulator still holds it");
    assert!(matches!(at("a/one.txt").read(), Err(StorageError::NotFound { .. })));
    // Gone already: not an error.
    at("a/one.txt").delete().unwrap();
    assert_eq!(at("a").list().unwrap(), ["big.bin", "empty", "with space/ü 100%.txt"]);
    assert_eq!(gcs.get(b, "ab").as_deref(), Some(&b"x"[..]));
}

/// Why nothing above writes through `gs://`: fake-gcs-server refuses object_store's one-request
/// `PUT` and the `POST ?uploads` that starts an upload in parts, and so a copy too (in the store,
/// then through this process). Pinned, and the error names the server's reason.
#[test]
fn fake_gcs_server_refuses_object_stores_writes_on_gs() {
    let gcs = FakeGcs::shared();
    let root = gcs.new_bucket("refused");
    let b = bucket(&root);
    let at = |rel: &str| Location::parse(&format!("{root}/{rel}")).unwrap();
    let refused = |result: Result<(), StorageError>, what: &str| match result {
        Err(StorageError::Store {
            op: "write",
            uri,
            source,
        }) => {
            assert_eq!(uri, format!("{root}/{what}"));
            let text = format!("{source:?}");
            assert!(text.contains("invalid uploadType"), "{what}: {text}");
        }
        other => panic!("{what}: expected the write refused, got {other:?}"),
    };

    refused(at("small").write(b"small"), "small");
    refused(at("big").write(&large(PART_SIZE + 1)), "big");
    gcs.put(b, "src", b"source");
    refused(at("src").copy_to(&at("copy")), "copy");
    assert_eq!(Location::parse(&root).unwrap().list().unwrap(), ["src"]);
}

/// What `dir` (a `file://` root's directory) holds under `prefix`, uploaded to the same prefix
/// in the bucket of `root`: a checkpoint committed elsewhere, as the emulator cannot take
/// flytekit's own writes.
fn copy_to_gcs(gcs: &FakeGcs, files: &Root, root: &str, prefix: &str) {
    let dir = files.uri.strip_prefix("file://").expect("a file:// root");
    gcs.put_tree(bucket(root), prefix, &std::path::Path::new(dir).join(prefix));
}

#[test]
fn checkpoints_committed_elsewhere_are_read_and_restored_from_gs() {
    let gcs = FakeGcs::shared();
    let root = gcs.new_bucket("ckpt");
    let b = bucket(&root);
    let files = Root::file();
    let from_gs = |dest: &str, prev: &str| checkpoint(&files.prefix(dest), Some(&format!("{root}/{prev}"))).unwrap();

    attempt(&files, "a1", None).write(b"some bytes").unwrap();
    attempt(&files, "s1", None).save_state(&(7u64, "seven")).unwrap();
    let tree = cases::tree();
    attempt(&files, "b1", None).save(tree.path()).unwrap();
    for prefix in ["a1", "s1", "b1"] {
        copy_to_gcs(gcs, &files, &root, prefix);
    }

    let a2 = from_gs("a2", "a1");
    assert!(a2.prev_exists());
    assert_eq!(a2.read().unwrap().as_deref(), Some(&b"some bytes"[..]));
    assert_eq!(
        from_gs("s2", "s1").load_state::<(u64, String)>().unwrap(),
        Some((7, "seven".to_owned()))
    );
    let out = tempfile::tempdir().unwrap();
    cases::check_tree(&from_gs("b2", "b1").restore(out.path().join("r")).unwrap().unwrap());
    // Nothing was there to start from.
    assert!(!from_gs("n2", "none").prev_exists());
    assert_eq!(from_gs("n2", "none").read().unwrap(), None);

    // What Python flytekit's SyncCheckpoint leaves on GCS, `_dst_cp` alone: read as it is.
    gcs.put(b, "py/_dst_cp", b"from python");
    assert_eq!(
        from_gs("p2", "py").read().unwrap().as_deref(),
        Some(&b"from python"[..])
    );
    // A directory commit that died before its manifest: objects, but no checkpoint.
    gcs.put(b, "dead/ckpt-0000000000000000/a.txt", b"a");
    let dead = from_gs("d2", "dead");
    assert!(!dead.prev_exists());
    assert_eq!(dead.read().unwrap(), None);

    // Damage made through the emulator's API: a flipped byte, a changed file, a missing file.
    let mut bytes = gcs.get(b, "a1/_dst_cp").expect("copied");
    bytes[0] ^= 0x01;
    gcs.put(b, "a1/_dst_cp", &bytes);
    let reason = expect_corrupt(from_gs("a3", "a1").read(), "a1/_dst_cp");
    assert!(reason.starts_with("does not match its manifest"), "{reason}");

    let file = "b1/ckpt-0000000000000000/sub/b.bin";
    assert_eq!(gcs.get(b, file).as_deref(), Some(&[0u8, 1, 2, 255][..]));
    gcs.put(b, file, &[0u8, 1, 2, 254]);
    let target = out.path().join("r3");
    let reason = expect_corrupt(from_gs("b3", "b1").restore(&target), "sub/b.bin");
    assert!(reason.starts_with("does not match its manifest"), "{reason}");
    assert!(!target.exists(), "a failed restore leaves a missing target missing");

    Location::parse(&format!("{root}/b1/ckpt-0000000000000000/a.txt"))
        .unwrap()
        .delete()
        .unwrap();
    gcs.put(b, file, &[0u8, 1, 2, 255]);
    let reason = expect_corrupt(from_gs("b4", "b1").restore(out.path().join("r4")), "a.txt");
    assert!(reason.starts_with("missing"), "{reason}");
}

/// `execute` as propeller runs a task container three times, with `inputs.pb` and each
/// attempt's previous checkpoint read from `gs://`; what the attempts write (error.pb,
/// outputs.pb, their checkpoints) goes to `file://` and each checkpoint is then copied into the
/// emulator for the next attempt, as the emulator takes no write from object_store.
#[test]
fn execute_reads_its_inputs_and_previous_checkpoints_from_gs() {
    let gcs = FakeGcs::shared();
    let root = gcs.new_bucket("execute");
    let files = Root::file();
    let n = Encoded::encode(&7u64).unwrap();
    let map = flyte_cluster::literal::to_literal_map(&[("n_iterations", &n, &Type::Integer)]).unwrap();
    gcs.put(bucket(&root), "inputs/inputs.pb", &map.encode_to_vec());
    let prefix = |k: u32| format!("metadata/n0/{k}");
    let checkpoint_path = |k: u32| format!("{}/_flytecheckpoints", prefix(k));

    let mut failures = Vec::new();
    let mut output = None;
    for k in 0..3u32 {
        let args = ExecuteArgs {
            task: "checkpoint_clouds.use_checkpoint".to_owned(),
            inputs: format!("{root}/inputs/inputs.pb"),
            output_prefix: files.prefix(&prefix(k)),
            raw_output_data_prefix: files.prefix("raw"),
            checkpoint_path: files.prefix(&checkpoint_path(k)),
            prev_checkpoint: k.checked_sub(1).map(|p| format!("{root}/{}", checkpoint_path(p))),
            map: false,
        };
        match execute_task(
            &twins::checkpoint::use_checkpoint,
            &args,
            SingleAttempt::new("e", "n0", k + 1),
            "",
        )
        .unwrap()
        {
            Executed::Failed(failure) => failures.push(failure.message),
            Executed::Outputs => {
                let out = files.at(&format!("{}/{OUTPUTS_FILE}", prefix(k))).read().unwrap();
                let map = LiteralMap::decode(&out[..]).unwrap();
                let value: u64 = flyte_cluster::literal::from_literal(&map.literals["o0"], &Type::Integer)
                    .unwrap()
                    .decode()
                    .unwrap();
                output = Some((k, value));
            }
            Executed::Futures => panic!("a plain task wrote futures.pb"),
        }
        copy_to_gcs(gcs, &files, &root, &checkpoint_path(k));
    }
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].ends_with("failed at iteration 3"), "{failures:?}");
    assert!(failures[1].ends_with("failed at iteration 6"), "{failures:?}");
    // Resumed at 6 from what attempt 2 read from gs://, not at 0.
    assert_eq!(output, Some((2, 7)));
}
