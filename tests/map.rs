//! `map(task, list, ..)` and `map(workflow, list, ..)` in a workflow: one run per element,
//! each with its own retries, checkpoint and cache entry (a workflow's: each of its nodes'), at
//! most `concurrency` at once, outputs in the list's order.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, LazyLock, Mutex};
use std::time::{Duration, Instant};

use flytekit::{
    task, workflow, Error, ExecutionReport, FailureKind, LocalRuntime, MapOptions, NodeReport, Status, TaskContext,
    TaskError, Workflow,
};

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[workflow]
fn squares(xs: Vec<u64>) -> Vec<u64> {
    map(square, xs)
}

#[test]
fn map_runs_the_task_on_every_element_and_keeps_the_order() {
    let out = LocalRuntime::new().run(squares, vec![3, 1, 4, 1, 5, 9, 2, 6]).unwrap();
    assert_eq!(out, [9, 1, 16, 1, 25, 81, 4, 36]);
}

#[test]
fn an_empty_list_maps_to_an_empty_list() {
    assert_eq!(LocalRuntime::new().run(squares, vec![]).unwrap(), Vec::<u64>::new());
}

#[test]
fn a_map_is_one_node_of_the_graph_with_its_options() {
    let graph = squares.graph().unwrap();
    assert_eq!(graph.nodes().len(), 1);
    assert_eq!(graph.nodes()[0].task_name(), "square");
    assert_eq!(
        graph.nodes()[0].map(),
        Some(MapOptions {
            concurrency: None,
            min_success_ratio: 1.0
        })
    );
}

// A literal list, a task of two inputs over a list of pairs, and a map feeding a task.

#[task]
fn power(base: u64, exp: u32) -> u64 {
    base.pow(exp)
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[workflow]
fn powers() -> u64 {
    let ps = map(power, vec![(2u64, 3u32), (3, 2), (10, 0)]);
    total(ps)
}

#[test]
fn a_task_of_several_inputs_maps_over_a_list_of_tuples() {
    assert_eq!(LocalRuntime::new().run(powers, ()).unwrap(), 8 + 9 + 1);
}

// ---------------------------------------------------------------------------------------------
// `concurrency` bounds how many elements run at once: six elements meet two at a time.

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static PAIRS: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));

#[task]
fn in_pairs(x: u64) -> u64 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    // Two must run at once for either to pass.
    PAIRS.wait();
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    x + 1
}

#[workflow]
fn pairs(xs: Vec<u64>) -> Vec<u64> {
    map(in_pairs, xs, concurrency = 2)
}

