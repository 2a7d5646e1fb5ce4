// Capitalised calls are constructors inside a workflow, so a task name must be lowercase.
#![allow(non_snake_case)]
use flytekit::{task, workflow, Workflow};

#[task]
fn Double(x: u64) -> u64 {
    x * 2
}

#[task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn wf() -> u64 {
    let y = Double(3);
    inc(y)
}

fn main() {
    let graph = wf.graph().unwrap();
    let names: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
    println!("nodes: {names:?}");
}
