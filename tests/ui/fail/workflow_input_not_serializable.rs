use flytekit::workflow;

struct Config {
    n: u64,
}

#[workflow]
fn wf(config: Config) {}

fn main() {}
