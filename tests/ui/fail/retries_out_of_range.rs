use flytekit::task;

#[task(retries = 11)]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