#[test]
fn concurrency_bounds_the_elements_running_at_once() {
    let rt = LocalRuntime::new().max_parallelism(8);
    assert_eq!(rt.run(pairs, vec![0, 1, 2, 3, 4, 5]).unwrap(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(PEAK.load(Ordering::SeqCst), 2);
    assert_eq!(pairs.graph().unwrap().nodes()[0].map().unwrap().concurrency, Some(2));
}

// ---------------------------------------------------------------------------------------------
// Each element has its own retries and checkpoint.

#[task(retries = 1)]
fn resumable(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    match ctx.checkpoint().load_state::<u64>()? {
        // The second attempt finds what this element's first attempt saved, and nothing else.
        Some(saved) => Ok(saved * 100 + u64::from(ctx.attempt())),
        None => {
            ctx.checkpoint().save_state(&x)?;
            Err(TaskError::recoverable(format!("element {x} fails once")))
        }
    }
}

#[workflow]
fn resumables(xs: Vec<u64>) -> Vec<u64> {
    map(resumable, xs, concurrency = 3)
}

#[test]
fn every_element_retries_from_its_own_checkpoint() {
    let out = LocalRuntime::new().run(resumables, vec![1, 2, 3, 4]).unwrap();
    assert_eq!(out, [102, 202, 302, 402]);
}

// ---------------------------------------------------------------------------------------------
// Failures: all must succeed by default; `min_success_ratio` tolerates some.

#[task]
fn picky(x: u64) -> Result<u64, TaskError> {
    if x.is_multiple_of(5) {
        return Err(TaskError::non_recoverable(format!("{x} is a multiple of five")));
    }
    Ok(x * 2)
}

#[workflow]
fn all_picky(xs: Vec<u64>) -> Vec<u64> {
    map(picky, xs)
}

#[workflow]
fn mostly_picky(xs: Vec<u64>) -> Vec<Option<u64>> {
    map(picky, xs, min_success_ratio = 0.8)
}

#[test]
fn without_a_ratio_one_failed_element_fails_the_map() {
    let err = LocalRuntime::new()
        .max_parallelism(1)
        .run(all_picky, vec![1, 2, 5, 3])
        .unwrap_err();
    let Error::MapFailed(failure) = &err else {
        panic!("expected a map failure: {err:?}")
    };
    assert_eq!((failure.node.as_str(), failure.task.as_str()), ("n0", "picky"));
    assert_eq!(failure.min_success_ratio, 1.0);
    assert_eq!(failure.elements, 4);
    // One at a time, the map stops at the failure: element 3 never starts.
    assert_eq!(failure.succeeded, 2);
    assert_eq!(failure.failures.len(), 1);
    assert_eq!(failure.failures[0].0, 2);
    assert_eq!(failure.failures[0].1.node, "n0-2");
    let message = err.to_string();
    assert!(
        message.contains(
            "map node n0 (task `picky`) failed: 2 of 4 elements succeeded, below its min_success_ratio of 1; \
             element 2 (node n0-2): attempt 1: non-recoverable error: 5 is a multiple of five"
        ),
        "{message}"
    );
}

#[test]
fn within_the_ratio_failed_elements_are_none_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let xs: Vec<u64> = (1..=10).collect(); // 5 and 10 fail: 8 of 10 succeed
    let out = rt.run_with_id("ratio", mostly_picky, xs).unwrap();
    let expected: Vec<Option<u64>> = (1..=10u64).map(|x| (!x.is_multiple_of(5)).then_some(x * 2)).collect();
    assert_eq!(out, expected);

    let report = rt.store().unwrap().execution("ratio").unwrap().unwrap();
    let map = report.nodes.iter().find(|n| n.id == "n0").unwrap();
    assert_eq!(map.status, Status::Succeeded);
    let failed: Vec<&str> = map
        .events
        .iter()
        .filter(|e| e.kind == "map-element-failed")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].starts_with("element 4 failed, within the min_success_ratio of 0.8"));
    assert!(failed[1].contains("10 is a multiple of five"));
    let elements = report.nodes.iter().filter(|n| n.id.starts_with("n0-")).count();
    assert_eq!(elements, 10, "every element is a node of the execution");
}

#[test]
fn below_the_ratio_the_map_fails_with_every_failed_element() {
    let xs = vec![5, 10, 1, 2, 3];
    let err = LocalRuntime::new()
        .max_parallelism(1)
        .run(mostly_picky, xs)
        .unwrap_err();
    let Error::MapFailed(failure) = &err else {
        panic!("expected a map failure: {err:?}")
    };
    // 4 of 5 must succeed: after two failures the ratio is out of reach, so no more start.
    assert_eq!(failure.succeeded, 0);
    let failed: Vec<usize> = failure.failures.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, [0, 1]);
}

// ---------------------------------------------------------------------------------------------
// Durable: a rerun keeps the elements that succeeded, and each element has its cache entry.

static FLAKY_RUNS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[task]
fn flaky(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    FLAKY_RUNS.lock().unwrap().push(x);
    // Element 3 fails in the first execution run only.
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
fn a_failed_map_run_again_reruns_only_its_failed_elements() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(1);
    assert!(matches!(
        rt.run_with_id("flaky-map", flakies, vec![1, 2, 3, 4]),
        Err(Error::MapFailed(_))
    ));
    assert_eq!(*FLAKY_RUNS.lock().unwrap(), [1, 2, 3]);
    FLAKY_RUNS.lock().unwrap().clear();
    assert_eq!(
        rt.run_with_id("flaky-map", flakies, vec![1, 2, 3, 4]).unwrap(),
        [101, 102, 103, 104]
    );
    assert_eq!(
        *FLAKY_RUNS.lock().unwrap(),
        [3, 4],
        "elements 1 and 2 kept their outputs"
    );
}

static CACHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
fn cached_double(x: u64) -> u64 {
    CACHED_RUNS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[workflow]
fn doubles(xs: Vec<u64>) -> Vec<u64> {
    map(cached_double, xs)
}

#[test]
fn each_element_has_its_own_cache_entry() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("first", doubles, vec![1, 2, 3]).unwrap(), [2, 4, 6]);
    assert_eq!(CACHED_RUNS.load(Ordering::SeqCst), 3);
    // 2 and 3 are cached from the first execution; only 4 runs.
    assert_eq!(rt.run_with_id("second", doubles, vec![2, 3, 4]).unwrap(), [4, 6, 8]);
    assert_eq!(CACHED_RUNS.load(Ordering::SeqCst), 4);
    let report = rt.store().unwrap().execution("second").unwrap().unwrap();
    let hits: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| n.cache_hit)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(hits, ["n0-0", "n0-1"]);
}

