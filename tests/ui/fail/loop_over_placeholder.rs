use flytekit::{task, workflow};

#[task]
fn list(n: u64) -> Vec<u64> {
    (0..n).collect()
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(n: u64) -> u64 {
    let xs = list(n);
    let mut last = double(0);
    for x in xs {
        last = double(x);
    }
    while n > 3 {
        last = double(last);
    }
    last
}

fn main() {}
