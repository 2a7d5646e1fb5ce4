//! Values crossing task boundaries through a workflow: edge cases that must round-trip, and
//! values that cannot cross, which must fail with a typed error and not a panic.

use std::collections::{BTreeSet, HashMap};

use flytekit::{task, workflow, Error, FailureKind, LocalRuntime, Workflow};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Round trips

#[task]
fn floats() -> (f64, f64, f64, f64, f32) {
    (f64::NAN, f64::INFINITY, -0.0, f64::MIN_POSITIVE, f32::NAN)
}

#[task]
fn classify(nan: f64, inf: f64, neg_zero: f64, tiny: f64, nan32: f32) -> (bool, bool, bool, bool, bool) {
    (
        nan.is_nan(),
        inf == f64::INFINITY,
        neg_zero == 0.0 && neg_zero.is_sign_negative(),
        tiny == f64::MIN_POSITIVE,
        nan32.is_nan(),
    )
}

#[workflow]
fn float_edges() -> (f64, bool, bool, bool, bool, bool) {
    let (nan, inf, neg_zero, tiny, nan32) = floats();
    let (a, b, c, d, e) = classify(nan, inf, neg_zero, tiny, nan32);
    (nan, a, b, c, d, e)
}

#[test]
fn special_floats_cross_task_boundaries() {
    let (nan, a, b, c, d, e) = LocalRuntime::new().run(float_edges, ()).unwrap();
    assert!(nan.is_nan());
    assert_eq!((a, b, c, d, e), (true, true, true, true, true));
}

#[test]
fn a_nan_workflow_input_reaches_the_task() {
    let out = LocalRuntime::new()
        .run(classify_wf, (f64::NAN, f64::NEG_INFINITY))
        .unwrap();
    assert_eq!(out, (true, false));
}

#[workflow]
fn classify_wf(nan: f64, inf: f64) -> (bool, bool) {
    let (a, b, _, _, _) = classify(nan, inf, 1.0, 1.0, 1.0);
    (a, b)
}

type Grid = HashMap<(u8, String), Vec<u8>>;

#[task]
fn make_grid(n: u8) -> Grid {
    (0..n).map(|i| ((i, format!("k{i}")), vec![i; i as usize])).collect()
}

#[task]
fn grid_total(grid: Grid) -> (usize, u64) {
    (grid.len(), grid.values().flatten().map(|&b| u64::from(b)).sum())
}

#[workflow]
fn grids(n: u8) -> (Grid, usize, u64) {
    let g = make_grid(n);
    let (len, total) = grid_total(g);
    (g, len, total)
}

#[test]
fn a_map_with_tuple_keys_crosses_task_boundaries() {
    let (grid, len, total) = LocalRuntime::new().run(grids, 4).unwrap();
    assert_eq!(len, 4);
    assert_eq!(total, 1 + 2 * 2 + 3 * 3);
    assert_eq!(grid, make_grid(4));
    assert_eq!(grid[&(3, "k3".to_string())], [3, 3, 3]);
}

#[task]
fn reverse_bytes(bytes: Vec<u8>) -> Vec<u8> {
    bytes.into_iter().rev().collect()
}

#[workflow]
fn bytes_twice(bytes: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let once = reverse_bytes(bytes);
    let twice = reverse_bytes(once);
    (once, twice)
}

#[test]
fn bytes_round_trip() {
    let all: Vec<u8> = (0..=255).collect();
    let (once, twice) = LocalRuntime::new().run(bytes_twice, all.clone()).unwrap();
    assert_eq!(once, all.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(twice, all);
    let (e1, e2) = LocalRuntime::new().run(bytes_twice, Vec::new()).unwrap();
    assert!(e1.is_empty() && e2.is_empty());
}

#[task]
fn half(x: u64) -> Option<u64> {
    x.is_multiple_of(2).then_some(x / 2)
}

#[task]
fn describe_option(x: Option<u64>) -> String {
    match x {
        Some(v) => format!("some {v}"),
        None => "none".to_string(),
    }
}

#[workflow]
fn options(x: u64) -> (Option<u64>, String) {
    let h = half(x);
    (h, describe_option(h))
}

#[test]
fn options_round_trip_both_ways() {
    let runtime = LocalRuntime::new();
    assert_eq!(runtime.run(options, 8).unwrap(), (Some(4), "some 4".to_string()));
    assert_eq!(runtime.run(options, 7).unwrap(), (None, "none".to_string()));
}

#[task]
fn nothing(x: u64) {
    assert!(x > 0, "the input arrived: {x}");
}

#[task]
#[allow(clippy::unused_unit)] // explicit on purpose
fn returns_unit_explicitly() -> () {}

#[workflow]
fn unit_tail(x: u64) -> () {
    returns_unit_explicitly();
    nothing(x)
}

#[test]
fn unit_outputs_round_trip() {
    LocalRuntime::new().run(unit_tail, 3).unwrap();
    let graph = unit_tail.graph().unwrap();
    assert_eq!(graph.nodes().len(), 2);
    assert!(graph.outputs().is_empty());
    // The task really ran on its input: 0 makes it panic.
    let err = LocalRuntime::new().run(unit_tail, 0).unwrap_err();
    let failure = err.node_failure().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(failure.task, "nothing");
    assert!(failure.attempts[0].cause.contains("the input arrived: 0"), "{err}");
    LocalRuntime::new().run_task(nothing, 1).unwrap();
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Shape {
    Circle { r: f64 },
    Square(u32),
    Empty,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Record {
    id: u128,
    min: i64,
    name: String,
    letter: char,
    shapes: Vec<Shape>,
    tags: BTreeSet<String>,
}

#[task]
fn stamp(mut r: Record, suffix: String) -> Record {
    r.name.push_str(&suffix);
    r.shapes.push(Shape::Empty);
    r
}

#[workflow]
fn records(r: Record) -> Record {
    stamp(r, " ✓")
}

#[test]
fn structs_enums_and_extreme_integers_round_trip() {
    let input = Record {
        id: u128::MAX,
        min: i64::MIN,
        name: "naïve".to_string(),
        letter: 'ß',
        shapes: vec![Shape::Circle { r: 0.5 }, Shape::Square(u32::MAX)],
        tags: ["b".to_string(), String::new()].into(),
    };
    let out = LocalRuntime::new().run(records, input.clone()).unwrap();
    let mut expected = input;
    expected.name.push_str(" ✓");
    expected.shapes.push(Shape::Empty);
    assert_eq!(out, expected);
}

// ---------------------------------------------------------------------------------------------
// Values that cannot cross

/// Deserializes fine, never serializes.
#[derive(Deserialize, Debug, Clone, PartialEq)]
struct WriteOnlyNot(u8);

impl Serialize for WriteOnlyNot {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to serialize"))
    }
}

/// Serializes fine, never deserializes.
#[derive(Serialize, Debug, Clone, PartialEq)]
struct OneWay(u8);

impl<'de> Deserialize<'de> for OneWay {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("refuses to deserialize"))
    }
}

