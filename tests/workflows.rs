//! Workflows: the graphs their bodies build, and what running them computes.

use std::sync::atomic::{AtomicU32, Ordering};

use flytekit::{task, workflow, Binding, LocalRuntime, Workflow};

#[task]
fn source(x: u64) -> u64 {
    x + 1
}

#[task]
fn left(x: u64) -> u64 {
    x * 10
}

#[task]
fn right(x: u64) -> u64 {
    x * 100
}

#[task]
fn join(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn diamond(x: u64) -> u64 {
    let s = source(x);
    let l = left(s);
    let r = right(s);
    join(l, r)
}

// ---------------------------------------------------------------------------------------------
// Diamond

#[test]
fn a_diamond_computes_the_right_value() {
    // (2 + 1) * 10 + (2 + 1) * 100
    assert_eq!(LocalRuntime::new().run(diamond, 2).unwrap(), 330);
}

#[test]
fn a_diamond_graph_has_four_nodes_and_four_edges() {
    let graph = diamond.graph().unwrap();
    assert_eq!(graph.name(), "diamond");
    assert_eq!(graph.inputs(), ["x"]);
    let ids: Vec<_> = graph.nodes().iter().map(|n| n.id()).collect();
    assert_eq!(ids, ["n0", "n1", "n2", "n3"]);
    let tasks: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
    assert_eq!(tasks, ["source", "left", "right", "join"]);
    assert_eq!(graph.edges(), [(0, 1), (0, 2), (1, 3), (2, 3)]);
    assert!(graph.nodes().iter().all(|n| n.workflow() == "diamond"));

    assert_eq!(graph.nodes()[0].inputs(), [Binding::Input(0)]);
    assert_eq!(graph.nodes()[1].inputs(), [Binding::Output { node: 0, slot: 0 }]);
    assert_eq!(graph.nodes()[2].inputs(), [Binding::Output { node: 0, slot: 0 }]);
    assert_eq!(
        graph.nodes()[3].inputs(),
        [
            Binding::Output { node: 1, slot: 0 },
            Binding::Output { node: 2, slot: 0 }
        ]
    );
    assert_eq!(graph.nodes()[3].upstream(), [1, 2]);
    assert_eq!(graph.outputs(), [Binding::Output { node: 3, slot: 0 }]);
}

#[task(retries = 4)]
fn retried(x: u64) -> u64 {
    x
}

#[workflow]
fn same_input_twice(x: u64) -> u64 {
    let s = source(x);
    let r = retried(s);
    join(r, r)
}

#[test]
fn edges_have_no_repeats_and_nodes_know_their_retries() {
    let graph = same_input_twice.graph().unwrap();
    assert_eq!(graph.edges(), [(0, 1), (1, 2)]);
    assert_eq!(graph.nodes()[2].upstream(), [1]);
    let retries: Vec<_> = graph.nodes().iter().map(|n| n.retries()).collect();
    assert_eq!(retries, [0, 4, 0]);
    assert_eq!(LocalRuntime::new().run(same_input_twice, 4).unwrap(), 10);
}

// ---------------------------------------------------------------------------------------------
// Nested calls, literals and constants

const OFFSET: u64 = 1000;

#[task]
fn greet(greeting: String, name: String, times: u32) -> String {
    vec![format!("{greeting}, {name}"); times as usize].join(" ")
}

#[task]
fn sum(xs: Vec<u64>, extra: u64) -> u64 {
    xs.iter().sum::<u64>() + extra
}

#[task]
fn maybe(x: Option<u64>, fallback: u64) -> u64 {
    x.unwrap_or(fallback)
}

#[workflow]
fn literals(name: String) -> (String, u64, u64, u64) {
    let g = greet("hello", name, 2);
    let s = sum(vec![1, 2, 3], OFFSET);
    let m = maybe(None, 5);
    let n = maybe(Some(8), 5);
    (g, s, m, n)
}

#[test]
fn literal_arguments_are_passed_through() {
    let out = LocalRuntime::new().run(literals, "Ada".to_string()).unwrap();
    assert_eq!(out, ("hello, Ada hello, Ada".to_string(), 1006, 5, 8));

    let graph = literals.graph().unwrap();
    let greet_node = &graph.nodes()[0];
    assert!(matches!(greet_node.inputs()[0], Binding::Constant(_)));
    assert_eq!(greet_node.inputs()[1], Binding::Input(0));
    assert!(matches!(greet_node.inputs()[2], Binding::Constant(_)));
    assert!(graph.edges().is_empty(), "literals make no edges");
}

#[workflow]
fn nested_calls(x: u64) -> u64 {
    join(left(source(x)), right(3))
}

#[test]
fn nested_calls_become_nodes_in_argument_order() {
    // left(source(1)) = 20, right(3) = 300
    assert_eq!(LocalRuntime::new().run(nested_calls, 1).unwrap(), 320);
    let graph = nested_calls.graph().unwrap();
    let tasks: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
    assert_eq!(tasks, ["source", "left", "right", "join"]);
    assert_eq!(graph.edges(), [(0, 1), (1, 3), (2, 3)]);
}

// ---------------------------------------------------------------------------------------------
// Tuple outputs

#[task]
fn divmod(a: u64, b: u64) -> (u64, u64) {
    (a / b, a % b)
}

#[task]
fn describe(q: u64, r: u64) -> String {
    format!("q={q} r={r}")
}

#[workflow]
fn destructured(a: u64, b: u64) -> String {
    let (q, r) = divmod(a, b);
    describe(r, q)
}

#[test]
fn tuple_outputs_are_destructured_slot_by_slot() {
    // Swapped on purpose: each slot is wired separately.
    assert_eq!(LocalRuntime::new().run(destructured, (17, 5)).unwrap(), "q=2 r=3");
    let graph = destructured.graph().unwrap();
    assert_eq!(graph.inputs(), ["a", "b"]);
    assert_eq!(
        graph.nodes()[1].inputs(),
        [
            Binding::Output { node: 0, slot: 1 },
            Binding::Output { node: 0, slot: 0 }
        ]
    );
}

#[workflow]
fn ignores_a_slot(a: u64, b: u64) -> u64 {
    let (_, r) = divmod(a, b);
    r
}

#[test]
fn a_slot_can_be_ignored_with_an_underscore() {
    assert_eq!(LocalRuntime::new().run(ignores_a_slot, (17, 5)).unwrap(), 2);
}

#[workflow]
fn passes_a_tuple_output_through(a: u64, b: u64) -> (u64, u64) {
    divmod(a, b)
}

#[workflow]
fn returns_a_tuple(a: u64, b: u64) -> (u64, u64, String) {
    let (q, r) = divmod(a, b);
    let d = describe(q, r);
    (r, q, d)
}

#[test]
fn a_workflow_returns_a_tuple() {
    assert_eq!(
        LocalRuntime::new().run(passes_a_tuple_output_through, (9, 4)).unwrap(),
        (2, 1)
    );
    assert_eq!(
        LocalRuntime::new().run(returns_a_tuple, (9, 4)).unwrap(),
        (1, 2, "q=2 r=1".to_string())
    );
    assert_eq!(
        returns_a_tuple.graph().unwrap().outputs(),
        [
            Binding::Output { node: 0, slot: 1 },
            Binding::Output { node: 0, slot: 0 },
            Binding::Output { node: 1, slot: 0 },
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// No inputs, no nodes

#[task]
fn constant() -> u64 {
    42
}

#[workflow]
fn no_inputs() -> u64 {
    let c = constant();
    left(c)
}

#[test]
fn a_workflow_without_inputs_runs_on_unit() {
    assert_eq!(LocalRuntime::new().run(no_inputs, ()).unwrap(), 420);
    assert!(no_inputs.graph().unwrap().inputs().is_empty());
}

#[workflow]
fn identity(x: String) -> String {
    x
}

#[workflow]
fn swap(a: u64, b: String) -> (String, u64) {
    (b, a)
}

#[test]
fn a_workflow_returns_its_inputs_directly() {
    assert_eq!(LocalRuntime::new().run(identity, "same".to_string()).unwrap(), "same");
    let graph = identity.graph().unwrap();
    assert!(graph.nodes().is_empty());
    assert_eq!(graph.outputs(), [Binding::Input(0)]);

    assert_eq!(
        LocalRuntime::new().run(swap, (1, "one".to_string())).unwrap(),
        ("one".to_string(), 1)
    );
    assert_eq!(swap.graph().unwrap().outputs(), [Binding::Input(1), Binding::Input(0)]);
}

static SIDE_EFFECTS: AtomicU32 = AtomicU32::new(0);

#[task]
fn side_effect(x: u32) {
    SIDE_EFFECTS.fetch_add(x, Ordering::SeqCst);
}

#[workflow]
fn unit_output(x: u32) {
    side_effect(x);
}

#[test]
fn a_workflow_with_no_output_still_runs_its_nodes() {
    LocalRuntime::new().run(unit_output, 5).unwrap();
    assert_eq!(SIDE_EFFECTS.load(Ordering::SeqCst), 5);
    let graph = unit_output.graph().unwrap();
    assert_eq!(graph.nodes().len(), 1);
    assert!(graph.outputs().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Workflows calling workflows

#[workflow]
fn inner(x: u64) -> u64 {
    let s = source(x);
    left(s)
}

#[workflow]
fn outer(x: u64) -> (u64, u64) {
    let a = inner(x);
    let b = inner(a);
    let c = right(b);
    (a, c)
}

#[test]
fn a_sub_workflow_is_inlined_with_its_path() {
    // inner(1) = 20; inner(20) = 210; right(210) = 21000
    assert_eq!(LocalRuntime::new().run(outer, 1).unwrap(), (20, 21000));

    let graph = outer.graph().unwrap();
    assert_eq!(graph.name(), "outer");
    let nodes: Vec<_> = graph
        .nodes()
        .iter()
        .map(|n| (n.id(), n.task_name(), n.workflow()))
        .collect();
    assert_eq!(
        nodes,
        [
            ("n0", "source", "outer/inner"),
            ("n1", "left", "outer/inner"),
            ("n2", "source", "outer/inner"),
            ("n3", "left", "outer/inner"),
            ("n4", "right", "outer"),
        ]
    );
    assert_eq!(graph.edges(), [(0, 1), (1, 2), (2, 3), (3, 4)]);
    assert_eq!(graph.nodes()[0].inputs(), [Binding::Input(0)]);
    assert_eq!(
        graph.outputs(),
        [
            Binding::Output { node: 1, slot: 0 },
            Binding::Output { node: 4, slot: 0 }
        ]
    );
}

#[workflow]
fn deepest(a: u64, b: u64) -> u64 {
    join(a, b)
}

#[workflow]
fn middle(a: u64) -> u64 {
    deepest(a, 7)
}

#[workflow]
fn top() -> (u64, u64) {
    let m = middle(3);
    let p = identity_u64(m);
    (m, p)
}

#[workflow]
fn identity_u64(x: u64) -> u64 {
    x
}

#[test]
fn sub_workflow_paths_nest_and_literals_reach_them() {
    assert_eq!(LocalRuntime::new().run(top, ()).unwrap(), (10, 10));
    let graph = top.graph().unwrap();
    assert_eq!(graph.nodes().len(), 1, "a pass-through workflow adds no node");
    assert_eq!(graph.nodes()[0].workflow(), "top/middle/deepest");
    assert_eq!(graph.outputs()[0], graph.outputs()[1]);
}

#[workflow]
fn sub_returns_input(x: u64) -> u64 {
    identity_u64(x)
}

#[test]
fn a_sub_workflow_returning_its_input_returns_the_outer_input() {
    assert_eq!(LocalRuntime::new().run(sub_returns_input, 11).unwrap(), 11);
    assert_eq!(sub_returns_input.graph().unwrap().outputs(), [Binding::Input(0)]);
}

#[workflow]
fn sub_gets_a_tuple(a: u64, b: u64) -> (u64, u64) {
    let (x, y) = passes_a_tuple_output_through(a, b);
    swap_u64(x, y)
}

#[workflow]
fn swap_u64(a: u64, b: u64) -> (u64, u64) {
    (b, a)
}

#[test]
fn a_sub_workflow_tuple_output_is_destructured() {
    assert_eq!(LocalRuntime::new().run(sub_gets_a_tuple, (9, 4)).unwrap(), (1, 2));
}

#[test]
fn a_workflow_runs_many_times_with_the_same_graph() {
    let runtime = LocalRuntime::new();
    for x in 0..5 {
        assert_eq!(runtime.run(diamond, x).unwrap(), (x + 1) * 110);
    }
    assert_eq!(diamond.graph().unwrap().nodes().len(), 4);
    assert_eq!(Workflow::name(&diamond), "diamond");
    assert_eq!(diamond.input_names(), ["x"]);
}

// ---------------------------------------------------------------------------------------------
// Tasks from other modules, and constant expressions as literals

mod stages {
    use flytekit::task;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub struct Point {
        pub x: i64,
        pub y: i64,
    }

    #[task]
    pub fn shift(p: Point, dx: i64, scale: [u8; 2]) -> Point {
        Point {
            x: (p.x + dx) * i64::from(scale[0]),
            y: p.y * i64::from(scale[1]),
        }
    }

    pub mod deeper {
        use flytekit::task;

        #[task]
        pub fn norm1(p: super::Point) -> i64 {
            p.x.abs() + p.y.abs()
        }
    }
}

use stages::Point;

#[workflow]
fn module_paths(dx: i64) -> (Point, i64, i64) {
    let p = stages::shift(Point { x: -1, y: 2 }, dx, [2, 3]);
    let n = stages::deeper::norm1(p);
    let m = self::stages::deeper::norm1(Point { x: -5, y: -(1 << 40) });
    (p, n, m)
}

#[test]
fn tasks_called_by_path_with_constant_expressions() {
    let (p, n, m) = LocalRuntime::new().run(module_paths, -10).unwrap();
    assert_eq!(p, Point { x: -22, y: 6 });
    assert_eq!(n, 28);
    assert_eq!(m, 5 + (1 << 40));
    let graph = module_paths.graph().unwrap();
    let tasks: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
    assert_eq!(tasks, ["shift", "norm1", "norm1"]);
    assert_eq!(graph.edges(), [(0, 1)]);
}

#[workflow]
fn shadowing(x: u64) -> (u64, u64) {
    let y = source(x);
    let y = left(y);
    let x = 7;
    (y, right(x))
}

#[test]
fn a_name_rebound_to_a_constant_is_a_literal() {
    // source(1) = 2, left(2) = 20; x is now the literal 7, right(7) = 700.
    assert_eq!(LocalRuntime::new().run(shadowing, 1).unwrap(), (20, 700));
    let graph = shadowing.graph().unwrap();
    assert!(matches!(graph.nodes()[2].inputs()[0], Binding::Constant(_)));
}
