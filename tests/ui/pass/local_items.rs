use flytekit::{task, workflow, LocalRuntime, Task};

mod tasks {
    #[flytekit::task]
    pub fn double(x: u64) -> u64 {
        x * 2
    }
}

use tasks::double as twice;

fn main() {
    // Tasks and workflows defined inside a function body.
    #[task]
    fn inc(x: u64) -> u64 {
        x + 1
    }

    #[workflow]
    fn wf(x: u64) -> (u64, u64) {
        let y = twice(x);
        // A constant shadowing nothing, and a placeholder used twice (fan-out).
        let one = 1;
        let _ = twice(one);
        (inc(y), self::tasks::double(y))
    }

    assert_eq!(LocalRuntime::new().run(wf, 5).unwrap(), (11, 20));
    assert_eq!(twice.info().name(), "double");
    use flytekit::Workflow;
    assert_eq!(wf.graph().unwrap().nodes().len(), 4);
}
