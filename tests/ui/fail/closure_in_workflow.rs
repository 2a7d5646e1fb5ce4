use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let twice = |v| double(double(v));
    twice(x)
}

fn main() {}
