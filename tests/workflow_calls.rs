//! A workflow called like a function outside a workflow body runs locally, as
//! `LocalRuntime::new().run(wf, inputs)` does, and returns `Result<Output, flytekit::Error>`;
//! inside a body the same call stays a sub-workflow node.

use flytekit::{task, workflow, Error, FailureKind, TaskError, Workflow};

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[task]
fn greeting() -> String {
    "hello".to_owned()
}

#[task]
fn split(text: String) -> (String, usize) {
    (text.to_uppercase(), text.split_whitespace().count())
}

#[task(retries = 1)]
fn refuse(reason: String) -> Result<u64, TaskError> {
    Err(TaskError::recoverable(reason))
}

#[workflow]
fn sum3(a: u64, b: u64, c: u64) -> u64 {
    add(add(a, b), c)
}

#[workflow]
fn hello() -> String {
    greeting()
}

#[workflow]
fn shout(text: String) -> (String, usize) {
    split(text)
}

#[workflow]
fn fails(reason: String) -> u64 {
    refuse(reason)
}

/// Calls `sum3` inside its body: a sub-workflow, not a run.
#[workflow]
fn nested(x: u64) -> u64 {
    sum3(x, x, 1)
}

#[test]
fn several_inputs_are_its_parameters() {
    assert_eq!(sum3(1, 2, 3).unwrap(), 6);
}

#[test]
fn no_inputs() {
    assert_eq!(hello().unwrap(), "hello");
}

#[test]
fn a_tuple_output_comes_back_whole() {
    let (upper, words) = shout("hi there".to_owned()).unwrap();
    assert_eq!((upper.as_str(), words), ("HI THERE", 2));
}

#[test]
fn inside_a_body_the_call_is_a_sub_workflow() {
    assert_eq!(nested(2).unwrap(), 5);
    let graph = nested.graph().unwrap();
    let nodes: Vec<_> = graph.nodes().iter().map(|n| (n.task_name(), n.workflow())).collect();
    assert_eq!(nodes, [("add", "nested/sum3"), ("add", "nested/sum3")]);
}

#[test]
fn a_failing_workflow_returns_node_failed() {
    let err = fails("no shards".to_owned()).unwrap_err();
    let Error::NodeFailed(failure) = &err else {
        panic!("expected Error::NodeFailed, got {err:?}");
    };
    assert_eq!((failure.workflow.as_str(), failure.task.as_str()), ("fails", "refuse"));
    let causes: Vec<_> = failure
        .attempts
        .iter()
        .map(|a| (a.kind.clone(), a.cause.as_str()))
        .collect();
    assert_eq!(
        causes,
        [
            (FailureKind::Recoverable, "no shards"),
            (FailureKind::Recoverable, "no shards")
        ]
    );
}

/// The call is a function pointer of the workflow's inputs, as a task's is of its own.
#[test]
fn the_workflow_dereferences_to_a_function() {
    let run: fn(u64, u64, u64) -> Result<u64, Error> = *sum3;
    assert_eq!(run(2, 2, 2).unwrap(), 6);
    let run_hello: fn() -> Result<String, Error> = *hello;
    assert_eq!(run_hello().unwrap(), "hello");
}
