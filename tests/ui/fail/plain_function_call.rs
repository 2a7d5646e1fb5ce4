use flytekit::{task, workflow};

fn helper(x: u64) -> u64 {
    x + 1
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let y = helper(x);
    double(y)
}

fn main() {}
