// A macro the body check does not know may format a placeholder too: `Promise` implements
// neither `Debug` nor `Display`, so that is still a compile error rather than the placeholder's
// text reaching the task.
use flytekit::{task, workflow};

#[task]
fn greet(message: String) -> String {
    message
}

macro_rules! shout {
    ($($format:tt)*) => {
        format!($($format)*).to_uppercase()
    };
}

#[workflow]
fn wf(name: String) -> String {
    let debug = shout!("{name:?}");
    greet(debug)
}

fn main() {}
