//! The durable store: execution metadata in SQLite, checkpoint payloads as files beside it.
//!
//! ```text
//! <store>/flytekit.db                       executions, nodes, attempts, events, cache (WAL)
//! <store>/executions/<execution>/lock       held (flock) by the process running it
//! <store>/executions/<execution>/<node>/    that node's checkpoint versions
//! ```
//!
//! `journal.rs` holds every write the runtime makes while it runs, `commit.rs` how those writes
//! reach the disk (group commit; what a crash can lose), `report.rs` what inspection
//! reads, `schema.rs` the migrations, `sealed.rs` the checksummed form of stored values,
//! `status.rs` the states as SQL values and `lock.rs` the lock that makes one process the owner
//! of an execution.
//!
//! Nothing read back is trusted unchecked: stored values carry a CRC-32 that every read
//! verifies, and a column that does not read as what flytekit writes (a status it never wrote,
//! text that is not UTF-8) is [`StoreError::Damaged`], naming the row.

mod commit;
mod journal;
mod lock;
mod report;
mod schema;
mod sealed;
mod status;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlError};
use rusqlite::{named_params, Connection, Transaction};

use crate::error::{Error, StoreError};
use crate::value::Encoded;

pub(crate) use journal::{Begin, NodeRecord};
pub(crate) use lock::ExecutionLock;
pub use report::{AttemptReport, Event, ExecutionReport, ExecutionSummary, NodeReport};
pub use status::Status;

const DB_FILE: &str = "flytekit.db";

