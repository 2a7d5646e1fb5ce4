use flytekit::{task, workflow};

#[derive(serde::Serialize, serde::Deserialize)]
struct Point {
    x: u64,
    y: u64,
}

#[task]
fn locate(n: u64) -> Point {
    Point { x: n, y: n }
}

#[task]
fn double(x: u64) -> u64 {
    x * 2
}

#[workflow]
fn wf(n: u64) -> u64 {
    let p = locate(n);
    double(p.x)
}

fn main() {}
