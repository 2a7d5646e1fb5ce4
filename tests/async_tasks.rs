//! `#[task] async fn`: every option a synchronous task has, run on flytekit's executor; a
//! timed-out attempt cancelled by dropping its future; sync and async tasks in one workflow;
//! maps of async elements, in memory and durable, run as futures rather than threads; and a
//! direct `.await` in a unit test.
//!
//! No assertion depends on timing. Where a test shows that futures run at once (a map whose
//! elements all wait for each other), a wait that never ends would be the failure; each such
//! wait gives up after a bound far beyond what it needs, and the test then fails saying so.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flytekit::{
    current_context, task, workflow, Checkpoint, Error, FailureKind, LocalRuntime, Status, Task, TaskContext, TaskError,
};

/// Far beyond what any wait below needs: reaching it means the futures did not run at once.
const GIVE_UP: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Retries: each attempt resumes from the checkpoint the one before committed.

#[task(retries = 3)]
async fn count_to(cp: &Checkpoint, n: u64) -> Result<u64, TaskError> {
    let start: u64 = cp.load_state()?.unwrap_or(0);
    for i in start..n {
        tokio::time::sleep(Duration::from_millis(1)).await;
        // Each attempt makes two steps, then is preempted.
        if i >= start + 2 {
            return Err(TaskError::recoverable(format!("preempted at {i}")));
        }
        cp.save_state(&(i + 1))?;
    }
    Ok(n)
}

#[workflow]
fn counting(n: u64) -> u64 {
    count_to(n)
}

#[test]
fn a_failed_async_attempt_is_retried_and_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("count", counting, 5).unwrap(), 5);

    let report = rt.store().unwrap().execution("count").unwrap().unwrap();
    let attempts = &report.nodes[0].attempts;
    let statuses: Vec<Status> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [Status::Failed, Status::Failed, Status::Succeeded],
        "two steps per attempt: 0-1, 2-3, 4"
    );
    let causes: Vec<Option<&str>> = attempts.iter().map(|a| a.cause.as_deref()).collect();
    assert_eq!(causes, [Some("preempted at 2"), Some("preempted at 4"), None]);
}

// ---------------------------------------------------------------------------------------------
// A timeout drops the attempt's future: it is cancelled where it waits, counted as timed out,
// and retried.

/// Set when the first attempt's future is dropped, with the attempt its context names then.
static DROPPED_IN: Mutex<Option<Option<u32>>> = Mutex::new(None);

/// Records that the future holding it was dropped, and in which attempt's context.
struct DropGuard;

impl Drop for DropGuard {
    fn drop(&mut self) {
        let attempt = current_context().ok().map(|ctx| ctx.attempt());
        *DROPPED_IN.lock().unwrap() = Some(attempt);
    }
}

#[task(retries = 1, timeout = "50ms")]
async fn waits_forever(ctx: &TaskContext) -> Result<(u32, Option<Option<u32>>), TaskError> {
    if ctx.attempt() == 1 {
        let _guard = DropGuard;
        // Never wakes: only dropping the future ends this attempt.
        std::future::pending::<()>().await;
    }
    // The first attempt's future was dropped before this one started.
    Ok((ctx.attempt(), *DROPPED_IN.lock().unwrap()))
}

#[test]
fn a_timed_out_async_attempt_is_cancelled_by_dropping_its_future_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let (attempt, dropped) = rt.run_task(waits_forever, ()).unwrap();
    assert_eq!(attempt, 2);
    assert_eq!(dropped, Some(Some(1)), "dropped, in the first attempt's context");

    let id = &rt.store().unwrap().executions().unwrap()[0].id;
    let report = rt.store().unwrap().execution(id).unwrap().unwrap();
    let attempts = &report.nodes[0].attempts;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status, Status::Failed);
    assert_eq!(
        attempts[0].cause.as_deref(),
        Some("task `waits_forever` timed out: the attempt ran longer than 50ms")
    );
    assert_eq!(attempts[1].status, Status::Succeeded);
}

