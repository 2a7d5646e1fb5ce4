use flytekit::{task, workflow, LocalRuntime};

#[task]
fn answer() -> u64 {
    42
}

#[workflow]
fn wf() -> u64 {
    answer()
}

fn main() {
    assert_eq!(answer(), 42);
    assert_eq!(LocalRuntime::new().run(wf, ()).unwrap(), 42);
}
