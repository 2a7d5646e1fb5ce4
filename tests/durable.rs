//! Durable executions: a store that outlives the runtime (and the process), running an id again
//! to resume it, damaged checkpoints and databases, the one-owner lock, the output cache and
//! what the store reports.
//!
//! Every test has its own store (a temporary directory) and its own counters: tests run in
//! parallel threads of one process. A few tests run this test binary again as a child process,
//! for what only a process can do: die in the middle of a task, or see another environment.

mod common;

use common::versions;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};

use flytekit::{
    task, workflow, AttemptFailure, CacheMode, Checkpoint, CheckpointError, Error, Event, ExecutionReport, FailureKind,
    LocalRuntime, NodeFailure, NodeReport, Status, Store, StoreError, TaskContext, TaskError,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn durable(dir: &Path) -> LocalRuntime {
    LocalRuntime::with_store(dir).unwrap_or_else(|e| panic!("opening the store in {}: {e}", dir.display()))
}

fn report(rt: &LocalRuntime, id: &str) -> ExecutionReport {
    rt.store()
        .expect("a durable runtime has a store")
        .execution(id)
        .unwrap()
        .unwrap_or_else(|| panic!("the store has no execution `{id}`"))
}

fn node<'r>(report: &'r ExecutionReport, id: &str) -> &'r NodeReport {
    report
        .nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id} in {report:#?}"))
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn node_failure(err: &Error) -> &NodeFailure {
    match err {
        Error::NodeFailed(failure) => failure,
        other => panic!("expected Error::NodeFailed, got {other:?}"),
    }
}

fn attempt_numbers(node: &NodeReport) -> Vec<u32> {
    node.attempts.iter().map(|a| a.number).collect()
}

fn attempt_statuses(node: &NodeReport) -> Vec<Status> {
    node.attempts.iter().map(|a| a.status).collect()
}

fn checkpoint_dir(store: &Path, execution: &str, node: &str) -> PathBuf {
    store.join("executions").join(execution).join(node)
}

fn flip_last_byte(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let last = bytes.last_mut().expect("a non-empty file");
    *last ^= 0xff;
    fs::write(path, bytes).unwrap();
}

fn truncate_by(path: &Path, n: u64) {
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - n).unwrap();
}

/// Runs the test `name` of this binary alone in a child process, with `env` added, and returns
/// how it ended with what it printed.
fn run_child(name: &str, env: &[(&str, &Path)]) -> (ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--test-threads=1", "--nocapture"]);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().unwrap();
    let printed = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, printed)
}

/// Set only in the child processes that `run_child` starts, to the store they use.
const CHILD_STORE: &str = "FLYTEKIT_DURABLE_TEST_CHILD_STORE";

fn child_store() -> Option<PathBuf> {
    std::env::var_os(CHILD_STORE).map(PathBuf::from)
}

// ---------------------------------------------------------------------------------------------
// A succeeded execution run again

static STORED_PREP: AtomicUsize = AtomicUsize::new(0);
static STORED_DOUBLE: AtomicUsize = AtomicUsize::new(0);

#[task]
fn stored_prep(x: u64) -> u64 {
    STORED_PREP.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[task]
fn stored_double(x: u64) -> u64 {
    let n = STORED_DOUBLE.fetch_add(1, Ordering::SeqCst) as u64;
    // Depends on the call count, so that a recomputed output differs from the stored one.
    x * 2 + n * 1000
}

#[workflow]
fn stored_wf(x: u64) -> u64 {
    let p = stored_prep(x);
    stored_double(p)
}

#[test]
fn a_succeeded_execution_returns_its_stored_outputs_without_running_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("done-1", stored_wf, 4).unwrap(), 10);
    assert_eq!(rt.run_with_id("done-1", stored_wf, 4).unwrap(), 10);
    assert_eq!(STORED_PREP.load(Ordering::SeqCst), 1);
    assert_eq!(STORED_DOUBLE.load(Ordering::SeqCst), 1);

    // A new runtime on the same directory is what a new process sees.
    drop(rt);
    let again = durable(dir.path());
    assert_eq!(again.run_with_id("done-1", stored_wf, 4).unwrap(), 10);
    assert_eq!(STORED_PREP.load(Ordering::SeqCst), 1);
    assert_eq!(STORED_DOUBLE.load(Ordering::SeqCst), 1);

    let done = report(&again, "done-1");
    assert_eq!(done.summary.status, Status::Succeeded);
    assert_eq!(done.summary.workflow, "stored_wf");
    assert!(done.nodes.iter().all(|n| n.attempts.len() == 1), "{done:#?}");
    // Returning stored outputs is not a resume.
    assert!(!kinds(&done.events).contains(&"resumed"), "{:?}", done.events);
}

// ---------------------------------------------------------------------------------------------
// Ids reused for something else, and ids that cannot be used

static MISMATCH_A: AtomicUsize = AtomicUsize::new(0);
static MISMATCH_B: AtomicUsize = AtomicUsize::new(0);

#[task]
fn mismatch_a(x: u64) -> u64 {
    MISMATCH_A.fetch_add(1, Ordering::SeqCst);
    x + 100
}

#[task]
fn mismatch_b(x: u64) -> u64 {
    MISMATCH_B.fetch_add(1, Ordering::SeqCst);
    x + 200
}

#[workflow]
fn mismatch_wf_a(x: u64) -> u64 {
    mismatch_a(x)
}

#[workflow]
fn mismatch_wf_b(x: u64) -> u64 {
    mismatch_b(x)
}

