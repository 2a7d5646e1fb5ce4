use flytekit::task;

struct Model {
    scale: u64,
}

impl Model {
    #[task]
    fn apply(&self, x: u64) -> u64 {
        x * self.scale
    }
}

fn main() {}
