use flytekit::{task, workflow, LocalRuntime, TaskContext, TaskError};

#[task(retries = 1)]
fn flaky(ctx: &TaskContext, n: u64) -> Result<String, TaskError> {
    if ctx.attempt() == 1 && !ctx.checkpoint().prev_exists() {
        ctx.checkpoint().save_state(&n)?;
        return Err(TaskError::recoverable("first attempt fails"));
    }
    let saved: u64 = ctx.checkpoint().load_state()?.unwrap_or(0);
    Ok(format!("{} attempt {} of {} saw {saved}", ctx.task_name(), ctx.attempt(), ctx.max_attempts()))
}

#[workflow]
fn wf(n: u64) -> String {
    flaky(n)
}

fn main() {
    let out = LocalRuntime::new().run(wf, 7).unwrap();
    assert!(out.starts_with("flaky attempt "), "{out}");
    assert!(out.ends_with("saw 7"), "{out}");
}
