use flytekit::workflow;

fn square(x: u64) -> u64 {
    x * x
}

#[workflow]
fn squares(xs: Vec<u64>) -> Vec<u64> {
    map(square, xs)
}

fn main() {}
