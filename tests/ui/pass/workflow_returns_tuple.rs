use flytekit::{task, workflow, LocalRuntime};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn label(x: u64) -> String {
    format!("#{x}")
}

#[workflow]
fn wf(x: u64) -> (u64, String, u64) {
    let d = double(x);
    (d, label(d), x)
}

#[task]
fn split(x: u64) -> (u64, u64) {
    (x / 2, x % 2)
}

// A task's tuple output returned as is.
#[workflow]
fn halves(x: u64) -> (u64, u64) {
    split(x)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(halves, 7).unwrap(), (3, 1));
    let out = LocalRuntime::new().run(wf, 5).unwrap();
    assert_eq!(out, (10, "#10".to_string(), 5));
}
