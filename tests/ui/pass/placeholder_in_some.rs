// `Some(x)` of a placeholder passes where an `Option` is expected.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn maybe(x: Option<u64>) -> u64 {
    x.unwrap_or(0)
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> (u64, u64) {
    (maybe(Some(double(x))), maybe(None))
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 4).unwrap(), (8, 0));
}
