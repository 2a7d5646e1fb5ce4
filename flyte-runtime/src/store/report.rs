//! What inspection reads: the list of executions, and one execution with its nodes, attempts
//! and events.

use std::time::{Duration, SystemTime};

use rusqlite::{named_params, Connection};

use super::{cell, dir_size, time, Place, Status, Store};
use crate::error::{Error, StoreError};

/// One execution in the store's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    /// The execution id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// Running (or interrupted), succeeded or failed.
    pub status: Status,
    /// When it was first started.
    pub started: SystemTime,
    /// When it last ended, if it did.
    pub ended: Option<SystemTime>,
}

/// Everything the store knows about one execution.
#[derive(Debug, Clone)]
pub struct ExecutionReport {
    /// Id, workflow, status and times.
    pub summary: ExecutionSummary,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Every node that started, in id order.
    pub nodes: Vec<NodeReport>,
    /// Events not tied to a node.
    pub events: Vec<Event>,
}

/// One node of an execution.
#[derive(Debug, Clone)]
pub struct NodeReport {
    /// `n0`, `n1`, ...
    pub id: String,
    /// The task's name.
    pub task: String,
    /// Its state.
    pub status: Status,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptReport>,
    /// How many attempts were interrupted by the death of their process.
    pub system_failures: u32,
    /// Whether the outputs came from the cache.
    pub cache_hit: bool,
    /// From the first attempt's start to the node's end.
    pub duration: Option<Duration>,
    /// Bytes of checkpoint kept on disk for this node.
    pub checkpoint_bytes: u64,
    /// What happened to the node: cache hits, checkpoint fallbacks, interruptions, ...
    pub events: Vec<Event>,
}

/// One attempt of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    /// 1 for the first attempt.
    pub number: u32,
    /// Running, succeeded, failed or interrupted.
    pub status: Status,
    /// The failure's cause, if it failed.
    pub cause: Option<String>,
    /// How long it ran, if it ended.
    pub duration: Option<Duration>,
}

/// Something the runtime recorded while running an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When.
    pub at: SystemTime,
    /// The attempt it concerns, if any.
    pub attempt: Option<u32>,
    /// A short tag: `cache-hit`, `checkpoint-fallback`, `interrupted`, `resumed`, ...
    pub kind: String,
    /// What happened, in words.
    pub message: String,
}

impl Store {
    /// Every execution, newest first.
    pub fn executions(&self) -> Result<Vec<ExecutionSummary>, Error> {
        self.read(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT id, workflow, status, started_at, ended_at FROM executions ORDER BY started_at DESC, id",
            )?;
            let mut rows = stmt.query([])?;
            let mut runs = Vec::new();
            while let Some(r) = rows.next()? {
                let id: String = cell(r, "id", &Place::Executions)?;
                runs.push(summary(r, id)?);
            }
            Ok(runs)
        })
    }

    /// One execution with its nodes, attempts and events, or `None` if there is no such id.
    pub fn execution(&self, id: &str) -> Result<Option<ExecutionReport>, Error> {
        self.read(|db| {
            let mut stmt = db.prepare_cached(
                "SELECT workflow, status, started_at, ended_at, error FROM executions WHERE id = :id",
            )?;
            let mut rows = stmt.query(named_params! {":id": id})?;
            let Some(r) = rows.next()? else {
                return Ok(None);
            };
            let summary = summary(r, id.to_owned())?;
            let error = cell(r, "error", &Place::Execution(id))?;
            let mut events = events(db, id)?;
            let mut nodes = Vec::new();
            let mut stmt = db.prepare_cached(
                "SELECT node_id, task, status, system_failures, cache_hit, started_at, ended_at, attempt,
                        attempt_started_at
                 FROM nodes WHERE execution_id = :id ORDER BY CAST(SUBSTR(node_id, 2) AS INTEGER), node_id",
            )?;
            let mut rows = stmt.query(named_params! {":id": id})?;
            while let Some(r) = rows.next()? {
                let node: String = cell(r, "node_id", &Place::Execution(id))?;
                let place = Place::Node(id, &node);
                let started = cell(r, "started_at", &place)?;
                let ended = cell(r, "ended_at", &place)?;
                let status = cell(r, "status", &place)?;
                let mut attempts = attempts(db, id, &node)?;
                // The attempt the node runs, or that succeeded, is in its row (schema 5).
                let current: u32 = cell(r, "attempt", &place)?;
                if current > 0 && attempts.iter().all(|a| a.number != current) {
                    let attempt_started = cell(r, "attempt_started_at", &Place::Attempt(id, &node, current))?;
                    attempts.push(AttemptReport {
                        number: current,
                        status: if status == Status::Running {
                            Status::Running
                        } else {
                            Status::Succeeded
                        },
                        cause: None,
                        duration: span(attempt_started, if status == Status::Running { None } else { ended }),
                    });
                    attempts.sort_by_key(|a| a.number);
                }
                nodes.push(NodeReport {
                    task: cell(r, "task", &place)?,
                    status,
                    attempts,
                    system_failures: cell(r, "system_failures", &place)?,
                    cache_hit: cell(r, "cache_hit", &place)?,
                    duration: span(started, ended),
                    checkpoint_bytes: dir_size(&self.checkpoint_dir(id, &node)),
                    events: events
                        .iter()
                        .filter(|(n, _)| n.as_deref() == Some(node.as_str()))
                        .map(|(_, e)| e.clone())
                        .collect(),
                    id: node,
                });
            }
            events.retain(|(n, _)| n.is_none());
            Ok(Some(ExecutionReport {
                summary,
                error,
                nodes,
                events: events.into_iter().map(|(_, e)| e).collect(),
            }))
        })
    }
}

