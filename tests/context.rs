//! `&TaskContext` and `current_context()`: attempt numbers, ids, and the error outside a task.

use flytekit::{current_context, task, workflow, Checkpoint, Error, LocalRuntime, TaskContext, TaskError};

/// What a context says about itself.
type Seen = (String, String, String, u32, u32);

fn seen(ctx: &TaskContext) -> Seen {
    (
        ctx.execution_id().to_string(),
        ctx.node_id().to_string(),
        ctx.task_name().to_string(),
        ctx.attempt(),
        ctx.max_attempts(),
    )
}

#[task(retries = 2)]
fn records_attempts(ctx: &TaskContext) -> Result<Vec<Seen>, TaskError> {
    // Each attempt appends what it saw to the checkpoint; the last returns the list.
    let mut log: Vec<Seen> = ctx.checkpoint().load_state()?.unwrap_or_default();
    log.push(seen(ctx));
    ctx.checkpoint().save_state(&log)?;
    if ctx.attempt() < ctx.max_attempts() {
        return Err(TaskError::recoverable("next"));
    }
    Ok(log)
}

#[workflow]
fn records_attempts_wf() -> Vec<Seen> {
    records_attempts()
}

#[test]
fn attempts_are_numbered_from_one_with_stable_ids() {
    let log = LocalRuntime::new().run(records_attempts_wf, ()).unwrap();
    assert_eq!(log.len(), 3);
    let execution = &log[0].0;
    assert!(!execution.is_empty());
    for (i, (exec, node, task, attempt, max)) in log.iter().enumerate() {
        assert_eq!(exec, execution, "the execution id is the same for every attempt");
        assert_eq!(node, "n0");
        assert_eq!(task, "records_attempts");
        assert_eq!(*attempt, i as u32 + 1);
        assert_eq!(*max, 3);
    }
}

#[task]
fn execution_id(ctx: &TaskContext) -> String {
    ctx.execution_id().to_string()
}

#[workflow]
fn execution_id_wf() -> String {
    execution_id()
}

#[test]
fn each_run_has_its_own_execution_id() {
    let runtime = LocalRuntime::new();
    let a = runtime.run(execution_id_wf, ()).unwrap();
    let b = runtime.run(execution_id_wf, ()).unwrap();
    let c = LocalRuntime::new().run_task(execution_id, ()).unwrap();
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_ne!(b, c);
}

#[task]
fn node_ids(ctx: &TaskContext, tag: u32) -> (String, u32) {
    (ctx.node_id().to_string(), tag)
}

#[workflow]
fn three_nodes() -> (String, String, String) {
    let (a, _) = node_ids(1);
    let (b, _) = node_ids(2);
    let (c, _) = node_ids(3);
    (a, b, c)
}

#[test]
fn node_ids_follow_call_order() {
    let out = LocalRuntime::new().run(three_nodes, ()).unwrap();
    assert_eq!(out, ("n0".into(), "n1".into(), "n2".into()));
}

// ---------------------------------------------------------------------------------------------
// current_context()

#[task(retries = 1)]
fn both_ways(ctx: &TaskContext) -> Result<(Seen, Seen), TaskError> {
    let current = current_context()?;
    if ctx.attempt() == 1 {
        return Err(TaskError::recoverable("see attempt 2 too"));
    }
    Ok((seen(ctx), seen(&current)))
}

#[test]
fn current_context_matches_the_injected_one() {
    let (injected, current) = LocalRuntime::new().run_task(both_ways, ()).unwrap();
    assert_eq!(injected, current);
    assert_eq!(injected.1, "n0");
    assert_eq!(injected.2, "both_ways");
    assert_eq!((injected.3, injected.4), (2, 2));
}

#[task]
fn without_parameter() -> Result<(String, u32, u32), TaskError> {
    let ctx = current_context()?;
    Ok((ctx.node_id().to_string(), ctx.attempt(), ctx.max_attempts()))
}

#[workflow]
fn second_node() -> (String, u32, u32) {
    let _ = execution_id();
    without_parameter()
}

#[test]
fn current_context_works_without_a_context_parameter() {
    let out = LocalRuntime::new().run(second_node, ()).unwrap();
    assert_eq!(out, ("n1".to_string(), 1, 1));
}

#[test]
fn current_context_outside_a_task_is_no_context() {
    let err = current_context().unwrap_err();
    assert!(matches!(err, Error::NoContext), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("current_context()"), "{message}");
    assert!(message.contains("called outside a running task"), "{message}");
}

#[task]
fn outside_again() -> u64 {
    7
}

#[test]
fn current_context_is_cleared_after_a_run() {
    assert_eq!(LocalRuntime::new().run_task(outside_again, ()).unwrap(), 7);
    assert!(matches!(current_context(), Err(Error::NoContext)));
}

#[task]
fn from_a_spawned_thread() -> bool {
    std::thread::spawn(|| matches!(current_context(), Err(Error::NoContext)))
        .join()
        .unwrap()
}

#[test]
fn a_thread_spawned_by_a_task_has_no_context() {
    assert!(LocalRuntime::new().run_task(from_a_spawned_thread, ()).unwrap());
}

// A task that runs another execution inside itself gets its own context back afterwards.

#[task]
fn inner_node(ctx: &TaskContext) -> String {
    ctx.execution_id().to_string()
}

#[task]
fn runs_a_nested_execution(ctx: &TaskContext) -> Result<(bool, bool, bool), TaskError> {
    let inner_execution = LocalRuntime::new().run_task(inner_node, ())?;
    let after = current_context()?;
    Ok((
        inner_execution != ctx.execution_id(),
        after.execution_id() == ctx.execution_id(),
        after.task_name() == "runs_a_nested_execution",
    ))
}

#[test]
fn a_nested_run_restores_the_outer_context() {
    let out = LocalRuntime::new().run_task(runs_a_nested_execution, ()).unwrap();
    assert_eq!(out, (true, true, true));
}

// ---------------------------------------------------------------------------------------------
// Detached contexts, for unit tests

#[test]
fn a_detached_context_is_attempt_one_of_one() {
    let cp = Checkpoint::temporary().unwrap();
    let dir = cp.dir().to_path_buf();
    let ctx = TaskContext::detached(cp);
    assert_eq!(ctx.attempt(), 1);
    assert_eq!(ctx.max_attempts(), 1);
    assert_eq!(ctx.node_id(), "n0");
    assert_eq!(ctx.execution_id(), "local");
    assert_eq!(ctx.checkpoint().dir(), dir);
    // A detached context is not the current one: it is only passed by hand.
    assert!(matches!(current_context(), Err(Error::NoContext)));
}

#[test]
fn a_context_task_called_as_a_plain_function() {
    let ctx = TaskContext::detached(Checkpoint::temporary().unwrap());
    assert_eq!(node_ids(&ctx, 9), ("n0".to_string(), 9));
    assert_eq!(execution_id(&ctx), "local");

    // attempt 1 of 1 is the last attempt, so the body returns its log instead of failing.
    let log = records_attempts(&ctx).unwrap();
    assert_eq!(log.len(), 1);
    let (exec, node, _task, attempt, max) = &log[0];
    assert_eq!((exec.as_str(), node.as_str(), *attempt, *max), ("local", "n0", 1, 1));
    // The call committed its log to the checkpoint, where a later attempt would find it.
    let next = Checkpoint::new(ctx.checkpoint().dir()).unwrap();
    assert_eq!(next.load_state::<Vec<Seen>>().unwrap(), Some(log));
}
