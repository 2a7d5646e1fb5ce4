use flytekit::{workflow, Checkpoint};

#[workflow]
fn wf(cp: &Checkpoint, n: u64) -> u64 {
    n
}

fn main() {}
