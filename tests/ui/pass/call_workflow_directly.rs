// Outside a workflow body, calling a workflow runs it locally and returns its result.
use flytekit::{task, workflow, Error};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    double(x)
}

#[workflow]
fn twice(x: u64) -> (u64, u64) {
    (wf(x), double(x))
}

fn main() {
    let out: Result<u64, Error> = wf(3);
    assert_eq!(out.unwrap(), 6);
    assert_eq!(twice(2).unwrap(), (4, 4));
}
