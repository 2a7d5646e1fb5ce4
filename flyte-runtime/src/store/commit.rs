//! Group commit: how the store's records reach the disk.
//!
//! A record the runtime must see written before it acts (an attempt about to run its task, an
//! execution about to return) is written at once, in a transaction that also carries every
//! record queued before it. Other records (a node's success, a failed attempt, an event) are
//! queued: the next such transaction writes them, or, if none comes within [`FLUSH_DELAY`], a
//! background thread does. So a chain of nodes costs one transaction per node (a node's success
//! travels with the next node's start), and nodes finishing together share one.
//!
//! Transactions commit to SQLite's write-ahead log without waiting for the disk
//! (`synchronous = NORMAL`): once committed, a record survives the process being killed, since
//! the log is in the operating system's cache. The background thread makes the log durable
//! against a power cut or an OS crash within [`SYNC_INTERVAL`] of a commit (a checkpoint, which
//! syncs the log and then the database), and when an execution ends. A crash of the machine can
//! therefore lose the records of about the last [`SYNC_INTERVAL`], always whole transactions
//! (each log frame is checksummed; recovery stops at the first frame that does not check out).
//! Checkpoint payloads are files synced on their own and do not depend on any of this.

use std::mem;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::BUSY_TIMEOUT;
use crate::error::StoreError;

/// How long a queued record may wait for a transaction to carry it. A process killed in that
/// window loses it, which costs a rerun of the node whose success it recorded, never an action
/// taken on it: anything that acts on a record (the next attempt, the execution's result)
/// writes it first.
pub(super) const FLUSH_DELAY: Duration = Duration::from_millis(5);

/// How long a committed record may stay in the operating system's cache before it is synced to
/// the disk: what a power cut can lose.
pub(super) const SYNC_INTERVAL: Duration = Duration::from_millis(50);

/// A record to write. Written again, whole, if the transaction carrying it rolls back.
pub(super) type Record = Box<dyn Fn(&Transaction<'_>) -> Result<(), StoreError> + Send>;

/// The store's connection, the queue of records and the thread that flushes and syncs them.
pub(super) struct Committer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    db: Mutex<Connection>,
    queue: Mutex<Queue>,
    wake: Condvar,
    path: PathBuf,
}

#[derive(Default)]
struct Queue {
    records: Vec<Record>,
    /// When the oldest queued record was queued.
    since: Option<Instant>,
    /// When the oldest commit not yet synced was made.
    unsynced: Option<Instant>,
    /// When the background thread wakes next, if it is asleep with a deadline.
    deadline: Option<Instant>,
    /// A queued record that could not be written, for the next caller to report.
    lost: Option<StoreError>,
    closing: bool,
}

impl Committer {
    pub fn new(db: Connection, path: PathBuf) -> Committer {
        Committer {
            shared: Arc::new(Shared {
                db: Mutex::new(db),
                queue: Mutex::new(Queue::default()),
                wake: Condvar::new(),
                path,
            }),
            thread: Mutex::new(None),
        }
    }

    /// Runs `f` in a transaction that also writes every queued record (first, in order), and
    /// commits it: when this returns, all of them survive the process being killed.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut db = self.shared.db();
        let queued = self.take_queued()?;
        let result = commit(&mut db, &queued, f);
        let out = match result {
            Ok(out) => out,
            // A queued record fails: the others are written on their own, and the caller,
            // whose record was not written, hears why.
            Err(Failed::Queued(e)) => {
                one_by_one(&mut db, &queued);
                return Err(e);
            }
            Err(Failed::Own(e)) => {
                if let Err(lost) = write_queued(&mut db, &queued) {
                    self.shared.queue().lost.get_or_insert(lost);
                }
                return Err(e);
            }
            // Nothing was written (the disk is full, ...): the records wait for the next
            // transaction, which may fare better.
            Err(Failed::Commit(e)) => {
                drop(db);
                self.requeue(queued);
                return Err(e);
            }
        };
        drop(db);
        self.committed();
        Ok(out)
    }

    /// Queues `record`, to be written within [`FLUSH_DELAY`]. Reports a queued record that
    /// could not be written since the last call.
    pub fn post(&self, record: Record) -> Result<(), StoreError> {
        let mut q = self.shared.queue();
        if let Some(e) = q.lost.take() {
            return Err(e);
        }
        let now = Instant::now();
        q.records.push(record);
        let since = *q.since.get_or_insert(now);
        let wake = q.deadline.is_none_or(|d| d > since + FLUSH_DELAY);
        drop(q);
        if wake {
            self.start_thread();
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Reads through the connection, after writing what is queued (so that a read sees every
    /// record made before it).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if self.shared.queue().records.is_empty() {
            return f(&self.shared.db());
        }
        self.write(|_| Ok(()))?;
        f(&self.shared.db())
    }

    /// Writes what is queued and syncs the log to the disk: when this returns, every record
    /// made so far survives a power cut.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(()))?;
        checkpoint(&self.shared.db())?;
        self.shared.queue().unsynced = None;
        Ok(())
    }

    fn take_queued(&self) -> Result<Vec<Record>, StoreError> {
        let mut q = self.shared.queue();
        if let Some(e) = q.lost.take() {
            return Err(e);
        }
        q.since = None;
        Ok(mem::take(&mut q.records))
    }

    fn requeue(&self, mut records: Vec<Record>) {
        let mut q = self.shared.queue();
        records.append(&mut q.records);
        q.records = records;
        q.since.get_or_insert_with(Instant::now);
    }

    /// Notes a commit for the background thread to sync.
    fn committed(&self) {
        let mut q = self.shared.queue();
        if q.unsynced.is_some() {
            return;
        }
        let now = Instant::now();
        q.unsynced = Some(now);
        let wake = q.deadline.is_none_or(|d| d > now + SYNC_INTERVAL);
        drop(q);
        if wake {
            self.start_thread();
            self.shared.wake.notify_one();
        }
    }

    fn start_thread(&self) {
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            // A thread that cannot start leaves the records to the next transaction, and the
            // log to SQLite's own checkpoints and the sync at the execution's end.
            *thread = thread::Builder::new()
                .name("flytekit-store".into())
                .spawn(move || background(&shared))
                .ok();
        }
    }
}

