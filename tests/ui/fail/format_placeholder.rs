// A placeholder cannot be formatted in a workflow body: the text would be the placeholder's, not
// the value's, which exists only when the workflow runs. Every form is refused, at the format
// string for a capture and at the argument otherwise.
use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[task]
fn greet(message: String) -> String {
    message
}

#[task]
fn concat(messages: Vec<String>) -> String {
    messages.concat()
}

#[workflow]
fn wf(name: String, x: u64) -> String {
    let y = double(x);
    let debug = format!("{name:?}");
    let display = format!("hello {name}");
    let output = format!("{y:>8}");
    let width = format!("{:>x$}", 1);
    let positional = format!("{} and {:?}", name, y);
    let named = format!("{n}", n = name);
    let pathed = std::format!("{y:#?}");
    let nested = concat(vec![format!("{x}")]);
    let args = format!("{}", format_args!("{y}"));
    greet(debug)
}

fn main() {}
