use flytekit::task;

#[task(timeout = "30")]
fn double(x: u64) -> u64 {
    x * 2
}

#[task(timeout = "5 minuets")]
fn triple(x: u64) -> u64 {
    x * 3
}

#[task(timeout = "soon")]
fn half(x: u64) -> u64 {
    x / 2
}

fn main() {}
