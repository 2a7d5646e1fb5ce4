//! A task stays callable as a plain function, which is how users unit-test it.

use flytekit::{task, Checkpoint, CheckpointError, ResultExt, Task, TaskContext, TaskError};

#[task(retries = 2)]
fn double(x: u64) -> u64 {
    x * 2
}

#[test]
fn a_task_is_callable_as_a_function() {
    assert_eq!(double(2), 4);
    assert_eq!(double(0), 0);
    // And is still a task with its options.
    assert_eq!(double.info().name(), "double");
    assert_eq!(double.info().retries(), 2);
    assert_eq!(double.info().max_attempts(), 3);
    assert_eq!(double.info().inputs(), ["x"]);
    assert_eq!(double.info().module(), module_path!());
}

#[task]
fn several(a: u8, b: String) -> (String, u8) {
    (b, a)
}

#[task]
fn none() -> String {
    "none".to_string()
}

#[test]
fn tasks_with_several_or_no_inputs_are_callable() {
    assert_eq!(several(1, "b".into()), ("b".to_string(), 1));
    assert_eq!(none(), "none");
    assert_eq!(several.info().inputs(), ["a", "b"]);
    assert!(none.info().inputs().is_empty());
}

#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
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

#[test]
fn a_checkpoint_task_is_callable_with_a_temporary_checkpoint() -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(use_checkpoint(&Checkpoint::temporary()?, 3)?, 3);
    // The context parameter is not part of the interface.
    assert_eq!(use_checkpoint.info().inputs(), ["n_iterations"]);
    Ok(())
}

#[test]
fn retries_can_be_simulated_by_hand_with_checkpoints_in_one_dir() {
    let dir = tempfile::tempdir().unwrap();
    let first = Checkpoint::new(dir.path()).unwrap();
    let err = use_checkpoint(&first, 9).unwrap_err();
    assert!(err.is_recoverable());
    assert_eq!(err.to_string(), "failed at iteration 3");

    let second = Checkpoint::new(dir.path()).unwrap();
    assert_eq!(second.read().unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(
        use_checkpoint(&second, 9).unwrap_err().to_string(),
        "failed at iteration 6"
    );

    let third = Checkpoint::new(dir.path()).unwrap();
    assert_eq!(use_checkpoint(&third, 9).unwrap(), 9);
}

#[task(retries = 1)]
fn context_summary(ctx: &TaskContext, suffix: String) -> Result<String, TaskError> {
    let resumed = ctx.checkpoint().load_state::<String>()?;
    ctx.checkpoint().save_state(&suffix)?;
    Ok(format!(
        "{}/{} attempt {} of {} resumed {:?}",
        ctx.execution_id(),
        ctx.node_id(),
        ctx.attempt(),
        ctx.max_attempts(),
        resumed
    ))
}

#[test]
fn a_context_task_is_callable_with_a_detached_context() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = TaskContext::detached(Checkpoint::temporary()?);
    let out = context_summary(&ctx, "x".to_string()).map_err(|e| e.to_string())?;
    assert_eq!(out, "local/n0 attempt 1 of 1 resumed None");

    // A second detached context on the same directory starts from what the first committed.
    let next = TaskContext::detached(Checkpoint::new(ctx.checkpoint().dir())?);
    let out = context_summary(&next, "y".to_string()).map_err(|e| e.to_string())?;
    assert_eq!(out, "local/n0 attempt 1 of 1 resumed Some(\"x\")");
    Ok(())
}

#[task]
fn fallible(text: String) -> Result<u32, TaskError> {
    if text.is_empty() {
        return Err(TaskError::non_recoverable("empty"));
    }
    Ok(text.parse::<u32>()?)
}

#[task]
fn strict(text: String) -> Result<u32, TaskError> {
    text.parse::<u32>().non_recoverable()
}

/// A task whose error type is the user's own, not `TaskError`.
#[task]
fn own_error(text: String) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

#[test]
fn fallible_tasks_return_their_errors_when_called_directly() {
    assert_eq!(fallible("12".into()).unwrap(), 12);
    let empty = fallible(String::new()).unwrap_err();
    assert!(!empty.is_recoverable());
    assert_eq!(empty.to_string(), "empty");
    let bad = fallible("x".into()).unwrap_err();
    assert!(bad.is_recoverable());
    assert_eq!(bad.to_string(), "invalid digit found in string");
    assert!(bad.cause().downcast_ref::<std::num::ParseIntError>().is_some());

    let bad = strict("x".into()).unwrap_err();
    assert!(!bad.is_recoverable());
    assert!(bad.cause().downcast_ref::<std::num::ParseIntError>().is_some());

    // The user's own error type is kept when called directly...
    let own: std::num::ParseIntError = own_error("x".into()).unwrap_err();
    assert_eq!(own.to_string(), "invalid digit found in string");
}

#[test]
fn a_user_error_type_is_a_recoverable_failure_in_the_runtime() {
    // ...and becomes a recoverable TaskError through the runtime.
    let err = flytekit::LocalRuntime::new()
        .run_task(own_error, "x".to_string())
        .unwrap_err();
    let failure = err.node_failure().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(failure.attempts[0].kind, flytekit::FailureKind::Recoverable);
    assert_eq!(failure.attempts[0].cause, "invalid digit found in string");
}

#[test]
fn checkpoint_errors_convert_into_task_errors() {
    let cp = Checkpoint::temporary().unwrap();
    let err: TaskError = cp.save("/definitely/not/here").unwrap_err().into();
    assert!(err.is_recoverable());
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
    assert!(err.cause().downcast_ref::<CheckpointError>().is_some());
}
