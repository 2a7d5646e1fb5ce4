//! The checkpoint backend's behaviour under one root of prefixes, written once and run on every
//! store: `checkpoint_store.rs` runs it on S3 (moto) and `file://`, `checkpoint_clouds.rs` on
//! Azure Blob (Azurite). A test file includes it as `mod cases` and names each store's tests with
//! [`checkpoint_cases!`]:
//!
//! ```ignore
//! #[macro_use]
//! #[path = "support/checkpoint_cases.rs"]
//! mod cases;
//! checkpoint_cases!(on_file, cases::Root::file());
//! ```
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use flyte_cluster::checkpoint::{checkpoint, ObjectStoreCheckpoint, BYTES_OBJECT, MANIFEST_OBJECT};
use flyte_cluster::storage::Location;
use flyte_runtime::{Checkpoint, CheckpointBackend, CheckpointError};

/// A fresh root for prefixes (a new bucket or container, a temporary directory), with whatever
/// keeps it alive.
pub struct Root {
    pub uri: String,
    _keep: Option<Box<dyn std::any::Any>>,
}

impl Root {
    /// The root at `uri`; `keep` (a temporary directory) lives as long as it.
    pub fn new(uri: String, keep: Option<Box<dyn std::any::Any>>) -> Root {
        Root { uri, _keep: keep }
    }

    /// A new temporary directory, as a `file://` root.
    pub fn file() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("file://{}", dir.path().display());
        Root::new(uri, Some(Box::new(dir)))
    }

    /// The prefix `name` under the root, as propeller would pass it.
    pub fn prefix(&self, name: &str) -> String {
        format!("{}/{name}", self.uri)
    }

    pub fn at(&self, rel: &str) -> Location {
        Location::parse(&self.prefix(rel)).unwrap()
    }
}

/// The checkpoint of an attempt committing under `dest` and starting from `prev`.
pub fn attempt(root: &Root, dest: &str, prev: Option<&str>) -> Checkpoint {
    let prev = prev.map(|p| root.prefix(p));
    checkpoint(&root.prefix(dest), prev.as_deref()).unwrap()
}

pub fn tree() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join("sub/empty")).unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    fs::write(src.path().join("sub/b.bin"), [0u8, 1, 2, 255]).unwrap();
    fs::create_dir_all(src.path().join("with space")).unwrap();
    fs::write(src.path().join("sub/zero"), "").unwrap();
    fs::write(src.path().join("with space/ünï cödé 100%.txt"), "u").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("a.txt", src.path().join("link")).unwrap();
    src
}

pub fn check_tree(out: &Path) {
    assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "a");
    assert_eq!(fs::read(out.join("sub/b.bin")).unwrap(), [0u8, 1, 2, 255]);
    assert!(out.join("sub/empty").is_dir());
    assert_eq!(fs::read(out.join("sub/zero")).unwrap(), b"");
    assert_eq!(
        fs::read_to_string(out.join("with space/ünï cödé 100%.txt")).unwrap(),
        "u"
    );
    #[cfg(unix)]
    assert_eq!(fs::read_link(out.join("link")).unwrap(), Path::new("a.txt"));
}

pub fn expect_corrupt<T: std::fmt::Debug>(result: Result<T, CheckpointError>, ends_with: &str) -> String {
    match result {
        Err(CheckpointError::Corrupt { path, reason }) => {
            assert!(
                path.to_string_lossy().ends_with(ends_with),
                "{} does not end with {ends_with}",
                path.display()
            );
            reason
        }
        other => panic!("expected Corrupt at {ends_with}, got {other:?}"),
    }
}

/// write, read, save_state, load_state, save and restore across two attempts, each committing
/// under its own prefix.
pub fn round_trip(root: Root) {
    let a1 = attempt(&root, "a1", None);
    assert!(!a1.prev_exists());
    assert_eq!(a1.read().unwrap(), None);
    a1.write(b"3").unwrap();
    // Still what attempt 1 started from.
    assert_eq!(a1.read().unwrap(), None);
    assert_eq!(a1.dir(), Path::new(&root.prefix("a1")));

    let a2 = attempt(&root, "a2", Some("a1"));
    assert!(a2.prev_exists());
    assert_eq!(a2.read().unwrap().as_deref(), Some(&b"3"[..]));
    a2.save_state(&(7u64, "seven".to_owned())).unwrap();
    let a3 = attempt(&root, "a3", Some("a2"));
    assert_eq!(a3.load_state::<(u64, String)>().unwrap(), Some((7, "seven".to_owned())));
    let out = tempfile::tempdir().unwrap();
    assert_eq!(a3.restore(out.path().join("r")).unwrap(), Some(out.path().join("r")));
    assert_eq!(
        fs::read(out.path().join("r/checkpoint")).unwrap(),
        a3.read().unwrap().unwrap()
    );

    let src = tree();
    a3.save(src.path()).unwrap();
    let a4 = attempt(&root, "a4", Some("a3"));
    let out = tempfile::tempdir().unwrap();
    let restored = a4.restore(out.path().join("r")).unwrap().unwrap();
    check_tree(&restored);
    match a4.read() {
        Err(CheckpointError::NotBytes { path }) => assert_eq!(path, Path::new(&root.prefix("a3"))),
        other => panic!("expected NotBytes, got {other:?}"),
    }
    // A saved single file reads back as bytes.
    let file = src.path().join("a.txt");
    a4.save(&file).unwrap();
    let a5 = attempt(&root, "a5", Some("a4"));
    assert_eq!(a5.read().unwrap().as_deref(), Some(&b"a"[..]));
    // Nothing is a value too, and not the absence of one.
    a5.write(b"").unwrap();
    assert_eq!(
        attempt(&root, "a6", Some("a5")).read().unwrap().as_deref(),
        Some(&b""[..])
    );
    // A single value sits where flytekit's SyncCheckpoint.write puts it, with our manifest.
    a5.write(b"flytekit's name").unwrap();
    assert_eq!(root.at("a5").list().unwrap(), [MANIFEST_OBJECT, BYTES_OBJECT]);
    assert_eq!(
        root.at(&format!("a5/{BYTES_OBJECT}")).read().unwrap(),
        b"flytekit's name"
    );
}

