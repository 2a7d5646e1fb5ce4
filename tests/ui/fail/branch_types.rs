// Types in branch conditions and arms, checked by rustc with flytekit's messages.
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
fn list(x: u64) -> Vec<u64> {
    vec![x]
}

#[workflow]
fn mismatched(x: u64) -> u64 {
    if x > "three" { double(x) } else { x }
}

#[workflow]
fn not_comparable(x: u64) -> u64 {
    let xs = list(x);
    if xs == vec![1] { double(x) } else { x }
}

#[workflow]
fn arms_differ(x: u64) -> u64 {
    if x > 3 { double(x) } else { name(x) }
}

#[workflow]
fn no_else(x: u64) -> u64 {
    let y = if x > 3 { double(x) };
    y
}

fn main() {}
