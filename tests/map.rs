//! `map(task, list, ..)` in a workflow: one run per element, each with its own retries,
//! checkpoint and cache entry, at most `concurrency` at once, outputs in the list's order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, LazyLock, Mutex};

use flytekit::{task, workflow, Error, LocalRuntime, MapOptions, Status, TaskContext, TaskError, Workflow};

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