/// How long a connection waits for another one's write lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where durable executions live: a SQLite database and the checkpoint files beside it.
///
/// Several runtimes and processes may share a store, and start executions on it at the same
/// moment; each execution is owned by one process at a time. Inspect it from code:
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
    commit: commit::Committer,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
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
        let fail = |source: StoreError| Error::Store {
            path: dir.join(DB_FILE),
            source,
        };
        fs::create_dir_all(dir.join("executions")).map_err(|e| fail(StoreError::Io(e)))?;
        let mut db = Connection::open(dir.join(DB_FILE)).map_err(|e| fail(e.into()))?;
        // WAL lets readers (an inspecting command) run beside the writer. Commits reach the
        // log at once and the disk within `commit::SYNC_INTERVAL` (see commit.rs), from a
        // thread of the store's own: the log's automatic checkpoints, which sync, would
        // otherwise stall whichever node's commit triggered them. Other processes may hold the
        // write lock: wait for it rather than fail.
        let wal = dir.join(format!("{DB_FILE}-wal"));
        let setup = |db: &mut Connection| -> Result<(), StoreError> {
            db.busy_timeout(BUSY_TIMEOUT)?;
            db.pragma_update(None, "journal_mode", "WAL")?;
            db.pragma_update(None, "synchronous", "NORMAL")?;
            db.pragma_update(None, "wal_autocheckpoint", 0)?;
            // Processes that died (or exited from inside a task) leave their log unsynced and
            // uncopied, and every later open reads all of it: one that finds a long log copies
            // it into the database first, so that the log stays short.
            if fs::metadata(&wal).is_ok_and(|m| m.len() > commit::LONG_LOG) {
                db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            // And a log that grew long in a busy run is cut back when it starts over.
            db.pragma_update(None, "journal_size_limit", commit::LONG_LOG as i64)?;
            schema::migrate(db)
        };
        // Processes opening a new store together race to turn on WAL: SQLite answers a
        // connection that holds a read lock and wants to write with SQLITE_BUSY at once, without
        // its busy handler (waiting could deadlock), so the setup is retried as a whole.
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match setup(&mut db) {
                Err(StoreError::Sqlite(e))
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => break result.map_err(fail)?,
            }
        }
        Ok(Store {
            commit: commit::Committer::new(db, dir.join(DB_FILE)),
            dir,
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

    /// The inputs an execution was started with, so that it can be run again by id alone;
    /// `None` for an unknown id, or one recorded before the store kept inputs. Inputs damaged
    /// on disk are [`StoreError::Damaged`], never returned.
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
    pub fn inputs(&self, id: &str) -> Result<Option<Vec<Encoded>>, Error> {
        self.read(|db| {
            let place = Place::Execution(id);
            let mut stmt = db.prepare_cached("SELECT inputs FROM executions WHERE id = :id")?;
            let mut rows = stmt.query(named_params! {":id": id})?;
            let Some(r) = rows.next()? else { return Ok(None) };
            match cell::<Option<Vec<u8>>>(r, "inputs", &place)? {
                Some(blob) => sealed::open(&blob)
                    .map(Some)
                    .map_err(|problem| place.damaged("stored inputs", &problem)),
                None => Ok(None),
            }
        })
    }

    /// Takes ownership of an execution, or says which process has it.
    pub(crate) fn lock(&self, execution: &str) -> Result<ExecutionLock, Error> {
        lock::take(&self.dir.join("executions").join(execution), execution)
    }

    /// Where a node's checkpoint versions live.
    pub(crate) fn checkpoint_dir(&self, execution: &str, node: &str) -> PathBuf {
        self.dir.join("executions").join(execution).join(node)
    }

    /// Runs `f` in a transaction, with every queued record: when this returns, they survive
    /// the process being killed.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, Error> {
        self.commit.write(f).map_err(|source| self.fail(source))
    }

    /// Writes a record now, with every queued record, and with those of other threads writing
    /// theirs at the same moment: when this returns, it survives the process being killed.
    fn write_now(
        &self,
        record: impl Fn(&Transaction<'_>) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), Error> {
        self.commit
            .write_record(Box::new(record))
            .map_err(|source| self.fail(source))
    }

    /// Queues a record, written within a few milliseconds by whichever transaction comes
    /// first: for records nothing acts on before the next [`write`](Self::write).
    fn post(&self, record: impl Fn(&Transaction<'_>) -> Result<(), StoreError> + Send + 'static) -> Result<(), Error> {
        self.commit.post(Box::new(record)).map_err(|source| self.fail(source))
    }

    /// Makes every record so far survive a power cut.
    pub(crate) fn sync(&self) -> Result<(), Error> {
        self.commit.sync().map_err(|source| self.fail(source))
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, Error> {
        self.commit.read(f).map_err(|source| self.fail(source))
    }

    fn fail(&self, source: StoreError) -> Error {
        Error::Store {
            path: self.dir.join(DB_FILE),
            source,
        }
    }
}

/// A row of the store, to name it when one of its columns is damaged.
#[derive(Clone, Copy)]
enum Place<'a> {
    Executions,
    Execution(&'a str),
    Node(&'a str, &'a str),
    Attempt(&'a str, &'a str, u32),
    Event(&'a str, i64),
    Cache(&'a str),
}

impl Place<'_> {
    fn damaged(&self, what: &str, problem: &str) -> StoreError {
        StoreError::Damaged {
            place: self.to_string(),
            problem: format!("{what} {problem}"),
        }
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Executions => f.write_str("the list of executions"),
            Place::Execution(e) => write!(f, "execution `{e}`"),
            Place::Node(e, n) => write!(f, "execution `{e}`, node {n}"),
            Place::Attempt(e, n, a) => write!(f, "execution `{e}`, node {n}, attempt {a}"),
            Place::Event(e, seq) => write!(f, "execution `{e}`, event {seq}"),
            Place::Cache(key) => write!(f, "cache entry {key}"),
        }
    }
}

/// Column `column` of a row. A value that does not read as a `T` (a status flytekit never
/// wrote, text that is not UTF-8, a blob where a number belongs) is damage, named by `place`.
fn cell<T: FromSql>(row: &rusqlite::Row<'_>, column: &str, place: &Place<'_>) -> Result<T, StoreError> {
    let value = row.get_ref(column)?;
    T::column_result(value).map_err(|e| {
        let holds = match e {
            FromSqlError::InvalidType => format!("a {} value, where flytekit writes another type", value.data_type()),
            FromSqlError::OutOfRange(n) => format!("{n}, out of range"),
            FromSqlError::Other(e) if e.is::<std::str::Utf8Error>() => format!("text that is not UTF-8 ({e})"),
            other => other.to_string(),
        };
        place.damaged(&format!("column `{column}`"), &format!("holds {holds}"))
    })
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
