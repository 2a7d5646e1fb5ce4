// What Flyte's conditions cannot say: each a spanned error that says what is allowed.
use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn name(x: u64) -> String {
    x.to_string()
}

#[task]
fn flag(x: u64) -> bool {
    x > 1
}

#[workflow]
fn arithmetic(x: u64) -> u64 {
    if x + 1 > 3 { double(x) } else { x }
}

#[workflow]
fn method(x: u64) -> u64 {
    let n = name(x);
    if n.len() > 3 { double(x) } else { x }
}

#[workflow]
fn negation(x: u64) -> u64 {
    let f = flag(x);
    if !f { double(x) } else { x }
}

#[workflow]
fn if_let(x: u64) -> u64 {
    if let 3 = x { double(x) } else { x }
}

fn main() {}
