use std::rc::Rc;

use flytekit::task;

async fn tick() {}

// The runtime moves an async task's future between its executor's threads: a future that
// holds an `Rc` across an `.await` cannot be moved.
#[task]
async fn count(n: u64) -> u64 {
    let shared = Rc::new(n);
    tick().await;
    *shared + 1
}

fn main() {}
