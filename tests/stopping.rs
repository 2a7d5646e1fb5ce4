//! Timeouts and failure policies: how an attempt is stopped, whether it is retried, and what
//! else runs once a node has failed.
//!
//! A timeout needs a clock, but no assertion here depends on timing: each attempt runs until it
//! is told to stop, however long that takes.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use flytekit::{
    task, workflow, CheckpointError, Error, FailureKind, LocalRuntime, Status, StopReason, TaskContext, TaskError,
    WorkflowFailure,
};

// ---------------------------------------------------------------------------------------------
// Timeouts

#[task(retries = 1, timeout = "50ms")]
fn commits_until_stopped(ctx: &TaskContext, start: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    if ctx.attempt() == 2 {
        // The retry resumes from the last commit the timed-out attempt made.
        return Ok(cp.load_state::<u64>()?.unwrap_or(0));
    }
    let mut i = start;
    loop {
        match cp.save_state(&i) {
            Ok(()) => i += 1,
            Err(e @ CheckpointError::Stopped { .. }) => {
                let CheckpointError::Stopped { reason, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(*reason, StopReason::TimedOut(std::time::Duration::from_millis(50)));
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[test]
fn a_timed_out_attempt_is_stopped_at_its_next_commit_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let last = rt.run_task(commits_until_stopped, 1).unwrap();
    assert!(last >= 1, "the first attempt committed before its deadline");

    let id = &rt.store().unwrap().executions().unwrap()[0].id;
    let report = rt.store().unwrap().execution(id).unwrap().unwrap();
    let attempts = &report.nodes[0].attempts;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Status::Failed);
    let cause = attempts[0].cause.as_deref().unwrap();
    assert_eq!(
        cause,
        "task `commits_until_stopped` timed out: the attempt ran longer than 50ms"
    );
    assert_eq!(attempts[1].status, Status::Succeeded);
}

#[task(timeout = "20ms")]
fn ignores_its_deadline(ctx: &TaskContext) -> u64 {
    assert!(ctx.deadline().is_some());
    // Returns a value, but only once it has been told to stop: too late.
    while !ctx.is_stopping() {
        std::thread::yield_now();
    }
    7
}

#[test]
fn an_attempt_that_returns_after_its_deadline_has_timed_out_whatever_it_returned() {
    let err = LocalRuntime::new().run_task(ignores_its_deadline, ()).unwrap_err();
    let failure = err.node_failure().unwrap();
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::TimedOut);
    assert!(
        err.to_string()
            .contains("attempt 1: timed out: task `ignores_its_deadline` timed out"),
        "{err}"
    );
}

#[task]
fn no_deadline(ctx: &TaskContext) -> bool {
    ctx.deadline().is_none() && !ctx.is_stopping()
}

#[test]
fn a_task_without_a_timeout_has_no_deadline() {
    assert!(LocalRuntime::new().run_task(no_deadline, ()).unwrap());
}

// ---------------------------------------------------------------------------------------------
// FailAfterExecutableNodesComplete: everything that does not depend on the failure still runs.

static INDEPENDENT_RAN: AtomicBool = AtomicBool::new(false);
static ITS_CONSUMER_RAN: AtomicBool = AtomicBool::new(false);
static DEPENDENT_RAN: AtomicBool = AtomicBool::new(false);

#[task]
fn broken(x: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("{x} broke")))
}

#[task]
fn independent(x: u64) -> u64 {
    INDEPENDENT_RAN.store(true, Ordering::SeqCst);
    x + 1
}

#[task]
fn its_consumer(x: u64) -> u64 {
    ITS_CONSUMER_RAN.store(true, Ordering::SeqCst);
    x + 1
}

#[task]
fn dependent(x: u64) -> u64 {
    DEPENDENT_RAN.store(true, Ordering::SeqCst);
    x
}

#[workflow(failure_policy = FailAfterExecutableNodesComplete)]
fn keeps_going(x: u64) -> (u64, u64) {
    let a = broken(x);
    let b = independent(x);
    (dependent(a), its_consumer(b))
}