#[test]
fn an_id_reused_with_other_inputs_or_another_workflow_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("owned", mismatch_wf_a, 1).unwrap(), 101);

    let err = rt.run_with_id("owned", mismatch_wf_a, 2).unwrap_err();
    match &err {
        Error::ExecutionMismatch { id, what } => assert_eq!((id.as_str(), what.as_str()), ("owned", "other inputs")),
        other => panic!("expected ExecutionMismatch for other inputs, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "execution id `owned` already belongs to other inputs: resume it with the same workflow and inputs, or \
         choose a new id"
    );

    let err = rt.run_with_id("owned", mismatch_wf_b, 1).unwrap_err();
    match &err {
        Error::ExecutionMismatch { id, what } => {
            assert_eq!(id, "owned");
            assert_eq!(what, "workflow `mismatch_wf_a`, not `mismatch_wf_b`");
        }
        other => panic!("expected ExecutionMismatch for another workflow, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("execution id `owned` already belongs to workflow `mismatch_wf_a`, not `mismatch_wf_b`: "),
        "{err}"
    );

    // Refused before anything ran, and the execution is untouched.
    assert_eq!(MISMATCH_A.load(Ordering::SeqCst), 1);
    assert_eq!(MISMATCH_B.load(Ordering::SeqCst), 0);
    assert_eq!(rt.run_with_id("owned", mismatch_wf_a, 1).unwrap(), 101);
    assert_eq!(MISMATCH_A.load(Ordering::SeqCst), 1);
    let owned = report(&rt, "owned");
    assert_eq!(owned.summary.status, Status::Succeeded);
    assert_eq!(owned.summary.workflow, "mismatch_wf_a");
}

static ID_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task]
fn id_task(x: u64) -> u64 {
    ID_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[workflow]
fn id_wf(x: u64) -> u64 {
    id_task(x)
}

#[test]
fn ids_that_cannot_name_a_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    let too_long = "a".repeat(129);
    let invalid = [
        "",
        "a/b",
        "/abs",
        "..",
        ".",
        ".hidden",
        "../escape",
        "a b",
        "tab\there",
        "a\\b",
        "é",
        "nul\0",
        too_long.as_str(),
    ];
    for bad in invalid {
        let err = rt.run_with_id(bad, id_wf, 1).unwrap_err();
        match &err {
            Error::InvalidExecutionId { id } => assert_eq!(id, bad),
            other => panic!("expected InvalidExecutionId for {bad:?}, got {other:?}"),
        }
        // Quoted on one line: control characters escaped, a long id cut short.
        let shown = match bad.len() {
            129 => format!("{}… (129 characters)", &bad[..64]),
            _ => bad.replace('\t', "\\t").replace('\0', "\\0"),
        };
        assert!(
            err.to_string()
                .starts_with(&format!("invalid execution id `{shown}`: ")),
            "{err}"
        );
        assert_eq!(err.to_string().lines().count(), 1, "{err}");
        // The in-memory runtime refuses them too.
        assert!(
            matches!(
                LocalRuntime::new().run_with_id(bad, id_wf, 1),
                Err(Error::InvalidExecutionId { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(ID_CALLS.load(Ordering::SeqCst), 0);
    // Nothing was created for them, not even outside `executions/`.
    let executions: Vec<_> = fs::read_dir(dir.path().join("executions")).unwrap().collect();
    assert!(executions.is_empty(), "{executions:?}");
    let mut top: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("flytekit.db"))
        .collect();
    top.sort();
    assert_eq!(top, ["executions"]);

    let longest = "z".repeat(128);
    for good in ["a", "a.b-c_D9", "x..y", longest.as_str()] {
        assert_eq!(rt.run_with_id(good, id_wf, 7).unwrap(), 7, "{good:?}");
    }
    assert_eq!(ID_CALLS.load(Ordering::SeqCst), 4);
}

// ---------------------------------------------------------------------------------------------
// A failed execution run again

static AGAIN_PREP: AtomicUsize = AtomicUsize::new(0);
static AGAIN_FLAKY: AtomicUsize = AtomicUsize::new(0);
static AGAIN_SEEN: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());

#[task]
fn again_prep(x: u64) -> u64 {
    AGAIN_PREP.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[task(retries = 1)]
fn again_flaky(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    let call = AGAIN_FLAKY.fetch_add(1, Ordering::SeqCst) + 1;
    AGAIN_SEEN.lock().unwrap().push((ctx.attempt(), ctx.max_attempts()));
    if call <= 4 {
        return Err(TaskError::recoverable(format!("call {call} failed")));
    }
    Ok(x * 10)
}

#[workflow]
fn again_wf(x: u64) -> u64 {
    let p = again_prep(x);
    again_flaky(p)
}

fn recoverable(attempt: u32, cause: &str) -> AttemptFailure {
    AttemptFailure {
        attempt,
        kind: FailureKind::Recoverable,
        cause: cause.to_owned(),
    }
}

#[test]
fn a_failed_execution_run_again_reruns_only_its_failed_node_with_a_fresh_budget() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());

    let err = rt.run_with_id("flaky-1", again_wf, 2).unwrap_err();
    let failure = node_failure(&err);
    assert_eq!(failure.execution, "flaky-1");
    assert_eq!((failure.node.as_str(), failure.task.as_str()), ("n1", "again_flaky"));
    assert_eq!(
        failure.attempts,
        [recoverable(1, "call 1 failed"), recoverable(2, "call 2 failed")]
    );
    let first = report(&rt, "flaky-1");
    assert_eq!(first.summary.status, Status::Failed);
    assert_eq!(first.error.as_deref(), Some(err.to_string().as_str()));
    assert_eq!(node(&first, "n0").status, Status::Succeeded);
    assert_eq!(node(&first, "n1").status, Status::Failed);

    // Run again: two more attempts (a fresh budget of `retries + 1`), numbered after the
    // earlier ones; the upstream node that succeeded does not run again.
    let err = rt.run_with_id("flaky-1", again_wf, 2).unwrap_err();
    let failure = node_failure(&err);
    assert_eq!(failure.max_attempts, 2);
    assert_eq!(
        failure.attempts,
        [recoverable(3, "call 3 failed"), recoverable(4, "call 4 failed")]
    );
    assert!(
        err.to_string().ends_with(
            "failed after 2 of 2 attempts, counting from attempt 3: the execution was run again after it failed; \
                        attempt 3: recoverable error: call 3 failed; attempt 4: recoverable error: call 4 failed"
        ),
        "{err}"
    );

    // A new process, this time it succeeds.
    drop(rt);
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("flaky-1", again_wf, 2).unwrap(), 30);
    assert_eq!(AGAIN_PREP.load(Ordering::SeqCst), 1);
    assert_eq!(AGAIN_FLAKY.load(Ordering::SeqCst), 5);
    // The budget is fresh, the numbering is not: `max_attempts` stays `retries + 1`.
    assert_eq!(*AGAIN_SEEN.lock().unwrap(), [(1, 2), (2, 2), (3, 2), (4, 2), (5, 2)]);

    let last = report(&rt, "flaky-1");
    assert_eq!(last.summary.status, Status::Succeeded);
    assert_eq!(last.error, None);
    let prep = node(&last, "n0");
    assert_eq!(attempt_numbers(prep), [1]);
    let flaky = node(&last, "n1");
    assert_eq!(flaky.status, Status::Succeeded);
    assert_eq!(attempt_numbers(flaky), [1, 2, 3, 4, 5]);
    assert_eq!(
        attempt_statuses(flaky),
        [
            Status::Failed,
            Status::Failed,
            Status::Failed,
            Status::Failed,
            Status::Succeeded
        ]
    );
    let causes: Vec<_> = flaky.attempts.iter().map(|a| a.cause.as_deref()).collect();
    assert_eq!(
        causes,
        [
            Some("call 1 failed"),
            Some("call 2 failed"),
            Some("call 3 failed"),
            Some("call 4 failed"),
            None
        ]
    );
    // One `resumed` event per run of the failed execution.
    let resumed: Vec<_> = last.events.iter().filter(|e| e.kind == "resumed").collect();
    assert_eq!(resumed.len(), 2, "{:?}", last.events);
    assert!(resumed
        .iter()
        .all(|e| e.attempt.is_none() && e.message == "execution run again"));
}

// ---------------------------------------------------------------------------------------------
// A checkpoint carried from one run of an execution to the next

static ACROSS_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task(retries = 3)]
fn across_runs(cp: &Checkpoint, target: u64) -> Result<u64, TaskError> {
    ACROSS_CALLS.fetch_add(1, Ordering::SeqCst);
    match cp.load_state::<u64>()? {
        None => {
            cp.save_state(&(target / 2))?;
            Err(TaskError::non_recoverable("stopped halfway"))
        }
        Some(half) => Ok(half * 1000 + target),
    }
}