// =============================================================================================
// Maps over workflows: each element runs the workflow's whole graph, its nodes nodes of the
// execution under the element's id (`n0-1-n0`, `n0-1-n1`, ...).

fn report(rt: &LocalRuntime, id: &str) -> ExecutionReport {
    rt.store().unwrap().execution(id).unwrap().unwrap()
}

fn node<'r>(report: &'r ExecutionReport, id: &str) -> &'r NodeReport {
    report
        .nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id} in {:?}", ids(report)))
}

fn ids(report: &ExecutionReport) -> Vec<&str> {
    let mut ids: Vec<&str> = report.nodes.iter().map(|n| n.id.as_str()).collect();
    ids.sort_unstable();
    ids
}

fn attempt_statuses(node: &NodeReport) -> Vec<Status> {
    node.attempts.iter().map(|a| a.status).collect()
}

#[task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn square_then_inc(x: u64) -> u64 {
    inc(square(x))
}

#[workflow]
fn squares_then_incs(xs: Vec<u64>) -> Vec<u64> {
    map(square_then_inc, xs)
}

#[test]
fn a_map_over_a_workflow_runs_its_graph_on_every_element_in_order() {
    let out = LocalRuntime::new().run(squares_then_incs, vec![3, 1, 4, 1, 5]).unwrap();
    assert_eq!(out, [10, 2, 17, 2, 26]);
    assert_eq!(
        LocalRuntime::new().run(squares_then_incs, vec![]).unwrap(),
        Vec::<u64>::new()
    );
}

#[test]
fn a_map_over_a_workflow_is_one_node_naming_the_workflow() {
    let graph = squares_then_incs.graph().unwrap();
    assert_eq!(graph.nodes().len(), 1);
    let map = &graph.nodes()[0];
    assert_eq!(map.task_name(), "square_then_inc");
    assert_eq!(
        map.map(),
        Some(MapOptions {
            concurrency: None,
            min_success_ratio: 1.0
        })
    );
    assert!(map.info().is_none(), "a workflow has no task options");
    let inner = map.mapped_workflow().expect("the mapped workflow's graph");
    let inner_nodes: Vec<_> = inner
        .nodes()
        .iter()
        .map(|n| (n.id(), n.task_name(), n.workflow()))
        .collect();
    assert_eq!(
        inner_nodes,
        [
            ("n0", "square", "squares_then_incs/square_then_inc"),
            ("n1", "inc", "squares_then_incs/square_then_inc")
        ]
    );
    assert!(squares.graph().unwrap().nodes()[0].mapped_workflow().is_none());
}

#[test]
fn every_element_node_is_a_node_of_the_execution_under_the_element_id() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("ids", squares_then_incs, vec![2, 3]).unwrap(), [5, 10]);
    let done = report(&rt, "ids");
    assert_eq!(
        ids(&done),
        ["n0", "n0-0", "n0-0-n0", "n0-0-n1", "n0-1", "n0-1-n0", "n0-1-n1"]
    );
    let tasks: Vec<(&str, &str)> = ["n0", "n0-0", "n0-0-n0", "n0-0-n1"]
        .iter()
        .map(|id| (*id, node(&done, id).task.as_str()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("n0", "square_then_inc"),
            ("n0-0", "square_then_inc"),
            ("n0-0-n0", "square"),
            ("n0-0-n1", "inc")
        ]
    );
    assert!(
        done.nodes.iter().all(|n| n.status == Status::Succeeded),
        "{:?}",
        done.nodes
    );
    // The task nodes ran one attempt each; the map and its elements run none of their own.
    assert_eq!(attempt_statuses(node(&done, "n0-1-n1")), [Status::Succeeded]);
    assert!(node(&done, "n0-1").attempts.is_empty());
}

// A workflow of several inputs maps over a list of tuples; one of several outputs gives a list
// of tuples.

#[workflow]
fn power_then_inc(base: u64, exp: u32) -> (u64, u64) {
    let p = power(base, exp);
    (p, inc(p))
}

#[workflow]
fn powers_then_incs(bases_and_exps: Vec<(u64, u32)>) -> Vec<(u64, u64)> {
    map(power_then_inc, bases_and_exps)
}

