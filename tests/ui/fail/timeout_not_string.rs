use flytekit::task;

#[task(timeout = 30)]
fn double(x: u64) -> u64 {
    x * 2
}

#[task(timeout = 5m)]
fn triple(x: u64) -> u64 {
    x * 3
}

const TIMEOUT: &str = "30s";

#[task(timeout = TIMEOUT)]
fn quadruple(x: u64) -> u64 {
    x * 4
}

#[task(timeout)]
fn half(x: u64) -> u64 {
    x / 2
}

fn main() {}
