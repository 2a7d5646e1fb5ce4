//! Checkpoints through the runtime: what each attempt starts from, typed state, directories,
//! and where the files live on disk.
//!
//! The tasks check what they see themselves and fail with a non-recoverable error when it is
//! wrong, so a wrong checkpoint ends the run with a message that says what was seen.

mod common;

use common::versions;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use flytekit::{
    current_context, task, workflow, Checkpoint, CheckpointError, Error, FailureKind, LocalRuntime, TaskContext,
    TaskError,
};
use serde::{Deserialize, Serialize};

fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.map(|b| String::from_utf8(b).unwrap())
}

/// Fails the attempt for good, so that the run reports what was wrong.
fn check(ok: bool, what: impl Into<String>) -> Result<(), TaskError> {
    if ok {
        Ok(())
    } else {
        Err(TaskError::non_recoverable(what.into()))
    }
}

// ---------------------------------------------------------------------------------------------
// What `read()` returns on each attempt

#[task(retries = 3)]
fn skips_a_write(ctx: &TaskContext) -> Result<String, TaskError> {
    let cp = ctx.checkpoint();
    let seen = text(cp.read()?);
    match ctx.attempt() {
        1 => {
            check(seen.is_none() && !cp.prev_exists(), format!("attempt 1 saw {seen:?}"))?;
            cp.write(b"5")?;
            Err(TaskError::recoverable("attempt 1 wrote 5 and failed"))
        }
        2 => {
            check(
                seen.as_deref() == Some("5") && cp.prev_exists(),
                format!("attempt 2 saw {seen:?}"),
            )?;
            Err(TaskError::recoverable("attempt 2 wrote nothing and failed"))
        }
        _ => Ok(format!("attempt {} read {}", ctx.attempt(), seen.unwrap_or_default())),
    }
}

#[workflow]
fn skips_a_write_wf() -> String {
    skips_a_write()
}

#[test]
fn a_retry_reads_the_last_commit_of_any_earlier_attempt() {
    let out = LocalRuntime::new().run(skips_a_write_wf, ()).unwrap();
    assert_eq!(out, "attempt 3 read 5");
}

#[task(retries = 2)]
fn writes_several(ctx: &TaskContext) -> Result<String, TaskError> {
    let cp = ctx.checkpoint();
    let seen = text(cp.read()?);
    match ctx.attempt() {
        1 => {
            for v in ["1", "2", "3"] {
                cp.write(v.as_bytes())?;
            }
            Err(TaskError::recoverable("after 3"))
        }
        2 => {
            check(seen.as_deref() == Some("3"), format!("attempt 2 saw {seen:?}"))?;
            cp.write(b"4")?;
            // What this attempt writes does not change what it started from.
            let again = text(cp.read()?);
            check(again.as_deref() == Some("3"), format!("attempt 2 re-read {again:?}"))?;
            Err(TaskError::recoverable("after 4"))
        }
        _ => Ok(seen.unwrap_or_default()),
    }
}

#[test]
fn a_retry_reads_the_latest_of_several_writes() {
    assert_eq!(LocalRuntime::new().run_task(writes_several, ()).unwrap(), "4");
}

#[task(retries = 1)]
fn writes_nothing(ctx: &TaskContext) -> Result<(bool, Option<Vec<u8>>), TaskError> {
    if ctx.attempt() == 1 {
        return Err(TaskError::recoverable("no checkpoint written"));
    }
    Ok((ctx.checkpoint().prev_exists(), ctx.checkpoint().read()?))
}

#[test]
fn no_previous_checkpoint_when_nothing_was_ever_written() {
    assert_eq!(LocalRuntime::new().run_task(writes_nothing, ()).unwrap(), (false, None));
}

// The seed example from DESIGN.md / examples/checkpoint.rs.

static SEED_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
    SEED_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    let start: u64 = match cp.read()? {
        Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
        None => 0,
    };
    for i in start..n_iterations {
        if i > start && i % 3 == 0 {
            return Err(TaskError::recoverable(format!("failed at iteration {i}")));
        }
        cp.write(format!("{}", i + 1).as_bytes())?;
    }
    Ok(n_iterations)
}

#[workflow]
fn example(n_iterations: u64) -> u64 {
    use_checkpoint(n_iterations)
}

