use flytekit::{task, workflow};

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[workflow]
fn squares(names: Vec<String>) -> Vec<u64> {
    map(square, names)
}

fn main() {}
