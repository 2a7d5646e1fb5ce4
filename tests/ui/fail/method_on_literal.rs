use flytekit::{task, workflow};

#[task]
fn greet(name: String) -> String {
    format!("hello {name}")
}

#[workflow]
fn wf() -> String {
    greet("bob".to_string())
}

fn main() {}
