use flytekit::{task, workflow, LocalRuntime};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Quadrant {
    First,
    Other { label: String },
}

#[task]
fn make(x: f64, y: f64) -> Point {
    Point { x, y }
}

#[task]
fn classify(p: Point) -> (Quadrant, Vec<Point>) {
    let q = if p.x > 0.0 && p.y > 0.0 {
        Quadrant::First
    } else {
        Quadrant::Other { label: format!("{p:?}") }
    };
    (q, vec![p.clone(), p])
}

#[workflow]
fn wf(x: f64, y: f64) -> (Quadrant, Vec<Point>) {
    let p = make(x, y);
    classify(p)
}

#[workflow]
fn literal_struct() -> Quadrant {
    let (q, _points) = classify(Point { x: -1.0, y: 1.0 });
    q
}

fn main() {
    let (q, points) = LocalRuntime::new().run(wf, (1.0, 2.0)).unwrap();
    assert_eq!(q, Quadrant::First);
    assert_eq!(points, vec![Point { x: 1.0, y: 2.0 }; 2]);
    let q = LocalRuntime::new().run(literal_struct, ()).unwrap();
    assert!(matches!(q, Quadrant::Other { .. }));
}
