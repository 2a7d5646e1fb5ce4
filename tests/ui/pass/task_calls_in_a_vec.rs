// Task calls inside `vec![..]` (or an array) are nodes, and the list, mixing their placeholders
// with literals, is Flyte's collection binding.
use flytekit::{task, workflow, LocalRuntime, Workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[workflow]
fn wf() -> (u64, u64) {
    (total(vec![double(3), 1]), total([double(1), double(2)]))
}

fn main() {
    let graph = wf.graph().unwrap();
    let names: Vec<_> = graph.nodes().iter().map(|n| n.task_name()).collect();
    assert_eq!(names, ["double", "total", "double", "double", "total"]);
    assert_eq!(LocalRuntime::new().run(wf, ()).unwrap(), (7, 6));
}
