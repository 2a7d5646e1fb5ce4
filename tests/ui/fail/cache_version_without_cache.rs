use flytekit::task;

#[task(cache_version = "1")]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
