//! Pictures of a graph: the exact DOT and Mermaid text for a workflow that uses every option.

use flytekit::{task, workflow, TaskError, Workflow, WorkflowFailure};

#[task(retries = 2, timeout = "30s")]
fn load(source: String) -> Vec<u64> {
    vec![source.len() as u64]
}

#[task(cache = true, cache_version = "3")]
fn score(x: u64) -> Result<f64, TaskError> {
    Ok(x as f64)
}

#[task]
fn report(scores: Vec<Option<f64>>, label: String) -> String {
    format!("{label}: {scores:?}")
}

#[task]
fn clean_up(source: String, failure: WorkflowFailure) {
    let _ = (source, failure);
}

#[workflow(on_failure = clean_up)]
fn evaluate(source: String) -> (String, Vec<u64>) {
    let xs = load(source);
    let scores = map(score, xs, concurrency = 4, min_success_ratio = 0.5);
    (report(scores, "run \"a\""), xs)
}

#[test]
fn dot_marks_inputs_options_outputs_and_the_failure_hook() {
    assert_eq!(
        evaluate.graph().unwrap().to_dot(),
        r#"digraph "evaluate" {
  rankdir=LR;
  node [shape=box, style=rounded];
  input0 [label="source", shape=oval];
  n0 [label="load\nretries 2, timeout 30s"];
  n1 [label="score\nmap, concurrency 4, min_success_ratio 0.5, cache v3"];
  n2 [label="report"];
  output0 [label="output 0", shape=oval];
  output1 [label="output 1", shape=oval];
  on_failure [label="on failure: clean_up", style="rounded,dashed"];
  input0 -> n0;
  n0 -> n1;
  n1 -> n2;
  n2 -> output0;
  n0 -> output1;
}
"#
    );
}

#[test]
fn mermaid_is_the_same_picture() {
    assert_eq!(
        evaluate.graph().unwrap().to_mermaid(),
        r#"flowchart LR
  input0(["source"])
  n0["load<br/>retries 2, timeout 30s"]
  n1["score<br/>map, concurrency 4, min_success_ratio 0.5, cache v3"]
  n2["report"]
  output0(["output 0"])
  output1(["output 1"])
  on_failure["on failure: clean_up"]
  style on_failure stroke-dasharray: 5 5
  input0 --> n0
  n0 --> n1
  n1 --> n2
  n2 --> output0
  n0 --> output1
"#
    );
}

// A map over a workflow is one box, named after the workflow, with the map's options.

#[workflow]
fn score_one(x: u64) -> f64 {
    score(x)
}

#[workflow]
fn evaluate_each(source: String) -> Vec<Option<f64>> {
    let xs = load(source);
    map(score_one, xs, concurrency = 2, min_success_ratio = 0.5)
}

#[test]
fn a_map_over_a_workflow_is_one_box_named_after_the_workflow() {
    assert_eq!(
        evaluate_each.graph().unwrap().to_dot(),
        r#"digraph "evaluate_each" {
  rankdir=LR;
  node [shape=box, style=rounded];
  input0 [label="source", shape=oval];
  n0 [label="load\nretries 2, timeout 30s"];
  n1 [label="score_one\nmap (workflow), concurrency 2, min_success_ratio 0.5"];
  output0 [label="output 0", shape=oval];
  input0 -> n0;
  n0 -> n1;
  n1 -> output0;
}
"#
    );
    assert!(evaluate_each
        .graph()
        .unwrap()
        .to_mermaid()
        .contains(r#"n1["score_one<br/>map (workflow), concurrency 2, min_success_ratio 0.5"]"#));
}

#[task]
fn classify(x: u64) -> String {
    x.to_string()
}

#[task]
fn shrink(x: u64) -> u64 {
    x / 2
}

#[task]
fn announce(x: u64) {
    let _ = x;
}

#[workflow]
fn decide(x: u64) -> u64 {
    let kind = classify(x);
    let small = if kind == "big" && x > 100 {
        let half = shrink(x);
        shrink(half)
    } else if x > 0 {
        x
    } else {
        fail("zero")
    };
    let told = announce(small);
    shrink(small).after(told)
}

#[test]
fn a_branch_is_a_diamond_with_a_box_per_case_and_orders_are_dashed() {
    let graph = decide.graph().unwrap();
    assert_eq!(
        graph.to_dot(),
        r#"digraph "decide" {
  rankdir=LR;
  node [shape=box, style=rounded];
  input0 [label="x", shape=oval];
  n0 [label="classify"];
  n1 [label="branch", shape=diamond, style=""];
  subgraph cluster_n1_case0 {
    label="if n0 == \"big\" && x > 100"; style=dashed;
    n2 [label="shrink"];
    n3 [label="shrink"];
  }
  subgraph cluster_n1_case1 {
    label="else if x > 0"; style=dashed;
  }
  subgraph cluster_n1_case2 {
    label="else"; style=dashed;
    n1_fail [label="fail: zero", shape=octagon, style=""];
  }
  n4 [label="", shape=point];
  n5 [label="announce"];
  n6 [label="shrink"];
  output0 [label="output 0", shape=oval];
  input0 -> n0;
  n0 -> n1;
  input0 -> n1;
  n1 -> n1_fail [style=dashed];
  input0 -> n2;
  n1 -> n2 [style=dashed];
  n2 -> n3;
  n3 -> n4;
  input0 -> n4;
  n4 -> n5;
  n4 -> n6;
  n5 -> n6 [style=dashed];
  n6 -> output0;
}
"#
    );
    let mermaid = graph.to_mermaid();
    for line in [
        "  n1{\"branch\"}",
        "  subgraph n1_case0[\"if n0 == #quot;big#quot; && x > 100\"]",
        "    n2[\"shrink\"]",
        "  subgraph n1_case2[\"else\"]",
        "    n1_fail[[\"fail: zero\"]]",
        "  n4((\" \"))",
        "  n1 -.-> n2",
        "  n5 -.-> n6",
    ] {
        assert!(mermaid.lines().any(|l| l == line), "no `{line}` in:\n{mermaid}");
    }
}
