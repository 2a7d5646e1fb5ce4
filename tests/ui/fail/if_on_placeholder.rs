use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn is_big(x: u64) -> bool {
    x > 10
}

#[workflow]
fn wf(x: u64) -> u64 {
    let big = is_big(x);
    if big {
        double(x)
    } else {
        x
    }
}

fn main() {}
