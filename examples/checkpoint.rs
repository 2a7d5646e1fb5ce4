use flytekit::{task, workflow, Checkpoint, LocalRuntime, TaskError};

#[task(retries = 3)]
fn use_checkpoint(cp: &Checkpoint, n_iterations: u64) -> Result<u64, TaskError> {
    let start: u64 = match cp.read()? {
        Some(bytes) => std::str::from_utf8(&bytes)?.parse()?,
        None => 0,
    };
    for i in start..n_iterations {
        if i > start && i % 3 == 0 {
            return Err(TaskError::recoverable(format!("failed at iteration {i}")));
        }
        cp.write(format!("{}", i + 1).as_bytes())?;
    }
    Ok(n_iterations)
}

#[workflow]
fn example(n_iterations: u64) -> u64 {
    use_checkpoint(n_iterations)
}

fn main() -> Result<(), flytekit::Error> {
    let out = LocalRuntime::new().run(example, 9)?;
    println!("{out}");
    Ok(())
}