#[test]
fn the_seed_example_finishes_on_its_third_attempt() {
    assert_eq!(LocalRuntime::new().run(example, 9).unwrap(), 9);
    // Fails at 3 and at 6, finishes from 6: three attempts, the last resumed.
    assert_eq!(SEED_ATTEMPTS.load(Ordering::SeqCst), 3);
}

// A checkpoint parameter after the inputs is injected all the same.
#[task(retries = 1)]
fn checkpoint_last(x: u64, cp: &Checkpoint) -> Result<u64, TaskError> {
    match cp.load_state::<u64>()? {
        None => {
            cp.save_state(&(x * 100))?;
            Err(TaskError::recoverable("first"))
        }
        Some(saved) => Ok(saved + x),
    }
}

#[test]
fn a_checkpoint_parameter_in_last_position_is_injected() {
    assert_eq!(LocalRuntime::new().run_task(checkpoint_last, 3).unwrap(), 303);
}

// ---------------------------------------------------------------------------------------------
// Typed state

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Progress {
    step: u32,
    seen: Vec<u32>,
    loss: f64,
    names: BTreeMap<String, u32>,
}

#[task(retries = 3)]
fn accumulate(ctx: &TaskContext) -> Result<Progress, TaskError> {
    let cp = ctx.checkpoint();
    let mut state: Progress = cp.load_state()?.unwrap_or(Progress {
        step: 0,
        seen: Vec::new(),
        loss: 1.0,
        names: BTreeMap::new(),
    });
    check(
        state.step + 1 == ctx.attempt(),
        format!("attempt {} resumed from step {}", ctx.attempt(), state.step),
    )?;
    state.step += 1;
    state.seen.push(ctx.attempt());
    state.loss /= 2.0;
    state.names.insert(format!("a{}", ctx.attempt()), ctx.attempt());
    cp.save_state(&state)?;
    if ctx.attempt() < 3 {
        return Err(TaskError::recoverable("preempted"));
    }
    Ok(state)
}

#[test]
fn typed_state_carries_across_retries() {
    let out = LocalRuntime::new().run_task(accumulate, ()).unwrap();
    assert_eq!(
        out,
        Progress {
            step: 3,
            seen: vec![1, 2, 3],
            loss: 0.125,
            names: [("a1".to_string(), 1), ("a2".to_string(), 2), ("a3".to_string(), 3)].into(),
        }
    );
}

#[task(retries = 1)]
fn wrong_state_type(ctx: &TaskContext) -> Result<u64, TaskError> {
    if ctx.attempt() == 1 {
        ctx.checkpoint().save_state(&"not a number")?;
        return Err(TaskError::recoverable("first"));
    }
    match ctx.checkpoint().load_state::<u64>() {
        Err(CheckpointError::State { type_name, .. }) => {
            Err(TaskError::non_recoverable(format!("state error for {type_name}")))
        }
        other => Err(TaskError::non_recoverable(format!(
            "expected a state error, got {other:?}"
        ))),
    }
}

#[test]
fn loading_state_as_the_wrong_type_is_a_state_error() {
    let err = LocalRuntime::new().run_task(wrong_state_type, ()).unwrap_err();
    let failure = err.node_failure().expect("a node failure");
    assert_eq!(failure.attempts[1].cause, "state error for u64");
}

// ---------------------------------------------------------------------------------------------
// Directories

#[task(retries = 1)]
fn saves_a_directory(ctx: &TaskContext) -> Result<(String, String, String), TaskError> {
    let cp = ctx.checkpoint();
    let scratch = tempfile::tempdir()?;
    if ctx.attempt() == 1 {
        check(
            cp.restore(scratch.path().join("out"))?.is_none(),
            "attempt 1 restored something",
        )?;
        let model = scratch.path().join("model");
        fs::create_dir_all(model.join("layers"))?;
        fs::write(model.join("weights.bin"), [1u8, 2, 3])?;
        fs::write(model.join("layers/0.txt"), "first layer")?;
        fs::write(model.join("layers/1.txt"), "second layer")?;
        cp.save(&model)?;
        return Err(TaskError::recoverable("saved the model, then failed"));
    }
    let target = scratch.path().join("restored");
    let restored = cp.restore(&target)?;
    check(
        restored.as_deref() == Some(target.as_path()),
        format!("restore returned {restored:?}"),
    )?;
    let weights = fs::read(target.join("weights.bin"))?;
    Ok((
        format!("{weights:?}"),
        fs::read_to_string(target.join("layers/0.txt"))?,
        fs::read_to_string(target.join("layers/1.txt"))?,
    ))
}

