//! Every write the runtime makes while it runs an execution. A record the runtime acts on is
//! committed before it acts (an attempt's start before its task runs, an execution's end before
//! it returns); the others are queued and ride along with the next commit (commit.rs), so that
//! a process killed at any instant leaves a consistent record: finished nodes with their
//! outputs, at most one attempt per node marked running (the one that was interrupted).

use std::collections::HashMap;

use rusqlite::{named_params, Transaction};

use super::status::Kind;
use super::{cell, now, sealed, Place, Status, Store};
use crate::error::{AttemptFailure, Error, FailureKind, StoreError};
use crate::value::Encoded;

/// What the store knew of an execution when a run of it began.
pub(crate) enum Begin {
    /// It had succeeded: these are its outputs.
    Done(Vec<Encoded>),
    /// New, or to be resumed: the nodes already recorded.
    Run(Vec<NodeRecord>),
    /// It had succeeded, but its stored outputs are damaged (the error says how): it runs
    /// again, and its finished nodes give the outputs anew.
    Recompute(Vec<NodeRecord>, StoreError),
}

/// A node as recorded before this process took the execution over.
pub(crate) struct NodeRecord {
    pub id: String,
    pub status: Status,
    pub user_failures: u32,
    pub system_failures: u32,
    pub last_attempt: u32,
    /// Its last attempt was running when the process died.
    pub interrupted: bool,
    /// A finished node's outputs, or why they cannot be used.
    pub outputs: Option<Result<Vec<Encoded>, StoreError>>,
    /// Its failed and interrupted attempts since its budgets were last reset, oldest first.
    pub failures: Vec<AttemptFailure>,
}

impl NodeRecord {
    /// The outputs of a node that finished and whose outputs are intact.
    pub fn finished(&self) -> Option<&Vec<Encoded>> {
        match &self.outputs {
            Some(Ok(outputs)) if self.status == Status::Succeeded => Some(outputs),
            _ => None,
        }
    }
}

/// When attempt `:attempt` of node `:node` started, as an attempt's row is written at its end:
/// from the row it replaces (stores written before schema 5 kept every attempt's row from its
/// start), else from the node's row, which holds the attempt it runs.
const STARTED_AT: &str = "COALESCE(
    (SELECT started_at FROM attempts WHERE execution_id = :execution AND node_id = :node AND attempt = :attempt),
    (SELECT attempt_started_at FROM nodes WHERE execution_id = :execution AND node_id = :node AND attempt = :attempt),
    :now)";

