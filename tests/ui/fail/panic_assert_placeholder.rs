// `panic!`, `assert!` and their kin format their message and check their operands while the
// graph is built, when a placeholder has no value: refused in every form.
use flytekit::{task, workflow};

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(x: u64) -> u64 {
    let y = double(x);
    let _ = assert!(true, "{x}");
    let _ = assert_eq!(y, 4);
    let _ = assert_ne!(1, 2, "{} differs", y);
    let _ = debug_assert!(true, "{y:?}");
    let _ = unreachable!("{x}");
    // As a statement, any `assert!` is refused: it would run once, while the graph is built.
    assert!(true, "{x}");
    panic!("{y:?}")
}

fn main() {}