#[workflow]
fn across_wf(target: u64) -> u64 {
    across_runs(target)
}

#[test]
fn a_run_of_a_failed_execution_starts_from_the_checkpoint_the_last_run_committed() {
    let dir = tempfile::tempdir().unwrap();
    let err = durable(dir.path()).run_with_id("half", across_wf, 42).unwrap_err();
    assert_eq!(
        node_failure(&err).attempts,
        [AttemptFailure {
            attempt: 1,
            kind: FailureKind::NonRecoverable,
            cause: "stopped halfway".into()
        }]
    );
    assert_eq!(ACROSS_CALLS.load(Ordering::SeqCst), 1);
    let ckpt = checkpoint_dir(dir.path(), "half", "n0");
    assert_eq!(versions(&ckpt), [ckpt.join("ckpt-0000000000000000")]);

    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("half", across_wf, 42).unwrap(), 21_042);
    assert_eq!(ACROSS_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(attempt_numbers(node(&report(&rt, "half"), "n0")), [1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Damaged checkpoint files

/// Commits two versions on its first attempt and fails; later attempts report what they read.
#[task]
fn two_versions(ctx: &TaskContext) -> Result<String, TaskError> {
    let cp = ctx.checkpoint();
    if ctx.attempt() == 1 {
        cp.write(b"first")?;
        cp.write(b"second")?;
        return Err(TaskError::non_recoverable("stopped after two commits"));
    }
    Ok(match cp.read()? {
        Some(bytes) => String::from_utf8(bytes)?,
        None => "<none>".to_owned(),
    })
}

#[workflow]
fn two_versions_wf() -> String {
    two_versions()
}

/// Runs `two_versions_wf` as `id` once (it fails), damages its versions with `damage`, runs it
/// again and returns what the second attempt read and the node's events.
fn rerun_after_damage(id: &str, damage: impl FnOnce(&[PathBuf])) -> (String, Vec<Event>, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert!(rt.run_with_id(id, two_versions_wf, ()).is_err());
    let ckpt = checkpoint_dir(dir.path(), id, "n0");
    let found = versions(&ckpt);
    assert_eq!(
        found,
        [ckpt.join("ckpt-0000000000000000"), ckpt.join("ckpt-0000000000000001")]
    );
    damage(&found);
    let out = rt.run_with_id(id, two_versions_wf, ()).unwrap();
    let report = report(&rt, id);
    let n0 = node(&report, "n0");
    assert_eq!(attempt_numbers(n0), [1, 2]);
    (out, n0.events.clone(), found)
}

#[test]
fn a_corrupted_newest_version_falls_back_to_the_previous_one_and_says_so() {
    let (out, events, versions) = rerun_after_damage("flipped", |v| flip_last_byte(&v[1]));
    assert_eq!(out, "first");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    let event = &events[0];
    assert_eq!(event.attempt, Some(2));
    assert_eq!(
        event.message,
        format!(
            "checkpoint {} is corrupted: checksum mismatch; resuming from the newest intact checkpoint, {}",
            versions[1].display(),
            versions[0].display()
        )
    );
}

#[test]
fn a_truncated_newest_version_falls_back_to_the_previous_one() {
    let (out, events, versions) = rerun_after_damage("truncated", |v| truncate_by(&v[1], 2));
    assert_eq!(out, "first");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    assert_eq!(events[0].attempt, Some(2));
    assert!(
        events[0].message.starts_with(&format!(
            "checkpoint {} is corrupted: truncated: 4 of 6 bytes",
            versions[1].display()
        )),
        "{}",
        events[0].message
    );

    // Cut inside the header: no length to compare with.
    let (out, events, versions) = rerun_after_damage("headless", |v| truncate_by(&v[1], 6 + 8));
    assert_eq!(out, "first");
    assert!(
        events[0].message.starts_with(&format!(
            "checkpoint {} is corrupted: 24 bytes is shorter than the header",
            versions[1].display()
        )),
        "{}",
        events[0].message
    );
}

#[test]
fn with_every_version_corrupted_the_attempt_starts_from_scratch() {
    let (out, events, versions) = rerun_after_damage("all-bad", |v| {
        flip_last_byte(&v[0]);
        // A foreign file where a version should be: the magic does not match.
        fs::write(&v[1], b"this is not a flytekit checkpoint at all").unwrap();
    });
    assert_eq!(out, "<none>");
    assert_eq!(kinds(&events), ["checkpoint-fallback", "checkpoint-fallback"]);
    // Newest first, as they were tried.
    assert_eq!(
        events[0].message,
        format!(
            "checkpoint {} is corrupted: not a flytekit checkpoint (bad header); no intact checkpoint is left: \
             starting from scratch",
            versions[1].display()
        )
    );
    assert!(
        events[1].message.starts_with(&format!(
            "checkpoint {} is corrupted: checksum mismatch",
            versions[0].display()
        )),
        "{}",
        events[1].message
    );
}

#[test]
fn a_checkpoint_whose_only_version_is_corrupted_has_nothing_to_resume_from() {
    let dir = tempfile::tempdir().unwrap();
    Checkpoint::new(dir.path()).unwrap().write(b"only").unwrap();
    let only = dir.path().join("ckpt-0000000000000000");
    flip_last_byte(&only);

    let cp = Checkpoint::new(dir.path()).unwrap();
    assert!(!cp.prev_exists());
    assert_eq!(cp.read().unwrap(), None);
    assert_eq!(cp.load_state::<u64>().unwrap(), None);
    let out = tempfile::tempdir().unwrap();
    assert_eq!(cp.restore(out.path()).unwrap(), None);

    // The next commit gets a new number and drops the damaged version.
    cp.write(b"fresh").unwrap();
    assert_eq!(versions(dir.path()), [dir.path().join("ckpt-0000000000000001")]);
    assert_eq!(
        Checkpoint::new(dir.path()).unwrap().read().unwrap().as_deref(),
        Some(&b"fresh"[..])
    );
}

#[test]
fn a_version_damaged_after_it_was_opened_is_a_corrupt_error_naming_its_path() {
    let dir = tempfile::tempdir().unwrap();
    Checkpoint::new(dir.path()).unwrap().save_state(&7u64).unwrap();
    let cp = Checkpoint::new(dir.path()).unwrap();
    assert!(cp.prev_exists());
    let version = dir.path().join("ckpt-0000000000000000");
    flip_last_byte(&version);

    let err = cp.read().unwrap_err();
    match &err {
        CheckpointError::Corrupt { path, reason } => {
            assert_eq!((path, reason.as_str()), (&version, "checksum mismatch"))
        }
        other => panic!("expected CheckpointError::Corrupt, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("checkpoint {} is corrupted: checksum mismatch", version.display())
    );
    assert!(matches!(cp.load_state::<u64>(), Err(CheckpointError::Corrupt { path, .. }) if path == version));
    let out = tempfile::tempdir().unwrap();
    assert!(matches!(cp.restore(out.path()), Err(CheckpointError::Corrupt { path, .. }) if path == version));
}

// ---------------------------------------------------------------------------------------------
// Damaged directory checkpoints

/// Saves a directory twice on its first attempt and fails; later attempts restore it and
/// report its files.
#[task]
fn two_dirs(ctx: &TaskContext) -> Result<String, TaskError> {
    let cp = ctx.checkpoint();
    if ctx.attempt() == 1 {
        let src = tempfile::tempdir()?;
        fs::create_dir(src.path().join("sub"))?;
        fs::write(src.path().join("a.txt"), "a1")?;
        fs::write(src.path().join("sub/b.txt"), "b1")?;
        cp.save(src.path())?;
        fs::write(src.path().join("a.txt"), "a2")?;
        fs::write(src.path().join("sub/b.txt"), "b2")?;
        cp.save(src.path())?;
        return Err(TaskError::non_recoverable("stopped after two saves"));
    }
    let out = tempfile::tempdir()?;
    match cp.restore(out.path().join("r"))? {
        None => Ok("<none>".to_owned()),
        Some(r) => Ok(format!(
            "{}+{}",
            fs::read_to_string(r.join("a.txt"))?,
            fs::read_to_string(r.join("sub/b.txt"))?
        )),
    }
}

#[workflow]
fn two_dirs_wf() -> String {
    two_dirs()
}

/// As `rerun_after_damage`, for `two_dirs_wf`; `damage` gets the newest version's directory.
fn rerun_dirs_after_damage(id: &str, damage: impl FnOnce(&Path)) -> (String, Vec<Event>, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert!(rt.run_with_id(id, two_dirs_wf, ()).is_err());
    let found = versions(&checkpoint_dir(dir.path(), id, "n0"));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[1].join(".flytekit-manifest").is_file());
    damage(&found[1]);
    let out = rt.run_with_id(id, two_dirs_wf, ()).unwrap();
    let report = report(&rt, id);
    (out, node(&report, "n0").events.clone(), found)
}

#[test]
fn a_directory_version_with_a_damaged_file_falls_back_to_the_previous_one() {
    let (out, events, versions) = rerun_dirs_after_damage("dir-file", |v| {
        // Same length, other bytes: only the checksum can tell.
        fs::write(v.join("sub/b.txt"), "bX").unwrap();
    });
    assert_eq!(out, "a1+b1");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    assert_eq!(events[0].attempt, Some(2));
    let damaged = versions[1].join("sub").join("b.txt");
    assert_eq!(
        events[0].message,
        format!(
            "checkpoint {} is corrupted: does not match its manifest (2 bytes, expected 2); resuming from the \
             newest intact checkpoint, {}",
            damaged.display(),
            versions[0].display()
        )
    );
}

#[test]
fn a_directory_version_with_a_missing_file_falls_back_to_the_previous_one() {
    let (out, events, versions) = rerun_dirs_after_damage("dir-missing", |v| fs::remove_file(v.join("a.txt")).unwrap());
    assert_eq!(out, "a1+b1");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    let missing = versions[1].join("a.txt");
    assert!(
        events[0]
            .message
            .starts_with(&format!("checkpoint {} is corrupted: missing: ", missing.display())),
        "{}",
        events[0].message
    );
}

#[test]
fn a_directory_version_with_a_garbled_manifest_falls_back_to_the_previous_one() {
    let (out, events, versions) = rerun_dirs_after_damage("dir-manifest", |v| {
        fs::write(v.join(".flytekit-manifest"), "\u{1}garbage\n").unwrap();
    });
    assert_eq!(out, "a1+b1");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    let manifest = versions[1].join(".flytekit-manifest");
    assert!(
        events[0].message.starts_with(&format!(
            "checkpoint {} is corrupted: bad manifest line `\u{1}garbage`",
            manifest.display()
        )),
        "{}",
        events[0].message
    );
}

#[test]
fn a_directory_version_without_its_manifest_falls_back_to_the_previous_one() {
    let (out, events, versions) = rerun_dirs_after_damage("dir-no-manifest", |v| {
        fs::remove_file(v.join(".flytekit-manifest")).unwrap()
    });
    assert_eq!(out, "a1+b1");
    let manifest = versions[1].join(".flytekit-manifest");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    assert!(
        events[0].message.starts_with(&format!(
            "checkpoint {} is corrupted: unreadable manifest: ",
            manifest.display()
        )),
        "{}",
        events[0].message
    );
}

#[test]
fn a_directory_version_whose_manifest_lost_lines_falls_back_to_the_previous_one() {
    // A manifest cut at a line boundary still parses: only comparing it with the files
    // present shows that entries are gone.
    let (out, events, versions) = rerun_dirs_after_damage("dir-short-manifest", |v| {
        let manifest = v.join(".flytekit-manifest");
        let text = fs::read_to_string(&manifest).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !l.ends_with("b.txt"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(kept.lines().count(), 1, "{text}");
        fs::write(&manifest, kept).unwrap();
    });
    assert_eq!(out, "a1+b1");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    let manifest = versions[1].join(".flytekit-manifest");
    assert_eq!(
        events[0].message,
        format!(
            "checkpoint {} is corrupted: does not list {}; resuming from the newest intact checkpoint, {}",
            manifest.display(),
            Path::new("sub").join("b.txt").display(),
            versions[0].display()
        )
    );

    let (out, events, _) = rerun_dirs_after_damage("dir-empty-manifest", |v| {
        fs::write(v.join(".flytekit-manifest"), "").unwrap();
    });
    assert_eq!(out, "a1+b1");
    assert_eq!(kinds(&events), ["checkpoint-fallback"]);
    assert!(
        events[0].message.contains(" is corrupted: does not list "),
        "{}",
        events[0].message
    );
}

// ---------------------------------------------------------------------------------------------
// A damaged database

#[task]
fn db_task(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn db_wf(x: u64) -> u64 {
    db_task(x)
}

/// Checks that `err` is a store error on `db` whose message names it.
fn assert_store_error(err: &Error, db: &Path) {
    match err {
        Error::Store { path, source } => {
            assert_eq!(path, db);
            assert!(matches!(source, StoreError::Sqlite(_)), "{source:?}");
            assert!(
                err.to_string().starts_with(&format!("store {}: ", db.display())),
                "{err}"
            );
        }
        other => panic!("expected Error::Store, got {other:?}"),
    }
}

#[test]
fn a_database_overwritten_with_garbage_is_a_store_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    durable(dir.path()).run_with_id("before", db_wf, 1).unwrap();
    let db = dir.path().join("flytekit.db");
    assert!(db.is_file());
    fs::write(&db, vec![0xa5; 8192]).unwrap();

    let err = LocalRuntime::with_store(dir.path()).unwrap_err();
    assert_store_error(&err, &db);
    assert!(err.to_string().ends_with("file is not a database"), "{err}");
    assert_store_error(&Store::open(dir.path()).unwrap_err(), &db);
}

#[test]
fn a_database_with_damaged_pages_is_a_store_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    durable(dir.path()).run_with_id("before", db_wf, 1).unwrap();
    let db = dir.path().join("flytekit.db");
    // Keep SQLite's 100-byte file header, so that the file still claims to be a database.
    let mut bytes = fs::read(&db).unwrap();
    assert!(bytes.len() > 100);
    for b in &mut bytes[100..] {
        *b = 0x5a;
    }
    fs::write(&db, bytes).unwrap();

    // Whether opening or running notices first is SQLite's business; the error is the same.
    let err = match LocalRuntime::with_store(dir.path()) {
        Err(e) => e,
        Ok(rt) => match rt.run_with_id("before", db_wf, 1) {
            Err(e) => e,
            Ok(out) => panic!("a damaged database returned {out}"),
        },
    };
    assert_store_error(&err, &db);
}

// ---------------------------------------------------------------------------------------------
// One owner per execution

static BUSY_CALLS: AtomicUsize = AtomicUsize::new(0);
static BUSY_ENTERED: Barrier = Barrier::new(2);
static BUSY_RELEASE: Barrier = Barrier::new(2);

#[task]
fn busy_task(x: u64) -> u64 {
    // Only the first call blocks: a second one (a bug) must fail the test, not hang it.
    if BUSY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        BUSY_ENTERED.wait();
        BUSY_RELEASE.wait();
    }
    x * 3
}

#[workflow]
fn busy_wf(x: u64) -> u64 {
    busy_task(x)
}

#[test]
fn a_running_execution_is_busy_for_another_runtime_until_it_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let first = durable(dir.path());
    let second = durable(dir.path());
    let owner = std::thread::spawn(move || first.run_with_id("busy", busy_wf, 5));
    BUSY_ENTERED.wait();
    let while_running = second.run_with_id("busy", busy_wf, 5);
    // Release before asserting, so that a failed assertion cannot leave the owner blocked.
    BUSY_RELEASE.wait();
    let owned = owner.join().unwrap();

    let holder = format!("process {}", std::process::id());
    let err = while_running.unwrap_err();
    match &err {
        Error::ExecutionBusy { id, holder: named } => assert_eq!((id.as_str(), named), ("busy", &holder)),
        other => panic!("expected ExecutionBusy, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("execution `busy` is already running ({holder}): ")),
        "{err}"
    );
    assert_eq!(owned.unwrap(), 15);
    assert_eq!(second.run_with_id("busy", busy_wf, 5).unwrap(), 15);
    assert_eq!(BUSY_CALLS.load(Ordering::SeqCst), 1);
    let lock = dir.path().join("executions/busy/lock");
    assert_eq!(
        fs::read_to_string(lock).unwrap(),
        format!("process {}", std::process::id())
    );
}

// ---------------------------------------------------------------------------------------------
// The output cache

static CACHE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Its output depends on the call count, so that each run's output is recognisable.
#[task(cache = true, cache_version = "1")]
fn cached_square(x: u64) -> u64 {
    let n = CACHE_CALLS.fetch_add(1, Ordering::SeqCst) as u64 + 1;
    x * x * 1000 + n
}

#[workflow]
fn cached_wf(x: u64) -> u64 {
    cached_square(x)
}

#[test]
fn a_cached_task_runs_once_per_input_across_executions_and_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("c1", cached_wf, 3).unwrap(), 9001);
    assert_eq!(rt.run_with_id("c2", cached_wf, 3).unwrap(), 9001);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 1);

    let c1 = report(&rt, "c1");
    let miss = node(&c1, "n0");
    assert!(!miss.cache_hit);
    assert_eq!(attempt_numbers(miss), [1]);
    assert!(!kinds(&miss.events).contains(&"cache-hit"));

    let c2 = report(&rt, "c2");
    let hit = node(&c2, "n0");
    assert_eq!(hit.status, Status::Succeeded);
    assert!(hit.cache_hit);
    assert!(hit.attempts.is_empty(), "{:?}", hit.attempts);
    assert_eq!(kinds(&hit.events), ["cache-hit"]);
    assert_eq!(hit.events[0].message, "outputs of `cached_square` taken from the cache");

    // The cache is in the store: a new runtime (a new process) hits it too.
    drop(rt);
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("c3", cached_wf, 3).unwrap(), 9001);
    assert!(node(&report(&rt, "c3"), "n0").cache_hit);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 1);

    // Other inputs, another key.
    assert_eq!(rt.run_with_id("c4", cached_wf, 4).unwrap(), 16_002);
    assert!(!node(&report(&rt, "c4"), "n0").cache_hit);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 2);
}