impl Store {
    /// Records the start of a run of `execution`, or finds what an earlier run left.
    pub(crate) fn begin(
        &self,
        execution: &str,
        workflow: &str,
        inputs_hash: &str,
        inputs: &[Encoded],
    ) -> Result<Begin, Error> {
        enum Found {
            Begin(Begin),
            Mismatch(String),
        }
        let place = Place::Execution(execution);
        let found = self.write(|tx| {
            let mut stmt =
                tx.prepare_cached("SELECT workflow, inputs_hash, status, outputs FROM executions WHERE id = :id")?;
            let mut rows = stmt.query(named_params! {":id": execution})?;
            let Some(r) = rows.next()? else {
                drop(rows);
                tx.prepare_cached(
                    "INSERT INTO executions (id, workflow, inputs_hash, status, started_at, inputs)
                     VALUES (:id, :workflow, :hash, :status, :now, :inputs)",
                )?
                .execute(named_params! {
                    ":id": execution, ":workflow": workflow, ":hash": inputs_hash,
                    ":status": Status::Running, ":now": now(), ":inputs": sealed::seal(inputs),
                })?;
                return Ok(Found::Begin(Begin::Run(Vec::new())));
            };
            let recorded: String = cell(r, "workflow", &place)?;
            if recorded != workflow {
                return Ok(Found::Mismatch(format!("workflow `{recorded}`, not `{workflow}`")));
            }
            if cell::<String>(r, "inputs_hash", &place)? != inputs_hash {
                return Ok(Found::Mismatch("other inputs".to_owned()));
            }
            let status: Status = cell(r, "status", &place)?;
            let outputs = cell::<Option<Vec<u8>>>(r, "outputs", &place)?;
            drop(rows);
            let damaged = match (status, outputs) {
                (Status::Succeeded, Some(blob)) => match sealed::open(&blob) {
                    Ok(outputs) => return Ok(Found::Begin(Begin::Done(outputs))),
                    Err(problem) => Some(place.damaged("stored outputs", &problem)),
                },
                (Status::Succeeded, None) => Some(place.damaged("stored outputs", "are missing")),
                _ => None,
            };
            // A failed execution run again gets fresh retry and system-failure budgets for its
            // failed nodes; finished nodes keep their outputs.
            tx.prepare_cached(
                "UPDATE nodes SET status = :pending, user_failures = 0, system_failures = 0,
                     first_attempt = 1 + MAX(attempt, (SELECT COALESCE(MAX(attempt), 0) FROM attempts a
                                          WHERE a.execution_id = nodes.execution_id AND a.node_id = nodes.node_id))
                 WHERE execution_id = :id AND status = :failed",
            )?
            .execute(named_params! {":id": execution, ":pending": Status::Pending, ":failed": Status::Failed})?;
            tx.prepare_cached(
                "UPDATE executions SET status = :running, ended_at = NULL, error = NULL, outputs = NULL WHERE id = :id",
            )?
            .execute(named_params! {":id": execution, ":running": Status::Running})?;
            match &damaged {
                Some(e) => insert_event(
                    tx,
                    execution,
                    None,
                    None,
                    "result-damaged",
                    &format!("{e}: run again"),
                    now(),
                )?,
                None => insert_event(tx, execution, None, None, "resumed", "execution run again", now())?,
            }
            let nodes = node_records(tx, execution)?;
            Ok(Found::Begin(match damaged {
                Some(e) => Begin::Recompute(nodes, e),
                None => Begin::Run(nodes),
            }))
        })?;
        match found {
            Found::Begin(begin) => Ok(begin),
            Found::Mismatch(what) => Err(Error::ExecutionMismatch {
                id: execution.to_owned(),
                what,
            }),
        }
    }

