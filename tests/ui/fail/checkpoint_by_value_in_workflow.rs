// The inputs and outputs can be named: the workflow is checked as it will be once the signature
// is fixed, and a unit test still calls the function.
use flytekit::{task, workflow, Checkpoint};

#[task]
fn count(cp: Checkpoint, n: u64) -> (u64, String) {
    let _ = cp;
    (n, n.to_string())
}

#[task]
fn plus_one(x: u64) -> u64 {
    x + 1
}

#[workflow]
fn wf(n: u64) -> (u64, String) {
    let (k, text): (u64, String) = count(n);
    (plus_one(k), text)
}

fn main() {
    assert_eq!(count(Checkpoint::temporary().unwrap(), 2).0, 2);
}
