//! Asynchronous checkpoint writes: hand a state to a background thread and keep computing while
//! it reaches the disk.
//!
//! An [`AsyncWriter`] owns one background thread and one *latest* slot. `write` and `save_state`
//! put their bytes in the slot, replacing a value the thread has not started yet, and return;
//! the thread commits whatever the slot holds, one commit at a time, through
//! [`Checkpoint::write`]. Every value handed over gets a ticket number; a commit settles the
//! tickets up to its own (the values it replaced are settled with it), and `flush` waits for the
//! ticket of the last value handed over before it was called.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};

use serde::Serialize;

use crate::checkpoint::{encode_state, Checkpoint};
use crate::error::CheckpointError;
use crate::flush::Flush;

/// What commits a value: [`Checkpoint::write`] of the writer's checkpoint.
type Commit = dyn Fn(&[u8]) -> Result<(), CheckpointError> + Send + Sync;

/// Writes checkpoints on a background thread, so that saving progress never waits for the disk.
///
/// Get one with [`Checkpoint::async_writer`]. It commits to that checkpoint exactly what
/// [`Checkpoint::write`] and [`Checkpoint::save_state`] would, so the next attempt reads it back
/// with [`read`](Checkpoint::read) and [`load_state`](Checkpoint::load_state) as usual.
///
/// * **Latest wins.** [`write`](Self::write) and [`save_state`](Self::save_state) hand their
///   value over and return without waiting for any I/O. A value the background thread has not
///   started yet is replaced by a newer one: a loop that saves its state faster than the disk
///   takes it commits only some of the states, always ending with the last.
/// * **At most one write in flight.** One background thread commits one value at a time, each
///   atomically, in the order they were handed over.
/// * **Errors on the next call.** A commit that fails in the background cannot fail the call
///   that handed its value over, which has returned: its error is kept and returned by the next
///   call to `write`, `save_state` or [`flush`](Self::flush), then forgotten. A `write` or
///   `save_state` that returns such an error has not handed its own value over: call it again.
/// * **Flushed before success.** [`flush`](Self::flush) waits until the last value handed over
///   is committed. The runtime flushes every writer of an attempt, even one the task still holds,
///   before the attempt counts as a success; a failed commit then fails the attempt (a
///   recoverable failure, so it is retried).
/// * **Flushed when dropped.** Dropping the writer waits for the last value to be committed and
///   ends the thread, so a task that returns an error right after handing its state over still
///   leaves that state to its retry. Errors are ignored there: call `flush` to see them.
///
/// ```
/// use flytekit::{task, Checkpoint, LocalRuntime, TaskError};
///
/// #[task(retries = 1)]
/// fn train(cp: &Checkpoint, steps: u64) -> Result<u64, TaskError> {
///     let writer = cp.async_writer();
///     let start: u64 = cp.load_state()?.unwrap_or(0);
///     for step in start..steps {
///         // ... one step of real work ...
///         writer.save_state(&(step + 1))?; // returns at once; the disk catches up
///         if step + 1 == 6 && !cp.prev_exists() {
///             // Dropping `writer` on the way out commits step 6 for the retry.
///             return Err(TaskError::recoverable("preempted"));
///         }
///     }
///     // The runtime flushes `writer` before this attempt counts as a success.
///     Ok(start)
/// }
///
/// // The second attempt resumed from step 6.
/// assert_eq!(LocalRuntime::new().run_task(train, 10)?, 6);
/// # Ok::<(), flytekit::Error>(())
/// ```
pub struct AsyncWriter {
    shared: Arc<Shared>,
    /// Used on the caller's thread if the background thread could not be started.
    commit: Arc<Commit>,
    /// `None` once dropped, or if the thread could not be started.
    worker: Option<JoinHandle<()>>,
}

