use flytekit::{task, Checkpoint};

#[task]
fn count(cp: &mut Checkpoint, n: u64) -> u64 {
    let _ = cp;
    n
}

fn main() {}