static BYPASS_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
fn bypassed_square(x: u64) -> u64 {
    let n = BYPASS_CALLS.fetch_add(1, Ordering::SeqCst) as u64 + 1;
    x * x * 1000 + n
}

#[workflow]
fn bypassed_wf(x: u64) -> u64 {
    bypassed_square(x)
}

#[test]
fn bypass_neither_reads_nor_writes_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let usual = durable(dir.path());
    let bypass = durable(dir.path()).cache_mode(CacheMode::Bypass);

    assert_eq!(usual.run_with_id("b1", bypassed_wf, 2).unwrap(), 4001);
    // Not read: the task runs although its output is cached.
    assert_eq!(bypass.run_with_id("b2", bypassed_wf, 2).unwrap(), 4002);
    assert!(!node(&report(&bypass, "b2"), "n0").cache_hit);
    // Not written: the entry is still the first run's.
    assert_eq!(usual.run_with_id("b3", bypassed_wf, 2).unwrap(), 4001);
    assert!(node(&report(&usual, "b3"), "n0").cache_hit);
    assert_eq!(BYPASS_CALLS.load(Ordering::SeqCst), 2);

    // Not written for new inputs either: a later normal run misses.
    assert_eq!(bypass.run_with_id("b4", bypassed_wf, 5).unwrap(), 25_003);
    assert_eq!(usual.run_with_id("b5", bypassed_wf, 5).unwrap(), 25_004);
    assert!(!node(&report(&usual, "b5"), "n0").cache_hit);
    assert_eq!(BYPASS_CALLS.load(Ordering::SeqCst), 4);
}

