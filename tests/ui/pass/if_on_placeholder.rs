// `if` on a `bool` placeholder is a branch node: only the case taken runs.
use flytekit::{task, workflow, LocalRuntime};

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

fn main() {
    let rt = LocalRuntime::new();
    assert_eq!(rt.run(wf, 20).unwrap(), 40);
    assert_eq!(rt.run(wf, 3).unwrap(), 3);
}
