// Formatting a value known while the graph is built (a constant, a local bound to a literal) is
// ordinary Rust in a workflow body; `{{x}}` is text, and `{x}` names the argument `x = ..`
// rather than the placeholder `x`.
use flytekit::{task, workflow, LocalRuntime};

#[task]
fn greet(message: String, x: u64) -> String {
    format!("{message} {x}")
}

const GREETING: &str = "hello";

#[workflow]
fn wf(x: u64) -> String {
    let times = 2;
    let message = format!("{GREETING:>6} {times} {{x}} {x}", x = "literal");
    greet(message, x)
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 7).unwrap(), " hello 2 {x} literal 7");
    println!("ok");
}
