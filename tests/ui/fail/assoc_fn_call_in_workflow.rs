// `String::from(..)` and `Vec::new()` are ordinary functions, not literals: the body runs
// before any value exists, so build such values inside a task or write a literal.
use flytekit::{task, workflow};

#[task]
fn describe(name: String, xs: Vec<u64>) -> String {
    format!("{name} {xs:?}")
}

#[workflow]
fn wf() -> String {
    describe(String::from("owned"), Vec::new())
}

fn main() {}
