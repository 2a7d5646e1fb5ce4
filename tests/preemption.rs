//! Preemption notices raised by the program (`Preemption::notify`), in this process: what a
//! notice does to running attempts, to what would start next, and to the store. The same
//! notices raised by real signals, in child processes, are `tests/signals.rs`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use flytekit::{
    dynamic, task, workflow, Error, FailureKind, LocalRuntime, Notice, Preemption, Status, Store, TaskContext,
    TaskError,
};

/// Each execution's handle, so that a task can raise its own execution's notice.
static HANDLES: LazyLock<Mutex<HashMap<String, Preemption>>> = LazyLock::new(Default::default);
/// What the tasks did, by execution: `<task> <what>` lines, in order.
static LOG: LazyLock<Mutex<HashMap<String, Vec<String>>>> = LazyLock::new(Default::default);

fn notify(ctx: &TaskContext) {
    let handles = HANDLES.lock().unwrap();
    handles[ctx.execution_id()].notify();
}

fn log(ctx: &TaskContext, line: String) {
    LOG.lock()
        .unwrap()
        .entry(ctx.execution_id().to_owned())
        .or_default()
        .push(line);
}

fn logged(id: &str) -> Vec<String> {
    LOG.lock().unwrap().get(id).cloned().unwrap_or_default()
}

/// A durable runtime on `dir` whose executions run under a handle of their own, registered for
/// `id`.
fn under_notice(dir: &std::path::Path, id: &str) -> (LocalRuntime, Preemption) {
    let handle = Preemption::new();
    HANDLES.lock().unwrap().insert(id.to_owned(), handle.clone());
    let rt = LocalRuntime::with_store(dir).unwrap().preemption(handle.clone());
    (rt, handle)
}

/// Counts to `n`, handing each count to an asynchronous writer; raises the notice after count
/// `at` (on its first attempt), and checks it before each count. No retries: an interruption
/// that counted against them would leave none for the resume.
#[task]
fn count(ctx: &TaskContext, n: u64, at: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    let writer = cp.async_writer();
    let mut i: u64 = cp.load_state()?.unwrap_or(0);
    log(ctx, format!("count resumed at {i}"));
    while i < n {
        if ctx.preempted() {
            return Err(TaskError::non_recoverable(format!("preempted at step {i}")));
        }
        i += 1;
        log(ctx, format!("count step {i}"));
        writer.save_state(&i)?;
        if i == at && ctx.attempt() == 1 {
            notify(ctx);
        }
    }
    Ok(i)
}

#[workflow]
fn counting(n: u64, at: u64) -> u64 {
    count(n, at)
}

#[test]
fn a_loop_that_checks_the_notice_returns_and_the_next_run_resumes_from_its_last_state() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, handle) = under_notice(dir.path(), "checks");
    let err = rt.run_with_id("checks", counting, (10, 5)).unwrap_err();
    let Error::Preempted(p) = &err else { panic!("{err}") };
    assert_eq!(handle.notice(), Some(Notice::Requested));
    assert_eq!(
        (p.execution.as_str(), p.notice, &p.interrupted[..], p.abandoned),
        ("checks", Notice::Requested, &[("n0".to_owned(), 1)][..], None)
    );
    assert_eq!(
        err.to_string(),
        "execution checks stopped by a notice from the program: interrupted n0 attempt 1; run execution id \
         `checks` again to resume it"
    );

    // The store: the attempt, its node and the execution interrupted, by the notice.
    let report = rt.store().unwrap().execution("checks").unwrap().unwrap();
    assert_eq!(report.summary.status, Status::Interrupted);
    assert!(report.summary.ended.is_some());
    assert_eq!(
        report.events.last().map(|e| (e.kind.as_str(), e.message.as_str())),
        Some(("preempted", &*err.to_string()))
    );
    let node = &report.nodes[0];
    assert_eq!((node.status, node.system_failures), (Status::Interrupted, 1));
    assert_eq!(node.attempts.len(), 1);
    assert_eq!(node.attempts[0].status, Status::Interrupted);
    let cause = "preempted by a notice from the program: the attempt returned at the notice (preempted at step 5)";
    assert_eq!(node.attempts[0].cause.as_deref(), Some(cause));
    let event = node
        .events
        .iter()
        .find(|e| e.kind == "preempted")
        .expect("a preempted event");
    assert_eq!((event.attempt, event.message.as_str()), (Some(1), cause));

    // Run again, without a notice: from count 5, no count twice, and no retry was spent.
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("checks", counting, (10, 5)).unwrap(), 10);
    let log = logged("checks");
    let steps: Vec<&String> = log.iter().filter(|l| l.starts_with("count step")).collect();
    assert_eq!(steps.len(), 10, "{log:?}");
    assert!(log.contains(&"count resumed at 5".to_owned()), "{log:?}");
    let report = rt.store().unwrap().execution("checks").unwrap().unwrap();
    assert_eq!(report.summary.status, Status::Succeeded);
    let statuses: Vec<Status> = report.nodes[0].attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Status::Interrupted, Status::Succeeded]);
}

