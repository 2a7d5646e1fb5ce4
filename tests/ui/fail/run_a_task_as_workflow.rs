use flytekit::{task, LocalRuntime};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {
    let _ = LocalRuntime::new().run(double, 3);
}
