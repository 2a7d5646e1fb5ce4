use flytekit::{task, workflow, LocalRuntime};

#[task]
fn log(msg: String) {
    assert_eq!(msg, "hello");
}

#[task]
fn log_explicit(msg: String) -> () {
    assert_eq!(msg, "hello");
}

#[task]
fn check(msg: String) -> Result<(), flytekit::TaskError> {
    if msg.is_empty() {
        return Err(flytekit::TaskError::non_recoverable("empty"));
    }
    Ok(())
}

#[workflow]
fn wf(msg: String) {
    log(msg);
    check(msg);
    log_explicit(msg)
}

fn main() {
    LocalRuntime::new().run(wf, "hello".to_string()).unwrap();
    let () = LocalRuntime::new().run_task(log, "hello".to_string()).unwrap();
    assert!(LocalRuntime::new().run_task(check, String::new()).is_err());
}