#[test]
fn a_workflow_of_several_inputs_and_outputs_maps_over_a_list_of_tuples() {
    let out = LocalRuntime::new()
        .run(powers_then_incs, vec![(2, 3), (3, 2), (10, 0)])
        .unwrap();
    assert_eq!(out, [(8, 9), (9, 10), (1, 2)]);
}

// `concurrency` bounds the elements running at once: six elements of a two-node workflow meet
// two at a time.

static WF_RUNNING: AtomicUsize = AtomicUsize::new(0);
static WF_PEAK: AtomicUsize = AtomicUsize::new(0);
static WF_PAIRS: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));

#[task]
fn wf_in_pairs(x: u64) -> u64 {
    let now = WF_RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    WF_PEAK.fetch_max(now, Ordering::SeqCst);
    WF_PAIRS.wait();
    WF_RUNNING.fetch_sub(1, Ordering::SeqCst);
    x + 1
}

#[workflow]
fn paired_then_inc(x: u64) -> u64 {
    inc(wf_in_pairs(x))
}

#[workflow]
fn wf_pairs(xs: Vec<u64>) -> Vec<u64> {
    map(paired_then_inc, xs, concurrency = 2)
}

#[test]
fn concurrency_bounds_the_workflow_elements_running_at_once() {
    let rt = LocalRuntime::new().max_parallelism(8);
    assert_eq!(rt.run(wf_pairs, vec![0, 1, 2, 3, 4, 5]).unwrap(), [2, 3, 4, 5, 6, 7]);
    assert_eq!(WF_PEAK.load(Ordering::SeqCst), 2);
    assert_eq!(wf_pairs.graph().unwrap().nodes()[0].map().unwrap().concurrency, Some(2));
}

// Each element's nodes retry from their own checkpoints, kept in their own directories.

#[workflow]
fn resumable_then_inc(x: u64) -> u64 {
    inc(resumable(x))
}

#[workflow]
fn resumables_then_incs(xs: Vec<u64>) -> Vec<u64> {
    map(resumable_then_inc, xs, concurrency = 3)
}

#[test]
fn every_element_node_retries_from_its_own_checkpoint_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let out = rt.run_with_id("own-ckpt", resumables_then_incs, vec![1, 2, 3]).unwrap();
    assert_eq!(out, [103, 203, 303]);
    let done = report(&rt, "own-ckpt");
    for i in 0..3 {
        let id = format!("n0-{i}-n0");
        let step = node(&done, &id);
        assert_eq!(attempt_statuses(step), [Status::Failed, Status::Succeeded], "{id}");
        assert!(step.checkpoint_bytes > 0, "{id}");
        let ckpt = dir.path().join("executions").join("own-ckpt").join(&id);
        assert!(!common::versions(&ckpt).is_empty(), "{}", ckpt.display());
    }
}

// Failures: a node failure inside an element fails that element, named by its full id.

#[workflow]
fn picky_then_inc(x: u64) -> u64 {
    inc(picky(x))
}

#[workflow]
fn all_picky_wf(xs: Vec<u64>) -> Vec<u64> {
    map(picky_then_inc, xs)
}

#[workflow]
fn mostly_picky_wf(xs: Vec<u64>) -> Vec<Option<u64>> {
    map(picky_then_inc, xs, min_success_ratio = 0.8)
}

#[test]
fn without_a_ratio_a_failed_element_node_fails_the_map() {
    let err = LocalRuntime::new()
        .max_parallelism(1)
        .run(all_picky_wf, vec![1, 2, 5, 3])
        .unwrap_err();
    let Error::MapFailed(failure) = &err else {
        panic!("expected a map failure: {err:?}")
    };
    assert_eq!((failure.node.as_str(), failure.task.as_str()), ("n0", "picky_then_inc"));
    assert_eq!((failure.elements, failure.succeeded), (4, 2));
    assert_eq!(failure.failures.len(), 1);
    let (i, inner) = &failure.failures[0];
    assert_eq!(*i, 2);
    assert_eq!(
        (inner.node.as_str(), inner.task.as_str(), inner.workflow.as_str()),
        ("n0-2-n0", "picky", "all_picky_wf/picky_then_inc")
    );
    assert_eq!(inner.attempts[0].kind, FailureKind::NonRecoverable);
    let message = err.to_string();
    assert!(
        message.contains(
            "map node n0 (task `picky_then_inc`) failed: 2 of 4 elements succeeded, below its min_success_ratio \
             of 1; element 2 (node n0-2-n0): attempt 1: non-recoverable error: 5 is a multiple of five"
        ),
        "{message}"
    );
}

