// A task whose signature cannot be a task's is still a task to the workflow that calls it: the
// signature's error is the only one.
use flytekit::{task, workflow};

// Its output is the generic `T`: the workflow gets a stand-in that passes anywhere.
#[task]
fn identity<T: Clone>(x: T) -> T {
    x
}

// Its outputs can be named: the workflow gets `Promise<String>` and `Promise<u64>`.
#[task]
fn describe<T: std::fmt::Display>(x: T, n: u64) -> (String, u64) {
    (x.to_string(), n)
}

#[task]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn wf(x: u64) -> u64 {
    let y = identity(x);
    plus_one(y)
}

#[workflow]
fn wf2(x: u64) -> u64 {
    identity(plus_one(x))
}

#[workflow]
fn wf3(x: u64) -> (String, u64) {
    let (text, n): (String, u64) = describe(x, 2);
    (text, plus_one(n))
}

fn main() {}
