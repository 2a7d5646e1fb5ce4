use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow(failure_policy = FailAfterNodesComplete)]
fn unknown(x: u64) -> u64 {
    double(x)
}

#[workflow(failure_policy = FailurePolicy::FailImediately)]
fn typo(x: u64) -> u64 {
    double(x)
}

#[workflow(failure_policy = FAIL_AFTER_EXECUTABLE_NODES_COMPLETE)]
fn flyte_spelling(x: u64) -> u64 {
    double(x)
}

#[workflow(failure_policy = "FailImmediately")]
fn quoted(x: u64) -> u64 {
    double(x)
}

fn main() {}