static OVERWRITE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
fn overwritten_square(x: u64) -> u64 {
    let n = OVERWRITE_CALLS.fetch_add(1, Ordering::SeqCst) as u64 + 1;
    x * x * 1000 + n
}

#[workflow]
fn overwritten_wf(x: u64) -> u64 {
    overwritten_square(x)
}

#[test]
fn overwrite_runs_the_task_and_replaces_the_cached_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let usual = durable(dir.path());
    let overwrite = durable(dir.path()).cache_mode(CacheMode::Overwrite);

    assert_eq!(usual.run_with_id("o1", overwritten_wf, 2).unwrap(), 4001);
    assert_eq!(overwrite.run_with_id("o2", overwritten_wf, 2).unwrap(), 4002);
    assert!(!node(&report(&overwrite, "o2"), "n0").cache_hit);
    assert_eq!(OVERWRITE_CALLS.load(Ordering::SeqCst), 2);
    // The entry is now the overwriting run's.
    assert_eq!(usual.run_with_id("o3", overwritten_wf, 2).unwrap(), 4002);
    assert!(node(&report(&usual, "o3"), "n0").cache_hit);
    assert_eq!(OVERWRITE_CALLS.load(Ordering::SeqCst), 2);
}

static MEMORY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
fn memory_square(x: u64) -> u64 {
    let n = MEMORY_CALLS.fetch_add(1, Ordering::SeqCst) as u64 + 1;
    x * x * 1000 + n
}

