// `let y: u64 = task(..)` declares the value's type; what `y` holds is a `Promise<u64>`.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn split(x: u64) -> (u64, String) {
    (x + 1, x.to_string())
}

#[workflow]
fn wf(x: u64) -> (u64, String) {
    let y: u64 = double(x);
    let (a, b): (u64, String) = split(y);
    let c: flytekit::Promise<u64> = double(a);
    (c, b)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 3).unwrap(), (14, "6".to_string()));
}
