use flytekit::{task, workflow, WorkflowFailure};

#[task]
fn fetch(url: String, tries: u64) -> String {
    format!("{url} {tries}")
}

// Misses the workflow's inputs.
#[task]
fn only_failure(failure: WorkflowFailure) {
    let _ = failure;
}

// Inputs in the wrong order.
#[task]
fn swapped(tries: u64, url: String, failure: WorkflowFailure) {
    let _ = (tries, url, failure);
}

#[workflow(on_failure = only_failure)]
fn download(url: String, tries: u64) -> String {
    fetch(url, tries)
}

#[workflow(on_failure = swapped)]
fn download_again(url: String, tries: u64) -> String {
    fetch(url, tries)
}

#[task]
fn answer() -> u64 {
    42
}

// No `WorkflowFailure`.
#[task]
fn no_failure() {}

#[workflow(on_failure = no_failure)]
fn no_inputs() -> u64 {
    answer()
}

fn main() {}
