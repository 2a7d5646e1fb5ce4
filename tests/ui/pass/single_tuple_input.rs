use flytekit::{task, workflow, LocalRuntime};

// A single input whose type is a tuple is one slot, not two.
#[task]
fn sum_pair(pair: (u64, u64)) -> u64 {
    pair.0 + pair.1
}

#[task]
fn make_pair(a: u64) -> ((u64, u64),) {
    ((a, a + 1),)
}

#[workflow]
fn wf(a: u64) -> (u64, u64) {
    let (p,) = make_pair(a);
    (sum_pair(p), sum_pair((10, 20)))
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 3).unwrap(), (7, 30));
}
