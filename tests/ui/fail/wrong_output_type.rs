use flytekit::{task, workflow};

#[task]
fn name() -> String {
    "x".to_string()
}

#[workflow]
fn wf() -> u64 {
    name()
}

fn main() {}
