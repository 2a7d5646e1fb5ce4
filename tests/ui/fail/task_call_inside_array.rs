use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn total(xs: [u64; 2]) -> u64 {
    xs.iter().sum()
}

#[workflow]
fn wf() -> u64 {
    total([double(3), 1])
}

fn main() {}