impl Drop for Committer {
    /// Writes and syncs what remains before the store closes.
    fn drop(&mut self) {
        self.shared.queue().closing = true;
        self.shared.wake.notify_one();
        let thread = self.thread.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        match thread {
            Some(thread) => {
                let _ = thread.join();
            }
            None => {
                let _ = self.sync();
            }
        }
    }
}

impl Shared {
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

enum Failed {
    /// A queued record failed; nothing was committed.
    Queued(StoreError),
    /// The caller's own write failed; nothing was committed.
    Own(StoreError),
    /// The transaction could not begin or commit.
    Commit(StoreError),
}

/// One transaction that holds the write lock from its start: the queued records, then `f`.
/// (A deferred transaction would read first and could then not be upgraded once another
/// process had committed, SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out.)
fn commit<T>(
    db: &mut Connection,
    queued: &[Record],
    f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, Failed> {
    let tx = db
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Failed::Commit(e.into()))?;
    for record in queued {
        record(&tx).map_err(Failed::Queued)?;
    }
    let out = f(&tx).map_err(Failed::Own)?;
    tx.commit().map_err(|e| Failed::Commit(e.into()))?;
    Ok(out)
}

/// Makes the log durable: a checkpoint syncs the log, copies what it can into the database
/// and syncs that. Passive: it waits for no reader or writer.
fn checkpoint(db: &Connection) -> Result<(), StoreError> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// The background thread: writes records nobody else wrote within [`FLUSH_DELAY`] and syncs
/// commits within [`SYNC_INTERVAL`], on a connection of its own so that syncing holds up no
/// writer.
fn background(shared: &Shared) {
    let mut own: Option<Connection> = None;
    let mut q = shared.queue();
    loop {
        let now = Instant::now();
        let flush_at = q.since.map(|s| if q.closing { now } else { s + FLUSH_DELAY });
        let sync_at = q.unsynced.map(|s| if q.closing { now } else { s + SYNC_INTERVAL });
        if flush_at.is_some_and(|t| t <= now) {
            q.deadline = None;
            drop(q);
            flush(shared);
            q = shared.queue();
            continue;
        }
        if sync_at.is_some_and(|t| t <= now) {
            q.unsynced = None;
            q.deadline = None;
            drop(q);
            if let Err(e) = sync_log(&mut own, &shared.path) {
                tracing::warn!(
                    event = "store_sync_failed",
                    "the store's log could not be synced to disk: {e}"
                );
            }
            q = shared.queue();
            continue;
        }
        if q.closing {
            return;
        }
        q.deadline = match (flush_at, sync_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        q = match q.deadline {
            Some(d) => {
                shared
                    .wake
                    .wait_timeout(q, d - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared.wake.wait(q).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Writes the queued records, if another transaction has not.
fn flush(shared: &Shared) {
    let mut db = shared.db();
    let records = {
        let mut q = shared.queue();
        q.since = None;
        mem::take(&mut q.records)
    };
    if records.is_empty() {
        return;
    }
    let lost = write_queued(&mut db, &records).err();
    drop(db);
    let mut q = shared.queue();
    q.unsynced.get_or_insert_with(Instant::now);
    if q.lost.is_none() {
        q.lost = lost;
    }
}

/// Writes queued records in one transaction, or, if one of them fails, each in its own: the
/// first error, if any record could not be written.
fn write_queued(db: &mut Connection, records: &[Record]) -> Result<(), StoreError> {
    match commit(db, records, |_| Ok(())) {
        Ok(()) => Ok(()),
        Err(Failed::Queued(_) | Failed::Own(_)) => one_by_one(db, records).map_or(Ok(()), Err),
        Err(Failed::Commit(e)) => {
            tracing::error!(event = "record_lost", "records of the store could not be written: {e}");
            Err(e)
        }
    }
}

/// Writes each record in a transaction of its own: the first error.
fn one_by_one(db: &mut Connection, records: &[Record]) -> Option<StoreError> {
    let mut first = None;
    for record in records {
        if let Err(Failed::Queued(e) | Failed::Own(e) | Failed::Commit(e)) =
            commit(db, std::slice::from_ref(record), |_| Ok(()))
        {
            tracing::error!(event = "record_lost", "a record of the store could not be written: {e}");
            first.get_or_insert(e);
        }
    }
    first
}

fn sync_log(own: &mut Option<Connection>, path: &PathBuf) -> Result<(), StoreError> {
    if own.is_none() {
        let db = Connection::open(path)?;
        db.busy_timeout(BUSY_TIMEOUT)?;
        *own = Some(db);
    }
    match own {
        Some(db) => checkpoint(db),
        None => Ok(()),
    }
}
