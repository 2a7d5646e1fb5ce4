//! SIGTERM and SIGINT as preemption notices, while a run that asked for it is in progress.
//!
//! The first run that asks ([`LocalRuntime::handle_signals`](crate::LocalRuntime::handle_signals))
//! starts one listener thread for the process (signal-hook's iterator: the signal handler only
//! writes to a pipe, and the thread reads it). From then on, a SIGTERM or SIGINT raises the
//! notice of every [`Preemption`](crate::Preemption) handle with a run in progress that asked
//! for signals; when none has, the signal does what it does by default (the process ends, killed
//! by it), so that outside such runs a program behaves as if flytekit had installed nothing.
//! The handlers stay installed once the listener runs: signal-hook cannot give a signal back
//! to its default, and emulating the default when no run listens is the same to the program.
//!
//! On platforms without Unix signals nothing is listened for.

use std::sync::Arc;

use crate::error::Error;
use crate::preempt::Shared;

/// A run's interest in signals, given up when dropped.
pub(crate) struct Listening {
    #[cfg(unix)]
    key: u64,
}

/// Makes SIGTERM and SIGINT raise `shared`'s notice until the returned value is dropped.
pub(crate) fn listen(shared: &Arc<Shared>) -> Result<Listening, Error> {
    #[cfg(unix)]
    {
        unix::listen(shared)
    }
    #[cfg(not(unix))]
    {
        let _ = shared;
        Ok(Listening {})
    }
}

#[cfg(unix)]
mod unix {
    use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    use super::Listening;
    use crate::error::Error;
    use crate::preempt::{Notice, Shared};

    /// The handles of the runs in progress that listen, each under its run's key.
    static WATCHED: Mutex<Vec<(u64, Weak<Shared>)>> = Mutex::new(Vec::new());
    /// Numbers the runs.
    static KEYS: Mutex<u64> = Mutex::new(0);
    /// Whether the listener thread runs, or why it could not be started.
    static LISTENER: OnceLock<Result<(), String>> = OnceLock::new();

    pub(super) fn listen(shared: &Arc<Shared>) -> Result<Listening, Error> {
        LISTENER
            .get_or_init(start)
            .clone()
            .map_err(|message| Error::Signals { message })?;
        let key = {
            let mut keys = KEYS.lock().unwrap_or_else(PoisonError::into_inner);
            *keys += 1;
            *keys
        };
        watched().push((key, Arc::downgrade(shared)));
        Ok(Listening { key })
    }

    fn watched() -> std::sync::MutexGuard<'static, Vec<(u64, Weak<Shared>)>> {
        WATCHED.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start() -> Result<(), String> {
        let mut signals = Signals::new([SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("flytekit-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    deliver(signal);
                }
            })
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Raises the notice of every handle listening, once per handle however many of its runs
    /// listen; with none, does what the signal does by default.
    fn deliver(signal: i32) {
        let notice = if signal == SIGINT {
            Notice::Sigint
        } else {
            Notice::Sigterm
        };
        let mut handles: Vec<Arc<Shared>> = Vec::new();
        for (_, weak) in watched().iter() {
            if let Some(handle) = weak.upgrade() {
                if !handles.iter().any(|h| Arc::ptr_eq(h, &handle)) {
                    handles.push(handle);
                }
            }
        }
        if handles.is_empty() {
            // No run asked for notices: end the process as the signal would have.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            return;
        }
        for handle in handles {
            handle.raise(notice);
        }
    }

    impl Drop for Listening {
        fn drop(&mut self) {
            watched().retain(|(key, _)| *key != self.key);
        }
    }
}
