use flytekit::task;

#[task(retries = 1, retries = 2)]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
