// A #[dynamic] builds a graph: its tasks take the injected context, its options are its own,
// and it returns placeholders (what its task calls gave it), not values.
use flytekit::{dynamic, task, Checkpoint};

#[task]
fn square(x: u64) -> u64 {
    x * x
}

#[dynamic]
fn with_checkpoint(cp: &Checkpoint, n: u64) -> u64 {
    square(n)
}

#[dynamic(timeout = "1m")]
fn with_timeout(n: u64) -> u64 {
    square(n)
}

#[dynamic]
fn returns_a_value(n: u64) -> u64 {
    n * 2
}

fn main() {}