    /// An attempt starts: recorded (with its node) before the task's code runs.
    pub(crate) fn attempt_started(&self, execution: &str, node: &str, task: &str, attempt: u32) -> Result<(), Error> {
        let (execution, node, task, t) = (execution.to_owned(), node.to_owned(), task.to_owned(), now());
        self.write_now(move |tx| {
            // An earlier attempt the row holds has no row of its own only if it succeeded (the
            // node runs again because its outputs were damaged): it keeps its place in the
            // node's history. A first attempt has none.
            if attempt > 1 {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO attempts (execution_id, node_id, attempt, status, started_at, ended_at)
                     SELECT execution_id, node_id, attempt, :succeeded, attempt_started_at, ended_at FROM nodes
                     WHERE execution_id = :execution AND node_id = :node AND attempt > 0 AND attempt <> :attempt",
                )?
                .execute(named_params! {
                    ":execution": execution, ":node": node, ":attempt": attempt, ":succeeded": Status::Succeeded,
                })?;
            }
            tx.prepare_cached(
                "INSERT INTO nodes (execution_id, node_id, task, status, started_at, attempt, attempt_started_at)
                 VALUES (:execution, :node, :task, :running, :now, :attempt, :now)
                 ON CONFLICT (execution_id, node_id)
                 DO UPDATE SET status = :running, started_at = COALESCE(started_at, :now),
                               attempt = :attempt, attempt_started_at = :now",
            )?
            .execute(named_params! {
                ":execution": execution, ":node": node, ":task": task, ":running": Status::Running,
                ":attempt": attempt, ":now": t,
            })?;
            Ok(())
        })
    }

    /// An attempt failed. An interrupted one counts against the system-failure budget, any
    /// other against the task's retries.
    pub(crate) fn attempt_failed(&self, execution: &str, node: &str, failure: &AttemptFailure) -> Result<(), Error> {
        let (status, system) = match failure.kind {
            FailureKind::Interrupted => (Status::Interrupted, 1),
            _ => (Status::Failed, 0),
        };
        let (execution, node, t) = (execution.to_owned(), node.to_owned(), now());
        let (attempt, kind, cause) = (failure.attempt, failure.kind.clone(), failure.cause.clone());
        // Written at once, not queued: failures are rare, and one the store cannot record is
        // reported with the attempt's own cause (Error::NotRecorded).
        self.write(move |tx| {
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO attempts (execution_id, node_id, attempt, status, kind, cause, started_at, ended_at)
                 VALUES (:execution, :node, :attempt, :status, :kind, :cause, {STARTED_AT}, :now)"
            ))?
            .execute(named_params! {
                ":execution": execution, ":node": node, ":attempt": attempt, ":status": status,
                ":kind": Kind(kind.clone()), ":cause": cause, ":now": t,
            })?;
            tx.prepare_cached(
                "UPDATE nodes SET user_failures = user_failures + 1 - :system, system_failures = system_failures + :system
                 WHERE execution_id = :execution AND node_id = :node",
            )?
            .execute(named_params! {":execution": execution, ":node": node, ":system": system})?;
            Ok(())
        })
    }

    /// Records the attempts of `execution` still marked running as interrupted by a preemption
    /// notice, with `cause` (and a `preempted` event each); `only` narrows it to one node's
    /// attempt. Each counts against its node's system-failure budget, and its node is marked
    /// interrupted. An attempt whose end is already recorded is left alone, so the execution's
    /// thread and the warden that abandons attempts may both try: the first records it.
    /// Returns the attempts recorded, as node id and attempt number.
    pub(crate) fn interrupt_running(
        &self,
        execution: &str,
        only: Option<(&str, u32)>,
        cause: &str,
    ) -> Result<Vec<(String, u32)>, Error> {
        let (node, attempt) = only.map_or((None, None), |(n, a)| (Some(n), Some(a)));
        let t = now();
        self.write(|tx| {
            let mut running = Vec::new();
            let mut stmt = tx.prepare_cached(
                "SELECT node_id, attempt FROM nodes n
                 WHERE execution_id = :execution AND status = :running AND attempt > 0
                   AND (:node IS NULL OR (node_id = :node AND attempt = :attempt))
                   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.execution_id = n.execution_id
                                   AND a.node_id = n.node_id AND a.attempt = n.attempt)
                 ORDER BY node_id",
            )?;
            let mut rows = stmt.query(named_params! {
                ":execution": execution, ":running": Status::Running, ":node": node, ":attempt": attempt,
            })?;
            while let Some(r) = rows.next()? {
                let id: String = cell(r, "node_id", &Place::Execution(execution))?;
                let number: u32 = cell(r, "attempt", &Place::Node(execution, &id))?;
                running.push((id, number));
            }
            drop(rows);
            for (node, attempt) in &running {
                tx.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO attempts (execution_id, node_id, attempt, status, kind, cause, started_at, ended_at)
                     VALUES (:execution, :node, :attempt, :interrupted, :kind, :cause, {STARTED_AT}, :now)"
                ))?
                .execute(named_params! {
                    ":execution": execution, ":node": node, ":attempt": attempt, ":interrupted": Status::Interrupted,
                    ":kind": Kind(FailureKind::Interrupted), ":cause": cause, ":now": t,
                })?;
                tx.prepare_cached(
                    "UPDATE nodes SET system_failures = system_failures + 1, status = :interrupted
                     WHERE execution_id = :execution AND node_id = :node",
                )?
                .execute(named_params! {":execution": execution, ":node": node, ":interrupted": Status::Interrupted})?;
                insert_event(tx, execution, Some(node), Some(*attempt), "preempted", cause, t)?;
            }
            Ok(running)
        })
    }

    /// A preemption notice ended the run of `execution` before it finished: recorded as
    /// interrupted, with `message` as a `preempted` event, durably (synced) when this returns.
    pub(crate) fn execution_interrupted(&self, execution: &str, message: &str) -> Result<(), Error> {
        let t = now();
        self.write(|tx| {
            tx.prepare_cached("UPDATE executions SET status = :interrupted, ended_at = :now WHERE id = :execution")?
                .execute(named_params! {":execution": execution, ":interrupted": Status::Interrupted, ":now": t})?;
            insert_event(tx, execution, None, None, "preempted", message, t)
        })?;
        self.sync()
    }

    /// A node finished, with its outputs. The attempt that produced them, if any (not a cache
    /// hit, not a map), is the one its row holds.
    pub(crate) fn node_succeeded(
        &self,
        execution: &str,
        node: &str,
        task: &str,
        outputs: &[Encoded],
        cache_hit: bool,
    ) -> Result<(), Error> {
        let blob = sealed::seal(outputs);
        let (execution, node, task, t) = (execution.to_owned(), node.to_owned(), task.to_owned(), now());
        self.post(move |tx| {
            tx.prepare_cached(
                "INSERT INTO nodes (execution_id, node_id, task, status, started_at, ended_at, outputs, cache_hit)
                 VALUES (:execution, :node, :task, :succeeded, :now, :now, :outputs, :cache_hit)
                 ON CONFLICT (execution_id, node_id)
                 DO UPDATE SET status = :succeeded, ended_at = :now, outputs = :outputs, cache_hit = :cache_hit",
            )?
            .execute(named_params! {
                ":execution": execution, ":node": node, ":task": task, ":succeeded": Status::Succeeded,
                ":now": t, ":outputs": blob, ":cache_hit": cache_hit,
            })?;
            Ok(())
        })
    }

    /// A node that runs no attempt of its own (a map) started.
    pub(crate) fn node_started(&self, execution: &str, node: &str, task: &str) -> Result<(), Error> {
        let (execution, node, task, t) = (execution.to_owned(), node.to_owned(), task.to_owned(), now());
        self.post(move |tx| {
            tx.prepare_cached(
                "INSERT INTO nodes (execution_id, node_id, task, status, started_at)
                 VALUES (:execution, :node, :task, :running, :now)
                 ON CONFLICT (execution_id, node_id) DO UPDATE SET status = :running",
            )?
            .execute(named_params! {
                ":execution": execution, ":node": node, ":task": task, ":running": Status::Running, ":now": t,
            })?;
            Ok(())
        })
    }

    /// Nodes of a branch's case that was not taken: they will not run.
    pub(crate) fn nodes_skipped(&self, execution: &str, nodes: &[(&str, &str)]) -> Result<(), Error> {
        let execution = execution.to_owned();
        let nodes: Vec<(String, String)> = nodes.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
        let t = now();
        self.post(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO nodes (execution_id, node_id, task, status, ended_at)
                 VALUES (:execution, :node, :task, :skipped, :now)
                 ON CONFLICT (execution_id, node_id) DO UPDATE SET status = :skipped, ended_at = :now",
            )?;
            for (node, task) in &nodes {
                insert.execute(named_params! {
                    ":execution": execution, ":node": node, ":task": task, ":skipped": Status::Skipped, ":now": t,
                })?;
            }
            Ok(())
        })
    }

    /// A node failed for good.
    pub(crate) fn node_failed(&self, execution: &str, node: &str) -> Result<(), Error> {
        let (execution, node, t) = (execution.to_owned(), node.to_owned(), now());
        self.post(move |tx| {
            tx.prepare_cached(
                "UPDATE nodes SET status = :failed, ended_at = :now WHERE execution_id = :execution AND node_id = :node",
            )?
            .execute(named_params! {":execution": execution, ":node": node, ":failed": Status::Failed, ":now": t})?;
            Ok(())
        })
    }

    /// The execution ended, with its outputs or its error: recorded, with everything before it,
    /// durably (synced to the disk) when this returns.
    pub(crate) fn execution_ended(&self, execution: &str, result: Result<&[Encoded], &str>) -> Result<(), Error> {
        let (status, outputs, error) = match result {
            Ok(outputs) => (Status::Succeeded, Some(sealed::seal(outputs)), None),
            Err(e) => (Status::Failed, None, Some(e)),
        };
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE executions SET status = :status, ended_at = :now, outputs = :outputs, error = :error
                 WHERE id = :execution",
            )?
            .execute(named_params! {
                ":execution": execution, ":status": status, ":now": now(), ":outputs": outputs, ":error": error,
            })?;
            Ok(())
        })?;
        // What a run returns is on the disk, not only in the operating system's cache.
        self.sync()
    }

    /// Records an event.
    pub(crate) fn event(
        &self,
        execution: &str,
        node: Option<&str>,
        attempt: Option<u32>,
        kind: &str,
        message: &str,
    ) -> Result<(), Error> {
        let (execution, node, kind, message) = (
            execution.to_owned(),
            node.map(str::to_owned),
            kind.to_owned(),
            message.to_owned(),
        );
        let t = now();
        self.post(move |tx| insert_event(tx, &execution, node.as_deref(), attempt, &kind, &message, t))
    }

    /// Attempt `attempt` of dynamic node `node` built this graph (a recorded graph, as one
    /// literal): the attempt succeeded, and the node goes on running the graph.
    pub(crate) fn subgraph_built(
        &self,
        execution: &str,
        node: &str,
        attempt: u32,
        graph: &Encoded,
    ) -> Result<(), Error> {
        let blob = sealed::seal(std::slice::from_ref(graph));
        let (execution, node, t) = (execution.to_owned(), node.to_owned(), now());
        self.post(move |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO subgraphs (execution_id, node_id, graph) VALUES (:execution, :node, :graph)",
            )?
            .execute(named_params! {":execution": execution, ":node": node, ":graph": blob})?;
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO attempts (execution_id, node_id, attempt, status, started_at, ended_at)
                 VALUES (:execution, :node, :attempt, :succeeded, {STARTED_AT}, :now)"
            ))?
            .execute(named_params! {
                ":execution": execution, ":node": node, ":attempt": attempt,
                ":succeeded": Status::Succeeded, ":now": t,
            })?;
            Ok(())
        })
    }

    /// The graph dynamic node `node` built in an earlier run, if it was recorded;
    /// `Some(Err(..))` when the record is damaged.
    pub(crate) fn subgraph(&self, execution: &str, node: &str) -> Result<Option<Result<Encoded, StoreError>>, Error> {
        self.read(|db| {
            let place = Place::Node(execution, node);
            let mut stmt =
                db.prepare_cached("SELECT graph FROM subgraphs WHERE execution_id = :execution AND node_id = :node")?;
            let mut rows = stmt.query(named_params! {":execution": execution, ":node": node})?;
            let Some(r) = rows.next()? else { return Ok(None) };
            let graph = cell::<Vec<u8>>(r, "graph", &place).and_then(|blob| {
                let damaged = |problem: &str| place.damaged("recorded graph", problem);
                match sealed::open(&blob).map_err(|p| damaged(&p))?.as_slice() {
                    [graph] => Ok(graph.clone()),
                    _ => Err(damaged("is not one value")),
                }
            });
            Ok(Some(graph))
        })
    }

    /// Cached outputs for `key`, if any; `Some(Err(..))` when the entry is damaged.
    pub(crate) fn cache_get(&self, key: &str) -> Result<Option<Result<Vec<Encoded>, StoreError>>, Error> {
        self.read(|db| {
            let place = Place::Cache(key);
            let mut stmt = db.prepare_cached("SELECT outputs FROM cache WHERE key = :key")?;
            let mut rows = stmt.query(named_params! {":key": key})?;
            let Some(r) = rows.next()? else { return Ok(None) };
            let blob = cell::<Vec<u8>>(r, "outputs", &place);
            Ok(Some(blob.and_then(|b| {
                sealed::open(&b).map_err(|problem| place.damaged("cached outputs", &problem))
            })))
        })
    }

    /// Stores (or replaces) the outputs for `key`.
    pub(crate) fn cache_put(
        &self,
        key: &str,
        task: &str,
        version: &str,
        outputs: &[Encoded],
        execution: &str,
        node: &str,
    ) -> Result<(), Error> {
        let blob = sealed::seal(outputs);
        let (key, task, version, execution, node) = (
            key.to_owned(),
            task.to_owned(),
            version.to_owned(),
            execution.to_owned(),
            node.to_owned(),
        );
        let t = now();
        self.post(move |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO cache (key, task, version, outputs, execution_id, node_id, created_at)
                 VALUES (:key, :task, :version, :outputs, :execution, :node, :now)",
            )?
            .execute(named_params! {
                ":key": key, ":task": task, ":version": version, ":outputs": blob,
                ":execution": execution, ":node": node, ":now": t,
            })?;
            Ok(())
        })
    }
}

