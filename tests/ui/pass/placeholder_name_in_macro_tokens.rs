// A field named like a placeholder (`x`) inside `vec![..]` is not a use of the placeholder.
use flytekit::{task, workflow, LocalRuntime};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[task]
fn count(x: f64, points: Vec<Point>) -> usize {
    let _ = x;
    points.len()
}

#[workflow]
fn wf(x: f64) -> usize {
    count(x, vec![Point { x: 1.0, y: 2.0 }])
}

fn main() {
    assert_eq!(LocalRuntime::new().run(wf, 0.5).unwrap(), 1);
    println!("ok");
}
