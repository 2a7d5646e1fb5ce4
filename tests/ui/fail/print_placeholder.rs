// Printing, writing or logging a placeholder in a workflow body would show the placeholder, not
// the value: refused in every form.
use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

struct Log;

impl std::fmt::Write for Log {
    fn write_str(&mut self, _: &str) -> std::fmt::Result {
        Ok(())
    }
}

#[workflow]
fn wf(x: u64) -> u64 {
    let y = double(x);
    let _ = print!("{x}");
    let _ = println!("y = {}", y);
    let _ = eprintln!("{y:?}");
    let _ = write!(Log, "{x}");
    let _ = writeln!(Log, "{}", y);
    let _ = tracing::info!(target: "wf", "doubled {x}");
    // As a statement, any `println!` is refused: it would run once, while the graph is built.
    println!("{y:?}");
    y
}

fn main() {}
