use flytekit::{workflow, LocalRuntime, Task};

mod tasks {
    use flytekit::task;

    /// Doubles its input.
    #[task]
    pub fn double(x: u64) -> u64 {
        x * 2
    }

    pub mod nested {
        #[flytekit::task(retries = 2)]
        pub fn inc(x: u64) -> u64 {
            x + 1
        }
    }
}

#[workflow]
fn wf(x: u64) -> u64 {
    let y = tasks::double(x);
    crate::tasks::nested::inc(y)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 4).unwrap(), 9);
    assert_eq!(tasks::nested::inc.info().retries(), 2);
    assert!(tasks::double.info().module().ends_with("::tasks"), "{}", tasks::double.info().module());
}
