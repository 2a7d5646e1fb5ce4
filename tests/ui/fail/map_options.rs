use flytekit::{task, workflow};

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[workflow]
fn unknown_option(xs: Vec<u64>) -> Vec<u64> {
    map(square, xs, parallelism = 4)
}

#[workflow]
fn duplicate_option(xs: Vec<u64>) -> Vec<u64> {
    map(square, xs, concurrency = 2, concurrency = 4)
}

#[workflow]
fn zero_concurrency(xs: Vec<u64>) -> Vec<u64> {
    map(square, xs, concurrency = 0)
}

#[workflow]
fn ratio_out_of_range(xs: Vec<u64>) -> Vec<Option<u64>> {
    map(square, xs, min_success_ratio = 1.5)
}

#[workflow]
fn positional_option(xs: Vec<u64>) -> Vec<u64> {
    map(square, xs, 4)
}

#[workflow]
fn no_list() -> Vec<u64> {
    map(square)
}

#[workflow]
fn closure_task(xs: Vec<u64>) -> Vec<u64> {
    map(|x| x, xs)
}

fn main() {}
