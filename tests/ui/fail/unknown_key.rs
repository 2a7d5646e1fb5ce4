use flytekit::task;

#[task(retry = 3)]
fn double(x: u64) -> u64 {
    x * 2
}

fn main() {}
