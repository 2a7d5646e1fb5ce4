//! What runs next: every node whose inputs exist, up to the runtime's parallelism.
//!
//! The scheduler thread owns the bookkeeping (how many inputs each node still waits for, which
//! nodes are ready, every finished node's outputs); worker threads only run nodes. Ready nodes
//! start in the order they became ready, so with a parallelism of 1 the order is the body's.
//! When one node can run and nothing else is running (a chain), or the parallelism is 1, it
//! runs on the scheduler thread itself, so a sequential graph pays no hand-off between threads.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;

use crate::error::Error;
use crate::graph::{FailurePolicy, Graph};
use crate::value::{Encoded, Outputs};

/// A node the scheduler found ready.
pub(crate) enum Ready {
    /// Already finished (in an earlier run of the execution): these are its outputs.
    Done(Vec<Encoded>),
    /// To run, on these inputs.
    Run(Vec<Encoded>),
}

/// The scheduler thread's bookkeeping.
struct Plan {
    waiting_on: Vec<usize>,
    downstream: Vec<Vec<usize>>,
    ready: VecDeque<usize>,
    outputs: Outputs,
    failure: Option<Error>,
    policy: FailurePolicy,
}

impl Plan {
    fn new(graph: &Graph, policy: FailurePolicy) -> Plan {
        let nodes = graph.nodes();
        let mut waiting_on = Vec::with_capacity(nodes.len());
        let mut downstream = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let upstream = node.upstream();
            for &up in upstream {
                downstream[up].push(i);
            }
            waiting_on.push(upstream.len());
        }
        Plan {
            ready: (0..nodes.len()).filter(|&i| waiting_on[i] == 0).collect(),
            waiting_on,
            downstream,
            outputs: vec![None; nodes.len()],
            failure: None,
            policy,
        }
    }

    /// Records a node's end; true if it is the execution's first failure.
    ///
    /// A node that a preemption notice stopped ([`Error::Preempted`]) is not a failure: nothing
    /// new starts after it, but running nodes are not asked to stop (they saw the notice, and
    /// may still commit their checkpoints). It is what the graph returns unless a node fails
    /// for good, whose failure wins.
    fn finish(&mut self, i: usize, result: Result<Vec<Encoded>, Error>) -> bool {
        match result {
            Ok(out) => {
                self.outputs[i] = Some(out);
                for &d in &self.downstream[i] {
                    self.waiting_on[d] -= 1;
                    if self.waiting_on[d] == 0 {
                        self.ready.push_back(d);
                    }
                }
                false
            }
            Err(e) => {
                let preempted = matches!(e, Error::Preempted(_));
                if self.policy == FailurePolicy::FailImmediately || preempted {
                    self.ready.clear();
                }
                // The first failure is the execution's; later ones follow from it.
                match &self.failure {
                    None => {
                        self.failure = Some(e);
                        !preempted
                    }
                    Some(Error::Preempted(_)) if !preempted => {
                        self.failure = Some(e);
                        true
                    }
                    Some(_) => false,
                }
            }
        }
    }
}

/// Runs `graph`'s nodes in dependency order, at most `workers` at a time, and returns every
/// finished node's outputs, or the first failure once nothing is left running.
///
/// `prepare` runs on the scheduler thread when a node becomes ready (it sees the outputs so
/// far); `execute` runs the node, on any thread. Under [`FailurePolicy::FailImmediately`],
/// `stop_running` is called at the first failure, before the scheduler waits for the nodes
/// still running.
pub(crate) fn run(
    graph: &Graph,
    workers: usize,
    policy: FailurePolicy,
    prepare: impl Fn(usize, &Outputs) -> Result<Ready, Error>,
    execute: impl Fn(usize, Vec<Encoded>) -> Result<Vec<Encoded>, Error> + Sync,
    stop_running: impl FnOnce(),
) -> Result<Outputs, Error> {
    let mut plan = Plan::new(graph, policy);
    let mut stop_running = (policy == FailurePolicy::FailImmediately).then_some(stop_running);
    // Set with `stop_running`: queued nodes that no worker has started yet are dropped.
    let cancelled = &AtomicBool::new(false);
    let mut on_end = |plan: &mut Plan, i: usize, result: Result<Vec<Encoded>, Error>| {
        if plan.finish(i, result) {
            if let Some(stop) = stop_running.take() {
                cancelled.store(true, Ordering::SeqCst);
                stop();
            }
        }
    };
    let workers = workers.max(1);
    let execute = &execute;

    let (job_tx, job_rx) = mpsc::channel::<(usize, Vec<Encoded>)>();
    let job_rx = &Mutex::new(job_rx);
    // `None` for a queued node dropped because the execution is failing.
    let (done_tx, done_rx) = mpsc::channel::<(usize, thread::Result<Option<Result<Vec<Encoded>, Error>>>)>();
    thread::scope(|scope| {
        let (mut running, mut spawned) = (0usize, 0usize);
        loop {
            // Every ready node is queued at once, so that a worker finishing one node takes the
            // next without waiting for this thread; the `workers` threads bound how many run.
            while let Some(i) = plan.ready.pop_front() {
                let inputs = match prepare(i, &plan.outputs) {
                    Ok(Ready::Run(inputs)) => inputs,
                    Ok(Ready::Done(out)) => {
                        on_end(&mut plan, i, Ok(out));
                        continue;
                    }
                    Err(e) => {
                        on_end(&mut plan, i, Err(e));
                        continue;
                    }
                };
                if running == 0 && (plan.ready.is_empty() || workers == 1) {
                    let result = execute(i, inputs);
                    on_end(&mut plan, i, result);
                    continue;
                }
                if running == spawned && spawned < workers {
                    spawned += 1;
                    let done_tx = done_tx.clone();
                    scope.spawn(move || loop {
                        // The lock only hands out jobs; it is released before a job runs.
                        let job = job_rx.lock().map_err(drop).and_then(|rx| rx.recv().map_err(drop));
                        let Ok((i, inputs)) = job else { break };
                        // Tasks' panics are caught per attempt; one here is a flytekit bug, and
                        // is re-raised on the caller's thread rather than left to hang it.
                        let result = panic::catch_unwind(AssertUnwindSafe(|| {
                            let result = (!cancelled.load(Ordering::SeqCst)).then(|| execute(i, inputs));
                            // Raised here, before this worker takes its next job, rather than
                            // when the scheduler thread gets to the failure.
                            if matches!(result, Some(Err(_))) && policy == FailurePolicy::FailImmediately {
                                cancelled.store(true, Ordering::SeqCst);
                            }
                            result
                        }));
                        if done_tx.send((i, result)).is_err() {
                            break;
                        }
                    });
                }
                // The receiving end lives until this scope ends.
                let _ = job_tx.send((i, inputs));
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Ok((i, result)) = done_rx.recv() else { break };
            running -= 1;
            if let Some(result) = result.unwrap_or_else(|p| panic::resume_unwind(p)) {
                on_end(&mut plan, i, result);
            }
        }
        // Workers leave when the job channel closes.
        drop(job_tx);
    });
    match plan.failure {
        Some(e) => Err(e),
        None => Ok(plan.outputs),
    }
}
