use flytekit::task;

#[task]
struct NotAFunction {
    x: u64,
}

fn main() {}
