use flytekit::task;

#[derive(Debug)]
struct MyError;

#[task]
fn parse(s: String) -> Result<u64, MyError> {
    s.parse().map_err(|_| MyError)
}

fn main() {}
