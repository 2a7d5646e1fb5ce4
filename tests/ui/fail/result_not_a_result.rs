use flytekit::task;

mod outcome {
    pub struct Result<T>(pub T);
}

#[task]
fn parse(s: String) -> outcome::Result<u64> {
    outcome::Result(s.len() as u64)
}

fn main() {}
