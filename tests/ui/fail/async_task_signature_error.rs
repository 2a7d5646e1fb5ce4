// An async task whose signature is wrong still exists for the workflow that calls it and for
// the test that awaits it, so that the signature's errors are the only ones.
use flytekit::{task, workflow, Checkpoint};

#[task]
async fn count(cp: &mut Checkpoint, n: u64) -> u64 {
    let _ = cp;
    n
}

#[task]
async fn label(text: &str) -> String {
    text.to_owned()
}

#[workflow]
fn wf(n: u64) -> String {
    let _ = count(n);
    label("x")
}

async fn unit_test(cp: &mut Checkpoint) -> u64 {
    count(cp, 3).await
}

fn main() {
    let _ = unit_test;
}
