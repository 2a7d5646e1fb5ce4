// A method call on a value known while the graph is built runs then, as Rust does.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn greet(name: String) -> String {
    format!("hello {name}")
}

#[workflow]
fn wf() -> String {
    greet("bob".to_string().to_uppercase())
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, ()).unwrap(), "hello BOB");
}
