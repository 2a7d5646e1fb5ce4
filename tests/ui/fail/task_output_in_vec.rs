use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn total(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[workflow]
fn wf(x: u64) -> u64 {
    total(vec![double(x), 1])
}

fn main() {}