#[task(timeout = "20ms")]
async fn always_hangs() -> u64 {
    std::future::pending().await
}

#[test]
fn a_timed_out_async_attempt_is_of_kind_timed_out() {
    let err = LocalRuntime::new().run_task(always_hangs, ()).unwrap_err();
    let failure = err.node_failure().expect("a node failure");
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::TimedOut);
    assert_eq!(
        failure.attempts[0].cause,
        "task `always_hangs` timed out: the attempt ran longer than 20ms"
    );
}

// ---------------------------------------------------------------------------------------------
// Cache

static CACHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
async fn cached_lookup(key: String) -> String {
    CACHED_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1)).await;
    format!("value of {key}")
}

#[test]
fn an_async_tasks_outputs_are_cached_across_executions() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_task(cached_lookup, "k".to_string()).unwrap(), "value of k");
    assert_eq!(rt.run_task(cached_lookup, "k".to_string()).unwrap(), "value of k");
    assert_eq!(CACHED_RUNS.load(Ordering::SeqCst), 1, "the second run was a cache hit");
    let hits = rt
        .store()
        .unwrap()
        .executions()
        .unwrap()
        .iter()
        .filter(|e| rt.store().unwrap().execution(&e.id).unwrap().unwrap().nodes[0].cache_hit)
        .count();
    assert_eq!(hits, 1);
}

// ---------------------------------------------------------------------------------------------
// The context: injected, valid across `.await`s, and the current one on whichever thread polls.

#[task(retries = 1)]
async fn knows_itself(ctx: &TaskContext, hops: u32) -> Result<(String, String, u32, u32, bool), TaskError> {
    let mut same = true;
    for _ in 0..hops {
        // May resume on another of the executor's threads.
        tokio::task::yield_now().await;
        let current = current_context()?;
        same &= current.node_id() == ctx.node_id() && current.attempt() == ctx.attempt();
    }
    if ctx.attempt() == 1 {
        return Err(TaskError::recoverable("once more"));
    }
    Ok((
        ctx.execution_id().to_owned(),
        ctx.node_id().to_owned(),
        ctx.attempt(),
        ctx.max_attempts(),
        same,
    ))
}

#[test]
fn the_context_is_injected_and_current_across_awaits() {
    let rt = LocalRuntime::new();
    let (execution, node, attempt, max, same) = rt.run_task(knows_itself, 20).unwrap();
    assert!(execution.starts_with('x'), "{execution}");
    assert_eq!((node.as_str(), attempt, max, same), ("n0", 2, 2, true));
    assert!(matches!(current_context(), Err(Error::NoContext)), "not left behind");
}

// ---------------------------------------------------------------------------------------------
// Panics are caught per poll, reported with the task's name, and not retried.

#[task(retries = 2)]
async fn panics_after_a_wait(x: u64) -> u64 {
    tokio::task::yield_now().await;
    if x > 0 {
        panic!("no {x} here");
    }
    x
}

#[test]
fn a_panic_in_an_async_task_is_caught_and_not_retried() {
    let err = LocalRuntime::new().run_task(panics_after_a_wait, 7).unwrap_err();
    let failure = err.node_failure().expect("a node failure");
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::Panic);
    assert!(
        failure.attempts[0]
            .cause
            .starts_with("task `panics_after_a_wait` panicked: no 7 here (at tests/async_tasks.rs:"),
        "{}",
        failure.attempts[0].cause
    );
}

// ---------------------------------------------------------------------------------------------
// Sync and async tasks in one workflow, in a chain and side by side.

#[task]
fn parse(text: String) -> Result<u64, std::num::ParseIntError> {
    text.trim().parse()
}

#[task]
async fn slow_double(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    x * 2
}

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[task]
async fn describe(x: u64) -> String {
    tokio::task::yield_now().await;
    format!("#{x}")
}

#[workflow]
fn mixed(text: String) -> (u64, String) {
    let x = parse(text);
    let doubled = slow_double(x);
    let sum = add(doubled, slow_double(doubled));
    (sum, describe(add(sum, x)))
}

