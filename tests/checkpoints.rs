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
