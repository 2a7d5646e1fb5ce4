//! What asking for a task's typed interface costs: describing its types, which happens only
//! then (the local runtime never asks), against building its `TaskInfo`, in the same run.
//!
//! ```text
//! cargo bench --bench interface
//! ```
//!
//! * `interface/info`: `TaskInfo` of a task of four inputs (the baseline);
//! * `interface/typed`: the interface of that task, whose types are all `Typed` (std's);
//! * `interface/traced`: the interface of a task taking a struct of 13 fields with nested
//!   structs, enums, maps, options, a `Duration` and a chrono `DateTime`, traced through its
//!   `Deserialize` impl (several passes, one per enum variant to discover).

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use flytekit::{task, Task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Low,
    Medium,
    High,
}

#[derive(Serialize, Deserialize)]
enum Shape {
    Dot,
    Circle(f64),
    Polygon(Vec<Point>),
}

#[derive(Serialize, Deserialize)]
struct Sample {
    id: u64,
    name: String,
    ok: bool,
    at: Point,
    path: Vec<Point>,
    tags: HashMap<String, String>,
    level: Level,
    levels: Vec<Option<Level>>,
    best: Option<Point>,
    shape: Shape,
    when: chrono::DateTime<chrono::Utc>,
    took: Duration,
    weights: Option<BTreeMap<String, f32>>,
}

#[task]
fn typed(a: u64, b: Vec<String>, c: Option<f64>, d: HashMap<String, Duration>) -> (u64, bool) {
    let _ = (b, c, d);
    (a, true)
}

#[task]
fn traced(sample: Sample) -> u64 {
    sample.id
}

fn interface(c: &mut Criterion) {
    let mut group = c.benchmark_group("interface");
    group.bench_function("info", |b| b.iter(|| black_box(black_box(typed).info())));
    group.bench_function("typed", |b| b.iter(|| black_box(black_box(typed).interface())));
    group.bench_function("traced", |b| b.iter(|| black_box(black_box(traced).interface())));
    group.finish();
}

criterion_group!(benches, interface);
criterion_main!(benches);
