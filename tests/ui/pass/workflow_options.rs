use std::sync::atomic::{AtomicUsize, Ordering};

use flytekit::{task, workflow, FailurePolicy, LocalRuntime, TaskError, Workflow, WorkflowFailure};

// A hook's panic or failure is recorded, not returned, so the hook counts the calls it checked.
static CLEANED_UP: AtomicUsize = AtomicUsize::new(0);

#[task]
fn answer() -> u64 {
    42
}

#[task]
fn fail(a: String, b: u64) -> Result<u64, TaskError> {
    Err(TaskError::non_recoverable(format!("{a} {b}")))
}

#[task]
fn report(failure: WorkflowFailure) {
    assert_eq!(failure.workflow, "no_inputs");
}

#[task]
fn clean_up(a: String, b: u64, failure: WorkflowFailure) {
    if (a.as_str(), b, failure.task.as_deref()) == ("x", 7, Some("fail")) {
        CLEANED_UP.fetch_add(1, Ordering::SeqCst);
    }
}

#[workflow(failure_policy = FailAfterExecutableNodesComplete, on_failure = report)]
fn no_inputs() -> u64 {
    answer()
}

#[workflow(on_failure = clean_up, failure_policy = FailurePolicy::FailAfterExecutableNodesComplete)]
fn two_inputs(a: String, b: u64) -> (u64, u64) {
    (fail(a, b), answer())
}

mod hooks {
    use flytekit::{task, WorkflowFailure};

    #[task]
    pub fn log(failure: WorkflowFailure) {
        let _ = failure;
    }
}

#[workflow(failure_policy = ::flytekit::FailurePolicy::FailImmediately, on_failure = hooks::log)]
fn full_paths() -> u64 {
    answer()
}

// Input types named like the generated code's generics.
#[derive(serde::Serialize, serde::Deserialize)]
struct T(u64);
#[derive(serde::Serialize, serde::Deserialize)]
struct I(u64);

#[task]
fn use_both(t: T, i: I) -> u64 {
    t.0 + i.0
}

#[task]
fn forget(t: T, i: I, failure: WorkflowFailure) {
    let _ = (t, i, failure);
}

#[workflow(on_failure = forget)]
fn generic_names(t: T, i: I) -> u64 {
    use_both(t, i)
}

#[workflow]
fn defaults() -> u64 {
    answer()
}

fn main() {
    let graph = no_inputs.graph().unwrap();
    assert_eq!(graph.failure_policy(), FailurePolicy::FailAfterExecutableNodesComplete);
    assert!(graph.on_failure().is_some());

    let graph = two_inputs.graph().unwrap();
    assert_eq!(graph.failure_policy(), FailurePolicy::FailAfterExecutableNodesComplete);
    assert!(graph.on_failure().is_some());

    let graph = full_paths.graph().unwrap();
    assert_eq!(graph.failure_policy(), FailurePolicy::FailImmediately);
    assert!(graph.on_failure().is_some());

    assert!(generic_names.graph().unwrap().on_failure().is_some());

    let graph = defaults.graph().unwrap();
    assert_eq!(graph.failure_policy(), FailurePolicy::FailImmediately);
    assert!(graph.on_failure().is_none());

    assert_eq!(LocalRuntime::new().run(no_inputs, ()).unwrap(), 42);
    assert!(LocalRuntime::new().run(two_inputs, ("x".to_string(), 7)).is_err());
    assert_eq!(CLEANED_UP.load(Ordering::SeqCst), 1);
}
