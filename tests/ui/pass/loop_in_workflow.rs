// A loop over values known while the graph is built makes as many nodes: here a chain.
use flytekit::{task, workflow, LocalRuntime, Workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let mut y = x;
    for _ in 0..3 {
        y = double(y);
    }
    y
}

fn main() {
    assert_eq!(wf.graph().unwrap().edges(), [(0, 1), (1, 2)]);
    assert_eq!(LocalRuntime::new().run(wf, 1).unwrap(), 8);
}
