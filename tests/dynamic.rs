//! Dynamic workflows: a node whose body runs with its inputs' real values and builds a graph,
//! run as part of the execution under the node's id, in memory and durable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use flytekit::{dynamic, task, workflow, Error, LocalRuntime, Status, TaskError, Workflow};

fn runtimes() -> Vec<(LocalRuntime, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        (LocalRuntime::new(), None),
        (LocalRuntime::with_store(dir.path()).unwrap(), Some(dir)),
    ]
}

#[task]
fn count_words(text: String) -> u64 {
    text.split_whitespace().count() as u64
}

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[task]
fn is_big(x: u64) -> bool {
    x > 10
}

/// As many `square` nodes as `n` says, then a branch on the total.
#[dynamic]
fn squares(n: u64) -> u64 {
    let parts: Vec<_> = (0..n).map(|i| square(i)).collect();
    let sum = total(parts);
    if is_big(sum) {
        square(sum)
    } else {
        sum
    }
}

#[workflow]
fn words_squared(text: String) -> u64 {
    squares(count_words(text))
}

#[test]
fn a_dynamic_body_builds_its_graph_from_run_time_values() {
    // Statically, the dynamic node is one node.
    let graph = words_squared.graph().unwrap();
    assert_eq!(graph.nodes().len(), 2);
    assert_eq!(graph.nodes()[1].task_name(), "squares");
    assert!(graph.to_dot().contains("n1 [label=\"squares\"];"));
    for (rt, store) in runtimes() {
        let id = format!("words-{}", store.is_some());
        // 3 words: 0 + 1 + 4 = 5, not big.
        assert_eq!(rt.run_with_id(&id, words_squared, "a b c".to_string()).unwrap(), 5);
        // 5 words: 0 + 1 + 4 + 9 + 16 = 30, big: squared.
        assert_eq!(rt.run(words_squared, "a b c d e".to_string()).unwrap(), 900);
        if let Some(store) = rt.store() {
            let report = store.execution(&id).unwrap().unwrap();
            let ids: Vec<&str> = report.nodes.iter().map(|n| n.id.as_str()).collect();
            // n1-n0..n1-n2 square, n1-n3 total, n1-n4 is_big, n1-n5 the branch, n1-n6 square (skipped).
            for expected in [
                "n0", "n1", "n1-n0", "n1-n1", "n1-n2", "n1-n3", "n1-n4", "n1-n5", "n1-n6",
            ] {
                assert!(ids.contains(&expected), "no {expected} in {ids:?}");
            }
            // Listed under their dynamic node.
            assert_eq!(&ids[..4], ["n0", "n1", "n1-n0", "n1-n1"]);
            let status = |n: &str| report.nodes.iter().find(|r| r.id == n).map(|r| r.status);
            assert_eq!(status("n1"), Some(Status::Succeeded));
            assert_eq!(status("n1-n6"), Some(Status::Skipped));
        }
    }
}

static FLAKY_BODY: AtomicUsize = AtomicUsize::new(0);

#[dynamic(retries = 2)]
fn flaky_body(n: u64) -> Result<u64, TaskError> {
    if FLAKY_BODY.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(TaskError::recoverable("the shard list was not ready"));
    }
    let parts: Vec<_> = (0..n).map(|i| square(i)).collect();
    Ok(total(parts))
}

#[workflow]
fn retried_body(n: u64) -> u64 {
    flaky_body(n)
}

#[test]
fn a_failing_body_is_retried_like_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("retried", retried_body, 4).unwrap(), 14);
    assert_eq!(FLAKY_BODY.load(Ordering::SeqCst), 2);
    let report = rt.store().unwrap().execution("retried").unwrap().unwrap();
    let node = report.nodes.iter().find(|n| n.id == "n0").unwrap();
    let statuses: Vec<Status> = node.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Status::Failed, Status::Succeeded]);
    assert_eq!(node.attempts[0].cause.as_deref(), Some("the shard list was not ready"));
}

#[task]
fn picky(x: u64) -> Result<u64, TaskError> {
    if x == 2 {
        return Err(TaskError::non_recoverable(format!("{x} is not allowed")));
    }
    Ok(x)
}

#[dynamic(retries = 3)]
fn picky_all(n: u64) -> u64 {
    let parts: Vec<_> = (0..n).map(|i| picky(i)).collect();
    total(parts)
}

#[workflow]
fn picky_wf(n: u64) -> u64 {
    picky_all(n)
}

#[test]
fn a_failing_node_of_the_graph_fails_the_dynamic_node_without_building_again() {
    for (rt, _store) in runtimes() {
        let err = rt.run(picky_wf, 4).unwrap_err();
        let failure = err
            .node_failure()
            .unwrap_or_else(|| panic!("expected NodeFailed, got {err:?}"));
        assert_eq!(failure.node, "n0-n2");
        assert_eq!(failure.workflow, "picky_wf/picky_all");
        assert_eq!(failure.attempts[0].cause, "2 is not allowed");
    }
}