/// The attempt reads from --prev-checkpoint and commits under --checkpoint-path, leaving the
/// previous prefix as it was; an attempt that commits nothing hands on what it started from.
pub fn prev_from_one_prefix_commit_to_another(root: Root) {
    let a1 = attempt(&root, "a1", None);
    a1.write(b"one").unwrap();
    a1.write(b"two").unwrap();
    let before = root.at("a1").list().unwrap();

    let a2 = attempt(&root, "a2", Some("a1"));
    assert_eq!(a2.read().unwrap().as_deref(), Some(&b"two"[..]));
    // Attempt 2 commits nothing, and fails: attempt 3 is given attempt 2's prefix.
    drop(a2);
    let a3 = attempt(&root, "a3", Some("a2"));
    assert_eq!(a3.read().unwrap().as_deref(), Some(&b"two"[..]));
    a3.save(tree().path()).unwrap();
    a3.write(b"three").unwrap();
    assert_eq!(a3.read().unwrap().as_deref(), Some(&b"two"[..]));
    // The earlier prefixes are untouched; attempt 3's holds only its last commit.
    assert_eq!(root.at("a1").list().unwrap(), before);
    assert_eq!(root.at("a2/_dst_cp").read().unwrap(), b"two");
    assert_eq!(root.at("a3").list().unwrap(), [MANIFEST_OBJECT, BYTES_OBJECT]);
    let a4 = attempt(&root, "a4", Some("a3"));
    assert_eq!(a4.read().unwrap().as_deref(), Some(&b"three"[..]));
    // A tree is carried forward too.
    a4.save(tree().path()).unwrap();
    drop(attempt(&root, "a5", Some("a4")));
    let a6 = attempt(&root, "a6", Some("a5"));
    let out = tempfile::tempdir().unwrap();
    check_tree(&a6.restore(out.path().join("r")).unwrap().unwrap());
}

/// A directory checkpoint whose manifest was never written is not seen: on its own, or over an
/// earlier committed checkpoint, which stays the one read.
pub fn a_half_written_directory_is_not_seen(root: Root) {
    // Objects of a commit that died before its manifest.
    root.at("a1/ckpt-0000000000000000/a.txt").write(b"a").unwrap();
    root.at("a1/ckpt-0000000000000000/b.txt").write(b"b").unwrap();
    let backend = ObjectStoreCheckpoint::open(&root.prefix("a2"), Some(&root.prefix("a1"))).unwrap();
    assert_eq!(backend.base(), None);
    assert!(
        backend.warnings()[0].contains("holds 2 objects but no .flytekit-manifest"),
        "{:?}",
        backend.warnings()
    );
    let a2 = Checkpoint::from_backend(backend);
    assert!(!a2.prev_exists());
    assert_eq!(a2.read().unwrap(), None);

    // A previous attempt killed before it committed anything left an empty prefix (flytekit's
    // restore fails there for good): no checkpoint, no warning.
    let backend = ObjectStoreCheckpoint::open(&root.prefix("k2"), Some(&root.prefix("k1"))).unwrap();
    assert_eq!((backend.base(), backend.warnings()), (None, &[][..]));

    // Over a committed checkpoint: the manifest still names the old one.
    let b1 = attempt(&root, "b1", None);
    b1.write(b"committed").unwrap();
    root.at("b1/ckpt-0000000000000001/half.txt").write(b"half").unwrap();
    let b2 = attempt(&root, "b2", Some("b1"));
    assert_eq!(b2.read().unwrap().as_deref(), Some(&b"committed"[..]));
    let c1 = attempt(&root, "c1", None);
    c1.save(tree().path()).unwrap();
    root.at("c1/ckpt-0000000000000001/half.txt").write(b"half").unwrap();
    let out = tempfile::tempdir().unwrap();
    check_tree(&attempt(&root, "c2", Some("c1")).restore(out.path()).unwrap().unwrap());
    assert!(!out.path().join("half.txt").exists());

    // A bytes commit that died after naming its value as pending, before or after the upload:
    // either value is whole and is read.
    let d1 = attempt(&root, "d1", None);
    d1.write(b"old").unwrap();
    let manifest = root.at("d1/.flytekit-manifest");
    let text = String::from_utf8(manifest.read().unwrap()).unwrap();
    let pending = format!("{text}pending {:08x} 3\n", crc32fast::hash(b"new"));
    manifest.write(pending.as_bytes()).unwrap();
    assert_eq!(
        attempt(&root, "d2", Some("d1")).read().unwrap().as_deref(),
        Some(&b"old"[..])
    );
    root.at("d1/_dst_cp").write(b"new").unwrap();
    assert_eq!(
        attempt(&root, "d3", Some("d1")).read().unwrap().as_deref(),
        Some(&b"new"[..])
    );
}

