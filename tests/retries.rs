//! Retries through the local runtime: how many attempts run, which errors are retried, and
//! what the failure reports when they run out.

use std::sync::atomic::{AtomicU32, Ordering};

use flytekit::{
    current_context, task, workflow, AttemptFailure, Error, FailureKind, LocalRuntime, NodeFailure, ResultExt,
    TaskContext, TaskError,
};

/// The node failure inside `err`, or a panic that shows what the error was instead.
fn node_failure(err: &Error) -> &NodeFailure {
    match err {
        Error::NodeFailed(failure) => failure,
        other => panic!("expected Error::NodeFailed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Attempt counts

static ALWAYS_FAILS_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 2)]
fn always_fails(x: u64) -> Result<u64, TaskError> {
    let n = ALWAYS_FAILS_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Err(TaskError::recoverable(format!("boom {n} on {x}")))
}

#[workflow]
fn always_fails_wf(x: u64) -> u64 {
    always_fails(x)
}

#[test]
fn exhausted_retries_report_every_attempt() {
    let err = LocalRuntime::new().run(always_fails_wf, 7).unwrap_err();
    assert_eq!(
        ALWAYS_FAILS_CALLS.load(Ordering::SeqCst),
        3,
        "retries = 2 means 3 attempts"
    );

    let failure = node_failure(&err);
    assert_eq!(failure.workflow, "always_fails_wf");
    assert_eq!(failure.node, "n0");
    assert_eq!(failure.task, "always_fails");
    assert_eq!(failure.max_attempts, 3);
    assert_eq!(
        failure.attempts,
        [
            AttemptFailure {
                attempt: 1,
                kind: FailureKind::Recoverable,
                cause: "boom 1 on 7".into()
            },
            AttemptFailure {
                attempt: 2,
                kind: FailureKind::Recoverable,
                cause: "boom 2 on 7".into()
            },
            AttemptFailure {
                attempt: 3,
                kind: FailureKind::Recoverable,
                cause: "boom 3 on 7".into()
            },
        ]
    );
    assert_eq!(err.node_failure(), Some(failure));

    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "workflow `always_fails_wf` failed (execution {}): node n0 (task `always_fails`) failed after 3 of 3 attempts; \
             attempt 1: recoverable error: boom 1 on 7; \
             attempt 2: recoverable error: boom 2 on 7; \
             attempt 3: recoverable error: boom 3 on 7",
            failure.execution
        )
    );
}

static NO_RETRY_CALLS: AtomicU32 = AtomicU32::new(0);

#[task]
fn no_retries() -> Result<(), TaskError> {
    NO_RETRY_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(TaskError::recoverable("once"))
}

#[test]
fn no_retries_option_means_exactly_one_attempt() {
    let err = LocalRuntime::new().run_task(no_retries, ()).unwrap_err();
    assert_eq!(NO_RETRY_CALLS.load(Ordering::SeqCst), 1);
    let failure = node_failure(&err);
    assert_eq!(failure.max_attempts, 1);
    assert_eq!(failure.attempts.len(), 1);
    // Singular "attempt" when only one was allowed.
    assert!(
        err.to_string()
            .contains("failed after 1 of 1 attempt; attempt 1: recoverable error: once"),
        "{err}"
    );
}

#[task(retries = 10)]
fn max_retries(ctx: &TaskContext) -> Result<u32, TaskError> {
    Err(TaskError::recoverable(format!(
        "attempt {} of {}",
        ctx.attempt(),
        ctx.max_attempts()
    )))
}

#[test]
fn retries_ten_gives_eleven_attempts_numbered_in_order() {
    let err = LocalRuntime::new().run_task(max_retries, ()).unwrap_err();
    let failure = node_failure(&err);
    assert_eq!(failure.max_attempts, 11);
    let numbers: Vec<u32> = failure.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, (1..=11).collect::<Vec<_>>());
    assert_eq!(failure.attempts[10].cause, "attempt 11 of 11");
}

#[task(retries = 3)]
fn flaky(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    if ctx.attempt() <= 2 {
        return Err(TaskError::recoverable(format!("flaked on attempt {}", ctx.attempt())));
    }
    Ok(x * 10 + u64::from(ctx.attempt()))
}

#[workflow]
fn flaky_wf(x: u64) -> u64 {
    flaky(x)
}

#[test]
fn two_recoverable_failures_then_success_returns_the_value() {
    // The value encodes the attempt that produced it: the third.
    assert_eq!(LocalRuntime::new().run(flaky_wf, 4).unwrap(), 43);
}

static STOPS_EARLY_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 5)]
fn succeeds_on_second(ctx: &TaskContext) -> Result<u32, TaskError> {
    STOPS_EARLY_CALLS.fetch_add(1, Ordering::SeqCst);
    if ctx.attempt() == 1 {
        Err(TaskError::recoverable("first"))
    } else {
        Ok(ctx.attempt())
    }
}

