use flytekit::task;

// A task's error crosses threads: a `Box<dyn Error>` that is not `Send + Sync` cannot.
#[task]
fn parse(s: String) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(s.parse()?)
}

fn main() {}