/// What an [`AsyncWriter`] shares with its background thread and with its checkpoint, which
/// holds it weakly (see `Checkpoint::register_writer`) to flush it before an attempt succeeds.
pub(crate) struct Shared {
    /// The checkpoint's directory, to name in errors.
    dir: PathBuf,
    state: Mutex<State>,
    /// Wakes the background thread: a value was handed over, or the writer is closing.
    work: Condvar,
    /// Wakes flushers: a commit finished.
    settled: Condvar,
}

struct State {
    /// The newest value handed over that the background thread has not started.
    latest: Option<Vec<u8>>,
    /// The ticket of the newest value handed over (values are numbered from 1).
    handed_over: u64,
    /// Every ticket up to this one is committed, replaced by a newer value, or failed.
    settled: u64,
    /// The first error of a background commit that no call has returned yet.
    error: Option<CheckpointError>,
    /// Set when the writer is dropped: the thread commits what is left and ends.
    closing: bool,
}

impl Checkpoint {
    /// A writer that commits to this checkpoint on a background thread: see [`AsyncWriter`].
    ///
    /// The runtime flushes it before the attempt counts as a success. A checkpoint may have
    /// several writers; each has its own thread and its own latest value, and their commits
    /// interleave.
    ///
    /// ```
    /// use flytekit::Checkpoint;
    ///
    /// let cp = Checkpoint::temporary()?;
    /// let writer = cp.async_writer();
    /// writer.write("step 1")?;
    /// writer.write("step 2")?; // may replace "step 1" before it is committed
    /// writer.flush()?;
    /// assert_eq!(Checkpoint::new(cp.dir())?.read()?.as_deref(), Some(&b"step 2"[..]));
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn async_writer(&self) -> AsyncWriter {
        let checkpoint = self.clone();
        let writer = AsyncWriter::start(
            self.dir().to_path_buf(),
            Arc::new(move |bytes: &[u8]| checkpoint.write(bytes)),
        );
        let shared: Weak<Shared> = Arc::downgrade(&writer.shared);
        self.register_writer(shared);
        writer
    }
}

impl AsyncWriter {
    fn start(dir: PathBuf, commit: Arc<Commit>) -> AsyncWriter {
        let shared = Arc::new(Shared {
            dir,
            state: Mutex::new(State {
                latest: None,
                handed_over: 0,
                settled: 0,
                error: None,
                closing: false,
            }),
            work: Condvar::new(),
            settled: Condvar::new(),
        });
        let worker = {
            let (shared, commit) = (Arc::clone(&shared), Arc::clone(&commit));
            thread::Builder::new()
                .name("flytekit-checkpoint-writer".into())
                .spawn(move || background(&shared, &*commit))
        };
        // Out of threads: commit on the caller's thread instead, blocking but correct.
        AsyncWriter {
            shared,
            commit,
            worker: worker.ok(),
        }
    }

    /// Hands `bytes` over to be committed as the new checkpoint, and returns without waiting.
    ///
    /// If an earlier background commit failed, returns that error instead, without handing
    /// `bytes` over; the error is then forgotten, so calling again hands them over.
    ///
    /// ```
    /// use flytekit::Checkpoint;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let cp = Checkpoint::new(dir.path().join("node"))?;
    /// let writer = cp.async_writer();
    ///
    /// // Make every commit fail: where the checkpoint directory would be created, put a file.
    /// std::fs::write(cp.dir(), "not a directory").unwrap();
    ///
    /// writer.write(vec![1, 2, 3])?; // accepted: the commit fails in the background
    /// let err = writer.flush().unwrap_err(); // reported by the next call
    /// assert!(err.to_string().contains(&*cp.dir().to_string_lossy()));
    /// writer.flush()?; // and reported once
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn write(&self, bytes: impl Into<Vec<u8>>) -> Result<(), CheckpointError> {
        self.hand_over(bytes.into())
    }

