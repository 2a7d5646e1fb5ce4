//! The asynchronous checkpoint writer: what reaches the disk, when errors surface, and how the
//! runtime flushes it before an attempt succeeds.
//!
//! Tasks check what they see themselves and fail with a non-recoverable error when it is wrong,
//! so a wrong checkpoint ends the run with a message that says what was seen.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flytekit::{task, AsyncWriter, Checkpoint, Error, FailureKind, LocalRuntime, TaskContext, TaskError};

/// Fails the attempt for good, so that the run reports what was wrong.
fn check(ok: bool, what: impl Into<String>) -> Result<(), TaskError> {
    if ok {
        Ok(())
    } else {
        Err(TaskError::non_recoverable(what.into()))
    }
}

/// The checkpoint directory of node `n0` of the only execution run under `root`.
fn node_dir(root: &Path) -> PathBuf {
    let executions: Vec<PathBuf> = fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(
        executions.len(),
        1,
        "expected one execution under {}: {executions:?}",
        root.display()
    );
    executions[0].join("n0")
}

/// Replaces a checkpoint's directory with a file, so that every commit to it fails.
fn break_dir(dir: &Path) {
    // The directory exists only once something was committed.
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir.parent().unwrap()).unwrap();
    fs::write(dir, "not a directory").unwrap();
}

// ---------------------------------------------------------------------------------------------
// What reaches the disk

#[test]
fn after_ten_thousand_writes_the_next_attempt_reads_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Checkpoint::new(dir.path()).unwrap();
    let writer = cp.async_writer();
    for i in 0..10_000u64 {
        writer.save_state(&i).unwrap();
    }
    writer.flush().unwrap();
    // Flushed, while the writer is still alive: the last state is what a retry starts from.
    assert_eq!(
        Checkpoint::new(dir.path()).unwrap().load_state::<u64>().unwrap(),
        Some(9_999)
    );

    for i in 10_000..20_000u64 {
        writer.save_state(&i).unwrap();
    }
    drop(writer); // flushes too
    assert_eq!(
        Checkpoint::new(dir.path()).unwrap().load_state::<u64>().unwrap(),
        Some(19_999)
    );
}

#[test]
fn the_latest_value_wins_over_values_written_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let cp = Checkpoint::new(dir.path()).unwrap();
    let writer = cp.async_writer();
    // Large values, so that several are handed over while one is being committed.
    for i in 0..50u8 {
        writer.write(vec![i; 256 << 10]).unwrap();
    }
    writer.write("done").unwrap();
    writer.flush().unwrap();
    assert_eq!(
        Checkpoint::new(dir.path()).unwrap().read().unwrap().as_deref(),
        Some(&b"done"[..])
    );
}

#[test]
fn writers_shared_between_threads_end_with_the_last_value_handed_over() {
    let cp = Checkpoint::temporary().unwrap();
    let writer = cp.async_writer();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let writer = &writer;
            s.spawn(move || {
                for i in 0..1_000u64 {
                    writer.save_state(&(t, i)).unwrap();
                }
            });
        }
    });
    writer.save_state(&(99u64, 99u64)).unwrap();
    writer.flush().unwrap();
    assert_eq!(
        Checkpoint::new(cp.dir()).unwrap().load_state::<(u64, u64)>().unwrap(),
        Some((99, 99))
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn a_failed_commit_is_returned_by_the_next_call_and_names_the_path() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node");
    let cp = Checkpoint::new(&dir).unwrap();
    let writer = cp.async_writer();
    writer.write("kept").unwrap();
    writer.flush().unwrap();

    break_dir(&dir);
    // Handing over never waits for the disk, so this call cannot see its own commit fail.
    writer.write("lost").unwrap();
    let err = writer.flush().unwrap_err();
    assert!(
        err.to_string().contains(&*dir.to_string_lossy()),
        "the error does not name {}: {err}",
        dir.display()
    );
    // Returned once, then forgotten.
    writer.flush().unwrap();

    // A failure surfaces through a later `write` too: writes keep failing, so one of these
    // calls meets a stored error, or else the final flush does.
    let mut surfaced = None;
    for i in 0..1_000u32 {
        if let Err(e) = writer.save_state(&i) {
            surfaced = Some(e);
            break;
        }
    }
    let err = match surfaced {
        Some(e) => e,
        None => writer.flush().unwrap_err(),
    };
    assert!(err.to_string().contains(&*dir.to_string_lossy()), "{err}");

    // Once the directory is back, commits succeed again.
    drop(writer);
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    let writer = Checkpoint::new(&dir).unwrap().async_writer();
    writer.write("back").unwrap();
    writer.flush().unwrap();
    assert_eq!(
        Checkpoint::new(&dir).unwrap().read().unwrap().as_deref(),
        Some(&b"back"[..])
    );
}

#[test]
fn dropping_a_writer_whose_commits_fail_neither_panics_nor_hangs() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node");
    let writer = Checkpoint::new(&dir).unwrap().async_writer();
    break_dir(&dir);
    for i in 0..100u32 {
        let _ = writer.save_state(&i);
    }
    drop(writer);
    assert!(dir.is_file());
}

