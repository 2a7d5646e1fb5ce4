use flytekit::{task, workflow, TaskError};

#[task]
fn parse(s: String) -> Result<u64, TaskError> {
    Ok(s.parse()?)
}

#[workflow]
fn wf(s: String) -> u64 {
    parse(s)?
}

fn main() {}
