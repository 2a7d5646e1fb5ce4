//! The durable store: execution metadata in SQLite, checkpoint payloads as files beside it.
//!
//! ```text
//! <store>/flytekit.db                       executions, nodes, attempts, events, cache (WAL)
//! <store>/executions/<execution>/lock       held (flock) by the process running it
//! <store>/executions/<execution>/<node>/    that node's checkpoint versions
//! ```
//!
//! Every state change of a node is one SQLite transaction, committed before the runtime acts
//! on it, so a process killed at any instant leaves a consistent record: finished nodes with
//! their outputs, at most one attempt per node marked running (the one that was interrupted).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, StoreError};
use crate::value::Literal;

const DB_FILE: &str = "flytekit.db";
const SCHEMA_VERSION: i64 = 2;

/// How long an execution's lock must stay taken before the execution counts as busy.
const LOCK_PATIENCE: Duration = Duration::from_millis(100);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    id          TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outputs     BLOB,
    error       TEXT,
    inputs      BLOB
);
CREATE TABLE IF NOT EXISTS nodes (
    execution_id    TEXT NOT NULL,
    node_id         TEXT NOT NULL,
    task            TEXT NOT NULL,
    status          TEXT NOT NULL,
    user_failures   INTEGER NOT NULL DEFAULT 0,
    system_failures INTEGER NOT NULL DEFAULT 0,
    cache_hit       INTEGER NOT NULL DEFAULT 0,
    started_at      INTEGER,
    ended_at        INTEGER,
    outputs         BLOB,
    PRIMARY KEY (execution_id, node_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    execution_id TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    cause        TEXT,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    PRIMARY KEY (execution_id, node_id, attempt)
);
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    node_id      TEXT,
    attempt      INTEGER,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    message      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    key          TEXT PRIMARY KEY,
    task         TEXT NOT NULL,
    version      TEXT NOT NULL,
    outputs      BLOB NOT NULL,
    execution_id TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
";

/// Where durable executions live: a SQLite database and the checkpoint files beside it.
///
/// Several runtimes and processes may share a store; each execution is owned by one process at
/// a time. Inspect it from code:
///
/// ```
/// use flytekit::{task, workflow, LocalRuntime, Status};
///
/// #[task]
/// fn inc(x: u64) -> u64 { x + 1 }
///
/// #[workflow]
/// fn wf(x: u64) -> u64 { inc(x) }
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = LocalRuntime::with_store(dir.path()).unwrap();
/// assert_eq!(rt.run_with_id("first", wf, 1).unwrap(), 2);
///
/// let store = rt.store().unwrap();
/// let runs = store.executions().unwrap();
/// assert_eq!((runs[0].id.as_str(), runs[0].status), ("first", Status::Succeeded));
/// let report = store.execution("first").unwrap().unwrap();
/// assert_eq!(report.nodes[0].attempts.len(), 1);
/// ```
pub struct Store {
    dir: PathBuf,
    db: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// The state of an execution, a node or an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not started yet (a node whose inputs do not exist yet).
    Pending,
    /// Running now, or interrupted if no process owns the execution.
    Running,
    /// Finished with outputs.
    Succeeded,
    /// Failed for good (an execution or node), or failed and maybe retried (an attempt).
    Failed,
    /// An attempt cut short because its process died; it counts against the system-failure
    /// budget, not against the task's retries.
    Interrupted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "running" => Status::Running,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "interrupted" => Status::Interrupted,
            _ => Status::Pending,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// What the store knew of an execution when a run of it began.
pub(crate) enum Begin {
    /// It had succeeded: these are its outputs.
    Done(Vec<Literal>),
    /// New, or to be resumed: the nodes already recorded.
    Run(Vec<NodeRecord>),
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
    pub outputs: Option<Vec<Literal>>,
}

/// Held while a process runs an execution; the OS releases it if the process dies.
pub(crate) struct ExecutionLock {
    _file: File,
}

impl Store {
    /// The default store directory: `$FLYTEKIT_HOME`, or `.flytekit` in the working directory.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("FLYTEKIT_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".flytekit"))
    }

    /// Opens the store in `dir`, creating it if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store, Error> {
        let dir = dir.into();
        let db_path = dir.join(DB_FILE);
        let fail = |source: StoreError| Error::Store {
            path: db_path.clone(),
            source,
        };
        fs::create_dir_all(dir.join("executions")).map_err(|e| fail(StoreError::Io(e)))?;
        let db = Connection::open(&db_path).map_err(|e| fail(e.into()))?;
        // WAL lets readers (an inspecting CLI) run beside the writer; FULL makes each commit
        // durable. Another process may hold the write lock briefly: wait rather than fail.
        let setup = || -> rusqlite::Result<i64> {
            db.busy_timeout(Duration::from_secs(10))?;
            db.pragma_update(None, "journal_mode", "WAL")?;
            db.pragma_update(None, "synchronous", "FULL")?;
            db.execute_batch(SCHEMA)?;
            db.pragma_query_value(None, "user_version", |r| r.get(0))
        };
        match setup().map_err(|e| fail(e.into()))? {
            0 => db
                .pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| fail(e.into()))?,
            SCHEMA_VERSION => {}
            // Version 1 did not keep an execution's inputs, which `resume` by id needs.
            1 => db
                .execute_batch("ALTER TABLE executions ADD COLUMN inputs BLOB; PRAGMA user_version = 2;")
                .map_err(|e| fail(e.into()))?,
            other => return Err(fail(StoreError::Schema(other))),
        }
        Ok(Store {
            dir,
            db: Mutex::new(db),
        })
    }

    /// Opens the store in `dir` if one is there, and creates nothing when it is not: for
    /// commands that only read, or that may refuse before running anything.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// assert!(flytekit::Store::open_existing(dir.path()).unwrap().is_none());
    /// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
    /// ```
    pub fn open_existing(dir: impl Into<PathBuf>) -> Result<Option<Store>, Error> {
        let dir = dir.into();
        if dir.join(DB_FILE).is_file() {
            Store::open(dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every execution, newest first.
    pub fn executions(&self) -> Result<Vec<ExecutionSummary>, Error> {
        let db = self.db();
        let run = || -> rusqlite::Result<Vec<ExecutionSummary>> {
            let mut stmt = db.prepare(
                "SELECT id, workflow, status, started_at, ended_at FROM executions ORDER BY started_at DESC, id",
            )?;
            let rows = stmt.query_map([], summary)?;
            rows.collect()
        };
        run().map_err(|e| self.error(e))
    }

    /// One execution with its nodes, attempts and events, or `None` if there is no such id.
    pub fn execution(&self, id: &str) -> Result<Option<ExecutionReport>, Error> {
        let db = self.db();
        let run = || -> rusqlite::Result<Option<ExecutionReport>> {
            let Some((summary, error)) = db
                .query_row(
                    "SELECT id, workflow, status, started_at, ended_at, error FROM executions WHERE id = ?1",
                    [id],
                    |r| Ok((summary(r)?, r.get::<_, Option<String>>(5)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut events = events(&db, id)?;
            let mut nodes = Vec::new();
            let mut stmt = db.prepare(
                "SELECT node_id, task, status, system_failures, cache_hit, started_at, ended_at
                 FROM nodes WHERE execution_id = ?1 ORDER BY CAST(SUBSTR(node_id, 2) AS INTEGER), node_id",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(NodeReport {
                    id: r.get(0)?,
                    task: r.get(1)?,
                    status: Status::parse(&r.get::<_, String>(2)?),
                    attempts: Vec::new(),
                    system_failures: r.get(3)?,
                    cache_hit: r.get::<_, i64>(4)? != 0,
                    duration: span(r.get(5)?, r.get(6)?),
                    checkpoint_bytes: 0,
                    events: Vec::new(),
                })
            })?;
            for node in rows {
                let mut node = node?;
                node.attempts = attempts(&db, id, &node.id)?;
                node.checkpoint_bytes = dir_size(&self.checkpoint_dir(id, &node.id));
                node.events = events
                    .iter()
                    .filter(|(n, _)| n.as_deref() == Some(node.id.as_str()))
                    .map(|(_, e)| e.clone())
                    .collect();
                nodes.push(node);
            }
            events.retain(|(n, _)| n.is_none());
            Ok(Some(ExecutionReport {
                summary,
                error,
                nodes,
                events: events.into_iter().map(|(_, e)| e).collect(),
            }))
        };
        run().map_err(|e| self.error(e))
    }

    /// Where a node's checkpoint versions live.
    pub(crate) fn checkpoint_dir(&self, execution: &str, node: &str) -> PathBuf {
        self.dir.join("executions").join(execution).join(node)
    }

    /// The inputs an execution was started with, so that it can be run again by id alone;
    /// `None` for an unknown id, or one recorded before the store kept inputs.
    ///
    /// ```
    /// use flytekit::{task, workflow, LocalRuntime, Store};
    ///
    /// #[task]
    /// fn inc(x: u64) -> u64 { x + 1 }
    ///
    /// #[workflow]
    /// fn wf(x: u64) -> u64 { inc(x) }
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// LocalRuntime::with_store(dir.path()).unwrap().run_with_id("a", wf, 41).unwrap();
    /// let inputs = Store::open(dir.path()).unwrap().inputs("a").unwrap().unwrap();
    /// assert_eq!(inputs[0].decode::<u64>().unwrap(), 41);
    /// ```
    pub fn inputs(&self, id: &str) -> Result<Option<Vec<Literal>>, Error> {
        let db = self.db();
        let blob: Option<Option<Vec<u8>>> = db
            .query_row("SELECT inputs FROM executions WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.locate(e.into()))?;
        match blob.flatten() {
            Some(bytes) => Ok(Some(decode_outputs(&bytes).map_err(|e| self.locate(e))?)),
            None => Ok(None),
        }
    }

    /// Takes ownership of an execution, or says which process has it.
    pub(crate) fn lock(&self, execution: &str) -> Result<ExecutionLock, Error> {
        let dir = self.dir.join("executions").join(execution);
        let path = dir.join("lock");
        let io = |source: std::io::Error| Error::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A lock can outlive its owner by a moment: a process spawned by another thread while
        // the owner held the file inherits the descriptor (and its flock) until it execs. So a
        // refusal is only believed after it has lasted a little while.
        let patience = std::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < patience => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    return Err(Error::ExecutionBusy {
                        id: execution.to_owned(),
                        holder: holder.trim().to_owned(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        // For the message another process gets; the lock itself is what protects.
        use std::io::Write;
        let _ = file
            .set_len(0)
            .and_then(|()| write!(file, "process {}", std::process::id()));
        Ok(ExecutionLock { _file: file })
    }

    /// Records the start of a run of `execution`, or finds what an earlier run left.
    pub(crate) fn begin(
        &self,
        execution: &str,
        workflow: &str,
        inputs_hash: &str,
        inputs: &[Literal],
    ) -> Result<Begin, Error> {
        let mut db = self.db();
        let mut run = || -> Result<Begin, Error> {
            let tx = db.transaction()?;
            let prior: Option<(String, String, String, Option<Vec<u8>>)> = tx
                .query_row(
                    "SELECT workflow, inputs_hash, status, outputs FROM executions WHERE id = ?1",
                    [execution],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            match prior {
                None => {
                    tx.execute(
                        "INSERT INTO executions (id, workflow, inputs_hash, status, started_at, inputs) VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
                        params![execution, workflow, inputs_hash, now(), encode_outputs(inputs)],
                    )?;
                }
                Some((w, h, status, outputs)) => {
                    if w != workflow || h != inputs_hash {
                        let what = if w != workflow {
                            format!("workflow `{w}`, not `{workflow}`")
                        } else {
                            "other inputs".to_owned()
                        };
                        return Err(Error::ExecutionMismatch {
                            id: execution.to_owned(),
                            what,
                        });
                    }
                    if status == "succeeded" {
                        let outputs = decode_outputs(outputs.as_deref().unwrap_or_default())?;
                        return Ok(Begin::Done(outputs));
                    }
                    // A failed execution run again gets fresh retry and system-failure budgets for
                    // its failed nodes; finished nodes keep their outputs.
                    tx.execute(
                        "UPDATE nodes SET status = 'pending', user_failures = 0, system_failures = 0
                         WHERE execution_id = ?1 AND status = 'failed'",
                        [execution],
                    )?;
                    tx.execute(
                        "UPDATE executions SET status = 'running', ended_at = NULL, error = NULL WHERE id = ?1",
                        [execution],
                    )?;
                    insert_event(&tx, execution, None, None, "resumed", "execution run again")?;
                }
            }
            let nodes = node_records(&tx, execution)?;
            tx.commit()?;
            Ok(Begin::Run(nodes))
        };
        run().map_err(|e| self.locate(e))
    }

    /// An attempt starts: recorded (with its node) before the task's code runs.
    pub(crate) fn attempt_started(&self, execution: &str, node: &str, task: &str, attempt: u32) -> Result<(), Error> {
        self.write(|tx| {
            let t = now();
            tx.execute(
                "INSERT INTO nodes (execution_id, node_id, task, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4)
                 ON CONFLICT (execution_id, node_id) DO UPDATE SET status = 'running', started_at = COALESCE(started_at, ?4)",
                params![execution, node, task, t],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO attempts (execution_id, node_id, attempt, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
                params![execution, node, attempt, t],
            )?;
            Ok(())
        })
    }

    /// An attempt failed; `user_failure` says whether it counts against the task's retries.
    pub(crate) fn attempt_failed(
        &self,
        execution: &str,
        node: &str,
        attempt: u32,
        cause: &str,
        counts: Budget,
    ) -> Result<(), Error> {
        let (status, column) = match counts {
            Budget::User => ("failed", "user_failures"),
            Budget::System => ("interrupted", "system_failures"),
        };
        self.write(|tx| {
            tx.execute(
                "UPDATE attempts SET status = ?4, cause = ?5, ended_at = ?6 WHERE execution_id = ?1 AND node_id = ?2 AND attempt = ?3",
                params![execution, node, attempt, status, cause, now()],
            )?;
            tx.execute(
                &format!("UPDATE nodes SET {column} = {column} + 1 WHERE execution_id = ?1 AND node_id = ?2"),
                params![execution, node],
            )?;
            Ok(())
        })
    }

    /// A node finished: its outputs, and the attempt that produced them (none for a cache hit).
    pub(crate) fn node_succeeded(
        &self,
        execution: &str,
        node: &str,
        task: &str,
        attempt: Option<u32>,
        outputs: &[Literal],
        cache_hit: bool,
    ) -> Result<(), Error> {
        let blob = encode_outputs(outputs);
        self.write(|tx| {
            let t = now();
            tx.execute(
                "INSERT INTO nodes (execution_id, node_id, task, status, started_at, ended_at, outputs, cache_hit)
                 VALUES (?1, ?2, ?3, 'succeeded', ?4, ?4, ?5, ?6)
                 ON CONFLICT (execution_id, node_id) DO UPDATE SET status = 'succeeded', ended_at = ?4, outputs = ?5, cache_hit = ?6",
                params![execution, node, task, t, blob, cache_hit],
            )?;
            if let Some(attempt) = attempt {
                tx.execute(
                    "UPDATE attempts SET status = 'succeeded', ended_at = ?4 WHERE execution_id = ?1 AND node_id = ?2 AND attempt = ?3",
                    params![execution, node, attempt, t],
                )?;
            }
            Ok(())
        })
    }

    /// A node that runs no attempt of its own (a map) started.
    pub(crate) fn node_started(&self, execution: &str, node: &str, task: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO nodes (execution_id, node_id, task, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4)
                 ON CONFLICT (execution_id, node_id) DO UPDATE SET status = 'running'",
                params![execution, node, task, now()],
            )?;
            Ok(())
        })
    }

    /// A node failed for good.
    pub(crate) fn node_failed(&self, execution: &str, node: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute(
                "UPDATE nodes SET status = 'failed', ended_at = ?3 WHERE execution_id = ?1 AND node_id = ?2",
                params![execution, node, now()],
            )?;
            Ok(())
        })
    }

    /// The execution ended, with its outputs or its error.
    pub(crate) fn execution_ended(&self, execution: &str, result: Result<&[Literal], &str>) -> Result<(), Error> {
        let (status, outputs, error) = match result {
            Ok(outputs) => ("succeeded", Some(encode_outputs(outputs)), None),
            Err(e) => ("failed", None, Some(e)),
        };
        self.write(|tx| {
            tx.execute(
                "UPDATE executions SET status = ?2, ended_at = ?3, outputs = ?4, error = ?5 WHERE id = ?1",
                params![execution, status, now(), outputs, error],
            )?;
            Ok(())
        })
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
        self.write(|tx| insert_event(tx, execution, node, attempt, kind, message))
    }

    /// Cached outputs for `key`, if any.
    pub(crate) fn cache_get(&self, key: &str) -> Result<Option<Vec<Literal>>, Error> {
        let db = self.db();
        let blob: Option<Vec<u8>> = db
            .query_row("SELECT outputs FROM cache WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.error(e))?;
        blob.map(|b| decode_outputs(&b)).transpose().map_err(|e| self.locate(e))
    }

    /// Stores (or replaces) the outputs for `key`.
    pub(crate) fn cache_put(
        &self,
        key: &str,
        task: &str,
        version: &str,
        outputs: &[Literal],
        execution: &str,
        node: &str,
    ) -> Result<(), Error> {
        let blob = encode_outputs(outputs);
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO cache (key, task, version, outputs, execution_id, node_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![key, task, version, blob, execution, node, now()],
            )?;
            Ok(())
        })
    }

    fn write(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>) -> Result<(), Error> {
        let mut db = self.db();
        let tx = db.transaction().map_err(|e| self.error(e))?;
        f(&tx).map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, e: rusqlite::Error) -> Error {
        Error::Store {
            path: self.dir.join(DB_FILE),
            source: e.into(),
        }
    }

    /// Puts the database's path on a store error raised without one.
    fn locate(&self, e: Error) -> Error {
        match e {
            Error::Store { source, .. } => Error::Store {
                path: self.dir.join(DB_FILE),
                source,
            },
            other => other,
        }
    }
}

/// Which budget a failed attempt counts against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Budget {
    /// The task's `retries`.
    User,
    /// The runtime's system-failure budget: the attempt's process died.
    System,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store {
            path: PathBuf::new(),
            source: e.into(),
        }
    }
}