#[test]
fn within_the_ratio_failed_workflow_elements_are_none_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let xs: Vec<u64> = (1..=10).collect(); // 5 and 10 fail: 8 of 10 succeed
    let out = rt.run_with_id("wf-ratio", mostly_picky_wf, xs).unwrap();
    let expected: Vec<Option<u64>> = (1..=10u64)
        .map(|x| (!x.is_multiple_of(5)).then_some(x * 2 + 1))
        .collect();
    assert_eq!(out, expected);

    let done = report(&rt, "wf-ratio");
    assert_eq!(node(&done, "n0").status, Status::Succeeded);
    let failed: Vec<&str> = node(&done, "n0")
        .events
        .iter()
        .filter(|e| e.kind == "map-element-failed")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].starts_with("element 4 failed, within the min_success_ratio of 0.8: workflow `mostly_picky_wf/picky_then_inc` failed (execution wf-ratio): node n0-4-n0 (task `picky`)"),
        "{}",
        failed[0]
    );
    assert!(failed[1].contains("node n0-9-n0 (task `picky`)"), "{}", failed[1]);
    // The failed element and its failed node are recorded as such; its second node never ran.
    assert_eq!(node(&done, "n0-4").status, Status::Failed);
    assert_eq!(node(&done, "n0-4-n0").status, Status::Failed);
    assert!(!ids(&done).contains(&"n0-4-n1"));
    assert_eq!(node(&done, "n0-3-n1").status, Status::Succeeded);
}

#[test]
fn below_the_ratio_the_workflow_map_fails_with_every_failed_element() {
    let err = LocalRuntime::new()
        .max_parallelism(1)
        .run(mostly_picky_wf, vec![5, 10, 1, 2, 3])
        .unwrap_err();
    let Error::MapFailed(failure) = &err else {
        panic!("expected a map failure: {err:?}")
    };
    // 4 of 5 must succeed: after two failures the ratio is out of reach, so no more start.
    assert_eq!(failure.succeeded, 0);
    let failed: Vec<(usize, &str)> = failure.failures.iter().map(|(i, f)| (*i, f.node.as_str())).collect();
    assert_eq!(failed, [(0, "n0-0-n0"), (1, "n0-1-n0")]);
}

// A failing node stops the other nodes of its own element, not those of other elements.

static WAITER_STARTED: AtomicBool = AtomicBool::new(false);
static STOP_SEEN: AtomicBool = AtomicBool::new(false);

