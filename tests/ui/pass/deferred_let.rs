// `let y;` assigned later, as Rust allows: a branch on a value known while the graph is built.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn triple(x: u64) -> u64 {
    x * 3
}

const FAST: bool = true;

#[workflow]
fn wf(x: u64) -> u64 {
    let y;
    if FAST {
        y = double(x);
    } else {
        y = triple(x);
    }
    double(y)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 1).unwrap(), 4);
}