/// Damage is a typed error naming the object: a flipped byte, a truncation, a missing object,
/// a bad manifest; restore leaves its target as it found it.
pub fn damage_is_detected(root: Root) {
    let a1 = attempt(&root, "a1", None);
    a1.write(b"some bytes").unwrap();
    let object = root.at("a1/_dst_cp");
    let mut bytes = object.read().unwrap();
    bytes[3] ^= 0x01;
    object.write(&bytes).unwrap();
    let reason = expect_corrupt(attempt(&root, "a2", Some("a1")).read(), "a1/_dst_cp");
    assert!(reason.starts_with("does not match its manifest"), "{reason}");
    object.write(b"some").unwrap();
    expect_corrupt(attempt(&root, "a3", Some("a1")).load_state::<u64>(), "a1/_dst_cp");

    let b1 = attempt(&root, "b1", None);
    b1.save(tree().path()).unwrap();
    let file = root.at("b1/ckpt-0000000000000000/sub/b.bin");
    file.write(&[0u8, 1, 2, 254]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("r");
    expect_corrupt(attempt(&root, "b2", Some("b1")).restore(&target), "sub/b.bin");
    assert!(!target.exists(), "a failed restore leaves a missing target missing");
    file.delete().unwrap();
    expect_corrupt(attempt(&root, "b3", Some("b1")).restore(out.path()), "sub/b.bin");
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);

    let manifest = root.at("c1/.flytekit-manifest");
    manifest
        .write(b"flytekit-checkpoint 1\nseq 0\ntree ckpt-0000000000000000\n00000000 0 ../../escape\n")
        .unwrap();
    let reason = match ObjectStoreCheckpoint::open(&root.prefix("c2"), Some(&root.prefix("c1"))) {
        Err(CheckpointError::Corrupt { reason, .. }) => reason,
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    };
    assert_eq!(
        reason,
        "entry `../../escape` does not name a place inside the checkpoint"
    );
    manifest.write(b"something else\n").unwrap();
    assert!(matches!(
        ObjectStoreCheckpoint::open(&root.prefix("c3"), Some(&root.prefix("c1"))),
        Err(CheckpointError::Corrupt { .. })
    ));
}

/// A prefix flytekit's checkpointer wrote (`_dst_cp` alone, no manifest) is read as it is.
pub fn flytekit_layout_is_read(root: Root) {
    root.at("py/_dst_cp").write(b"from python").unwrap();
    let next = attempt(&root, "rs", Some("py"));
    assert_eq!(next.read().unwrap().as_deref(), Some(&b"from python"[..]));
    let out = tempfile::tempdir().unwrap();
    next.restore(out.path()).unwrap();
    assert_eq!(fs::read(out.path().join("checkpoint")).unwrap(), b"from python");
    // Carried forward as it is.
    assert_eq!(root.at("rs").list().unwrap(), [BYTES_OBJECT]);
}

/// The asynchronous writer commits through the same backend: latest wins, flushed on drop, and
/// the next attempt reads the last state handed over.
pub fn the_async_writer_commits_to_object_storage(root: Root) {
    let a1 = attempt(&root, "a1", None);
    {
        let writer = a1.async_writer();
        for step in 0..50u64 {
            writer.save_state(&step).unwrap();
        }
        writer.flush().unwrap();
        writer.save_state(&50u64).unwrap();
        // Dropped here: the last state is committed before the drop returns.
    }
    let a2 = attempt(&root, "a2", Some("a1"));
    assert_eq!(a2.load_state::<u64>().unwrap(), Some(50));
    assert_eq!(root.at("a1").list().unwrap(), [MANIFEST_OBJECT, BYTES_OBJECT]);
}

/// A module `$module` of tests, one per case above, each on a fresh root `$root` (an expression
/// evaluated in the including file's scope).
macro_rules! checkpoint_cases {
    ($module:ident, $root:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            checkpoint_cases!(@each $root;
                round_trip,
                prev_from_one_prefix_commit_to_another,
                a_half_written_directory_is_not_seen,
                damage_is_detected,
                flytekit_layout_is_read,
                the_async_writer_commits_to_object_storage,
            );
        }
    };
    (@each $root:expr; $($case:ident),* $(,)?) => {
        $(#[test] fn $case() { crate::cases::$case($root) })*
    };
}
