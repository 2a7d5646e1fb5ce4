use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let mut y = double(x);
    if x > 3 {
        y = double(y);
    }
    y
}

fn main() {}
