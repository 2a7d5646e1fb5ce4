//! Group commit: how the store's records reach the disk.
//!
//! A record the runtime must see written before it acts (an attempt about to run its task, an
//! execution about to return) is written at once, in a transaction that also carries every
//! record queued before it, and those of other threads waiting to write theirs. Other records
//! (a node's success, an event) are queued: the next such transaction writes them, or, if none
//! comes within [`FLUSH_DELAY`], a background thread does. So a chain of nodes costs one
//! transaction per node (a node's success travels with the next node's start), and nodes that
//! start or finish together share one.
//!
//! Transactions commit to SQLite's write-ahead log without waiting for the disk
//! (`synchronous = NORMAL`): once committed, a record survives the process being killed, since
//! the log is in the operating system's cache. The background thread makes the log durable
//! against a power cut or an OS crash within [`SYNC_INTERVAL`] of a commit (a checkpoint, which
//! syncs the log and then the database), and so does the end of each execution. A crash of the
//! machine can therefore lose the records of about the last [`SYNC_INTERVAL`], always whole
//! transactions (each log frame is checksummed, and recovery stops at the first frame that does
//! not check out). Checkpoint payloads are files synced on their own and depend on none of this.

use std::collections::HashMap;
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

/// A log longer than this, found when the store opens, is copied into the database then.
pub(super) const LONG_LOG: u64 = 1 << 20;

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

struct Queued {
    record: Record,
    /// Set when a thread waits for this record to be written: its place in line.
    ticket: Option<u64>,
}

#[derive(Default)]
struct Queue {
    records: Vec<Queued>,
    /// The last ticket handed out.
    tickets: u64,
    /// Every ticket up to this one has been dealt with: written, or failed (`failed`).
    settled: u64,
    /// Why the record of a ticket could not be written.
    failed: HashMap<u64, StoreError>,
    /// When the oldest queued record was queued.
    since: Option<Instant>,
    /// When the oldest commit not yet synced was made.
    unsynced: Option<Instant>,
    /// When the background thread wakes next, if it is asleep with a deadline.
    deadline: Option<Instant>,
    /// A queued record nobody waited for that could not be written, for the next caller.
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
        let db = self.shared.db();
        let out = self.shared.lead(&db, f);
        drop(db);
        self.after_commit();
        out
    }

    /// Writes `record` now, with every record queued before it: when this returns, it
    /// survives the process being killed. Threads that call this together share one
    /// transaction: whoever holds the connection writes the records of those waiting for it.
    pub fn write_record(&self, record: Record) -> Result<(), StoreError> {
        let ticket = {
            let mut q = self.shared.queue();
            q.tickets += 1;
            let ticket = q.tickets;
            q.records.push(Queued {
                record,
                ticket: Some(ticket),
            });
            ticket
        };
        let db = self.shared.db();
        let written = match self.shared.settled(ticket) {
            Some(written) => written,
            None => self
                .shared
                .lead(&db, |_| Ok(()))
                .and_then(|()| self.shared.settled(ticket).unwrap_or(Ok(()))),
        };
        drop(db);
        self.after_commit();
        written
    }

    /// Queues `record`, to be written within [`FLUSH_DELAY`]. Reports a queued record that
    /// could not be written since the last call.
    pub fn post(&self, record: Record) -> Result<(), StoreError> {
        let mut q = self.shared.queue();
        if let Some(e) = q.lost.take() {
            return Err(e);
        }
        q.records.push(Queued { record, ticket: None });
        let since = *q.since.get_or_insert_with(Instant::now);
        let wake = q.deadline.is_none_or(|d| d > since + FLUSH_DELAY);
        drop(q);
        if wake {
            self.wake_thread();
        }
        Ok(())
    }

    /// Reads through the connection, after writing what is queued (so that a read sees every
    /// record made before it).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let db = self.shared.db();
        if !self.shared.queue().records.is_empty() {
            self.shared.lead(&db, |_| Ok(()))?;
        }
        f(&db)
    }

    /// Writes what is queued and syncs the log to the disk: when this returns, every record
    /// made so far survives a power cut.
    pub fn sync(&self) -> Result<(), StoreError> {
        let db = self.shared.db();
        self.shared.lead(&db, |_| Ok(()))?;
        checkpoint(&db)?;
        self.shared.queue().unsynced = None;
        Ok(())
    }

    /// Asks the background thread to sync a commit just made, unless it already will.
    fn after_commit(&self) {
        let mut q = self.shared.queue();
        if q.unsynced.is_some() {
            return;
        }
        let now = Instant::now();
        q.unsynced = Some(now);
        let wake = q.deadline.is_none_or(|d| d > now + SYNC_INTERVAL);
        drop(q);
        if wake {
            self.wake_thread();
        }
    }

    fn wake_thread(&self) {
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            // A thread that cannot start leaves the records to the next transaction, and the
            // log to the sync at each execution's end.
            *thread = thread::Builder::new()
                .name("flytekit-store".into())
                .spawn(move || background(&shared))
                .ok();
        }
        drop(thread);
        self.shared.wake.notify_one();
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

    /// With the connection held: one transaction with every queued record, then `f`.
    fn lead<T>(
        &self,
        db: &Connection,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let batch = {
            let mut q = self.queue();
            q.since = None;
            mem::take(&mut q.records)
        };
        let tx = match begin_with(db, &batch) {
            Ok(tx) => tx,
            // A queued record fails: each is written on its own, so that only its writer hears
            // of it; then `f`, on its own too.
            Err(Failed::Record) => {
                let failures = one_by_one(db, &batch);
                self.settle(&batch, failures);
                let out = alone(db, f)?;
                return self.report_lost().map(|()| out);
            }
            Err(Failed::Transaction(e)) => {
                self.abandon(batch, &e);
                return Err(e);
            }
        };
        let out = match f(&tx) {
            Ok(out) => out,
            Err(e) => {
                drop(tx);
                let failures = match begin_with(db, &batch).map(Transaction::commit) {
                    Ok(Ok(())) => Vec::new(),
                    _ => one_by_one(db, &batch),
                };
                self.settle(&batch, failures);
                return Err(e);
            }
        };
        if let Err(e) = tx.commit() {
            let e = StoreError::from(e);
            self.abandon(batch, &e);
            return Err(e);
        }
        self.settle(&batch, Vec::new());
        self.report_lost().map(|()| out)
    }

    /// A queued record nobody waited for could not be written: whoever wrote next hears of it
    /// (its own record was written).
    fn report_lost(&self) -> Result<(), StoreError> {
        self.queue().lost.take().map_or(Ok(()), Err)
    }

    /// The records of `batch` were dealt with: written, but for `failures`.
    fn settle(&self, batch: &[Queued], failures: Vec<(Option<u64>, StoreError)>) {
        let mut q = self.queue();
        if let Some(last) = batch.iter().filter_map(|b| b.ticket).max() {
            q.settled = q.settled.max(last);
        }
        for (ticket, e) in failures {
            match ticket {
                Some(t) => {
                    q.failed.insert(t, e);
                }
                None => {
                    q.lost.get_or_insert(e);
                }
            }
        }
    }

    /// Nothing of `batch` was written: the threads waiting for theirs hear why, the others are
    /// queued again, ahead of what came since.
    fn abandon(&self, batch: Vec<Queued>, e: &StoreError) {
        let mut q = self.queue();
        let mut requeued = Vec::new();
        for queued in batch {
            match queued.ticket {
                Some(t) => {
                    q.settled = q.settled.max(t);
                    q.failed.insert(t, StoreError::Io(std::io::Error::other(e.to_string())));
                }
                None => requeued.push(queued),
            }
        }
        if !requeued.is_empty() {
            requeued.append(&mut q.records);
            q.records = requeued;
            q.since.get_or_insert_with(Instant::now);
        }
    }

    /// Whether the record of `ticket` was written, once it has been dealt with.
    fn settled(&self, ticket: u64) -> Option<Result<(), StoreError>> {
        let mut q = self.queue();
        (ticket <= q.settled).then(|| q.failed.remove(&ticket).map_or(Ok(()), Err))
    }
}