/// Element 0's copy fails once its sibling runs: a node not yet started when its graph fails
/// would not start at all.
#[task]
fn fails_on_zero(x: u64) -> Result<u64, TaskError> {
    if x != 0 {
        return Ok(x);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !WAITER_STARTED.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(TaskError::non_recoverable("zero"))
}

/// Element 0's copy waits to be stopped by its sibling's failure; element 1's waits for that,
/// then checks that it is not stopping itself.
#[task]
fn waits_for_the_stop(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    if x == 0 {
        WAITER_STARTED.store(true, Ordering::SeqCst);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if x == 0 && ctx.is_stopping() {
            STOP_SEEN.store(true, Ordering::SeqCst);
            return Err(TaskError::recoverable("stopped"));
        }
        if x == 1 && STOP_SEEN.load(Ordering::SeqCst) {
            return match ctx.is_stopping() {
                false => Ok(x * 10),
                true => Err(TaskError::non_recoverable(
                    "element 1 was stopped by element 0's failure",
                )),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(TaskError::non_recoverable(format!("element {x}: no stop seen in 20 s")))
}

#[workflow]
fn fail_and_wait(x: u64) -> (u64, u64) {
    (fails_on_zero(x), waits_for_the_stop(x))
}

#[workflow]
fn fail_and_waits(xs: Vec<u64>) -> Vec<Option<(u64, u64)>> {
    map(fail_and_wait, xs, concurrency = 2, min_success_ratio = 0.5)
}

#[test]
fn a_failed_element_stops_its_own_nodes_and_not_the_other_elements() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(4);
    let out = rt.run_with_id("own-stop", fail_and_waits, vec![0, 1]).unwrap();
    assert_eq!(out, [None, Some((1, 10))]);
    let done = report(&rt, "own-stop");
    let waiter = node(&done, "n0-0-n1");
    assert_eq!(waiter.status, Status::Failed);
    // Stopped by its sibling's failure, the same way a failing execution stops its nodes.
    assert_eq!(
        waiter.attempts[0].cause.as_deref(),
        Some("stopped (another node failed and the execution is stopping)")
    );
    assert_eq!(node(&done, "n0-1-n1").status, Status::Succeeded);
}

// Durable: a failed map run again keeps every element node that succeeded.

static WF_FLAKY_RUNS: Mutex<Vec<(&str, u64)>> = Mutex::new(Vec::new());

#[task]
fn wf_prep(x: u64) -> u64 {
    WF_FLAKY_RUNS.lock().unwrap().push(("prep", x));
    x * 10
}

#[task]
fn wf_flaky(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    WF_FLAKY_RUNS.lock().unwrap().push(("flaky", x));
    // Element 2's fails in the first execution run only.
    if x == 30 && ctx.attempt() == 1 {
        return Err(TaskError::non_recoverable("30 fails the first time"));
    }
    Ok(x + 1)
}

#[workflow]
fn prep_then_flaky(x: u64) -> u64 {
    wf_flaky(wf_prep(x))
}

#[workflow]
fn wf_flakies(xs: Vec<u64>) -> Vec<u64> {
    map(prep_then_flaky, xs)
}

#[test]
fn a_failed_workflow_map_run_again_keeps_every_element_node_that_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(1);
    let err = rt.run_with_id("wf-flaky", wf_flakies, vec![1, 2, 3, 4]).unwrap_err();
    let Error::MapFailed(failure) = &err else {
        panic!("expected a map failure: {err:?}")
    };
    assert_eq!(failure.failures[0].1.node, "n0-2-n1");
    assert_eq!(
        *WF_FLAKY_RUNS.lock().unwrap(),
        [
            ("prep", 1),
            ("flaky", 10),
            ("prep", 2),
            ("flaky", 20),
            ("prep", 3),
            ("flaky", 30)
        ]
    );
    WF_FLAKY_RUNS.lock().unwrap().clear();

    assert_eq!(
        rt.run_with_id("wf-flaky", wf_flakies, vec![1, 2, 3, 4]).unwrap(),
        [11, 21, 31, 41]
    );
    assert_eq!(
        *WF_FLAKY_RUNS.lock().unwrap(),
        [("flaky", 30), ("prep", 4), ("flaky", 40)],
        "elements 0 and 1, and element 2's first node, kept their outputs"
    );
    let done = report(&rt, "wf-flaky");
    assert_eq!(
        attempt_statuses(node(&done, "n0-2-n1")),
        [Status::Failed, Status::Succeeded]
    );
    assert_eq!(attempt_statuses(node(&done, "n0-2-n0")), [Status::Succeeded]);
    assert!(
        done.nodes.iter().all(|n| n.status == Status::Succeeded),
        "{:?}",
        done.nodes
    );
}

// Durable: a process killed in the middle of an element resumes it from its checkpoint.

/// Set only in the child process, to the store it uses.
const CHILD_STORE: &str = "FLYTEKIT_MAP_TEST_CHILD_STORE";
/// How the child's process ends in the middle of `kill_step`.
const DIED: i32 = 86;

fn child_store() -> Option<PathBuf> {
    std::env::var_os(CHILD_STORE).map(PathBuf::from)
}

static KILL_PREP: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static KILL_STEP: Mutex<Vec<(u64, u32, Option<u64>)>> = Mutex::new(Vec::new());

#[task]
fn kill_prep(x: u64) -> u64 {
    KILL_PREP.lock().unwrap().push(x);
    x + 1
}

#[task(retries = 2)]
fn kill_step(ctx: &TaskContext, x: u64) -> Result<u64, TaskError> {
    let saved = ctx.checkpoint().load_state::<u64>()?;
    if child_store().is_some() && x == 3 {
        ctx.checkpoint().save_state(&(x * 100))?;
        // Dies as a SIGKILL would: no unwinding, nothing recorded after the checkpoint.
        std::process::exit(DIED);
    }
    KILL_STEP.lock().unwrap().push((x, ctx.attempt(), saved));
    Ok(saved.unwrap_or(0) + x)
}

#[workflow]
fn kill_element(x: u64) -> u64 {
    kill_step(kill_prep(x))
}

#[workflow]
fn kill_map(xs: Vec<u64>) -> Vec<u64> {
    map(kill_element, xs)
}

fn run_kill_map(store: &Path) -> Result<Vec<u64>, Error> {
    LocalRuntime::with_store(store)
        .unwrap()
        .max_parallelism(1)
        .run_with_id("killed-map", kill_map, vec![1, 2, 3])
}

/// The child process of the tests that kill one: what it does, the environment says.
#[test]
#[ignore = "run by the other tests as a child process"]
fn program() {
    if let Some(store) = child_store() {
        let _ = run_kill_map(&store);
        panic!("the child should have died in `kill_step`");
    }
}

#[test]
fn a_map_whose_process_died_mid_element_resumes_it_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::program_command().env(CHILD_STORE, dir.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(DIED),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let left = report(&rt, "killed-map");
    assert_eq!(left.summary.status, Status::Running);
    assert_eq!(
        ids(&left),
        ["n0", "n0-0", "n0-0-n0", "n0-0-n1", "n0-1", "n0-1-n0", "n0-1-n1"]
    );
    for id in ["n0-0", "n0-0-n0", "n0-0-n1", "n0-1-n0"] {
        assert_eq!(node(&left, id).status, Status::Succeeded, "{id}");
    }
    assert_eq!(node(&left, "n0-1").status, Status::Running);
    assert_eq!(attempt_statuses(node(&left, "n0-1-n1")), [Status::Running]);

    // Element 0 and element 1's first node are kept; element 1's step resumes at 300.
    assert_eq!(run_kill_map(dir.path()).unwrap(), [2, 303, 4]);
    assert_eq!(*KILL_PREP.lock().unwrap(), [3], "only element 2's first node ran");
    assert_eq!(*KILL_STEP.lock().unwrap(), [(3, 2, Some(300)), (4, 1, None)]);
    let done = report(&rt, "killed-map");
    assert_eq!(done.summary.status, Status::Succeeded);
    let step = node(&done, "n0-1-n1");
    assert_eq!(attempt_statuses(step), [Status::Interrupted, Status::Succeeded]);
    assert_eq!(step.system_failures, 1);
    let kinds: Vec<&str> = step.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["interrupted"]);
    assert!(
        done.nodes.iter().all(|n| n.status == Status::Succeeded),
        "{:?}",
        done.nodes
    );
}

// Each element node has its own cache entry.

static WF_CACHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[task(cache = true, cache_version = "1")]
fn wf_cached_double(x: u64) -> u64 {
    WF_CACHED_RUNS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[workflow]
fn cached_double_then_inc(x: u64) -> u64 {
    inc(wf_cached_double(x))
}

#[workflow]
fn wf_doubles(xs: Vec<u64>) -> Vec<u64> {
    map(cached_double_then_inc, xs)
}

#[test]
fn each_element_node_has_its_own_cache_entry() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("first", wf_doubles, vec![1, 2, 3]).unwrap(), [3, 5, 7]);
    assert_eq!(WF_CACHED_RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(rt.run_with_id("second", wf_doubles, vec![2, 3, 4]).unwrap(), [5, 7, 9]);
    assert_eq!(WF_CACHED_RUNS.load(Ordering::SeqCst), 4);
    let second = report(&rt, "second");
    let hits: Vec<&str> = second
        .nodes
        .iter()
        .filter(|n| n.cache_hit)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(hits, ["n0-0-n0", "n0-1-n0"]);
}

// Nested: a mapped workflow with a map inside, a mapped workflow mapping a workflow, and a
// mapped workflow calling a sub-workflow.

#[task]
fn range(n: u64) -> Vec<u64> {
    (0..n).collect()
}

#[workflow]
fn sum_of_squares(n: u64) -> u64 {
    total(map(square, range(n)))
}

#[workflow]
fn sums_of_squares(ns: Vec<u64>) -> Vec<u64> {
    map(sum_of_squares, ns)
}

#[test]
fn a_mapped_workflow_may_map_a_task_and_its_ids_stay_unique() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("nested", sums_of_squares, vec![1, 3]).unwrap(), [0, 5]);
    let done = report(&rt, "nested");
    assert_eq!(
        ids(&done),
        [
            "n0",
            "n0-0",
            "n0-0-n0",
            "n0-0-n1",
            "n0-0-n1-0",
            "n0-0-n2",
            "n0-1",
            "n0-1-n0",
            "n0-1-n1",
            "n0-1-n1-0",
            "n0-1-n1-1",
            "n0-1-n1-2",
            "n0-1-n2"
        ]
    );
    assert_eq!(node(&done, "n0-1-n1-2").task, "square");
    assert!(
        done.nodes.iter().all(|n| n.status == Status::Succeeded),
        "{:?}",
        done.nodes
    );
}

