use flytekit::{task, Checkpoint, TaskContext};

#[task]
fn both(cp: &Checkpoint, ctx: &TaskContext, n: u64) -> u64 {
    let _ = (cp, ctx);
    n
}

fn main() {}
