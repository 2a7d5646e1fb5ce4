// A borrowed input stands as the owned type the error suggests: the workflow passing a `String`
// gets no second error, and a unit test still calls the function with a `&str`.
use flytekit::{task, workflow};

#[task]
fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[workflow]
fn wf(text: String) -> usize {
    words(text)
}

fn main() {
    assert_eq!(words("a b"), 2);
}