enum Failed {
    /// A queued record failed; the transaction rolled back.
    Record,
    /// The transaction could not begin.
    Transaction(StoreError),
}

/// A transaction that holds the write lock from its start, with `batch` written in it. (A
/// deferred transaction would read first and could then not be upgraded once another process
/// had committed, SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out.)
fn begin_with<'c>(db: &'c Connection, batch: &[Queued]) -> Result<Transaction<'c>, Failed> {
    // The connection's mutex is held, so no other transaction is open on it: what
    // `new_unchecked` leaves to the caller.
    let tx =
        Transaction::new_unchecked(db, TransactionBehavior::Immediate).map_err(|e| Failed::Transaction(e.into()))?;
    for queued in batch {
        (queued.record)(&tx).map_err(|_| Failed::Record)?;
    }
    Ok(tx)
}

/// `f` in a transaction of its own.
fn alone<T>(db: &Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
    let tx = Transaction::new_unchecked(db, TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Writes each record in a transaction of its own: the ones that failed, and why.
fn one_by_one(db: &Connection, batch: &[Queued]) -> Vec<(Option<u64>, StoreError)> {
    let mut failures = Vec::new();
    for queued in batch {
        if let Err(e) = alone(db, |tx| (queued.record)(tx)) {
            tracing::error!(event = "record_lost", "a record of the store could not be written: {e}");
            failures.push((queued.ticket, e));
        }
    }
    failures
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
            let db = shared.db();
            let written = shared.lead(&db, |_| Ok(()));
            drop(db);
            q = shared.queue();
            match written {
                Ok(()) => {
                    q.unsynced.get_or_insert(now);
                }
                Err(e) => {
                    // Kept for the next caller to report; when the store closes, what could
                    // not be written is given up rather than tried forever.
                    q.lost.get_or_insert(e);
                    if q.closing {
                        q.records.clear();
                        q.since = None;
                    }
                }
            }
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

fn sync_log(own: &mut Option<Connection>, path: &PathBuf) -> Result<(), StoreError> {
    let db = match own {
        Some(db) => db,
        None => {
            let db = Connection::open(path)?;
            db.busy_timeout(BUSY_TIMEOUT)?;
            own.insert(db)
        }
    };
    checkpoint(db)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;
    use std::time::Duration;

    use rusqlite::{named_params, Connection};

    use super::*;

    fn open(path: &Path) -> Connection {
        let db = Connection::open(path).unwrap();
        db.pragma_update(None, "journal_mode", "WAL").unwrap();
        db.pragma_update(None, "synchronous", "NORMAL").unwrap();
        db.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        db.execute_batch("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        db
    }

    fn row(k: i64) -> Record {
        Box::new(move |tx| {
            tx.prepare_cached("INSERT INTO t (k, v) VALUES (:k, zeroblob(1500))")?
                .execute(named_params! {":k": k})?;
            Ok(())
        })
    }

    fn count(db: &Connection) -> i64 {
        db.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_batch_cut_off_anywhere_in_the_log_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let db = open(&path);
        checkpoint(&db).unwrap();
        let committer = Committer::new(db, path.clone());
        // A reader whose snapshot predates the batch keeps checkpoints from copying it into
        // the database file: the batch stays in the log alone, as after a crash.
        let mut reader = Connection::open(&path).unwrap();
        let snapshot = reader.transaction().unwrap();
        assert_eq!(count(&snapshot), 0);
        // Held, the connection keeps the background thread from writing the queued records
        // first: the batch is the 20 of them and the leader's own, as one transaction.
        let db = committer.shared.db();
        for k in 0..20 {
            committer.post(row(k)).unwrap();
        }
        committer.shared.lead(&db, |tx| row(20)(tx)).unwrap();
        drop(db);
        let log = fs::read(dir.path().join("x.db-wal")).unwrap();
        let database = fs::read(&path).unwrap();
        drop(snapshot);
        drop(committer);

        let (mut whole, mut none) = (0, 0);
        for cut in (0..=log.len()).step_by(211).chain([log.len()]) {
            let copy = tempfile::tempdir().unwrap();
            fs::write(copy.path().join("x.db"), &database).unwrap();
            fs::write(copy.path().join("x.db-wal"), &log[..cut]).unwrap();
            let db = Connection::open(copy.path().join("x.db")).unwrap();
            match count(&db) {
                21 => whole += 1,
                0 => none += 1,
                n => panic!(
                    "a log cut at byte {cut} of {} kept {n} of the batch's 21 rows",
                    log.len()
                ),
            }
        }
        assert!(whole > 0 && none > 0, "whole {whole}, none {none}");
    }

    #[test]
    fn a_queued_record_is_written_by_the_background_thread_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let committer = Committer::new(open(&path), path.clone());
        committer.post(row(1)).unwrap();
        let other = Connection::open(&path).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while count(&other) == 0 {
            assert!(Instant::now() < deadline, "the record was not written within 10 s");
            thread::sleep(Duration::from_millis(1));
        }
        drop(committer);
    }

    #[test]
    fn a_read_sees_every_record_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let committer = Committer::new(open(&path), path.clone());
        for k in 0..5 {
            committer.post(row(k)).unwrap();
        }
        assert_eq!(committer.read(|db| Ok(count(db))).unwrap(), 5);
    }

    #[test]
    fn a_failing_record_fails_its_writer_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let committer = Committer::new(open(&path), path.clone());
        committer.post(row(1)).unwrap();
        // Key 1 again: the primary key refuses it, and only this writer hears of it.
        let refused = committer.write_record(row(1)).unwrap_err();
        assert!(refused.to_string().contains("UNIQUE constraint failed"), "{refused}");
        committer.write_record(row(2)).unwrap();
        assert_eq!(committer.read(|db| Ok(count(db))).unwrap(), 2);
    }

    #[test]
    fn a_record_nobody_waits_for_that_fails_is_reported_to_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let committer = Committer::new(open(&path), path.clone());
        committer.write_record(row(1)).unwrap();
        committer.post(row(1)).unwrap();
        // The writer whose transaction carried it hears of it, once; its own record is written.
        let reported = committer.write_record(row(2)).unwrap_err();
        assert!(reported.to_string().contains("UNIQUE constraint failed"), "{reported}");
        committer.write_record(row(3)).unwrap();
        assert_eq!(committer.read(|db| Ok(count(db))).unwrap(), 3);
    }
}
