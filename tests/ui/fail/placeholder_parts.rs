// Parts of placeholders: indexed by values known while the graph is built; nested patterns take
// apart tuples only; `.after(..)` takes what a call returned.
use std::collections::HashMap;

use flytekit::{task, workflow};

#[task]
fn list(x: u64) -> Vec<u64> {
    vec![x]
}

#[task]
fn weights(x: u64) -> HashMap<String, u64> {
    HashMap::from([("x".to_string(), x)])
}

#[task]
fn pair(x: u64) -> (u64, u64) {
    (x, x)
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn by_placeholder(x: u64) -> u64 {
    let xs = list(x);
    double(xs[x])
}

#[workflow]
fn map_by_number(x: u64) -> u64 {
    let w = weights(x);
    double(w[0])
}

#[workflow]
fn nested_not_a_tuple(x: u64) -> u64 {
    let (a, (b, c)) = pair(x);
    double(a)
}

#[workflow]
fn after_a_value(x: u64) -> u64 {
    double(x).after(5)
}

fn main() {}