fn node_records(tx: &rusqlite::Transaction<'_>, execution: &str) -> rusqlite::Result<Vec<NodeRecord>> {
    let mut stmt = tx.prepare(
        "SELECT n.node_id, n.status, n.user_failures, n.system_failures, n.outputs,
                (SELECT COALESCE(MAX(attempt), 0) FROM attempts a WHERE a.execution_id = n.execution_id AND a.node_id = n.node_id),
                (SELECT status FROM attempts a WHERE a.execution_id = n.execution_id AND a.node_id = n.node_id
                 ORDER BY attempt DESC LIMIT 1)
         FROM nodes n WHERE n.execution_id = ?1",
    )?;
    let rows = stmt.query_map([execution], |r| {
        let outputs: Option<Vec<u8>> = r.get(4)?;
        Ok(NodeRecord {
            id: r.get(0)?,
            status: Status::parse(&r.get::<_, String>(1)?),
            user_failures: r.get(2)?,
            system_failures: r.get(3)?,
            last_attempt: r.get(5)?,
            // Only an attempt still marked running was cut short: one whose failure was
            // recorded before the process died already counted against the task's retries.
            interrupted: r.get::<_, Option<String>>(6)?.as_deref() == Some("running"),
            outputs: outputs.and_then(|b| decode_outputs(&b).ok()),
        })
    })?;
    rows.collect()
}

fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    execution: &str,
    node: Option<&str>,
    attempt: Option<u32>,
    kind: &str,
    message: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO events (execution_id, node_id, attempt, at, kind, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![execution, node, attempt, now(), kind, message],
    )?;
    Ok(())
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionSummary> {
    Ok(ExecutionSummary {
        id: r.get(0)?,
        workflow: r.get(1)?,
        status: Status::parse(&r.get::<_, String>(2)?),
        started: time(r.get(3)?),
        ended: r.get::<_, Option<i64>>(4)?.map(time),
    })
}

fn attempts(db: &Connection, execution: &str, node: &str) -> rusqlite::Result<Vec<AttemptReport>> {
    let mut stmt = db.prepare(
        "SELECT attempt, status, cause, started_at, ended_at FROM attempts
         WHERE execution_id = ?1 AND node_id = ?2 ORDER BY attempt",
    )?;
    let rows = stmt.query_map([execution, node], |r| {
        Ok(AttemptReport {
            number: r.get(0)?,
            status: Status::parse(&r.get::<_, String>(1)?),
            cause: r.get(2)?,
            duration: span(r.get(3)?, r.get(4)?),
        })
    })?;
    rows.collect()
}

fn events(db: &Connection, execution: &str) -> rusqlite::Result<Vec<(Option<String>, Event)>> {
    let mut stmt =
        db.prepare("SELECT node_id, attempt, at, kind, message FROM events WHERE execution_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([execution], |r| {
        Ok((
            r.get(0)?,
            Event {
                attempt: r.get(1)?,
                at: time(r.get(2)?),
                kind: r.get(3)?,
                message: r.get(4)?,
            },
        ))
    })?;
    rows.collect()
}

