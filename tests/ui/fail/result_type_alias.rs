use flytekit::{task, TaskError};

type Out = Result<u64, TaskError>;

#[task]
fn parse(s: String) -> Out {
    Ok(s.parse()?)
}

fn main() {}
