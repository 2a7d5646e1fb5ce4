//! What a workflow body may contain beyond task calls: loops and iterator chains over values
//! known while the graph is built, lists and maps of placeholders, the parts of a tuple, list or
//! map output, ordering without data, and branches on run-time values. Each construct runs in
//! memory and in a durable store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use flytekit::{task, workflow, Error, LocalRuntime, Status, Workflow};

/// Both runtimes, each on a fresh store.
fn runtimes() -> Vec<(LocalRuntime, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        (LocalRuntime::new(), None),
        (LocalRuntime::with_store(dir.path()).unwrap(), Some(dir)),
    ]
}

#[task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

// ---------------------------------------------------------------------------------------------
// Loops

#[workflow]
fn chain(a: u64) -> u64 {
    let mut x = inc(a);
    for _ in 0..99 {
        x = inc(x);
    }
    x
}

#[workflow]
fn fan_out(n: u64) -> u64 {
    let _ = n;
    let squares: Vec<_> = (0..10).map(|i| square(i)).collect();
    total(squares)
}

const WIDTH: u64 = 4;

#[workflow]
fn while_and_push(a: u64) -> u64 {
    let mut outs = Vec::new();
    let mut i = 0;
    while i < WIDTH {
        outs.push(square(i));
        i += 1;
    }
    outs.push(a);
    total(outs)
}

#[test]
fn a_loop_builds_a_chain_and_an_iterator_chain_a_fan_out() {
    let graph = chain.graph().unwrap();
    assert_eq!(graph.nodes().len(), 100);
    assert!(graph.nodes().iter().all(|n| n.task_name() == "inc"));
    assert_eq!(graph.edges().len(), 99, "a chain: each node after the one before");
    assert_eq!(fan_out.graph().unwrap().nodes().len(), 11);
    for (rt, _store) in runtimes() {
        assert_eq!(rt.run(chain, 5).unwrap(), 105);
        assert_eq!(rt.run(fan_out, 0).unwrap(), (0..10).map(|i| i * i).sum::<u64>());
        assert_eq!(rt.run(while_and_push, 100).unwrap(), 1 + 4 + 9 + 100);
    }
}

#[workflow]
fn ten_thousand(a: u64) -> u64 {
    let mut x = inc(a);
    for _ in 1..10_000 {
        x = inc(x);
    }
    x
}

#[test]
fn ten_thousand_nodes_built_in_a_loop_run() {
    assert_eq!(ten_thousand.graph().unwrap().nodes().len(), 10_000);
    assert_eq!(LocalRuntime::new().run(ten_thousand, 0).unwrap(), 10_000);
}

// ---------------------------------------------------------------------------------------------
// Lists and maps of placeholders

#[task]
fn count_names(names: Vec<String>) -> String {
    names.join("+")
}

#[task]
fn weigh(weights: HashMap<String, u64>) -> u64 {
    weights.iter().map(|(k, v)| k.len() as u64 * v).sum()
}