#[task]
fn first(ctx: &TaskContext, x: u64) -> u64 {
    log(ctx, "first ran".to_owned());
    notify(ctx);
    // It ignores the notice and returns its outputs: it finished, and they are kept.
    x + 1
}

#[task]
fn second(ctx: &TaskContext, x: u64) -> u64 {
    log(ctx, "second ran".to_owned());
    x * 10
}

#[workflow]
fn two_steps(x: u64) -> u64 {
    second(first(x))
}

#[test]
fn outputs_returned_after_the_notice_are_kept_and_nothing_new_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _) = under_notice(dir.path(), "two");
    let err = rt.run_with_id("two", two_steps, 1).unwrap_err();
    let Error::Preempted(p) = &err else { panic!("{err}") };
    assert!(p.interrupted.is_empty());
    assert!(err.to_string().contains(": no attempt was running;"), "{err}");
    let report = rt.store().unwrap().execution("two").unwrap().unwrap();
    let nodes: Vec<(&str, Status)> = report.nodes.iter().map(|n| (n.id.as_str(), n.status)).collect();
    assert_eq!(nodes, [("n0", Status::Succeeded)], "n1 never started");
    assert_eq!(report.summary.status, Status::Interrupted);

    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("two", two_steps, 1).unwrap(), 20);
    assert_eq!(logged("two"), ["first ran", "second ran"]);
}

#[task]
fn element(ctx: &TaskContext, x: u64) -> u64 {
    log(ctx, format!("element {x}"));
    if x == 1 {
        notify(ctx);
    }
    x * x
}

#[workflow]
fn squares(xs: Vec<u64>) -> Vec<u64> {
    map(element, xs, concurrency = 1)
}

#[test]
fn a_map_starts_no_element_after_the_notice_and_is_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _) = under_notice(dir.path(), "map");
    let err = rt.run_with_id("map", squares, (0..6).collect()).unwrap_err();
    assert!(matches!(err, Error::Preempted(_)), "{err}");
    assert_eq!(logged("map"), ["element 0", "element 1"]);
    let report = rt.store().unwrap().execution("map").unwrap().unwrap();
    let map_node = report.nodes.iter().find(|n| n.id == "n0").unwrap();
    assert_eq!(map_node.status, Status::Running, "the map is neither failed nor done");

    // One element at a time, so that they log in order.
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(1);
    assert_eq!(
        rt.run_with_id("map", squares, (0..6).collect()).unwrap(),
        [0, 1, 4, 9, 16, 25]
    );
    let log = logged("map");
    assert_eq!(
        log[2..],
        ["element 2", "element 3", "element 4", "element 5"],
        "{log:?}"
    );
}

#[task]
fn gather(xs: Vec<u64>) -> Vec<u64> {
    xs
}

#[dynamic]
fn fan_out(n: u64) -> Vec<u64> {
    let parts: Vec<_> = (0..n).map(|i| element(i)).collect();
    gather(parts)
}

#[workflow]
fn dynamic_squares(n: u64) -> Vec<u64> {
    fan_out(n)
}

#[test]
fn a_dynamic_node_whose_graph_a_notice_stopped_is_not_failed_and_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _) = under_notice(dir.path(), "dyn");
    let rt = rt.max_parallelism(1);
    let err = rt.run_with_id("dyn", dynamic_squares, 4).unwrap_err();
    assert!(matches!(err, Error::Preempted(_)), "{err}");
    assert_eq!(logged("dyn"), ["element 0", "element 1"]);
    let report = rt.store().unwrap().execution("dyn").unwrap().unwrap();
    assert_eq!(
        report.nodes.iter().find(|n| n.id == "n0").unwrap().status,
        Status::Running
    );

    // One node at a time, so that the elements log in order.
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(1);
    assert_eq!(rt.run_with_id("dyn", dynamic_squares, 4).unwrap(), [0, 1, 4, 9]);
    assert_eq!(logged("dyn")[2..], ["element 2", "element 3"]);
}

