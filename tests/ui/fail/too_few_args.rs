use flytekit::{task, workflow};

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn wf(x: u64) -> u64 {
    add(x)
}

fn main() {}
