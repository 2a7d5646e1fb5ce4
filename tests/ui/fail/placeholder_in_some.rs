use flytekit::{task, workflow};

#[task]
fn maybe(x: Option<u64>) -> u64 {
    x.unwrap_or(0)
}

#[workflow]
fn wf(x: u64) -> u64 {
    maybe(Some(x))
}

fn main() {}
