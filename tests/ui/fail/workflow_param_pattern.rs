use flytekit::{task, workflow};

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[workflow]
fn wf((a, b): (u64, u64)) -> u64 {
    add(a, b)
}

fn main() {}
