//! A diamond-shaped pipeline: `generate` feeds `summarize` and `fit`, which both feed
//! `report`. `fit` trains a linear model with SGD, saves its state to the checkpoint after
//! every epoch, and is preempted once (a simulated spot-instance loss) on its first attempt:
//! the retry resumes from the last epoch it saved instead of from zero.
//!
//! The program is a workflow binary: `main` is `flytekit::main`, so it has the whole command
//! line (`run`, `resume`, `executions`, `show`, `graph`; see the README). Without arguments it
//! runs the pipeline on 1,000 points for 400 epochs, in a store under the system's temporary
//! directory.
//!
//! ```sh
//! cargo run --example pipeline
//! cargo run --example pipeline -- run pipeline --input n=500 --input epochs=100 --execution-id p1
//! cargo run --example pipeline -- show p1
//! cargo run --example pipeline -- graph pipeline --format dot | dot -Tsvg > pipeline.svg
//! ```

use std::ffi::OsString;
use std::process::ExitCode;

use flytekit::{task, workflow, TaskContext, TaskError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Serialize, Deserialize, Debug)]
struct Summary {
    n: usize,
    mean_x: f64,
    mean_y: f64,
}

#[derive(Serialize, Deserialize, Debug, Default)]
struct Model {
    w: f64,
    b: f64,
    epochs: u32,
}

/// Points on y = 3x + 2 with deterministic noise.
#[task]
fn generate(n: usize, seed: u64) -> Vec<Point> {
    let mut state = seed;
    (0..n)
        .map(|i| {
            // A linear congruential generator: reproducible noise without a dependency.
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.2;
            let x = i as f64 / n as f64;
            Point {
                x,
                y: 3.0 * x + 2.0 + noise,
            }
        })
        .collect()
}

#[task]
fn summarize(points: Vec<Point>) -> Summary {
    let n = points.len();
    let mean = |f: fn(&Point) -> f64| points.iter().map(f).sum::<f64>() / n as f64;
    Summary {
        n,
        mean_x: mean(|p| p.x),
        mean_y: mean(|p| p.y),
    }
}

/// Gradient descent, one checkpoint per epoch.
#[task(retries = 2)]
fn fit(ctx: &TaskContext, points: Vec<Point>, epochs: u32) -> Result<Model, TaskError> {
    let cp = ctx.checkpoint();
    let mut model: Model = cp.load_state()?.unwrap_or_default();
    eprintln!("fit, attempt {}: resuming at epoch {}", ctx.attempt(), model.epochs);
    let rate = 0.5;
    while model.epochs < epochs {
        if ctx.attempt() == 1 && model.epochs == epochs / 2 {
            eprintln!("fit, attempt {}: preempted at epoch {}", ctx.attempt(), model.epochs);
            return Err(TaskError::recoverable("the spot instance was reclaimed"));
        }
        let (mut gw, mut gb) = (0.0, 0.0);
        for p in &points {
            let err = model.w * p.x + model.b - p.y;
            gw += err * p.x;
            gb += err;
        }
        let n = points.len() as f64;
        model.w -= rate * gw / n;
        model.b -= rate * gb / n;
        model.epochs += 1;
        cp.save_state(&model)?;
    }
    Ok(model)
}

#[task]
fn report(summary: Summary, model: Model) -> String {
    format!(
        "{} points (mean x {:.3}, mean y {:.3}); after {} epochs: y = {:.2}x + {:.2}",
        summary.n, summary.mean_x, summary.mean_y, model.epochs, model.w, model.b
    )
}

#[workflow]
fn pipeline(n: usize, epochs: u32) -> String {
    let points = generate(n, 42);
    let summary = summarize(points);
    let model = fit(points, epochs);
    report(summary, model)
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.len() == 1 {
        let store = std::env::temp_dir().join("flytekit-pipeline-example");
        let demo = [
            "run",
            "pipeline",
            "--input",
            "n=1000",
            "--input",
            "epochs=400",
            "--store",
        ];
        args.extend(demo.into_iter().map(OsString::from));
        args.push(store.into_os_string());
    }
    flytekit::main_from(args, [pipeline.into()])
}