#[test]
fn sync_and_async_tasks_mix_in_one_workflow() {
    for parallelism in [1, 4] {
        let rt = LocalRuntime::new().max_parallelism(parallelism);
        assert_eq!(rt.run(mixed, " 5 ".to_string()).unwrap(), (30, "#35".to_string()));
    }
}

// ---------------------------------------------------------------------------------------------
// Maps of async elements: futures, not a thread each.

/// Elements that have started, and the threads that have polled any of them, with their names.
static ARRIVED: AtomicUsize = AtomicUsize::new(0);
static POLLED_ON: Mutex<Option<HashSet<Polled>>> = Mutex::new(None);

/// A thread, and its name.
type Polled = (std::thread::ThreadId, Option<String>);

fn polled_here() {
    let thread = std::thread::current();
    POLLED_ON
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert((thread.id(), thread.name().map(str::to_owned)));
}

/// Waits until all `n` elements of the map have started: only possible if they all run at
/// once.
#[task]
async fn meet(n: usize) -> Result<usize, TaskError> {
    polled_here();
    ARRIVED.fetch_add(1, Ordering::SeqCst);
    let since = Instant::now();
    while ARRIVED.load(Ordering::SeqCst) < n {
        if since.elapsed() > GIVE_UP {
            return Err(TaskError::non_recoverable("the other elements never started"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        polled_here();
    }
    Ok(n)
}

#[workflow]
fn meeting(ns: Vec<usize>) -> Vec<usize> {
    map(meet, ns, concurrency = 300)
}

#[test]
fn a_map_runs_its_async_elements_at_once_on_the_executors_few_threads() {
    let n = 300;
    let out = LocalRuntime::new().max_parallelism(2).run(meeting, vec![n; n]).unwrap();
    assert_eq!(out, vec![n; n]);
    // 300 elements ran at once, polled on the executor's threads only: its few workers (and
    // a thread that took a worker's place while another test's task committed a checkpoint).
    let polled = POLLED_ON.lock().unwrap().take().unwrap_or_default();
    assert!(
        polled.iter().all(|(_, name)| name.as_deref() == Some("flytekit-async")),
        "{polled:?}"
    );
    assert!(
        (1..n / 10).contains(&polled.len()),
        "{} threads polled the elements",
        polled.len()
    );
}

/// Elements running now, and the most that ever ran at once.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[task]
async fn counted(x: u64) -> u64 {
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1)).await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    x + 1
}

#[workflow]
fn bounded(xs: Vec<u64>) -> Vec<u64> {
    map(counted, xs, concurrency = 5)
}

#[test]
fn concurrency_bounds_the_async_elements_running_at_once() {
    let xs: Vec<u64> = (0..100).collect();
    let out = LocalRuntime::new().run(bounded, xs).unwrap();
    assert_eq!(out, (1..=100).collect::<Vec<u64>>());
    let peak = PEAK.load(Ordering::SeqCst);
    assert!((1..=5).contains(&peak), "{peak} elements ran at once");
}

/// Element 3 fails its first attempt after saving its state; its retry resumes from it.
#[task(retries = 1)]
async fn resumable(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    tokio::task::yield_now().await;
    match ctx.checkpoint().load_state::<u64>()? {
        Some(saved) => Ok(saved * 100 + u64::from(ctx.attempt())),
        None if x == 3 => {
            ctx.checkpoint().save_state(&x)?;
            Err(TaskError::recoverable(format!("element {x} fails once")))
        }
        None => Ok(x),
    }
}

#[workflow]
fn resumables(xs: Vec<u64>) -> Vec<u64> {
    map(resumable, xs)
}

#[test]
fn a_failed_async_element_is_retried_from_its_own_checkpoint_in_memory() {
    let out = LocalRuntime::new().run(resumables, vec![1, 2, 3, 4]).unwrap();
    assert_eq!(out, [1, 2, 302, 4]);
}

#[test]
fn a_durable_map_of_async_elements_records_each_elements_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(
        rt.run_with_id("durable-map", resumables, vec![1, 2, 3, 4]).unwrap(),
        [1, 2, 302, 4]
    );

    let report = rt.store().unwrap().execution("durable-map").unwrap().unwrap();
    let mut elements: Vec<(&str, Vec<Status>)> = report
        .nodes
        .iter()
        .filter(|n| n.id.starts_with("n0-"))
        .map(|n| (n.id.as_str(), n.attempts.iter().map(|a| a.status).collect()))
        .collect();
    elements.sort_by_key(|(id, _)| *id);
    assert_eq!(
        elements,
        [
            ("n0-0", vec![Status::Succeeded]),
            ("n0-1", vec![Status::Succeeded]),
            ("n0-2", vec![Status::Failed, Status::Succeeded]),
            ("n0-3", vec![Status::Succeeded]),
        ]
    );
    let retried = report.nodes.iter().find(|n| n.id == "n0-2").unwrap();
    assert_eq!(retried.attempts[0].cause.as_deref(), Some("element 3 fails once"));
    assert!(retried.checkpoint_bytes > 0, "its checkpoint is kept in the store");
    assert_eq!(
        report.nodes.iter().find(|n| n.id == "n0").unwrap().status,
        Status::Succeeded
    );
    // Run again, the execution returns its stored outputs.
    assert_eq!(
        rt.run_with_id("durable-map", resumables, vec![1, 2, 3, 4]).unwrap(),
        [1, 2, 302, 4]
    );
}