    /// Serializes `state` (on the calling thread, as [`Checkpoint::save_state`] does) and hands
    /// it over like [`write`](Self::write).
    ///
    /// A state that cannot be serialized is an error at once.
    ///
    /// ```
    /// use flytekit::Checkpoint;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize, PartialEq, Debug)]
    /// struct Progress { step: u64, loss: f64 }
    ///
    /// let cp = Checkpoint::temporary()?;
    /// let writer = cp.async_writer();
    /// for step in 1..=100 {
    ///     writer.save_state(&Progress { step, loss: 1.0 / step as f64 })?;
    /// }
    /// drop(writer); // commits the last state, like `flush`, and ends the thread
    ///
    /// let next = Checkpoint::new(cp.dir())?;
    /// assert_eq!(next.load_state::<Progress>()?, Some(Progress { step: 100, loss: 0.01 }));
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn save_state<T: Serialize + ?Sized>(&self, state: &T) -> Result<(), CheckpointError> {
        self.hand_over(encode_state(state, &self.shared.dir)?)
    }

    /// Waits until the last value handed over is committed, and returns the error of any
    /// background commit not returned yet (then forgets it).
    ///
    /// The runtime does this before an attempt counts as a success; call it yourself to know
    /// that a state is on disk, or to see the error of the last commit.
    ///
    /// ```
    /// use flytekit::Checkpoint;
    ///
    /// let cp = Checkpoint::temporary()?;
    /// let writer = cp.async_writer();
    /// for i in 0..1000u32 {
    ///     writer.save_state(&i)?; // only some of these reach the disk
    /// }
    /// writer.flush()?; // the last one has
    /// assert_eq!(Checkpoint::new(cp.dir())?.load_state::<u32>()?, Some(999));
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn flush(&self) -> Result<(), CheckpointError> {
        // In an async task, the executor's worker is not held up while the disk catches up.
        crate::asynchronous::offload(|| self.shared.flush())
    }

    fn hand_over(&self, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        let mut state = self.shared.lock();
        if let Some(error) = state.error.take() {
            return Err(error);
        }
        if self.worker.is_none() {
            drop(state);
            return (self.commit)(&bytes);
        }
        state.latest = Some(bytes);
        state.handed_over += 1;
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }
}

impl Drop for AsyncWriter {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.lock().closing = true;
            self.shared.work.notify_one();
            // The thread commits what is left before it ends; a commit's panic is caught there.
            // In an async task, the executor's worker is not held up meanwhile.
            let _ = crate::asynchronous::offload(|| worker.join());
        }
    }
}

