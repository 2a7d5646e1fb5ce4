use flytekit::{task, workflow, TaskError};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> Result<u64, TaskError> {
    Ok(double(x))
}

fn main() {}