#[test]
fn a_saved_directory_is_restored_on_the_next_attempt() {
    let out = LocalRuntime::new().run_task(saves_a_directory, ()).unwrap();
    assert_eq!(
        out,
        (
            "[1, 2, 3]".to_string(),
            "first layer".to_string(),
            "second layer".to_string()
        )
    );
}

#[task(retries = 1)]
fn reads_a_directory_as_bytes(ctx: &TaskContext) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    if ctx.attempt() == 1 {
        let src = tempfile::tempdir()?;
        fs::write(src.path().join("a"), "a")?;
        fs::write(src.path().join("b"), "b")?;
        cp.save(src.path())?;
        return Err(TaskError::recoverable("saved two files"));
    }
    cp.read()?;
    Ok(0)
}

#[test]
fn reading_a_directory_checkpoint_as_bytes_fails_with_advice() {
    let err = LocalRuntime::new()
        .run_task(reads_a_directory_as_bytes, ())
        .unwrap_err();
    let failure = err.node_failure().expect("a node failure");
    let last = failure.attempts.last().unwrap();
    assert_eq!(last.attempt, 2);
    assert_eq!(last.kind, FailureKind::Recoverable);
    assert!(last.cause.contains("holds a directory, not bytes"), "{}", last.cause);
    assert!(last.cause.contains("restore(dir)"), "{}", last.cause);
}

// ---------------------------------------------------------------------------------------------
// On disk

#[task(retries = 2)]
fn leaves_files(ctx: &TaskContext, label: String) -> Result<(String, String, String), TaskError> {
    let cp = ctx.checkpoint();
    cp.write(format!("{label} attempt {}", ctx.attempt()).as_bytes())?;
    if ctx.attempt() < 2 {
        return Err(TaskError::recoverable("again"));
    }
    Ok((
        ctx.execution_id().to_string(),
        ctx.node_id().to_string(),
        cp.dir().to_string_lossy().into_owned(),
    ))
}

#[workflow]
fn two_checkpointing_nodes(label: String) -> (String, String, String, String, String, String) {
    let (exec0, node0, dir0) = leaves_files(label);
    let (exec1, node1, dir1) = leaves_files("second");
    (exec0, node0, dir0, exec1, node1, dir1)
}

#[test]
fn in_dir_keeps_checkpoints_under_execution_and_node_ids() {
    let root = tempfile::tempdir().unwrap();
    let runtime = LocalRuntime::in_dir(root.path());
    let (exec0, node0, dir0, exec1, node1, dir1) = runtime.run(two_checkpointing_nodes, "first".to_string()).unwrap();

    assert_eq!(exec0, exec1, "one run, one execution id");
    assert_eq!((node0.as_str(), node1.as_str()), ("n0", "n1"));
    let expected0 = root.path().join(&exec0).join("n0");
    let expected1 = root.path().join(&exec0).join("n1");
    assert_eq!(Path::new(&dir0), expected0);
    assert_eq!(Path::new(&dir1), expected1);

    // The files outlive the run, and the newest version holds the last write.
    for (dir, label) in [(&expected0, "first"), (&expected1, "second")] {
        let found = versions(dir);
        assert!(!found.is_empty(), "no checkpoint files in {}", dir.display());
        let newest = found.last().unwrap();
        assert!(newest.is_file(), "{}", newest.display());
        // What the next attempt would start from.
        let next = Checkpoint::new(dir).unwrap().read().unwrap().unwrap();
        assert_eq!(String::from_utf8(next).unwrap(), format!("{label} attempt 2"));
    }
    // Nothing else was created at the root: one directory, named by the execution id.
    let entries: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, [exec0]);
}

#[task]
fn first_attempt_sees_nothing(cp: &Checkpoint) -> Result<bool, TaskError> {
    let fresh = !cp.prev_exists() && cp.read()?.is_none();
    cp.write(b"left behind")?;
    Ok(fresh)
}

#[test]
fn a_new_run_in_the_same_dir_does_not_start_from_an_old_run() {
    let root = tempfile::tempdir().unwrap();
    let runtime = LocalRuntime::in_dir(root.path());
    assert!(runtime.run_task(first_attempt_sees_nothing, ()).unwrap());
    assert!(runtime.run_task(first_attempt_sees_nothing, ()).unwrap());
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        2,
        "one directory per execution"
    );
}

