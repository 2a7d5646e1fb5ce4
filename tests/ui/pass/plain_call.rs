use flytekit::{task, workflow, Checkpoint, LocalRuntime, TaskError};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n: u64) -> Result<u64, TaskError> {
    let start: u64 = cp.load_state()?.unwrap_or(0);
    for i in start..n {
        cp.save_state(&(i + 1))?;
    }
    Ok(n)
}

#[workflow]
fn wf(n: u64) -> u64 {
    use_checkpoint(double(n))
}

fn main() {
    // Still plain functions, as in a unit test.
    assert_eq!(double(2), 4);
    let cp = Checkpoint::temporary().unwrap();
    assert_eq!(use_checkpoint(&cp, 3).unwrap(), 3);
    // A function pointer, too.
    let f: fn(u64) -> u64 = *double;
    assert_eq!(f(5), 10);
    assert_eq!(LocalRuntime::new().run(wf, 3).unwrap(), 6);
    assert_eq!(LocalRuntime::new().run_task(double, 21).unwrap(), 42);
}
