use flytekit::{workflow, LocalRuntime};

#[workflow]
fn wf(x: u64) -> u64 {
    x
}

fn main() {
    let _ = LocalRuntime::new().run(wf, "nine".to_string());
}