#[task]
fn where_am_i(cp: &Checkpoint) -> Result<String, TaskError> {
    cp.write(b"x")?;
    Ok(cp.dir().to_string_lossy().into_owned())
}

#[test]
fn the_default_runtime_removes_its_temporary_checkpoints() {
    let dir = LocalRuntime::new().run_task(where_am_i, ()).unwrap();
    let dir = PathBuf::from(dir);
    assert!(dir.ends_with("n0"), "{}", dir.display());
    assert!(!dir.exists(), "{} outlived the run", dir.display());
}

#[test]
fn in_dir_on_a_file_is_an_io_error_naming_the_path() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let err = LocalRuntime::in_dir(&file).run_task(where_am_i, ()).unwrap_err();
    match &err {
        Error::Io { path, .. } => assert!(path.starts_with(&file), "{}", path.display()),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("cannot prepare "), "{message}");
    assert!(message.contains(&*file.to_string_lossy()), "{message}");
}

#[task]
fn same_checkpoint_both_ways(cp: &Checkpoint) -> Result<bool, TaskError> {
    let current = current_context()?;
    Ok(current.checkpoint().dir() == cp.dir())
}

#[test]
fn current_context_gives_the_injected_checkpoint() {
    assert!(LocalRuntime::new().run_task(same_checkpoint_both_ways, ()).unwrap());
}

// ---------------------------------------------------------------------------------------------
// How many versions stay on disk

#[task(retries = 3)]
fn writes_three_per_attempt(ctx: &TaskContext) -> Result<(String, String), TaskError> {
    let cp = ctx.checkpoint();
    for k in 0..3 {
        cp.write(format!("attempt {} write {k}", ctx.attempt()).as_bytes())?;
    }
    if ctx.attempt() < ctx.max_attempts() {
        return Err(TaskError::recoverable("again"));
    }
    Ok((ctx.execution_id().to_string(), ctx.node_id().to_string()))
}

#[test]
fn old_attempts_versions_are_pruned() {
    let root = tempfile::tempdir().unwrap();
    let (execution, node) = LocalRuntime::in_dir(root.path())
        .run_task(writes_three_per_attempt, ())
        .unwrap();
    let dir = root.path().join(execution).join(node);
    let found = versions(&dir);
    let next = Checkpoint::new(&dir).unwrap().read().unwrap().unwrap();
    assert_eq!(next, b"attempt 4 write 2");
    // The last attempt's base and its two newest commits are all a resume could need.
    assert!(found.len() <= 3, "{} versions kept: {found:?}", found.len());
}

// ---------------------------------------------------------------------------------------------
// Restoring: the target, links, exact trees

/// What a tree holds, read without following any link.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
    Link(PathBuf),
}