#[test]
fn fail_after_executable_nodes_complete_runs_everything_that_can_still_run() {
    // One at a time, `broken` fails before `independent` starts: it still runs, as does its
    // consumer, but not what needed the failed node's output.
    let err = LocalRuntime::new().max_parallelism(1).run(keeps_going, 3).unwrap_err();
    assert_eq!(err.node_failure().unwrap().task, "broken");
    assert!(INDEPENDENT_RAN.load(Ordering::SeqCst));
    assert!(ITS_CONSUMER_RAN.load(Ordering::SeqCst));
    assert!(!DEPENDENT_RAN.load(Ordering::SeqCst));
}

static QUEUED_RAN: AtomicBool = AtomicBool::new(false);

#[task]
fn queued(x: u64) -> u64 {
    QUEUED_RAN.store(true, Ordering::SeqCst);
    x
}

#[workflow]
fn stops_at_once(x: u64) -> (u64, u64) {
    (broken(x), queued(x))
}

#[test]
fn by_default_nothing_starts_after_a_failure() {
    let err = LocalRuntime::new()
        .max_parallelism(1)
        .run(stops_at_once, 3)
        .unwrap_err();
    assert_eq!(err.node_failure().unwrap().task, "broken");
    assert!(!QUEUED_RAN.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// on_failure: the hook gets the workflow's inputs and the failure.

static HOOK_SAW: Mutex<Option<(String, u64, WorkflowFailure)>> = Mutex::new(None);

#[task]
fn record_failure(name: String, x: u64, failure: WorkflowFailure) {
    *HOOK_SAW.lock().unwrap() = Some((name, x, failure));
}

#[task]
fn fails_with(name: String, x: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("{name} failed at {x}")))
}

#[workflow(on_failure = record_failure)]
fn hooked(name: String, x: u64) -> u64 {
    fails_with(name, x)
}

#[test]
fn on_failure_receives_the_workflow_inputs_and_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let err = rt.run_with_id("hooked", hooked, ("job".to_string(), 5)).unwrap_err();
    assert_eq!(
        err.node_failure().unwrap().task,
        "fails_with",
        "the run fails with the workflow's error"
    );

    let (name, x, failure) = HOOK_SAW.lock().unwrap().take().expect("the hook ran");
    assert_eq!((name.as_str(), x), ("job", 5));
    assert_eq!(failure.execution, "hooked");
    assert_eq!(failure.workflow, "hooked");
    assert_eq!(failure.node.as_deref(), Some("n0"));
    assert_eq!(failure.task.as_deref(), Some("fails_with"));
    assert_eq!(failure.message, err.to_string());

    let report = rt.store().unwrap().execution("hooked").unwrap().unwrap();
    let hook = report
        .nodes
        .iter()
        .find(|n| n.id == "on-failure")
        .expect("the hook is recorded");
    assert_eq!((hook.task.as_str(), hook.status), ("record_failure", Status::Succeeded));
}

static HOOK_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 1)]
fn failing_hook(failure: WorkflowFailure) -> Result<(), TaskError> {
    HOOK_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    Err(TaskError::recoverable(format!(
        "cannot clean up after {}",
        failure.workflow
    )))
}

#[task]
fn always_fails() -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable("no"))
}

#[workflow(on_failure = failing_hook)]
fn hook_fails() -> u64 {
    always_fails()
}

#[test]
fn a_failing_hook_is_retried_and_recorded_and_the_workflow_error_stands() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let err = rt.run_with_id("hook-fails", hook_fails, ()).unwrap_err();
    assert!(
        matches!(&err, Error::NodeFailed(f) if f.task == "always_fails"),
        "{err:?}"
    );
    assert_eq!(HOOK_ATTEMPTS.load(Ordering::SeqCst), 2, "the hook has its own retries");

    let report = rt.store().unwrap().execution("hook-fails").unwrap().unwrap();
    let hook = report.nodes.iter().find(|n| n.id == "on-failure").unwrap();
    assert_eq!(hook.status, Status::Failed);
    let event = hook
        .events
        .iter()
        .find(|e| e.kind == "on-failure-failed")
        .expect("an event");
    assert!(
        event.message.contains("cannot clean up after hook_fails"),
        "{}",
        event.message
    );
}
