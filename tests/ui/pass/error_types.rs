// The error types Rust programs use: their error is found through the type system.
use flytekit::{task, workflow, LocalRuntime, TaskError};

mod app {
    #[derive(Debug)]
    pub struct AppError;

    impl std::fmt::Display for AppError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("app error")
        }
    }

    impl std::error::Error for AppError {}

    pub type Result<T> = std::result::Result<T, AppError>;
}

#[task]
fn with_anyhow(x: u64) -> anyhow::Result<u64> {
    anyhow::ensure!(x > 0, "x is zero");
    Ok(x)
}

#[task]
fn with_eyre(x: u64) -> eyre::Result<(u64, u64)> {
    Ok((x, x + 1))
}

#[task]
fn with_box(x: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(x)
}

#[task]
fn with_alias(x: u64) -> app::Result<u64> {
    Ok(x)
}

#[task]
fn with_task_error(x: u64) -> Result<u64, TaskError> {
    Ok(x)
}

#[workflow]
fn wf(x: u64) -> u64 {
    let (a, b) = with_eyre(with_anyhow(x));
    with_task_error(with_alias(with_box(a)))
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 2).unwrap(), 2);
    assert!(LocalRuntime::new().run(wf, 0).is_err());
}