/// Milliseconds since the epoch, as stored.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn span(start: Option<i64>, end: Option<i64>) -> Option<Duration> {
    let (s, e) = (start?, end?);
    Some(Duration::from_millis(u64::try_from(e - s).unwrap_or(0)))
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Outputs as stored: for each slot, its length (u64, little endian) and its bytes.
fn encode_outputs(outputs: &[Literal]) -> Vec<u8> {
    let mut blob = Vec::new();
    for literal in outputs {
        blob.extend_from_slice(&(literal.as_bytes().len() as u64).to_le_bytes());
        blob.extend_from_slice(literal.as_bytes());
    }
    blob
}

fn decode_outputs(mut blob: &[u8]) -> Result<Vec<Literal>, Error> {
    let mut outputs = Vec::new();
    while !blob.is_empty() {
        let truncated = || Error::Store {
            path: PathBuf::new(),
            source: StoreError::Corrupt("stored outputs are truncated".to_owned()),
        };
        let (len, rest) = blob.split_first_chunk::<8>().ok_or_else(truncated)?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| truncated())?;
        if rest.len() < len {
            return Err(truncated());
        }
        outputs.push(Literal::from_bytes(&rest[..len]));
        blob = &rest[len..];
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_store_gains_the_inputs_column_and_keeps_its_executions() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("executions")).unwrap();
        let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
        // The executions table as version 1 wrote it.
        db.execute_batch(
            "CREATE TABLE executions (id TEXT PRIMARY KEY, workflow TEXT NOT NULL, inputs_hash TEXT NOT NULL,
                status TEXT NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER, outputs BLOB, error TEXT);
             INSERT INTO executions (id, workflow, inputs_hash, status, started_at) VALUES ('old', 'wf', 'h', 'failed', 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(db);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.executions().unwrap()[0].id, "old");
        assert_eq!(store.inputs("old").unwrap(), None, "recorded before inputs were kept");
        let version: i64 = store
            .db()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
