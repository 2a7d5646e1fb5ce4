use flytekit::{task, workflow, LocalRuntime, Workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn inner(x: u64) -> u64 {
    double(x)
}

#[workflow]
fn outer(x: u64, y: u64) -> u64 {
    let a = inner(x);
    let b = inner(inner(y));
    add(a, b)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(outer, (1, 2)).unwrap(), 2 + 8);
    let graph = outer.graph().unwrap();
    assert_eq!(graph.nodes().len(), 4);
    assert_eq!(graph.nodes()[0].workflow(), "outer/inner");
}