// A map that fails inside an element fails that element, named by the inner element's node.

#[workflow]
fn pickies_total(xs: Vec<u64>) -> u64 {
    total(map(picky, xs))
}

#[workflow]
fn pickies_totals(lists: Vec<Vec<u64>>) -> Vec<Option<u64>> {
    map(pickies_total, lists, min_success_ratio = 0.5)
}

#[test]
fn a_map_failing_inside_an_element_fails_only_that_element() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap().max_parallelism(1);
    let out = rt
        .run_with_id("inner-map", pickies_totals, vec![vec![1, 2], vec![3, 5]])
        .unwrap();
    assert_eq!(out, [Some(6), None]);
    let done = report(&rt, "inner-map");
    let failed: Vec<&str> = node(&done, "n0")
        .events
        .iter()
        .filter(|e| e.kind == "map-element-failed")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].starts_with("element 1 failed, within the min_success_ratio of 0.5: workflow `pickies_totals/pickies_total` failed (execution inner-map): node n0-1-n0-1 (task `picky`)"),
        "{}",
        failed[0]
    );
    let statuses: Vec<(&str, Status)> = ["n0-1", "n0-1-n0", "n0-1-n0-0", "n0-1-n0-1"]
        .iter()
        .map(|id| (*id, node(&done, id).status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("n0-1", Status::Failed),
            ("n0-1-n0", Status::Failed),
            ("n0-1-n0-0", Status::Succeeded),
            ("n0-1-n0-1", Status::Failed)
        ]
    );
    assert!(
        !ids(&done).contains(&"n0-1-n1"),
        "the failed element's `total` never ran"
    );
}

