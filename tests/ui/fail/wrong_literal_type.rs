use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf() -> u64 {
    double("two")
}

fn main() {}
