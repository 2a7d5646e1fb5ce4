use flytekit::{task, workflow};

#[task]
fn split(x: u64) -> (u64, u64) {
    (x / 2, x % 2)
}

#[workflow]
fn wf(x: u64) -> u64 {
    let (a, _b, _c) = split(x);
    a
}

fn main() {}
