// A task's tuple output is a tuple of placeholders: its fields are placeholders too.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn split(x: u64) -> (u64, u64) {
    (x / 2, x % 2)
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let parts = split(x);
    double(parts.0)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 9).unwrap(), 8);
}