#[test]
fn no_attempt_runs_after_a_success() {
    assert_eq!(LocalRuntime::new().run_task(succeeds_on_second, ()).unwrap(), 2);
    assert_eq!(STOPS_EARLY_CALLS.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Non-recoverable errors

static NON_RECOVERABLE_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 3)]
fn gives_up(x: u64) -> Result<u64, TaskError> {
    NON_RECOVERABLE_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(TaskError::non_recoverable(format!("bad input {x}")))
}

#[workflow]
fn gives_up_wf(x: u64) -> u64 {
    gives_up(x)
}

#[test]
fn non_recoverable_error_stops_after_one_attempt() {
    let err = LocalRuntime::new().run(gives_up_wf, 9).unwrap_err();
    assert_eq!(NON_RECOVERABLE_CALLS.load(Ordering::SeqCst), 1);
    let failure = node_failure(&err);
    assert_eq!(failure.max_attempts, 4);
    assert_eq!(
        failure.attempts,
        [AttemptFailure {
            attempt: 1,
            kind: FailureKind::NonRecoverable,
            cause: "bad input 9".into()
        }]
    );
    assert!(
        err.to_string()
            .contains("failed after 1 of 4 attempts; attempt 1: non-recoverable error: bad input 9"),
        "{err}"
    );
}

static RESULT_EXT_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 3)]
fn parse_strictly(text: String) -> Result<u64, TaskError> {
    RESULT_EXT_CALLS.fetch_add(1, Ordering::SeqCst);
    let n: u64 = text.parse().non_recoverable()?;
    Ok(n)
}

#[test]
fn result_ext_non_recoverable_stops_after_one_attempt() {
    let err = LocalRuntime::new()
        .run_task(parse_strictly, "seven".to_string())
        .unwrap_err();
    assert_eq!(RESULT_EXT_CALLS.load(Ordering::SeqCst), 1);
    let failure = node_failure(&err);
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::NonRecoverable);
    assert_eq!(failure.attempts[0].cause, "invalid digit found in string");

    // The same task succeeds on good input.
    assert_eq!(
        LocalRuntime::new().run_task(parse_strictly, "17".to_string()).unwrap(),
        17
    );
}

// ---------------------------------------------------------------------------------------------
// `?` on ordinary errors is retried

static PARSE_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 2)]
fn parse_loosely(text: String) -> Result<u64, TaskError> {
    PARSE_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(text.parse::<u64>()?)
}

#[test]
fn question_mark_on_parse_int_error_is_retried() {
    let err = LocalRuntime::new()
        .run_task(parse_loosely, "x1".to_string())
        .unwrap_err();
    assert_eq!(PARSE_CALLS.load(Ordering::SeqCst), 3);
    let failure = node_failure(&err);
    assert_eq!(failure.workflow, "parse_loosely");
    assert_eq!(failure.attempts.len(), 3);
    for (i, a) in failure.attempts.iter().enumerate() {
        assert_eq!(a.attempt, i as u32 + 1);
        assert_eq!(a.kind, FailureKind::Recoverable);
        assert_eq!(a.cause, "invalid digit found in string");
    }
}

static IO_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 1)]
fn read_missing(path: String) -> Result<Vec<u8>, TaskError> {
    IO_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(std::fs::read(path)?)
}

#[test]
fn question_mark_on_io_error_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let err = LocalRuntime::new()
        .run_task(read_missing, missing.to_string_lossy().into_owned())
        .unwrap_err();
    assert_eq!(IO_CALLS.load(Ordering::SeqCst), 2);
    let failure = node_failure(&err);
    assert_eq!(failure.attempts.len(), 2);
    // The OS's own wording, e.g. "No such file or directory (os error 2)".
    let os = std::fs::read(&missing).unwrap_err().to_string();
    for a in &failure.attempts {
        assert_eq!(a.kind, FailureKind::Recoverable);
        assert_eq!(a.cause, os);
    }
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading config")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[task]
fn chained_error() -> Result<(), TaskError> {
    Err(Outer(std::io::Error::other("disk on fire")))?
}

#[test]
fn the_cause_text_includes_the_source_chain() {
    let err = LocalRuntime::new().run_task(chained_error, ()).unwrap_err();
    assert_eq!(node_failure(&err).attempts[0].cause, "loading config: disk on fire");
}

// ---------------------------------------------------------------------------------------------
// Panics

static PANIC_CALLS: AtomicU32 = AtomicU32::new(0);

#[task(retries = 3)]
fn explodes(x: u64) -> u64 {
    PANIC_CALLS.fetch_add(1, Ordering::SeqCst);
    if x > 0 {
        panic!("exploded with {x}");
    }
    x
}

#[workflow]
fn explodes_wf(x: u64) -> u64 {
    explodes(x)
}