#[workflow]
fn memory_wf(x: u64) -> u64 {
    memory_square(x)
}

#[test]
fn a_runtime_without_a_store_caches_nothing() {
    let rt = LocalRuntime::new();
    assert!(rt.store().is_none());
    assert_eq!(rt.run(memory_wf, 2).unwrap(), 4001);
    assert_eq!(rt.run(memory_wf, 2).unwrap(), 4002);
    assert_eq!(LocalRuntime::new().run(memory_wf, 2).unwrap(), 4003);
    assert_eq!(LocalRuntime::new().run_with_id("same", memory_wf, 2).unwrap(), 4004);
    assert_eq!(LocalRuntime::new().run_with_id("same", memory_wf, 2).unwrap(), 4005);
    assert_eq!(MEMORY_CALLS.load(Ordering::SeqCst), 5);
}

// ---------------------------------------------------------------------------------------------
// Inspection

static INSPECT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task]
fn inspect_prep(x: u64) -> u64 {
    x + 1
}

#[task]
fn inspect_step(cp: &Checkpoint, x: u64) -> Result<u64, TaskError> {
    INSPECT_CALLS.fetch_add(1, Ordering::SeqCst);
    cp.save_state(&vec![x; 64])?;
    if x > 100 {
        return Err(TaskError::non_recoverable(format!("{x} is too big")));
    }
    Ok(x * 2)
}

#[workflow]
fn inspect_wf(x: u64) -> u64 {
    let p = inspect_prep(x);
    inspect_step(p)
}