// ---------------------------------------------------------------------------------------------
// Through the runtime

#[task]
fn returns_right_after_writing(cp: &Checkpoint, last: u64) -> Result<u64, TaskError> {
    let writer = cp.async_writer();
    for i in 0..=last {
        writer.save_state(&i)?;
    }
    Ok(last)
}

#[test]
fn a_task_that_returns_right_after_an_async_write_leaves_it_committed() {
    let root = tempfile::tempdir().unwrap();
    let out = LocalRuntime::in_dir(root.path())
        .run_task(returns_right_after_writing, 5_000)
        .unwrap();
    assert_eq!(out, 5_000);
    let cp = Checkpoint::new(node_dir(root.path())).unwrap();
    assert_eq!(cp.load_state::<u64>().unwrap(), Some(5_000));
}

/// Where `keeps_its_writer` leaves its writer, alive after the task has returned.
static KEPT: Mutex<Option<AsyncWriter>> = Mutex::new(None);

#[task]
fn keeps_its_writer(cp: &Checkpoint) -> Result<(), TaskError> {
    let writer = cp.async_writer();
    for i in 0..100u8 {
        writer.write(vec![i; 64 << 10])?;
    }
    // A large final state, still being written when the task returns.
    writer.write(vec![b'z'; 32 << 20])?;
    *KEPT.lock().unwrap() = Some(writer);
    Ok(())
}

#[test]
fn the_runtime_flushes_a_writer_the_task_still_holds_before_the_attempt_succeeds() {
    let root = tempfile::tempdir().unwrap();
    LocalRuntime::in_dir(root.path())
        .run_task(keeps_its_writer, ())
        .unwrap();
    // The writer is still alive (in `KEPT`): only the runtime's flush can have committed this.
    let seen = Checkpoint::new(node_dir(root.path())).unwrap().read().unwrap();
    let kept = KEPT.lock().unwrap().take();
    assert!(kept.is_some());
    let seen = seen.expect("no checkpoint committed");
    assert!(
        seen.len() == 32 << 20 && seen.iter().all(|&b| b == b'z'),
        "the last state was not committed: found {} bytes starting {:?}",
        seen.len(),
        &seen[..seen.len().min(4)]
    );
    drop(kept);
}

/// Where `cannot_commit` leaves its writer, so that the runtime's flush meets the error.
static BROKEN: Mutex<Option<AsyncWriter>> = Mutex::new(None);

#[task]
fn cannot_commit(cp: &Checkpoint) -> Result<(), TaskError> {
    let writer = cp.async_writer();
    break_dir(cp.dir());
    writer.write("never committed")?;
    *BROKEN.lock().unwrap() = Some(writer);
    Ok(())
}

#[test]
fn a_commit_that_fails_after_the_task_returned_fails_the_attempt() {
    let root = tempfile::tempdir().unwrap();
    let err = LocalRuntime::in_dir(root.path())
        .run_task(cannot_commit, ())
        .unwrap_err();
    drop(BROKEN.lock().unwrap().take());
    let Error::NodeFailed(failure) = err else {
        panic!("expected a node failure, got {err:?}");
    };
    assert_eq!(failure.attempts.len(), 1);
    let attempt = &failure.attempts[0];
    assert_eq!(attempt.kind, FailureKind::Recoverable);
    let dir = node_dir(root.path());
    assert!(
        attempt.cause.contains(&*dir.to_string_lossy()),
        "the cause does not name {}: {}",
        dir.display(),
        attempt.cause
    );
}

#[task(retries = 1)]
fn fails_after_an_async_write(ctx: &TaskContext) -> Result<String, TaskError> {
    let cp = ctx.checkpoint();
    if ctx.attempt() == 1 {
        let writer = cp.async_writer();
        for i in 0..1_000u32 {
            writer.save_state(&format!("state {i}"))?;
        }
        // The writer is dropped on the way out, which commits the last state.
        return Err(TaskError::recoverable("preempted right after writing"));
    }
    let seen: Option<String> = cp.load_state()?;
    check(seen.is_some(), "the retry found no checkpoint")?;
    Ok(seen.unwrap_or_default())
}

#[test]
fn a_retry_sees_the_last_state_a_failed_attempt_wrote_asynchronously() {
    let out = LocalRuntime::new().run_task(fails_after_an_async_write, ()).unwrap();
    assert_eq!(out, "state 999");
}

#[task(retries = 1)]
fn resumes_from_async_state(ctx: &TaskContext, steps: u64) -> Result<(u32, u64), TaskError> {
    let cp = ctx.checkpoint();
    let writer = cp.async_writer();
    let start: u64 = cp.load_state()?.unwrap_or(0);
    for step in start..steps {
        writer.save_state(&(step + 1))?;
        if step + 1 == steps / 2 && ctx.attempt() == 1 {
            return Err(TaskError::recoverable("preempted halfway"));
        }
    }
    Ok((ctx.attempt(), start))
}

#[test]
fn a_retry_resumes_from_where_the_async_writer_left_off() {
    let out = LocalRuntime::new().run_task(resumes_from_async_state, 2_000).unwrap();
    assert_eq!(out, (2, 1_000));
}
