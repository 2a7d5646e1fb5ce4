// A syntax error in a task's body is rustc's own; the task still exists for the workflow.
use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    let y = ;
    x * y
}

#[task]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn wf(x: u64) -> u64 {
    let d: u64 = double(x);
    plus_one(d)
}

fn main() {
    assert_eq!(double(2), 4);
}
