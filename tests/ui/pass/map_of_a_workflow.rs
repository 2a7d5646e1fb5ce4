use flytekit::{task, workflow, Workflow};

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn one(x: u64) -> u64 {
    square(x)
}

#[workflow]
fn two(a: u64, b: u64) -> (u64, u64) {
    (add(a, b), square(a))
}

// A workflow of one input maps over a list of its input, one of several inputs over a list of
// tuples; the options are a task map's, and so are the output types.
#[workflow]
fn many(xs: Vec<u64>, pairs: Vec<(u64, u64)>) -> (Vec<u64>, Vec<Option<(u64, u64)>>) {
    let squares = map(one, xs, concurrency = 2);
    let sums = map(two, pairs, min_success_ratio = 0.5);
    (squares, sums)
}

fn main() {
    let graph = many.graph().unwrap();
    assert_eq!(graph.nodes()[0].task_name(), "one");
}
