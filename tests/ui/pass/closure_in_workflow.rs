// A closure in a workflow body is a helper that runs while the graph is built: each call of it
// adds its nodes.
use flytekit::{task, workflow, LocalRuntime, Workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let twice = |v| double(double(v));
    twice(twice(x))
}

fn main() {
    assert_eq!(wf.graph().unwrap().nodes().len(), 4);
    assert_eq!(LocalRuntime::new().run(wf, 1).unwrap(), 16);
}