/// Raises the notice on its first two attempts and returns at it; succeeds on the third.
#[task]
fn preempted_twice(ctx: &TaskContext) -> Result<u32, TaskError> {
    if ctx.attempt() <= 2 {
        notify(ctx);
        if ctx.preempted() {
            return Err(TaskError::recoverable("preempted"));
        }
    }
    Ok(ctx.attempt())
}

#[workflow]
fn twice() -> u32 {
    preempted_twice()
}

#[test]
fn preemptions_spend_the_system_failure_budget_not_the_retries() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (rt, _) = under_notice(dir.path(), "budget");
        let err = rt.system_retries(1).run_with_id("budget", twice, ()).unwrap_err();
        assert!(matches!(err, Error::Preempted(_)), "{err}");
    }
    // Two interruptions, one allowed: the node fails when it would run again.
    let rt = LocalRuntime::with_store(dir.path()).unwrap().system_retries(1);
    let err = rt.run_with_id("budget", twice, ()).unwrap_err();
    let failure = err.node_failure().unwrap_or_else(|| panic!("{err}"));
    let kinds: Vec<&FailureKind> = failure.attempts.iter().map(|a| &a.kind).collect();
    assert_eq!(kinds, [&FailureKind::Interrupted, &FailureKind::Interrupted]);
    assert!(
        err.to_string()
            .contains("was interrupted 2 times, more than its system-failure budget allows"),
        "{err}"
    );
    // With the budget the default 3, the same history runs to its end, no retry spent.
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (rt, _) = under_notice(dir.path(), "budget-3");
        assert!(rt.run_with_id("budget-3", twice, ()).is_err());
    }
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("budget-3", twice, ()).unwrap(), 3);
}

#[test]
fn a_run_under_a_notice_already_raised_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, handle) = under_notice(dir.path(), "late");
    handle.notify();
    let err = rt.run_with_id("late", two_steps, 1).unwrap_err();
    assert!(err.to_string().contains("no attempt was running"), "{err}");
    assert!(logged("late").is_empty());
    let report = Store::open(dir.path()).unwrap().execution("late").unwrap().unwrap();
    assert!(report.nodes.is_empty());
    assert_eq!(report.summary.status, Status::Interrupted);
}

#[task]
async fn fetch(ctx: &TaskContext, page: u64) -> Result<u64, TaskError> {
    let cp = ctx.checkpoint();
    notify(ctx);
    tokio::task::yield_now().await;
    if ctx.preempted() {
        cp.save_state(&page)?; // an async task's commits succeed under a notice too
        return Err(TaskError::recoverable("preempted"));
    }
    Ok(page)
}

#[workflow]
fn crawl(page: u64) -> u64 {
    fetch(page)
}

#[test]
fn an_async_task_sees_the_notice_and_commits_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, _) = under_notice(dir.path(), "async");
    let err = rt.run_with_id("async", crawl, 7).unwrap_err();
    let Error::Preempted(p) = &err else { panic!("{err}") };
    assert_eq!(p.interrupted, [("n0".to_owned(), 1)]);
    let report = rt.store().unwrap().execution("async").unwrap().unwrap();
    assert!(
        report.nodes[0].checkpoint_bytes > 0,
        "the commit under the notice is on disk"
    );
}

#[test]
fn a_runtime_without_a_store_says_there_is_nothing_to_resume_from() {
    let handle = Preemption::new();
    handle.notify();
    let err = LocalRuntime::new().preemption(handle).run(two_steps, 1).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "no attempt was running; it kept nothing to resume from (a runtime without a store or a directory \
             starts over)"
        ),
        "{err}"
    );
    let err = LocalRuntime::with_store(tempfile::tempdir().unwrap().path())
        .unwrap()
        .preemption({
            let h = Preemption::new();
            h.notify();
            h
        })
        .resume_command(|id| format!("prog resume {id}"))
        .run_with_id("x", two_steps, 1)
        .unwrap_err();
    assert!(err.to_string().ends_with("; resume it with `prog resume x`"), "{err}");
}
