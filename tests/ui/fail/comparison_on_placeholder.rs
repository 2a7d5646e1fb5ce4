use flytekit::{task, workflow};

#[task]
fn check(ok: bool) -> bool {
    ok
}

#[workflow]
fn wf(x: u64) -> bool {
    check(x > 10)
}

fn main() {}
