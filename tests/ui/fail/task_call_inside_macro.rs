// A task call inside `vec![..]` would run while the graph is built: it must be a node or an error.
use flytekit::{task, workflow, Workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[workflow]
fn wf() -> u64 {
    total(vec![double(3), 1])
}

fn main() {
    let graph = wf.graph().unwrap();
    let names: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
    println!("nodes: {names:?}");
}