#[workflow]
fn squares_then_incs_of_range(n: u64) -> Vec<u64> {
    map(square_then_inc, range(n))
}

#[workflow]
fn maps_of_maps(ns: Vec<u64>) -> Vec<Vec<u64>> {
    map(squares_then_incs_of_range, ns, concurrency = 2)
}

#[test]
fn a_mapped_workflow_may_map_a_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    let out = rt.run_with_id("maps-of-maps", maps_of_maps, vec![2, 0, 3]).unwrap();
    assert_eq!(out, [vec![1, 2], vec![], vec![1, 2, 5]]);
    let done = report(&rt, "maps-of-maps");
    assert_eq!(node(&done, "n0-2-n1-2-n0").task, "square");
    assert_eq!(node(&done, "n0-2-n1-2-n1").task, "inc");
    assert_eq!(node(&done, "n0-2-n1-2").task, "square_then_inc");
    let all = ids(&done);
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(all, unique);
    assert_eq!(all.len(), 1 + 3 * 3 + (2 + 3) * 3, "{all:?}");
}

#[workflow]
fn inc_wf(x: u64) -> u64 {
    inc(x)
}

#[workflow]
fn inc_then_square(x: u64) -> u64 {
    square(inc_wf(x))
}

#[workflow]
fn incs_then_squares(xs: Vec<u64>) -> Vec<u64> {
    map(inc_then_square, xs)
}

#[test]
fn a_mapped_workflow_may_call_a_sub_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("sub", incs_then_squares, vec![1, 2]).unwrap(), [4, 9]);
    let done = report(&rt, "sub");
    assert_eq!(
        ids(&done),
        ["n0", "n0-0", "n0-0-n0", "n0-0-n1", "n0-1", "n0-1-n0", "n0-1-n1"]
    );
    assert_eq!(node(&done, "n0-1-n0").task, "inc");
    let graph = incs_then_squares.graph().unwrap();
    let inner = graph.nodes()[0].mapped_workflow().unwrap();
    assert_eq!(inner.nodes()[0].workflow(), "incs_then_squares/inc_then_square/inc_wf");
}

// A workflow that maps over itself (here through a sub-workflow) is refused when its graph is
// built, rather than built until the stack overflows.

#[workflow]
fn maps_back(xs: Vec<u64>) -> Vec<u64> {
    map(calls_back, xs)
}

#[workflow]
fn calls_back(n: u64) -> u64 {
    total(maps_back(range(n)))
}

#[test]
fn a_workflow_that_maps_over_itself_is_refused() {
    let err = maps_back.graph().unwrap_err();
    assert!(matches!(err, Error::Value(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot map a value of type `calls_back`: the workflow would contain itself (it maps over itself, directly \
         or through other workflows), and a workflow's graph is built once"
    );
}