#[test]
fn a_panic_is_caught_reported_and_not_retried() {
    let err = LocalRuntime::new().run(explodes_wf, 5).unwrap_err();
    assert_eq!(PANIC_CALLS.load(Ordering::SeqCst), 1, "a panic is not retried");
    let failure = node_failure(&err);
    assert_eq!(failure.workflow, "explodes_wf");
    assert_eq!(failure.task, "explodes");
    assert_eq!(failure.max_attempts, 4);
    assert_eq!(failure.attempts.len(), 1);
    let attempt = &failure.attempts[0];
    assert_eq!(attempt.attempt, 1);
    assert_eq!(attempt.kind, FailureKind::Panic);
    assert!(attempt.cause.contains("explodes"), "{}", attempt.cause);
    assert!(attempt.cause.contains("exploded with 5"), "{}", attempt.cause);
    assert!(err.to_string().contains("attempt 1: panic: "), "{err}");
    // The panic did not leave a stale context on this thread.
    assert!(matches!(current_context(), Err(Error::NoContext)));
}

#[task(retries = 1)]
fn panics_with_a_number() {
    std::panic::panic_any(42_u32);
}

#[test]
fn a_panic_with_a_non_string_payload_is_still_reported() {
    let err = LocalRuntime::new().run_task(panics_with_a_number, ()).unwrap_err();
    let failure = node_failure(&err);
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::Panic);
    assert!(failure.attempts[0].cause.contains("panics_with_a_number"), "{err}");
    assert!(failure.attempts[0].cause.contains("not a string"), "{err}");
}

#[task(retries = 2)]
fn fails_then_panics(ctx: &TaskContext) -> Result<u32, TaskError> {
    if ctx.attempt() == 1 {
        return Err(TaskError::recoverable("soft failure"));
    }
    panic!("hard failure on attempt {}", ctx.attempt());
}

#[test]
fn a_panic_after_a_recoverable_failure_ends_the_node() {
    let err = LocalRuntime::new().run_task(fails_then_panics, ()).unwrap_err();
    let failure = node_failure(&err);
    let kinds: Vec<_> = failure.attempts.iter().map(|a| a.kind.clone()).collect();
    assert_eq!(kinds, [FailureKind::Recoverable, FailureKind::Panic]);
    assert!(failure.attempts[1].cause.contains("hard failure on attempt 2"), "{err}");
    assert!(err.to_string().contains("failed after 2 of 3 attempts"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// A failing node in the middle of a workflow

static DOWNSTREAM_CALLS: AtomicU32 = AtomicU32::new(0);

#[task]
fn ok_step(x: u64) -> u64 {
    x + 1
}

#[task(retries = 1)]
fn bad_step(x: u64) -> Result<u64, TaskError> {
    Err(TaskError::recoverable(format!("cannot handle {x}")))
}

#[task]
fn after_bad(x: u64) -> u64 {
    DOWNSTREAM_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[workflow]
fn fails_in_the_middle(x: u64) -> u64 {
    let a = ok_step(x);
    let b = bad_step(a);
    after_bad(b)
}

#[test]
fn a_failure_names_the_failing_node_and_skips_its_dependents() {
    let err = LocalRuntime::new().run(fails_in_the_middle, 1).unwrap_err();
    let failure = node_failure(&err);
    assert_eq!(failure.workflow, "fails_in_the_middle");
    assert_eq!(failure.node, "n1");
    assert_eq!(failure.task, "bad_step");
    assert_eq!(failure.max_attempts, 2);
    assert_eq!(failure.attempts.len(), 2);
    assert_eq!(failure.attempts[1].cause, "cannot handle 2");
    assert_eq!(
        DOWNSTREAM_CALLS.load(Ordering::SeqCst),
        0,
        "a dependent of a failed node must not run"
    );
}

// ---------------------------------------------------------------------------------------------
// A failing node inside a sub-workflow

#[task]
fn fails_inside(x: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("inner failure on {x}")))
}

#[workflow]
fn failing_inner(x: u64) -> u64 {
    let a = ok_step(x);
    fails_inside(a)
}

#[workflow]
fn failing_outer(x: u64) -> u64 {
    let a = ok_step(x);
    failing_inner(a)
}

#[test]
fn a_failure_in_a_sub_workflow_names_the_workflow_path_and_the_node() {
    let err = LocalRuntime::new().run(failing_outer, 1).unwrap_err();
    let failure = node_failure(&err);
    // The sub-workflow is named by its path; the node id is unique in the inlined graph.
    assert_eq!(failure.workflow, "failing_outer/failing_inner");
    assert_eq!(failure.node, "n2");
    assert_eq!(failure.task, "fails_inside");
    assert_eq!(failure.attempts[0].cause, "inner failure on 3");
}

#[task]
fn panics_with_a_literal() {
    panic!("a plain literal message");
}

#[test]
fn a_panic_with_a_str_literal_payload_keeps_its_message() {
    let err = LocalRuntime::new().run_task(panics_with_a_literal, ()).unwrap_err();
    let attempt = &node_failure(&err).attempts[0];
    assert_eq!(attempt.kind, FailureKind::Panic);
    // The message, then where the panic happened.
    assert!(
        attempt
            .cause
            .starts_with("task `panics_with_a_literal` panicked: a plain literal message (at tests/retries.rs:"),
        "{}",
        attempt.cause
    );
}
