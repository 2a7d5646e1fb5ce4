use flytekit::{task, workflow};

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[workflow]
fn one(x: u64) -> u64 {
    square(x)
}

#[workflow]
fn many(xs: Vec<u64>) -> Vec<u64> {
    map(one, xs)
}

fn main() {}
