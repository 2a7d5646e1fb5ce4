use flytekit::{task, workflow, WorkflowFailure};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

fn clean_up(x: u64, failure: WorkflowFailure) {
    let _ = (x, failure);
}

#[workflow(on_failure = clean_up)]
fn wf(x: u64) -> u64 {
    double(x)
}

#[workflow(on_failure = clean_up())]
fn called(x: u64) -> u64 {
    double(x)
}

fn main() {}
