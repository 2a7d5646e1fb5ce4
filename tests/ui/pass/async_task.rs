// `#[task] async fn` in every form a synchronous task takes: the context by reference in any
// position, fallible or not, several outputs, none; called in a workflow beside synchronous
// tasks, mapped, and awaited directly.
use flytekit::{task, workflow, Checkpoint, LocalRuntime, Task, TaskContext, TaskError};

#[task]
async fn fetch(url: String) -> String {
    url
}

#[task(retries = 2, timeout = "1m", cache = true, cache_version = "1")]
async fn resume(n: u64, cp: &Checkpoint) -> Result<u64, TaskError> {
    let start: u64 = cp.load_state()?.unwrap_or(0);
    cp.save_state(&n)?;
    Ok(start + n)
}

#[task]
async fn which(ctx: &TaskContext) -> std::io::Result<(u32, String)> {
    Ok((ctx.attempt(), ctx.node_id().to_owned()))
}

#[task]
async fn nothing() {}

#[task]
fn length(text: String) -> u64 {
    text.len() as u64
}

#[workflow]
fn mixed(url: String, xs: Vec<String>) -> (u64, u32, Vec<String>) {
    let n = resume(length(fetch(url)));
    let (attempt, _node) = which();
    nothing();
    (n, attempt, map(fetch, xs, concurrency = 100))
}

async fn unit_test() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cp = Checkpoint::temporary()?;
    assert_eq!(fetch("a".to_string()).await, "a");
    assert_eq!(resume(2, &cp).await?, 2);
    let ctx = TaskContext::detached(Checkpoint::temporary()?);
    assert_eq!(which(&ctx).await?.0, 1);
    nothing().await;
    Ok(())
}

fn main() {
    assert!(fetch.info().is_async());
    assert!(!length.info().is_async());
    let out = LocalRuntime::new().run(mixed, ("abc".to_string(), vec!["x".to_string()]));
    assert_eq!(out.unwrap(), (3, 1, vec!["x".to_string()]));
    let _ = unit_test;
}
