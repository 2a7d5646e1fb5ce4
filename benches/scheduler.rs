//! What the runtime adds per node, next to calling the same functions directly, and how much a
//! fan-out of CPU-bound tasks gains from running in parallel.
//!
//! ```text
//! cargo bench --bench scheduler
//! ```
//!
//! The 1,000-node graphs are built from sub-workflows of ten nodes, ten deep, since a workflow
//! body is written out by hand: `chain_1000` is ten `chain_100` in a row, each ten `chain_10`,
//! each ten `inc` calls in a row; `fan_1000` is the same with every call reading the workflow's
//! input, so all 1,000 nodes are ready at once. Durable runs are measured by `benches/durable.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use flytekit::{dynamic, task, workflow, LocalRuntime};

#[task]
fn inc(x: u64) -> u64 {
    x.wrapping_add(1)
}

#[workflow]
fn chain_10(x: u64) -> u64 {
    let a = inc(x);
    let a = inc(a);
    let a = inc(a);
    let a = inc(a);
    let a = inc(a);
    let a = inc(a);
    let a = inc(a);
    let a = inc(a);
    let a = inc(a);
    inc(a)
}

#[workflow]
fn chain_100(x: u64) -> u64 {
    let a = chain_10(x);
    let a = chain_10(a);
    let a = chain_10(a);
    let a = chain_10(a);
    let a = chain_10(a);
    let a = chain_10(a);
    let a = chain_10(a);
    let a = chain_10(a);
    let a = chain_10(a);
    chain_10(a)
}

#[workflow]
fn chain_1000(x: u64) -> u64 {
    let a = chain_100(x);
    let a = chain_100(a);
    let a = chain_100(a);
    let a = chain_100(a);
    let a = chain_100(a);
    let a = chain_100(a);
    let a = chain_100(a);
    let a = chain_100(a);
    let a = chain_100(a);
    chain_100(a)
}

#[workflow]
fn fan_10(x: u64) {
    inc(x);
    inc(x);
    inc(x);
    inc(x);
    inc(x);
    inc(x);
    inc(x);
    inc(x);
    inc(x);
    inc(x);
}

#[workflow]
fn fan_100(x: u64) {
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
    fan_10(x);
}

#[workflow]
fn fan_1000(x: u64) {
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
    fan_100(x);
}

/// The same chains, written as loops: the body runs once, making a node per iteration.
#[workflow]
fn loop_1000(x: u64) -> u64 {
    let mut a = inc(x);
    for _ in 1..1000 {
        a = inc(a);
    }
    a
}

#[workflow]
fn loop_10000(x: u64) -> u64 {
    let mut a = inc(x);
    for _ in 1..10_000 {
        a = inc(a);
    }
    a
}

/// The same chain built at run time by a dynamic node: its 1,000 nodes are sub-nodes.
#[dynamic]
fn dynamic_chain(x: u64, n: u64) -> u64 {
    let mut a = inc(x);
    for _ in 1..n {
        a = inc(a);
    }
    a
}

#[workflow]
fn dynamic_1000(x: u64) -> u64 {
    dynamic_chain(x, 1000)
}

/// The baseline: the same 1,000 calls, as plain function calls.
fn plain_chain(x: u64) -> u64 {
    (0..1000).fold(x, |a, _| inc(black_box(a)))
}

fn plain_fan(x: u64) {
    for _ in 0..1000 {
        black_box(inc(black_box(x)));
    }
}

/// About 20 ms of arithmetic on one core, which no optimizer can skip.
#[task]
fn burn(seed: u64) -> u64 {
    let mut h = seed;
    for i in 0..25_000_000u64 {
        h = (h ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    }
    h
}

#[workflow]
fn burn_8(x: u64) -> (u64, u64, u64, u64, u64, u64, u64, u64) {
    (burn(x), burn(1), burn(2), burn(3), burn(4), burn(5), burn(6), burn(7))
}

fn per_node(c: &mut Criterion) {
    let mut group = c.benchmark_group("nodes_1000");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("plain_chain", |b| b.iter(|| plain_chain(black_box(0))));
    group.bench_function("plain_fan", |b| b.iter(|| plain_fan(black_box(0))));
    let rt = LocalRuntime::new();
    assert_eq!(rt.run(chain_1000, 0).unwrap(), 1000);
    group.bench_function("memory_chain", |b| b.iter(|| rt.run(chain_1000, black_box(0)).unwrap()));
    group.bench_function("memory_fan", |b| b.iter(|| rt.run(fan_1000, black_box(0)).unwrap()));
    let one = LocalRuntime::new().max_parallelism(1);
    group.bench_function("memory_fan_sequential", |b| {
        b.iter(|| one.run(fan_1000, black_box(0)).unwrap())
    });
    group.finish();
}

/// A chain built by a loop against the same chain built from nested sub-workflows, and what
/// building and running 10,000 looped nodes costs.
fn loops(c: &mut Criterion) {
    use flytekit::Workflow;
    let mut group = c.benchmark_group("loops");
    group.measurement_time(Duration::from_secs(5));
    let rt = LocalRuntime::new();
    assert_eq!(rt.run(loop_1000, 0).unwrap(), 1000);
    group.bench_function("memory_chain_1000_subworkflows", |b| {
        b.iter(|| rt.run(chain_1000, black_box(0)).unwrap())
    });
    group.bench_function("memory_loop_1000", |b| {
        b.iter(|| rt.run(loop_1000, black_box(0)).unwrap())
    });
    assert_eq!(rt.run(dynamic_1000, 0).unwrap(), 1000);
    group.bench_function("memory_dynamic_1000", |b| {
        b.iter(|| rt.run(dynamic_1000, black_box(0)).unwrap())
    });
    group.bench_function("build_loop_10000", |b| b.iter(|| loop_10000.graph().unwrap()));
    group.sample_size(20);
    group.bench_function("memory_loop_10000", |b| {
        b.iter(|| rt.run(loop_10000, black_box(0)).unwrap())
    });
    group.finish();
}

fn parallel_speedup(c: &mut Criterion) {
    let mut group = c.benchmark_group("burn_8");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let one = LocalRuntime::new().max_parallelism(1);
    let all = LocalRuntime::new().max_parallelism(cores);
    group.bench_function("parallelism_1", |b| b.iter(|| one.run(burn_8, black_box(0)).unwrap()));
    group.bench_function(format!("parallelism_{cores}"), |b| {
        b.iter(|| all.run(burn_8, black_box(0)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, per_node, loops, parallel_speedup);
criterion_main!(benches);
