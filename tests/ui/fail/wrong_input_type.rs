use flytekit::{task, workflow};

#[task]
fn name() -> String {
    "x".to_string()
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf() -> u64 {
    let n = name();
    double(n)
}

fn main() {}
