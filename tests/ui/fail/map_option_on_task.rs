use flytekit::task;

#[task(concurrency = 4)]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