#[test]
fn the_store_lists_executions_and_reports_nodes_attempts_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("good", inspect_wf, 1).unwrap(), 4);
    let err = rt.run_with_id("bad", inspect_wf, 200).unwrap_err();
    assert_eq!(INSPECT_CALLS.load(Ordering::SeqCst), 2);

    // What another process sees, through its own handle on the store.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.dir(), dir.path());
    let listed = store.executions().unwrap();
    let mut ids: Vec<_> = listed.iter().map(|e| (e.id.as_str(), e.status)).collect();
    ids.sort_by_key(|&(id, _)| id);
    assert_eq!(ids, [("bad", Status::Failed), ("good", Status::Succeeded)]);
    assert!(
        listed.windows(2).all(|w| w[0].started >= w[1].started),
        "newest first: {listed:?}"
    );
    for e in &listed {
        assert_eq!(e.workflow, "inspect_wf");
        let ended = e.ended.unwrap_or_else(|| panic!("{} has no end", e.id));
        assert!(ended >= e.started);
    }

    let good = store.execution("good").unwrap().unwrap();
    assert_eq!(good.summary.status, Status::Succeeded);
    assert_eq!(good.error, None);
    let ids: Vec<_> = good
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.task.as_str(), n.status))
        .collect();
    assert_eq!(
        ids,
        [
            ("n0", "inspect_prep", Status::Succeeded),
            ("n1", "inspect_step", Status::Succeeded)
        ]
    );
    for n in &good.nodes {
        assert_eq!(n.attempts.len(), 1);
        assert_eq!((n.attempts[0].number, n.attempts[0].status), (1, Status::Succeeded));
        assert_eq!(n.attempts[0].cause, None);
        assert!(n.attempts[0].duration.is_some());
        assert!(n.duration.is_some());
        assert_eq!(n.system_failures, 0);
        assert!(!n.cache_hit);
    }
    assert_eq!(node(&good, "n0").checkpoint_bytes, 0);
    let step = node(&good, "n1");
    let on_disk: u64 = versions(&checkpoint_dir(dir.path(), "good", "n1"))
        .iter()
        .map(|v| fs::metadata(v).unwrap().len())
        .sum();
    assert!(on_disk > 0);
    assert_eq!(step.checkpoint_bytes, on_disk);

    let bad = store.execution("bad").unwrap().unwrap();
    assert_eq!(bad.summary.status, Status::Failed);
    assert_eq!(bad.error.as_deref(), Some(err.to_string().as_str()));
    assert!(bad.error.as_deref().unwrap().contains("201 is too big"));
    assert_eq!(node(&bad, "n0").status, Status::Succeeded);
    let failed = node(&bad, "n1");
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.attempts.len(), 1);
    let attempt = &failed.attempts[0];
    assert_eq!((attempt.number, attempt.status), (1, Status::Failed));
    assert_eq!(attempt.cause.as_deref(), Some("201 is too big"));
    assert!(attempt.duration.is_some());
    assert!(failed.duration.is_some());
    assert!(failed.checkpoint_bytes > 0);
    assert_eq!(node(&bad, "n0").checkpoint_bytes, 0);

    assert!(store.execution("never-ran").unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// The default store

#[task]
fn home_task(x: u64) -> u64 {
    x * 7
}

#[workflow]
fn home_wf(x: u64) -> u64 {
    home_task(x)
}

/// `FLYTEKIT_HOME` is read from the environment, which is shared by every thread of this
/// process: the part that needs it runs in a child process given its own environment, rather
/// than changing the environment under the other tests.
#[test]
fn durable_keeps_its_store_in_flytekit_home() {
    if let Some(home) = child_store() {
        assert_eq!(Store::default_dir(), home);
        let rt = LocalRuntime::durable().unwrap();
        assert_eq!(rt.store().unwrap().dir(), home);
        assert_eq!(rt.run_with_id("home-1", home_wf, 6).unwrap(), 42);
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let (status, printed) = run_child(
        "durable_keeps_its_store_in_flytekit_home",
        &[(CHILD_STORE, home.path()), ("FLYTEKIT_HOME", home.path())],
    );
    assert!(status.success(), "the child failed: {status}\n{printed}");
    assert!(home.path().join("flytekit.db").is_file());
    let store = Store::open(home.path()).unwrap();
    let run = store.execution("home-1").unwrap().expect("the child's execution");
    assert_eq!(run.summary.status, Status::Succeeded);
    assert_eq!(durable(home.path()).run_with_id("home-1", home_wf, 6).unwrap(), 42);
}

// ---------------------------------------------------------------------------------------------
// A process that dies in the middle of a task

/// How the child's process ends in the middle of `killed_step`.
const DIED: i32 = 86;

static KILLED_PREP: AtomicUsize = AtomicUsize::new(0);
static KILLED_STEP: Mutex<Vec<(u32, Option<u64>)>> = Mutex::new(Vec::new());

#[task]
fn killed_prep(x: u64) -> u64 {
    KILLED_PREP.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[task(retries = 2)]
fn killed_step(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    let saved = ctx.checkpoint().load_state::<u64>()?;
    if child_store().is_some() {
        ctx.checkpoint().save_state(&(x * 100))?;
        // Dies as a SIGKILL would: no unwinding, nothing recorded after the checkpoint.
        std::process::exit(DIED);
    }
    KILLED_STEP.lock().unwrap().push((ctx.attempt(), saved));
    Ok(saved.unwrap_or(0) + x)
}

#[workflow]
fn killed_wf(x: u64) -> u64 {
    let p = killed_prep(x);
    killed_step(p)
}

#[test]
fn an_execution_whose_process_died_resumes_from_the_checkpoint() {
    if let Some(store) = child_store() {
        let _ = durable(&store).run_with_id("killed", killed_wf, 4);
        panic!("the child should have died in `killed_step`");
    }
    let dir = tempfile::tempdir().unwrap();
    let (status, printed) = run_child(
        "an_execution_whose_process_died_resumes_from_the_checkpoint",
        &[(CHILD_STORE, dir.path())],
    );
    assert_eq!(status.code(), Some(DIED), "{status}\n{printed}");

    let store = Store::open(dir.path()).unwrap();
    let left = store.execution("killed").unwrap().unwrap();
    assert_eq!(left.summary.status, Status::Running);
    assert_eq!(node(&left, "n0").status, Status::Succeeded);
    let step = node(&left, "n1");
    assert_eq!(step.status, Status::Running);
    assert_eq!(attempt_statuses(step), [Status::Running]);
    drop(store);

    // The lock died with the child: this process takes the execution over.
    let rt = durable(dir.path());
    assert_eq!(rt.run_with_id("killed", killed_wf, 4).unwrap(), 505);
    assert_eq!(KILLED_PREP.load(Ordering::SeqCst), 0);
    assert_eq!(*KILLED_STEP.lock().unwrap(), [(2, Some(500))]);

    let done = report(&rt, "killed");
    assert_eq!(done.summary.status, Status::Succeeded);
    let step = node(&done, "n1");
    assert_eq!(step.system_failures, 1);
    assert_eq!(attempt_statuses(step), [Status::Interrupted, Status::Succeeded]);
    assert_eq!(
        step.attempts[0].cause.as_deref(),
        Some("the process running this attempt stopped before it finished")
    );
    assert_eq!(kinds(&step.events), ["interrupted"]);
    assert_eq!(step.events[0].attempt, Some(1));
    assert!(
        step.events[0].message.ends_with("(system failure 1 of at most 3)"),
        "{}",
        step.events[0].message
    );
    assert_eq!(kinds(&done.events), ["resumed"]);
}

static BUDGET_STEP: AtomicUsize = AtomicUsize::new(0);

#[task]
fn budget_step(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    if child_store().is_some() {
        std::process::exit(DIED);
    }
    BUDGET_STEP.fetch_add(1, Ordering::SeqCst);
    Ok(x + u64::from(ctx.attempt()) * 1000)
}

#[workflow]
fn budget_wf(x: u64) -> u64 {
    budget_step(x)
}

#[test]
fn an_interruption_beyond_the_system_budget_fails_the_node_until_it_is_run_again() {
    if let Some(store) = child_store() {
        let _ = durable(&store).run_with_id("no-budget", budget_wf, 1);
        panic!("the child should have died in `budget_step`");
    }
    let dir = tempfile::tempdir().unwrap();
    let (status, printed) = run_child(
        "an_interruption_beyond_the_system_budget_fails_the_node_until_it_is_run_again",
        &[(CHILD_STORE, dir.path())],
    );
    assert_eq!(status.code(), Some(DIED), "{status}\n{printed}");

    let strict = durable(dir.path()).system_retries(0);
    let err = strict.run_with_id("no-budget", budget_wf, 1).unwrap_err();
    assert_eq!(
        node_failure(&err).attempts,
        [AttemptFailure {
            attempt: 1,
            kind: FailureKind::Interrupted,
            cause: "the process running this attempt stopped before it finished".into()
        }]
    );
    assert_eq!(BUDGET_STEP.load(Ordering::SeqCst), 0);
    let failed = report(&strict, "no-budget");
    assert_eq!(failed.summary.status, Status::Failed);
    assert_eq!(node(&failed, "n0").status, Status::Failed);
    assert!(node(&failed, "n0").events[0]
        .message
        .ends_with("(system failure 1 of at most 0)"));

    // A failed execution run again runs its failed node.
    assert_eq!(strict.run_with_id("no-budget", budget_wf, 1).unwrap(), 2001);
    assert_eq!(BUDGET_STEP.load(Ordering::SeqCst), 1);
    let done = report(&strict, "no-budget");
    assert_eq!(
        attempt_statuses(node(&done, "n0")),
        [Status::Interrupted, Status::Succeeded]
    );
}

static COUNTED_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Fails every attempt; in the child process, dies in its second.
#[task(retries = 2)]
fn counted_step(ctx: &TaskContext) -> Result<u64, TaskError> {
    if child_store().is_some() && ctx.attempt() == 2 {
        std::process::exit(DIED);
    }
    COUNTED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(TaskError::recoverable(format!("attempt {} failed", ctx.attempt())))
}

#[workflow]
fn counted_wf() -> u64 {
    counted_step()
}

#[test]
fn a_failure_after_an_interruption_counts_attempts_and_interruptions_apart_across_the_resume() {
    if let Some(store) = child_store() {
        let _ = durable(&store).run_with_id("counted", counted_wf, ());
        panic!("the child should have died in `counted_step`");
    }
    let dir = tempfile::tempdir().unwrap();
    let (status, printed) = run_child(
        "a_failure_after_an_interruption_counts_attempts_and_interruptions_apart_across_the_resume",
        &[(CHILD_STORE, dir.path())],
    );
    assert_eq!(status.code(), Some(DIED), "{status}\n{printed}");

    // Attempt 1 failed in the child, attempt 2 died with it; this run makes attempts 3 and 4.
    let err = durable(dir.path()).run_with_id("counted", counted_wf, ()).unwrap_err();
    assert_eq!(COUNTED_CALLS.load(Ordering::SeqCst), 2);
    let interrupted = "the process running this attempt stopped before it finished";
    assert_eq!(
        node_failure(&err).attempts,
        [
            recoverable(1, "attempt 1 failed"),
            AttemptFailure {
                attempt: 2,
                kind: FailureKind::Interrupted,
                cause: interrupted.into()
            },
            recoverable(3, "attempt 3 failed"),
            recoverable(4, "attempt 4 failed"),
        ]
    );
    assert_eq!(
        err.to_string(),
        format!(
            "workflow `counted_wf` failed (execution counted): node n0 (task `counted_step`) failed after 3 of 3 \
             attempts (and 1 interrupted attempt, which do not count against retries); attempt 1: recoverable \
             error: attempt 1 failed; attempt 2: interrupted: {interrupted}; attempt 3: recoverable error: attempt \
             3 failed; attempt 4: recoverable error: attempt 4 failed"
        )
    );
}

#[test]
fn a_lock_that_cannot_be_taken_is_named_as_the_file_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let rt = durable(dir.path());
    // Something that is not a file where the lock belongs.
    let lock = dir.path().join("executions").join("locked").join("lock");
    fs::create_dir_all(&lock).unwrap();
    let err = rt.run_with_id("locked", id_wf, 1).unwrap_err();
    match &err {
        Error::Io { path, .. } => assert_eq!(path, &lock),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("cannot prepare {}: ", lock.display())),
        "{err}"
    );
}
