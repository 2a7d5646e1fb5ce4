//! The asynchronous writers an attempt must flush before it counts as a success.
//!
//! A [`Checkpoint`](crate::Checkpoint) owns one [`Writers`] registry, and the writer module
//! registers each [`AsyncWriter`](crate::AsyncWriter) into it. The registry sees a writer only
//! as something to [`Flush`], so the checkpoint does not depend on how writers work, and the
//! dependency between the two modules runs one way: writer → checkpoint.

use std::sync::{Mutex, Weak};

use crate::error::CheckpointError;

/// Holds checkpoint writes that were handed over but may not be committed yet.
pub(crate) trait Flush: Send + Sync {
    /// Waits until everything handed over so far is committed, and returns the first error of
    /// a commit that no call has returned yet.
    fn flush(&self) -> Result<(), CheckpointError>;
}

/// The writers of one attempt's checkpoint.
///
/// They are held weakly: a writer the task has dropped flushed itself when it was dropped, and
/// the registry must not keep its thread alive.
#[derive(Default)]
pub(crate) struct Writers {
    writers: Mutex<Vec<Weak<dyn Flush>>>,
}

impl Writers {
    /// Adds `writer` to those [`flush`](Self::flush) waits for, forgetting writers that were
    /// dropped (a registry that lives as long as an execution sees many come and go).
    pub(crate) fn register(&self, writer: Weak<dyn Flush>) {
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.retain(|w| w.strong_count() > 0);
        writers.push(writer);
    }

    /// Flushes every registered writer still alive, and forgets them all: returns the first
    /// error any of them met, after waiting for all of them, so that no commit is left in
    /// flight when the attempt ends.
    pub(crate) fn flush(&self) -> Result<(), CheckpointError> {
        let writers = std::mem::take(&mut *self.writers.lock().unwrap_or_else(|p| p.into_inner()));
        let live: Vec<_> = writers.iter().filter_map(Weak::upgrade).collect();
        if live.is_empty() {
            return Ok(());
        }
        // Waiting for the writers' threads: off an async executor's worker (an async task's
        // attempt ending), and only when there is something to wait for.
        crate::asynchronous::offload(|| {
            let mut first = Ok(());
            for writer in live {
                if let Err(e) = writer.flush() {
                    first = first.and(Err(e));
                }
            }
            first
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its flushes, and fails each one with `error` when it has one.
    struct Probe {
        flushes: AtomicUsize,
        error: Option<&'static str>,
    }

    impl Probe {
        fn new(error: Option<&'static str>) -> Arc<Probe> {
            Arc::new(Probe {
                flushes: AtomicUsize::new(0),
                error,
            })
        }
    }

    impl Flush for Probe {
        fn flush(&self) -> Result<(), CheckpointError> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            match self.error {
                Some(reason) => Err(CheckpointError::Corrupt {
                    path: PathBuf::from(reason),
                    reason: reason.to_owned(),
                }),
                None => Ok(()),
            }
        }
    }

    fn weak(probe: &Arc<Probe>) -> Weak<dyn Flush> {
        let weak: Weak<Probe> = Arc::downgrade(probe);
        weak
    }

    #[test]
    fn every_live_writer_is_flushed_once_and_the_first_error_returned() {
        let writers = Writers::default();
        let (ok, first, second) = (Probe::new(None), Probe::new(Some("first")), Probe::new(Some("second")));
        let dropped = Probe::new(None);
        for probe in [&ok, &first, &dropped, &second] {
            writers.register(weak(probe));
        }
        drop(dropped);

        let err = writers.flush().unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Corrupt { reason, .. } if reason == "first"),
            "{err:?}"
        );
        // The failing writer did not keep the one after it from being flushed.
        let counts: Vec<_> = [&ok, &first, &second]
            .iter()
            .map(|p| p.flushes.load(Ordering::SeqCst))
            .collect();
        assert_eq!(counts, [1, 1, 1]);

        // Flushing forgot them: a second flush waits for nothing.
        writers.flush().unwrap();
        assert_eq!(ok.flushes.load(Ordering::SeqCst), 1);
    }
}
