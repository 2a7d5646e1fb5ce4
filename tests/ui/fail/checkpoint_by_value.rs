use flytekit::{task, Checkpoint};

#[task]
fn count(cp: Checkpoint, n: u64) -> u64 {
    let _ = cp;
    n
}

fn main() {}