#[task(retries = 3)]
fn bad_output(x: u8) -> WriteOnlyNot {
    WriteOnlyNot(x)
}

#[workflow]
fn bad_output_wf(x: u8) -> WriteOnlyNot {
    bad_output(x)
}

#[test]
fn an_output_that_cannot_serialize_fails_the_node_without_retries() {
    let err = LocalRuntime::new().run(bad_output_wf, 1).unwrap_err();
    let failure = err
        .node_failure()
        .unwrap_or_else(|| panic!("expected a node failure, got {err:?}"));
    assert_eq!(failure.task, "bad_output");
    assert_eq!(
        failure.attempts.len(),
        1,
        "a value that does not encode will not on a retry"
    );
    let attempt = &failure.attempts[0];
    assert_eq!(attempt.kind, FailureKind::NonRecoverable);
    assert!(attempt.cause.contains("cannot serialize"), "{}", attempt.cause);
    assert!(attempt.cause.contains("WriteOnlyNot"), "{}", attempt.cause);
    assert!(attempt.cause.contains("refuses to serialize"), "{}", attempt.cause);
}

#[task]
fn takes_write_only(x: WriteOnlyNot) -> u8 {
    x.0
}

#[workflow]
fn bad_literal() -> u8 {
    takes_write_only(WriteOnlyNot(3))
}

#[workflow]
fn bad_input(x: WriteOnlyNot) -> u8 {
    takes_write_only(x)
}

#[test]
fn a_literal_that_cannot_serialize_is_a_value_error_from_graph_and_run() {
    let err = bad_literal.graph().unwrap_err();
    assert!(matches!(err, Error::Value(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("cannot serialize"), "{message}");
    assert!(message.contains("WriteOnlyNot"), "{message}");

    let err = LocalRuntime::new().run(bad_literal, ()).unwrap_err();
    assert!(matches!(err, Error::Value(_)), "{err:?}");
}

#[test]
fn a_workflow_input_that_cannot_serialize_is_a_value_error() {
    let err = LocalRuntime::new().run(bad_input, WriteOnlyNot(1)).unwrap_err();
    assert!(matches!(err, Error::Value(_)), "{err:?}");
    assert!(err.to_string().contains("refuses to serialize"), "{err}");
}

#[task]
fn make_one_way(x: u8) -> OneWay {
    OneWay(x)
}

#[task(retries = 2)]
fn consume_one_way(x: OneWay) -> u8 {
    x.0
}

#[workflow]
fn one_way_between_tasks(x: u8) -> u8 {
    let v = make_one_way(x);
    consume_one_way(v)
}

#[workflow]
fn one_way_output(x: u8) -> OneWay {
    make_one_way(x)
}

#[test]
fn an_input_that_cannot_deserialize_fails_the_consuming_node_once() {
    let err = LocalRuntime::new().run(one_way_between_tasks, 1).unwrap_err();
    let failure = err
        .node_failure()
        .unwrap_or_else(|| panic!("expected a node failure, got {err:?}"));
    assert_eq!(failure.node, "n1");
    assert_eq!(failure.task, "consume_one_way");
    assert_eq!(failure.attempts.len(), 1);
    assert_eq!(failure.attempts[0].kind, FailureKind::NonRecoverable);
    assert!(failure.attempts[0].cause.contains("cannot deserialize"), "{err}");
    assert!(failure.attempts[0].cause.contains("OneWay"), "{err}");
}

#[test]
fn a_workflow_output_that_cannot_deserialize_is_a_value_error() {
    let err = LocalRuntime::new().run(one_way_output, 1).unwrap_err();
    assert!(matches!(err, Error::Value(_)), "{err:?}");
    assert!(err.to_string().contains("refuses to deserialize"), "{err}");
}