fn node_records(tx: &Transaction<'_>, execution: &str) -> Result<Vec<NodeRecord>, StoreError> {
    // Every node's failed attempts since its budgets were last reset, in one query.
    let mut failures: HashMap<String, Vec<AttemptFailure>> = HashMap::new();
    let mut last_attempts: HashMap<String, (u32, Status)> = HashMap::new();
    let mut stmt = tx.prepare_cached(
        "SELECT a.node_id, a.attempt, a.status, a.kind, a.cause, n.first_attempt
         FROM attempts a JOIN nodes n ON n.execution_id = a.execution_id AND n.node_id = a.node_id
         WHERE a.execution_id = :execution ORDER BY a.node_id, a.attempt",
    )?;
    let mut rows = stmt.query(named_params! {":execution": execution})?;
    while let Some(r) = rows.next()? {
        let node: String = cell(r, "node_id", &Place::Execution(execution))?;
        let attempt: u32 = cell(r, "attempt", &Place::Node(execution, &node))?;
        let place = Place::Attempt(execution, &node, attempt);
        let status: Status = cell(r, "status", &place)?;
        let first: u32 = cell(r, "first_attempt", &Place::Node(execution, &node))?;
        if attempt >= first && matches!(status, Status::Failed | Status::Interrupted) {
            // Attempts recorded before failures kept their kind: an interruption, or an error.
            let kind = cell::<Option<Kind>>(r, "kind", &place)?.map_or(
                if status == Status::Interrupted {
                    FailureKind::Interrupted
                } else {
                    FailureKind::Recoverable
                },
                |k| k.0,
            );
            failures.entry(node.clone()).or_default().push(AttemptFailure {
                attempt,
                kind,
                cause: cell::<Option<String>>(r, "cause", &place)?.unwrap_or_default(),
            });
        }
        last_attempts.insert(node, (attempt, status));
    }
    drop(rows);

    let mut stmt = tx.prepare_cached(
        "SELECT node_id, status, user_failures, system_failures, outputs, attempt FROM nodes
         WHERE execution_id = :execution",
    )?;
    let mut rows = stmt.query(named_params! {":execution": execution})?;
    let mut nodes = Vec::new();
    while let Some(r) = rows.next()? {
        let id: String = cell(r, "node_id", &Place::Execution(execution))?;
        let place = Place::Node(execution, &id);
        let outputs = cell::<Option<Vec<u8>>>(r, "outputs", &place)?
            .map(|blob| sealed::open(&blob).map_err(|problem| place.damaged("stored outputs", &problem)));
        let status: Status = cell(r, "status", &place)?;
        let running: u32 = cell(r, "attempt", &place)?;
        // The node's row holds the attempt it runs; an attempt that ended other than by
        // succeeding has a row of its own, which says how.
        let (last_attempt, last_status) = match last_attempts.remove(&id) {
            Some((ended, how)) if ended >= running => (ended, how),
            _ => (running, status),
        };
        nodes.push(NodeRecord {
            status,
            user_failures: cell(r, "user_failures", &place)?,
            system_failures: cell(r, "system_failures", &place)?,
            last_attempt,
            // Only an attempt still marked running was cut short: one whose failure was
            // recorded before the process died already counted against the task's retries.
            interrupted: last_attempt > 0 && last_status == Status::Running,
            outputs,
            failures: failures.remove(&id).unwrap_or_default(),
            id,
        });
    }
    Ok(nodes)
}

fn insert_event(
    tx: &Transaction<'_>,
    execution: &str,
    node: Option<&str>,
    attempt: Option<u32>,
    kind: &str,
    message: &str,
    at: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO events (execution_id, node_id, attempt, at, kind, message)
         VALUES (:execution, :node, :attempt, :now, :kind, :message)",
    )?
    .execute(named_params! {
        ":execution": execution, ":node": node, ":attempt": attempt, ":now": at, ":kind": kind, ":message": message,
    })?;
    Ok(())
}