impl fmt::Debug for AsyncWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("AsyncWriter")
            .field("dir", &self.shared.dir)
            .field("handed_over", &state.handed_over)
            .field("settled", &state.settled)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The state, even if a thread panicked while holding it: every update leaves it coherent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Flush for Shared {
    /// Waits until the last value handed over is committed, and returns the error of any
    /// background commit not returned yet. Works while the user still holds the writer.
    fn flush(&self) -> Result<(), CheckpointError> {
        let mut state = self.lock();
        let target = state.handed_over;
        while state.settled < target {
            state = self.settled.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.error.take().map_or(Ok(()), Err)
    }
}

/// The background thread: commits the latest value until the writer closes with none left.
fn background(shared: &Shared, commit: &Commit) {
    let mut state = shared.lock();
    loop {
        if let Some(bytes) = state.latest.take() {
            let ticket = state.handed_over;
            drop(state);
            let result =
                crate::panic::catch(|| commit(&bytes)).unwrap_or_else(|panic| Err(panicked(&shared.dir, &panic)));
            drop(bytes);
            state = shared.lock();
            state.settled = ticket;
            if let Err(error) = result {
                state.error.get_or_insert(error);
            }
            shared.settled.notify_all();
        } else if state.closing {
            return;
        } else {
            state = shared.work.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A commit that panicked (a bug, in flytekit or in the file system layer), as an error.
fn panicked(dir: &std::path::Path, panic: &crate::panic::Caught) -> CheckpointError {
    CheckpointError::Io {
        op: "write",
        path: dir.to_path_buf(),
        source: io::Error::other(format!("the background commit panicked: {panic}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// A commit that records what it committed, counts commits in flight, and fails for `bad`
    /// and panics for `boom`.
    #[derive(Default)]
    struct Log {
        committed: Mutex<Vec<Vec<u8>>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl Log {
        fn commit(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            self.committed.lock().unwrap().push(bytes.to_vec());
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            match bytes {
                b"bad" => Err(CheckpointError::Io {
                    op: "write",
                    path: "/the/bad/path".into(),
                    source: io::Error::other("refused"),
                }),
                b"boom" => panic!("boom"),
                _ => Ok(()),
            }
        }

        fn committed(&self) -> Vec<Vec<u8>> {
            self.committed.lock().unwrap().clone()
        }
    }

    fn logged() -> (AsyncWriter, Arc<Log>) {
        let log = Arc::new(Log::default());
        let commit = Arc::clone(&log);
        (
            AsyncWriter::start("/ckpt".into(), Arc::new(move |b: &[u8]| commit.commit(b))),
            log,
        )
    }

    /// A logged commit that tells the test which value it starts and waits for its go-ahead.
    fn gated() -> (AsyncWriter, Arc<Log>, mpsc::Receiver<Vec<u8>>, mpsc::Sender<()>) {
        let log = Arc::new(Log::default());
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let commit = Arc::clone(&log);
        let writer = AsyncWriter::start(
            "/ckpt".into(),
            Arc::new(move |bytes: &[u8]| {
                // Neither fails unless the test has ended: then the commit just goes on.
                let _ = started_tx.send(bytes.to_vec());
                let _ = release_rx.lock().unwrap().recv();
                commit.commit(bytes)
            }),
        );
        (writer, log, started, release)
    }

    /// Waits until the value handed over last has settled, without taking its error.
    fn wait_settled(writer: &AsyncWriter) {
        let mut state = writer.shared.lock();
        while state.settled < state.handed_over {
            state = writer.shared.settled.wait(state).unwrap();
        }
    }

    #[test]
    fn a_newer_value_replaces_one_not_yet_started_and_one_commit_runs_at_a_time() {
        let (writer, log, started, release) = gated();
        writer.write("1").unwrap();
        assert_eq!(started.recv().unwrap(), b"1"); // "1" is in flight
        writer.write("2").unwrap();
        writer.write("3").unwrap(); // replaces "2", which never started
        release.send(()).unwrap();
        assert_eq!(started.recv().unwrap(), b"3");
        release.send(()).unwrap();
        writer.flush().unwrap();
        assert_eq!(log.committed(), [b"1", b"3"]);
        assert_eq!(log.max_in_flight.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn writers_on_several_threads_still_commit_one_at_a_time_and_flush_settles_all() {
        let (writer, log) = logged();
        thread::scope(|s| {
            for t in 0..4u8 {
                let writer = &writer;
                s.spawn(move || {
                    for i in 0..1000u16 {
                        writer.write([t, (i % 256) as u8]).unwrap();
                    }
                });
            }
        });
        writer.write("last").unwrap();
        writer.flush().unwrap();
        assert_eq!(log.committed().last().unwrap(), b"last");
        assert!(log.committed().len() <= 4001);
        assert_eq!(log.max_in_flight.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_commit_is_returned_by_the_next_write_once() {
        let (writer, log) = logged();
        writer.write("bad").unwrap();
        wait_settled(&writer);
        let err = writer.write("good").unwrap_err();
        assert!(err.to_string().contains("/the/bad/path"), "{err}");
        // The call that returned the error handed nothing over; the next one does.
        writer.write("good").unwrap();
        writer.flush().unwrap();
        assert_eq!(log.committed(), [&b"bad"[..], b"good"]);
    }

    #[test]
    fn flush_waits_for_a_failing_commit_and_returns_its_error_once() {
        let (writer, _log, started, release) = gated();
        writer.write("bad").unwrap();
        assert_eq!(started.recv().unwrap(), b"bad");
        release.send(()).unwrap();
        assert!(writer.flush().is_err());
        writer.flush().unwrap();
    }

    #[test]
    fn a_panicking_commit_is_an_error_and_the_thread_goes_on() {
        let (writer, log) = logged();
        writer.write("boom").unwrap();
        let err = writer.flush().unwrap_err();
        assert!(err.to_string().contains("panicked: boom"), "{err}");
        writer.write("after").unwrap();
        writer.flush().unwrap();
        assert_eq!(log.committed(), [&b"boom"[..], b"after"]);
    }

    #[test]
    fn the_runtime_flush_waits_while_the_user_holds_the_writer() {
        let (writer, log, started, release) = gated();
        writer.write("held").unwrap();
        assert_eq!(started.recv().unwrap(), b"held");
        // As a checkpoint does: through its registry, which holds the writer weakly.
        let registry = crate::flush::Writers::default();
        let shared: Weak<Shared> = Arc::downgrade(&writer.shared);
        registry.register(shared);
        thread::scope(|s| {
            let flusher = s.spawn(|| {
                registry.flush().unwrap();
                log.committed()
            });
            release.send(()).unwrap();
            assert_eq!(flusher.join().unwrap(), [b"held"]);
        });
        writer.write("still usable").unwrap();
        assert_eq!(started.recv().unwrap(), b"still usable");
        release.send(()).unwrap();
        writer.flush().unwrap();
    }

    #[test]
    fn dropping_commits_the_last_value_and_ends_the_thread() {
        let log = Arc::new(Log::default());
        let commit = Arc::clone(&log);
        let writer = AsyncWriter::start("/ckpt".into(), Arc::new(move |b: &[u8]| commit.commit(b)));
        for i in 0..=255u8 {
            writer.write([i]).unwrap();
        }
        writer.write("bad").unwrap(); // its error is ignored by drop
        let shared = Arc::downgrade(&writer.shared);
        drop(writer);
        assert_eq!(log.committed().last().unwrap(), b"bad");
        // The thread has ended: it no longer holds the commit nor the shared state.
        assert_eq!(Arc::strong_count(&log), 1);
        assert!(shared.upgrade().is_none());
    }

    #[test]
    fn without_a_thread_values_are_committed_on_the_callers_thread() {
        let log = Arc::new(Log::default());
        let commit = Arc::clone(&log);
        let mut writer = AsyncWriter::start("/ckpt".into(), Arc::new(move |b: &[u8]| commit.commit(b)));
        // What `start` leaves when the thread cannot be spawned.
        writer.shared.lock().closing = true;
        writer.shared.work.notify_one();
        writer.worker.take().unwrap().join().unwrap();

        writer.write("1").unwrap();
        assert_eq!(log.committed(), [b"1"]);
        assert!(writer.write("bad").is_err());
        writer.flush().unwrap();
        drop(writer);
    }

    #[test]
    fn the_checkpoint_flushes_its_registered_writers() {
        let cp = Checkpoint::temporary().unwrap();
        let writer = cp.async_writer();
        let big = vec![7u8; 1 << 20];
        writer.write(b"small").unwrap();
        writer.write(big.clone()).unwrap();
        cp.flush_writers().unwrap();
        assert_eq!(Checkpoint::new(cp.dir()).unwrap().read().unwrap(), Some(big));
        drop(writer);
    }

    #[test]
    fn an_unserializable_state_is_an_error_at_once() {
        struct Unserializable;
        impl Serialize for Unserializable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let (writer, log) = logged();
        match writer.save_state(&Unserializable) {
            Err(CheckpointError::State { type_name, .. }) => assert!(type_name.ends_with("Unserializable")),
            other => panic!("expected a state error, got {other:?}"),
        }
        writer.flush().unwrap();
        assert!(log.committed().is_empty());
    }
}
