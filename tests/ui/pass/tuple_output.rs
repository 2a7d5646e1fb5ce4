use flytekit::{task, workflow, LocalRuntime};

#[task]
fn divmod(x: u64, d: u64) -> (u64, u64) {
    (x / d, x % d)
}

#[task]
fn combine(q: u64, r: u64) -> String {
    format!("{q} r {r}")
}

#[workflow]
fn wf(x: u64) -> String {
    let (q, r) = divmod(x, 7);
    combine(q, r)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 23).unwrap(), "3 r 2");
}