impl Store {
    /// The graph dynamic node `node` of execution `execution` built and recorded, rebuilt to be
    /// drawn ([`Graph::to_dot_expanded`](crate::Graph::to_dot_expanded)); `None` if none was recorded.
    pub fn dynamic_graph(&self, execution: &str, node: &str) -> Result<Option<crate::Graph>, Error> {
        match self.subgraph(execution, node)? {
            None => Ok(None),
            Some(recorded) => {
                let recorded = recorded.map_err(|source| self.fail(source))?;
                crate::dynamic::rebuild(&recorded)
                    .map(Some)
                    .map_err(|message| Error::Graph {
                        workflow: format!("{execution}/{node}"),
                        message,
                    })
            }
        }
    }
}

fn summary(r: &rusqlite::Row<'_>, id: String) -> Result<ExecutionSummary, StoreError> {
    let place = Place::Execution(&id);
    Ok(ExecutionSummary {
        workflow: cell(r, "workflow", &place)?,
        status: cell(r, "status", &place)?,
        started: time(cell(r, "started_at", &place)?),
        ended: cell::<Option<i64>>(r, "ended_at", &place)?.map(time),
        id,
    })
}

fn attempts(db: &Connection, execution: &str, node: &str) -> Result<Vec<AttemptReport>, StoreError> {
    let mut stmt = db.prepare_cached(
        "SELECT attempt, status, cause, started_at, ended_at FROM attempts
         WHERE execution_id = :execution AND node_id = :node ORDER BY attempt",
    )?;
    let mut rows = stmt.query(named_params! {":execution": execution, ":node": node})?;
    let mut attempts = Vec::new();
    while let Some(r) = rows.next()? {
        let number = cell(r, "attempt", &Place::Node(execution, node))?;
        let place = Place::Attempt(execution, node, number);
        attempts.push(AttemptReport {
            number,
            status: cell(r, "status", &place)?,
            cause: cell(r, "cause", &place)?,
            duration: span(cell(r, "started_at", &place)?, cell(r, "ended_at", &place)?),
        });
    }
    Ok(attempts)
}

/// Every event of an execution, with the node it concerns, oldest first.
fn events(db: &Connection, execution: &str) -> Result<Vec<(Option<String>, Event)>, StoreError> {
    let mut stmt = db.prepare_cached(
        "SELECT seq, node_id, attempt, at, kind, message FROM events WHERE execution_id = :execution ORDER BY seq",
    )?;
    let mut rows = stmt.query(named_params! {":execution": execution})?;
    let mut events = Vec::new();
    while let Some(r) = rows.next()? {
        let seq = cell(r, "seq", &Place::Execution(execution))?;
        let place = Place::Event(execution, seq);
        events.push((
            cell(r, "node_id", &place)?,
            Event {
                attempt: cell(r, "attempt", &place)?,
                at: time(cell(r, "at", &place)?),
                kind: cell(r, "kind", &place)?,
                message: cell(r, "message", &place)?,
            },
        ));
    }
    Ok(events)
}

fn span(start: Option<i64>, end: Option<i64>) -> Option<Duration> {
    let (s, e) = (start?, end?);
    Some(Duration::from_millis(u64::try_from(e.saturating_sub(s)).unwrap_or(0)))
}