static FLAKY_RUNS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[task(cache = true, cache_version = "1")]
async fn flaky(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    FLAKY_RUNS.lock().unwrap().push(x);
    tokio::task::yield_now().await;
    // Element 3 fails in the first run of the execution only.
    if x == 3 && ctx.attempt() == 1 {
        return Err(TaskError::non_recoverable("3 fails the first time"));
    }
    Ok(x + 100)
}

#[workflow]
fn flakies(xs: Vec<u64>) -> Vec<u64> {
    map(flaky, xs)
}

#[test]
fn a_failed_async_map_run_again_reruns_only_its_failed_elements_and_caches_each() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let err = rt.run_with_id("flaky-map", flakies, vec![1, 2, 3, 4]).unwrap_err();
    let Error::MapFailed(failure) = &err else {
        panic!("expected a map failure: {err:?}")
    };
    assert_eq!((failure.elements, failure.succeeded), (4, 3));
    assert_eq!(failure.failures[0].1.node, "n0-2");
    let mut first: Vec<u64> = FLAKY_RUNS.lock().unwrap().drain(..).collect();
    first.sort();
    assert_eq!(first, [1, 2, 3, 4]);

    assert_eq!(
        rt.run_with_id("flaky-map", flakies, vec![1, 2, 3, 4]).unwrap(),
        [101, 102, 103, 104]
    );
    assert_eq!(*FLAKY_RUNS.lock().unwrap(), [3], "the others kept their outputs");

    // Another execution finds every element in the cache.
    FLAKY_RUNS.lock().unwrap().clear();
    assert_eq!(rt.run_with_id("cached-map", flakies, vec![4, 1]).unwrap(), [104, 101]);
    assert!(FLAKY_RUNS.lock().unwrap().is_empty());
}

/// Element 0 hangs on its first attempt; the timeout cancels it and its retry succeeds, while
/// the other elements are not held up.
static HUNG_DROPPED: AtomicBool = AtomicBool::new(false);

struct HungGuard;

impl Drop for HungGuard {
    fn drop(&mut self) {
        HUNG_DROPPED.store(true, Ordering::SeqCst);
    }
}

#[task(retries = 1, timeout = "100ms")]
async fn hangs_once(ctx: &TaskContext, x: u64) -> (u64, u32) {
    if x == 0 && ctx.attempt() == 1 {
        let _guard = HungGuard;
        std::future::pending::<()>().await;
    }
    (x, ctx.attempt())
}

#[workflow]
fn mostly_quick(xs: Vec<u64>) -> Vec<(u64, u32)> {
    map(hangs_once, xs)
}

