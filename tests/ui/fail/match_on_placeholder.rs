use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    match x {
        0 => double(1),
        _ => double(x),
    }
}

fn main() {}
