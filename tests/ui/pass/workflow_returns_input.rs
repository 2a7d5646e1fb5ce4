use flytekit::{task, workflow, LocalRuntime};

#[task]
fn noop() {}

#[workflow]
fn passthrough(x: u64, s: String) -> (String, u64) {
    noop();
    (s, x)
}

fn main() {
    let out = LocalRuntime::new().run(passthrough, (1, "a".to_string())).unwrap();
    assert_eq!(out, ("a".to_string(), 1));
}
