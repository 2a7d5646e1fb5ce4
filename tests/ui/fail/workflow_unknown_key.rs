use flytekit::{task, workflow, WorkflowFailure};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn clean_up(x: u64, failure: WorkflowFailure) {
    let _ = (x, failure);
}

#[workflow(on_fail = clean_up, timeout = "1m", failure_policy, on_failure = clean_up, on_failure = clean_up)]
fn wf(x: u64) -> u64 {
    double(x)
}

fn main() {}