/// Every entry under `root` (not `root` itself), by relative path.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for entry in fs::read_dir(root.join(rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(entry.path()).unwrap()));
            } else if kind.is_dir() {
                out.insert(rel.clone(), Node::Dir);
                walk(root, &rel, out);
            } else {
                out.insert(rel, Node::File(fs::read(entry.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

/// Saves `src` in a fresh checkpoint directory; returns it and the next attempt's checkpoint.
fn saved(src: &Path) -> (tempfile::TempDir, Checkpoint) {
    let store = tempfile::tempdir().unwrap();
    Checkpoint::new(store.path()).unwrap().save(src).unwrap();
    let next = Checkpoint::new(store.path()).unwrap();
    assert!(next.prev_exists());
    (store, next)
}

fn expect_refused(result: Result<Option<PathBuf>, CheckpointError>, target: &Path, expected: &str) {
    match result {
        Err(err @ CheckpointError::RestoreTarget { .. }) => {
            let message = err.to_string();
            let CheckpointError::RestoreTarget { path, found } = err else {
                unreachable!()
            };
            assert_eq!((path.as_path(), found), (target, expected));
            assert_eq!(
                message,
                format!(
                    "cannot restore a checkpoint into {}: it is {expected}; restore into an empty or missing directory",
                    target.display()
                )
            );
        }
        other => panic!("expected RestoreTarget for {}, got {other:?}", target.display()),
    }
}

/// A tree with files (one empty, one with spaces in its name), nested directories, an empty
/// directory and a directory holding only an empty directory.
fn plain_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("nested/empty")).unwrap();
    fs::write(root.join("a.txt"), "a").unwrap();
    fs::write(root.join("zero.bin"), "").unwrap();
    fs::write(root.join("with space.txt"), "spaced").unwrap();
    fs::write(root.join("sub/b.txt"), "bb").unwrap();
    fs::write(root.join("sub/deeper/c.bin"), [0u8, 255, 10, 13]).unwrap();
}

#[test]
fn restore_gives_exactly_the_saved_tree_empty_directories_included() {
    let src = tempfile::tempdir().unwrap();
    plain_tree(src.path());
    let (_store, next) = saved(src.path());
    let out = tempfile::tempdir().unwrap();
    for target in [out.path().join("fresh"), out.path().join("a/b/c")] {
        assert_eq!(next.restore(&target).unwrap(), Some(target.clone()));
        assert_eq!(snapshot(&target), snapshot(src.path()), "{}", target.display());
    }
    // An existing empty directory is filled in place.
    let empty = out.path().join("empty-target");
    fs::create_dir(&empty).unwrap();
    assert_eq!(next.restore(&empty).unwrap(), Some(empty.clone()));
    assert_eq!(snapshot(&empty), snapshot(src.path()));
    assert!(matches!(next.read(), Err(CheckpointError::NotBytes { .. })));
}

#[test]
fn a_saved_empty_directory_restores_as_an_empty_directory() {
    let src = tempfile::tempdir().unwrap();
    let (_store, next) = saved(src.path());
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("r");
    next.restore(&target).unwrap();
    assert!(target.is_dir());
    assert_eq!(snapshot(&target), BTreeMap::new());
}

#[test]
fn restore_refuses_a_target_that_is_not_an_empty_directory_and_leaves_it_as_it_was() {
    let src = tempfile::tempdir().unwrap();
    plain_tree(src.path());
    let (_store, next) = saved(src.path());
    let work = tempfile::tempdir().unwrap();
    let stale = work.path().join("stale");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("old.txt"), "old").unwrap();
    let file = work.path().join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let before = snapshot(work.path());

    expect_refused(next.restore(&stale), &stale, "a directory that is not empty");
    expect_refused(next.restore(&file), &file, "not a directory");
    assert_eq!(snapshot(work.path()), before);
}

#[test]
fn a_bytes_checkpoint_restores_as_one_file_named_checkpoint() {
    let store = tempfile::tempdir().unwrap();
    Checkpoint::new(store.path()).unwrap().write(b"bytes").unwrap();
    let next = Checkpoint::new(store.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("r");
    next.restore(&target).unwrap();
    assert_eq!(
        snapshot(&target),
        BTreeMap::from([(PathBuf::from("checkpoint"), Node::File(b"bytes".to_vec()))])
    );
    expect_refused(next.restore(&target), &target, "a directory that is not empty");
}

#[test]
fn a_failed_restore_leaves_the_target_as_it_found_it() {
    let src = tempfile::tempdir().unwrap();
    plain_tree(src.path());
    let (store, next) = saved(src.path());
    // Same length, other bytes: only the checksum can tell, once the restore is under way.
    let damaged = versions(store.path())[0].join("sub/deeper/c.bin");
    fs::write(&damaged, [1u8, 1, 1, 1]).unwrap();

    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let missing = work.path().join("missing/r");
    for target in [&missing, &empty] {
        match next.restore(target) {
            Err(CheckpointError::Corrupt { path, reason }) => {
                assert_eq!(
                    (path, reason.as_str()),
                    (damaged.clone(), "does not match its manifest")
                )
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    assert!(!missing.exists(), "a failed restore left {}", missing.display());
    // Only the missing target's parent, created on the way, is left.
    assert_eq!(
        snapshot(work.path()),
        BTreeMap::from([
            (PathBuf::from("empty"), Node::Dir),
            (PathBuf::from("missing"), Node::Dir)
        ])
    );
}

#[test]
fn an_old_format_manifest_still_verifies_reads_and_restores() {
    // As saves wrote it before directories and links were listed: files only, and an empty
    // directory kept on disk but not in the manifest.
    let store = tempfile::tempdir().unwrap();
    let version = store.path().join("ckpt-0000000000000000");
    fs::create_dir_all(version.join("sub")).unwrap();
    fs::create_dir_all(version.join("old-empty")).unwrap();
    fs::write(version.join("a.txt"), "a").unwrap();
    fs::write(version.join("sub/b.txt"), "bb").unwrap();
    let old = "e8b7be43 1 a.txt\nb5ae1bae 2 sub/b.txt\n";
    fs::write(version.join(".flytekit-manifest"), old).unwrap();

    let next = Checkpoint::new(store.path()).unwrap();
    assert!(next.prev_exists(), "the old version did not verify");
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("r");
    next.restore(&target).unwrap();
    assert_eq!(
        snapshot(&target),
        BTreeMap::from([
            (PathBuf::from("a.txt"), Node::File(b"a".to_vec())),
            (PathBuf::from("sub"), Node::Dir),
            (PathBuf::from("sub/b.txt"), Node::File(b"bb".to_vec())),
        ])
    );

    // A single file reads as bytes.
    let single = tempfile::tempdir().unwrap();
    let version = single.path().join("ckpt-0000000000000003");
    fs::create_dir(&version).unwrap();
    fs::write(version.join("weights"), "weights").unwrap();
    fs::write(version.join(".flytekit-manifest"), "1ad27358 7 weights\n").unwrap();
    let next = Checkpoint::new(single.path()).unwrap();
    assert_eq!(next.read().unwrap().as_deref(), Some(&b"weights"[..]));

    // A tree without empty directories or links is still written in the old format.
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("sub")).unwrap();
    fs::write(src.path().join("a.txt"), "a").unwrap();
    fs::write(src.path().join("sub/b.txt"), "bb").unwrap();
    let (store, _) = saved(src.path());
    let written = fs::read_to_string(versions(store.path())[0].join(".flytekit-manifest")).unwrap();
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&written), sorted(old));
}

/// Writes `text` over the base version's manifest after `next` has chosen it.
fn forge_manifest(store: &Path, text: &str) -> PathBuf {
    let manifest = versions(store)[0].join(".flytekit-manifest");
    fs::write(&manifest, text).unwrap();
    manifest
}

#[test]
fn a_manifest_naming_paths_outside_the_target_is_corrupt_and_creates_nothing() {
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep.txt"), "keep").unwrap();
    let src = work.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a.txt"), "a").unwrap();
    let abs = outside.join("abs.txt");
    let hostile = [
        ("e8b7be43 1 ../escaped.txt\n".to_owned(), "../escaped.txt".to_owned()),
        (format!("e8b7be43 1 {}\n", abs.display()), abs.display().to_string()),
        ("dir ../../made-dir\n".to_owned(), "../../made-dir".to_owned()),
        (
            format!(
                "link {} {} l\ne8b7be43 1 l/through.txt\n",
                outside.as_os_str().len(),
                outside.display()
            ),
            "l/through.txt".to_owned(),
        ),
    ];
    for (text, entry) in hostile {
        let (store, next) = saved(&src);
        let manifest = forge_manifest(store.path(), &text);
        let before = snapshot(work.path());
        let target = work.path().join("target");
        for result in [next.restore(&target).map(drop), next.read().map(drop)] {
            match result {
                Err(CheckpointError::Corrupt { path, reason }) => {
                    assert_eq!(path, manifest);
                    assert!(reason.contains(&format!("`{entry}`")), "{reason}");
                }
                other => panic!("{text:?}: expected Corrupt, got {other:?}"),
            }
        }
        assert_eq!(snapshot(work.path()), before, "{text:?} changed something");
        assert!(!target.exists());
        // Nor is such a version ever chosen to resume from.
        assert!(!Checkpoint::new(store.path()).unwrap().prev_exists(), "{text:?}");
    }
}

#[cfg(unix)]
mod links {
    use super::*;
    use std::os::unix::fs::symlink;

    /// `outside/secret.txt` and `outside/d/inner.txt`, which no restore may touch.
    fn outside(work: &Path) -> PathBuf {
        let outside = work.join("outside");
        fs::create_dir_all(outside.join("d")).unwrap();
        fs::create_dir_all(outside.join("empty")).unwrap();
        fs::write(outside.join("secret.txt"), "secret").unwrap();
        fs::write(outside.join("d/inner.txt"), "inner").unwrap();
        outside
    }

    #[test]
    fn restore_never_writes_through_links_in_the_target_or_the_target_itself() {
        let work = tempfile::tempdir().unwrap();
        let outside = outside(work.path());
        // The saved tree has entries under the names the target's links have.
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("d")).unwrap();
        fs::write(src.path().join("secret.txt"), "overwritten").unwrap();
        fs::write(src.path().join("d/inner.txt"), "overwritten").unwrap();
        let (_store, next) = saved(src.path());

        let holding_links = work.path().join("holding-links");
        fs::create_dir(&holding_links).unwrap();
        symlink(outside.join("secret.txt"), holding_links.join("secret.txt")).unwrap();
        symlink(outside.join("d"), holding_links.join("d")).unwrap();
        let is_link = work.path().join("is-link");
        symlink(outside.join("empty"), &is_link).unwrap();
        let before = snapshot(work.path());

        expect_refused(
            next.restore(&holding_links),
            &holding_links,
            "a directory that is not empty",
        );
        expect_refused(next.restore(&is_link), &is_link, "a symbolic link");
        // A trailing `/` would make the link resolve; it is checked as the link all the same.
        let slashed = PathBuf::from(format!("{}/", is_link.display()));
        expect_refused(next.restore(&slashed), &is_link, "a symbolic link");
        assert_eq!(snapshot(work.path()), before, "something changed");
        assert_eq!(fs::read(outside.join("secret.txt")).unwrap(), b"secret");
        assert_eq!(fs::read(outside.join("d/inner.txt")).unwrap(), b"inner");
    }

    #[test]
    fn links_are_saved_as_links_and_restored_without_being_followed() {
        let work = tempfile::tempdir().unwrap();
        let outside = outside(work.path());
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("sub")).unwrap();
        fs::write(s.join("a.txt"), "a").unwrap();
        symlink(outside.join("secret.txt"), s.join("to-file-outside")).unwrap();
        symlink(outside.join("d"), s.join("to-dir-outside")).unwrap();
        symlink("a.txt", s.join("relative")).unwrap();
        symlink("..", s.join("sub/up")).unwrap();
        symlink("does-not-exist", s.join("dangling")).unwrap();
        symlink("loop-b", s.join("loop-a")).unwrap();
        symlink("loop-a", s.join("loop-b")).unwrap();
        symlink("self", s.join("self")).unwrap();
        // A directory holding only a link is not an empty directory.
        fs::create_dir(s.join("only-link")).unwrap();
        symlink("../a.txt", s.join("only-link/l")).unwrap();
        let outside_before = snapshot(&outside);

        let (store, next) = saved(s);
        // Nothing from outside the tree was copied into the checkpoint.
        let stored = snapshot(store.path());
        for node in stored.values() {
            assert!(
                !matches!(node, Node::File(b) if b == b"secret" || b == b"inner"),
                "outside content copied: {stored:?}"
            );
        }

        let target = work.path().join("restored");
        next.restore(&target).unwrap();
        assert_eq!(snapshot(&target), snapshot(s));
        assert_eq!(
            snapshot(&target)[Path::new("to-dir-outside")],
            Node::Link(outside.join("d"))
        );
        assert_eq!(snapshot(&outside), outside_before);
    }

    #[test]
    fn save_follows_the_path_it_is_given_and_names_it_when_it_dangles_or_loops() {
        let work = tempfile::tempdir().unwrap();
        let model = work.path().join("model");
        fs::create_dir(&model).unwrap();
        fs::write(model.join("w.bin"), "w").unwrap();
        let via_link = work.path().join("latest");
        symlink("model", &via_link).unwrap();
        let (store, next) = saved(&via_link);
        let target = work.path().join("r");
        next.restore(&target).unwrap();
        assert_eq!(snapshot(&target), snapshot(&model));

        let dangling = work.path().join("dangling");
        symlink("nowhere", &dangling).unwrap();
        let looping = work.path().join("loop");
        symlink("loop", &looping).unwrap();
        let cp = Checkpoint::new(store.path()).unwrap();
        // ENOENT, and ELOOP (40 on Linux; its `ErrorKind` is not stable yet).
        let eloop = if cfg!(target_os = "linux") { Some(40) } else { None };
        for (path, code) in [(&dangling, Some(2)), (&looping, eloop)] {
            let err = cp.save(path).unwrap_err();
            assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
            match err {
                CheckpointError::Io {
                    op: "save",
                    path: p,
                    source,
                } => {
                    assert_eq!(&p, path);
                    if code.is_some() {
                        assert_eq!(source.raw_os_error(), code, "{source}");
                    }
                }
                other => panic!("expected Io, got {other:?}"),
            }
        }
        assert_eq!(versions(store.path()).len(), 1, "a failed save committed something");
    }

    #[test]
    fn fifos_and_sockets_are_refused_with_their_path() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("a.txt"), "a").unwrap();
        let socket = src.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let fifo_dir = tempfile::tempdir().unwrap();
        let fifo = fifo_dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());

        let store = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(store.path()).unwrap();
        for (given, at_fault) in [
            (src.path(), socket.as_path()),
            (fifo_dir.path(), fifo.as_path()),
            (fifo.as_path(), fifo.as_path()),
        ] {
            match cp.save(given) {
                Err(err @ CheckpointError::NotSaveable { .. }) => {
                    assert_eq!(
                        err.to_string(),
                        format!(
                            "cannot save {} as a checkpoint: it is not a file or a directory",
                            at_fault.display()
                        )
                    );
                }
                other => panic!("expected NotSaveable for {}, got {other:?}", at_fault.display()),
            }
        }
        assert!(versions(store.path()).is_empty());
    }

    fn expect_unsupported(result: Result<(), CheckpointError>, at_fault: &Path, reason: &str) {
        match result {
            Err(CheckpointError::UnsupportedEntry { path, reason: r }) => {
                assert_eq!((path.as_path(), r), (at_fault, reason))
            }
            other => panic!("expected UnsupportedEntry for {}, got {other:?}", at_fault.display()),
        }
    }

    #[test]
    fn names_a_manifest_cannot_hold_are_refused_with_their_path() {
        use std::os::unix::ffi::OsStrExt;

        let store = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(store.path()).unwrap();
        let name = "its name is not UTF-8 or holds a line break";
        for bad in [std::ffi::OsStr::from_bytes(b"bad\xff"), "two\nlines".as_ref()] {
            let src = tempfile::tempdir().unwrap();
            let path = src.path().join(bad);
            fs::write(&path, "x").unwrap();
            expect_unsupported(cp.save(src.path()), &path, name);
            // The link's own name is fine; its target is not.
            let src = tempfile::tempdir().unwrap();
            let link = src.path().join("link");
            symlink(bad, &link).unwrap();
            expect_unsupported(
                cp.save(src.path()),
                &link,
                "the target of this symbolic link is not UTF-8 or holds a line break",
            );
        }
        let src = tempfile::tempdir().unwrap();
        let reserved = src.path().join(".flytekit-manifest");
        fs::write(&reserved, "mine").unwrap();
        expect_unsupported(
            cp.save(src.path()),
            &reserved,
            "`.flytekit-manifest` at the top of a checkpoint is the name of its own manifest",
        );
        // Below the top it is an ordinary name.
        fs::remove_file(&reserved).unwrap();
        fs::create_dir(src.path().join("sub")).unwrap();
        fs::write(src.path().join("sub/.flytekit-manifest"), "mine").unwrap();
        let (_store, next) = saved(src.path());
        let out = tempfile::tempdir().unwrap();
        next.restore(out.path()).unwrap();
        assert_eq!(snapshot(out.path()), snapshot(src.path()));
        assert!(versions(store.path()).is_empty());
    }

    #[test]
    fn unreadable_files_are_io_errors_naming_them() {
        use std::os::unix::fs::PermissionsExt;

        let store = tempfile::tempdir().unwrap();
        let cp = Checkpoint::new(store.path()).unwrap();
        // A file that no one can read, root included: reading at offset 0 fails (EIO).
        if cfg!(target_os = "linux") {
            match cp.save("/proc/self/mem") {
                Err(CheckpointError::Io { op: "save", path, .. }) => assert_eq!(path, Path::new("/proc/self/mem")),
                other => panic!("expected Io, got {other:?}"),
            }
        }
        let src = tempfile::tempdir().unwrap();
        let locked = src.path().join("locked");
        fs::write(&locked, "x").unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads it anyway; the error only exists for others.
        if fs::File::open(&locked).is_err() {
            match cp.save(src.path()) {
                Err(err @ CheckpointError::Io { .. }) => {
                    assert!(err.to_string().contains(&*locked.to_string_lossy()), "{err}");
                    let CheckpointError::Io { op, path, .. } = err else {
                        unreachable!()
                    };
                    assert_eq!((op, path.as_path()), ("save", locked.as_path()));
                }
                other => panic!("expected Io, got {other:?}"),
            }
        }
        assert!(versions(store.path()).is_empty());
    }
}