#[test]
fn a_timed_out_async_element_is_cancelled_and_retried_alone() {
    let out = LocalRuntime::new().run(mostly_quick, vec![0, 1, 2]).unwrap();
    assert_eq!(out, [(0, 2), (1, 1), (2, 1)]);
    assert!(HUNG_DROPPED.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// An async task that runs a workflow: the executor's worker it blocks hands its other tasks
// over, so a map of them, more than the executor has threads, does not wait on itself.

#[task]
async fn inner_step(x: u64) -> u64 {
    tokio::task::yield_now().await;
    x + 1
}

#[workflow]
fn inner(x: u64) -> u64 {
    inner_step(x)
}

static OUTER_ARRIVED: AtomicU32 = AtomicU32::new(0);

#[task]
async fn outer(x: u64) -> Result<u64, TaskError> {
    OUTER_ARRIVED.fetch_add(1, Ordering::SeqCst);
    let since = Instant::now();
    // All eight are running (and so blocking their threads below) before any runs its workflow.
    while OUTER_ARRIVED.load(Ordering::SeqCst) < 8 {
        if since.elapsed() > GIVE_UP {
            return Err(TaskError::non_recoverable("the other elements never started"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(inner(x)? * 10)
}

#[workflow]
fn nested(xs: Vec<u64>) -> Vec<u64> {
    map(outer, xs)
}

#[test]
fn async_tasks_that_run_workflows_do_not_starve_the_executor() {
    let out = LocalRuntime::new().run(nested, (0..8).collect()).unwrap();
    assert_eq!(out, [10, 20, 30, 40, 50, 60, 70, 80]);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint commits on the executor's threads, many at once, durable.

#[task]
async fn commits(cp: &Checkpoint, x: u64) -> Result<u64, TaskError> {
    for step in 0..3u64 {
        tokio::task::yield_now().await;
        cp.save_state(&(x, step))?;
    }
    let writer = cp.async_writer();
    writer.save_state(&(x, 3u64))?;
    Ok(x)
}

#[workflow]
fn committing(xs: Vec<u64>) -> Vec<u64> {
    map(commits, xs)
}

#[test]
fn async_elements_commit_checkpoints_durably() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let xs: Vec<u64> = (0..32).collect();
    assert_eq!(rt.run_with_id("commits", committing, xs.clone()).unwrap(), xs);
    // The asynchronous writer was flushed before each element succeeded: its state is there.
    for x in [0, 17, 31] {
        let cp = Checkpoint::new(rt.store().unwrap().dir().join(format!("executions/commits/n0-{x}"))).unwrap();
        assert_eq!(cp.load_state::<(u64, u64)>().unwrap(), Some((x, 3)));
    }
}

// ---------------------------------------------------------------------------------------------
// Called directly, as in a unit test.

#[task]
async fn attempt_of(ctx: &TaskContext) -> (u32, String) {
    tokio::task::yield_now().await;
    (ctx.attempt(), ctx.node_id().to_owned())
}

#[tokio::test]
async fn an_async_task_is_awaited_directly_in_a_unit_test() {
    let cp = Checkpoint::temporary().unwrap();
    let err = count_to(&cp, 5).await.unwrap_err();
    assert_eq!(err.to_string(), "preempted at 2");
    assert!(err.is_recoverable());
    // The checkpoint is the test's: a second call resumes from what the first committed.
    let resumed = Checkpoint::new(cp.dir()).unwrap();
    assert_eq!(resumed.load_state::<u64>().unwrap(), Some(2));
    assert_eq!(slow_double(4).await, 8);

    let ctx = TaskContext::detached(Checkpoint::temporary().unwrap());
    assert_eq!(attempt_of(&ctx).await, (1, "n0".to_owned()));
}

#[test]
fn an_async_tasks_spec_says_so() {
    assert!(slow_double.info().is_async());
    assert!(!parse.info().is_async());
    let spec = waits_forever.info();
    assert_eq!((spec.retries(), spec.timeout()), (1, Some(Duration::from_millis(50))));
}
