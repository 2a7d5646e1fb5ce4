use flytekit::task;

#[task(timeout = "0s")]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