static BUILDS: AtomicUsize = AtomicUsize::new(0);
static SHARD_RUNS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[task]
fn shard(i: u64) -> Result<u64, TaskError> {
    let mut runs = SHARD_RUNS.lock().unwrap();
    runs.push(i);
    // Shard 1 fails the first time it runs: the run fails there.
    if i == 1 && runs.iter().filter(|&&r| r == 1).count() == 1 {
        return Err(TaskError::non_recoverable("shard 1 is not ready yet"));
    }
    Ok(i * 10)
}

/// Builds a different graph every time it runs (as a body reading a clock would): 3 shards the
/// first time, 5 after.
#[dynamic]
fn clocked() -> u64 {
    let n = if BUILDS.fetch_add(1, Ordering::SeqCst) == 0 {
        3
    } else {
        5
    };
    let parts: Vec<_> = (0..n).map(|i| shard(i)).collect();
    total(parts)
}

#[workflow]
fn clocked_wf() -> u64 {
    clocked()
}

#[test]
fn run_again_a_durable_execution_reuses_the_graph_its_body_built() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert!(rt.run_with_id("clocked", clocked_wf, ()).is_err());
    assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
    // Run again: the recorded graph of 3 shards, not a new one of 5; shards 0 and 2 finished
    // and do not run again, shard 1 does.
    assert_eq!(rt.run_with_id("clocked", clocked_wf, ()).unwrap(), 30);
    assert_eq!(BUILDS.load(Ordering::SeqCst), 1, "the body did not run again");
    let runs = SHARD_RUNS.lock().unwrap().clone();
    assert_eq!(runs.iter().filter(|&&r| r == 0).count(), 1, "{runs:?}");
    assert_eq!(runs.iter().filter(|&&r| r == 1).count(), 2, "{runs:?}");
    assert_eq!(runs.iter().filter(|&&r| r == 2).count(), 1, "{runs:?}");
    assert!(!runs.contains(&3), "{runs:?}");
}

#[dynamic]
fn inner_dynamic(n: u64) -> u64 {
    let parts: Vec<_> = (0..n).map(|i| square(i)).collect();
    total(parts)
}

#[dynamic]
fn outer_dynamic(n: u64) -> u64 {
    let sums: Vec<_> = (1..=n).map(|i| inner_dynamic(i)).collect();
    total(sums)
}

#[workflow]
fn nested(n: u64) -> u64 {
    outer_dynamic(n)
}

#[dynamic]
fn forever(n: u64) -> u64 {
    forever(n + 1)
}

#[workflow]
fn endless(n: u64) -> u64 {
    forever(n)
}

#[test]
fn dynamic_nodes_nest_and_a_body_calling_itself_without_end_is_stopped() {
    for (rt, store) in runtimes() {
        let id = format!("nested-{}", store.is_some());
        // inner(1) = 0, inner(2) = 0 + 1, inner(3) = 0 + 1 + 4.
        assert_eq!(rt.run_with_id(&id, nested, 3).unwrap(), 6);
        if let Some(store) = rt.store() {
            let report = store.execution(&id).unwrap().unwrap();
            let ids: Vec<&str> = report.nodes.iter().map(|n| n.id.as_str()).collect();
            // outer n0; inner dynamic nodes n0-n0..n0-n2; inner(3)'s squares n0-n2-n0..n0-n2-n2.
            for expected in ["n0", "n0-n0", "n0-n2", "n0-n2-n0", "n0-n2-n2", "n0-n2-n3"] {
                assert!(ids.contains(&expected), "no {expected} in {ids:?}");
            }
        }
        match rt.run(endless, 0) {
            Err(Error::Graph { message, .. }) => assert!(message.contains("nest more than 16 deep"), "{message}"),
            other => panic!("expected the depth limit, got {other:?}"),
        }
    }
}

#[test]
fn a_picture_of_an_execution_draws_each_dynamic_node_with_the_graph_it_built() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert_eq!(rt.run_with_id("drawn", nested, 2).unwrap(), 1);
    let store = rt.store().unwrap();
    let expand = |node: &str| store.dynamic_graph("drawn", node).unwrap();
    let graph = nested.graph().unwrap();
    // The static picture: the dynamic node is one box.
    assert!(!graph.to_dot().contains("cluster"));
    let dot = graph.to_dot_expanded(&expand);
    assert_eq!(
        dot.matches("-> output0").count(),
        1,
        "only the workflow's result: {dot}"
    );
    for line in [
        "  n0 [label=\"outer_dynamic\"];",
        "  subgraph cluster_n0_graph {",
        "    n0_n0 [label=\"inner_dynamic\"];",
        "    subgraph cluster_n0_n1_graph {",
        "      n0_n1_n0 [label=\"square\"];",
        "  n0_n1_n0 -> n0_n1_n2;",
        "  n0_n2 -> n0 [style=dashed];",
    ] {
        assert!(dot.lines().any(|l| l == line), "no `{line}` in:\n{dot}");
    }
    let mermaid = graph.to_mermaid_expanded(&expand);
    assert!(
        mermaid.contains("subgraph n0_n1_graph[\"n0-n1: the graph `inner_dynamic` built\"]"),
        "{mermaid}"
    );
}