#[task]
fn ordered(weights: BTreeMap<String, u64>) -> String {
    weights
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[task]
fn nested(lists: Vec<Vec<u64>>) -> u64 {
    lists.iter().map(|l| l.len() as u64 * 100 + l.iter().sum::<u64>()).sum()
}

#[workflow]
fn collections(a: u64, b: u64) -> (u64, u64, String, u64, String, u64) {
    let mixed = total(vec![inc(a), inc(b), 10]);
    let array = total([square(a), square(b)]);
    let names = count_names(vec!["a", "b"]);
    let weights = weigh(HashMap::from([("x".to_string(), a), ("yy".to_string(), inc(b))]));
    let sorted = ordered(BTreeMap::from([("k2", b), ("k1", a)]));
    let deep = nested(vec![vec![a, b], vec![inc(a)]]);
    (mixed, array, names, weights, sorted, deep)
}

#[test]
fn lists_and_maps_of_placeholders_and_literals_bind_as_collections() {
    for (rt, _store) in runtimes() {
        let out = rt.run(collections, (2, 3)).unwrap();
        assert_eq!(
            out,
            (
                3 + 4 + 10,
                4 + 9,
                "a+b".to_string(),
                2 + 2 * 4,
                "k1=2,k2=3".to_string(),
                205 + 103
            )
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Parts of outputs

#[task]
fn describe(x: u64) -> (u64, (String, f64)) {
    (x, (format!("#{x}"), x as f64 / 2.0))
}

#[task]
fn spread(n: u64) -> (Vec<u64>, HashMap<String, u64>) {
    (
        (0..n).collect(),
        HashMap::from([("n".to_string(), n), ("twice".to_string(), 2 * n)]),
    )
}

#[task]
fn label(name: String, half: f64, n: u64) -> String {
    format!("{name}:{half}:{n}")
}

#[workflow]
fn parts(x: u64) -> (String, u64, u64, u64) {
    let (n, (name, half)) = describe(x);
    let (list, map) = spread(x);
    (label(name, half, n), inc(list[2]), inc(map["twice"]), square(list[0]))
}

#[test]
fn nested_tuples_list_elements_and_map_entries_are_placeholders_of_their_own() {
    for (rt, _store) in runtimes() {
        assert_eq!(rt.run(parts, 4).unwrap(), ("#4:2:4".to_string(), 3, 9, 0));
        // Element 2 of a list of 2: the node that reads it cannot start, and says why.
        let err = rt.run(parts, 2).unwrap_err();
        match &err {
            Error::Input { whom, message, .. } => {
                assert_eq!(whom, "node n3 (task `inc`)");
                assert_eq!(message, "`[2]` is not there: the list has 2 elements");
            }
            other => panic!("expected Error::Input, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ordering without data

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[task]
fn create_table(name: String) {
    LOG.lock().unwrap().push(format!("create {name}"));
}

#[task]
fn fill_table(name: String) -> u64 {
    LOG.lock().unwrap().push(format!("fill {name}"));
    3
}

#[workflow]
fn ordered_calls(name: String) -> u64 {
    let created = create_table(name);
    fill_table(name).after(created)
}

#[test]
fn after_orders_two_calls_that_exchange_no_data() {
    let graph = ordered_calls.graph().unwrap();
    assert_eq!(graph.nodes()[1].after(), [0]);
    assert_eq!(graph.edges(), [(0, 1)]);
    assert!(graph.to_dot().contains("n0 -> n1 [style=dashed];"));
    assert!(graph.to_mermaid().contains("n0 -.-> n1"));
    for (rt, _store) in runtimes().into_iter().map(|(rt, s)| (rt.max_parallelism(4), s)) {
        for _ in 0..20 {
            LOG.lock().unwrap().retain(|l| !l.ends_with(" t"));
            assert_eq!(rt.run(ordered_calls, "t".to_string()).unwrap(), 3);
            let log: Vec<String> = LOG
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.ends_with(" t"))
                .cloned()
                .collect();
            assert_eq!(log, ["create t", "fill t"]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Branches

static BRANCH_RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[task]
fn classify(x: u64) -> String {
    BRANCH_RAN.lock().unwrap().push(format!("classify {x}"));
    if x > 100 { "big" } else { "small" }.to_string()
}

#[task]
fn halve(x: u64) -> u64 {
    BRANCH_RAN.lock().unwrap().push(format!("halve {x}"));
    x / 2
}

#[task]
fn is_even(x: u64) -> bool {
    x.is_multiple_of(2)
}

#[workflow]
fn branchy(x: u64) -> u64 {
    let kind = classify(x);
    let y = if kind == "big" && is_even(x) {
        let h = halve(x);
        halve(h)
    } else if x < 3 || x == 50 {
        inc(x)
    } else {
        x
    };
    inc(y)
}

#[test]
fn if_on_run_time_values_runs_only_the_case_taken() {
    for (rt, store) in runtimes() {
        let id = |x: u64| format!("branchy-{x}-{}", store.is_some());
        assert_eq!(rt.run_with_id(&id(400), branchy, 400).unwrap(), 101);
        assert_eq!(rt.run_with_id(&id(2), branchy, 2).unwrap(), 4);
        assert_eq!(rt.run_with_id(&id(50), branchy, 50).unwrap(), 52);
        assert_eq!(rt.run_with_id(&id(7), branchy, 7).unwrap(), 8);
        assert_eq!(
            rt.run_with_id(&id(401), branchy, 401).unwrap(),
            402,
            "odd: the first case fails its `&&`"
        );
        if let Some(store) = rt.store() {
            let report = store.execution(&id(2)).unwrap().unwrap();
            let status = |n: &str| report.nodes.iter().find(|r| r.id == n).map(|r| r.status);
            // n0 classify, n1 is_even, n2 the branch, n3 n4 halve (case 0), n5 inc (case 1)
            assert_eq!(status("n3"), Some(Status::Skipped));
            assert_eq!(status("n4"), Some(Status::Skipped));
            assert_eq!(status("n5"), Some(Status::Succeeded));
            let branch = report.nodes.iter().find(|r| r.id == "n2").unwrap();
            let taken = branch.events.iter().find(|e| e.kind == "branch-taken").unwrap();
            assert_eq!(taken.message, "took case 1: `x < 3 || x == 50`");
        }
    }
    let ran = BRANCH_RAN.lock().unwrap();
    assert_eq!(
        ran.iter().filter(|l| l.starts_with("halve")).count(),
        4,
        "only for 400, in each runtime: {ran:?}"
    );
}

#[task]
fn check(x: u64) -> bool {
    x != 13
}

#[workflow]
fn guarded(x: u64) -> u64 {
    if check(x) {
        square(x)
    } else {
        fail("13 is unlucky")
    }
}

#[workflow]
fn side_effect(x: u64) -> u64 {
    if x > 5 {
        create_table("side".to_string());
    }
    inc(x)
}

#[test]
fn a_branch_may_fail_the_run_or_do_nothing() {
    for (rt, _store) in runtimes() {
        assert_eq!(rt.run(guarded, 3).unwrap(), 9);
        let err = rt.run(guarded, 13).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("branch n1 took its `else`, which fails the run: 13 is unlucky"),
            "{err}"
        );
        assert_eq!(rt.run(side_effect, 1).unwrap(), 2);
        assert_eq!(rt.run(side_effect, 9).unwrap(), 10);
    }
}

static FLAKY_ARM: Mutex<u32> = Mutex::new(0);

#[task]
fn flaky_arm(x: u64) -> Result<u64, flytekit::TaskError> {
    let mut calls = FLAKY_ARM.lock().unwrap();
    *calls += 1;
    match *calls {
        1 => Err(flytekit::TaskError::non_recoverable("the first call fails")),
        _ => Ok(x * 10),
    }
}

#[workflow]
fn resumable(x: u64) -> u64 {
    if x > 1 {
        flaky_arm(x)
    } else {
        x
    }
}

#[test]
fn a_branch_run_again_keeps_its_decision_and_runs_only_what_is_left_of_its_case() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::with_store(dir.path()).unwrap();
    assert!(rt.run_with_id("again", resumable, 5).is_err());
    assert_eq!(rt.run_with_id("again", resumable, 5).unwrap(), 50);
    let report = rt.store().unwrap().execution("again").unwrap().unwrap();
    let branch = report.nodes.iter().find(|n| n.id == "n0").unwrap();
    let taken: Vec<_> = branch.events.iter().filter(|e| e.kind == "branch-taken").collect();
    assert_eq!(taken.len(), 1, "decided once: {:?}", branch.events);
    let arm = report.nodes.iter().find(|n| n.id == "n1").unwrap();
    assert_eq!(arm.attempts.len(), 2);
    assert_eq!(arm.status, Status::Succeeded);
}

#[task]
fn collect_all(xs: Vec<u64>) -> u64 {
    xs.len() as u64
}

#[workflow]
fn leaky(x: u64) -> u64 {
    let mut outs = Vec::new();
    if x > 3 {
        // A method call the body check cannot see through: the graph is refused instead.
        outs.push(inc(x));
    }
    collect_all(outs)
}

#[test]
fn reading_a_node_of_a_case_from_outside_it_is_refused_when_the_graph_is_built() {
    match leaky.graph() {
        Err(Error::Graph { workflow, message }) => {
            assert_eq!(workflow, "leaky");
            assert_eq!(
                message,
                "node n3 reads (or comes after) n1, which is in case 0 of branch n0 and runs only if that case is taken: make the value that case's result (its arm's last expression) and read the branch's result instead"
            );
        }
        other => panic!("expected Error::Graph, got {other:?}"),
    }
    assert!(matches!(LocalRuntime::new().run(leaky, 5), Err(Error::Graph { .. })));
}
