//! Panics the runtime catches (in a task's attempt, in a background checkpoint commit): they
//! become errors, and the panic hook does not print them, since the default hook's `thread
//! 'main' panicked at ...` reads as if the program had crashed.
//!
//! The hook flytekit installs (once, the first time it catches) passes every other panic to the
//! hook that was there before it, so panics elsewhere in the program, and a hook the program
//! installed, behave as they did. A hook installed after it replaces it, and then sees task
//! panics too.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside [`catch`], where the hook keeps quiet.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// What the hook saw of the last panic caught on this thread.
    static CAUGHT: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// A caught panic: its message, and where it happened.
#[derive(Debug, Clone)]
pub(crate) struct Caught {
    pub message: String,
    /// `file:line:column`, when the hook saw it.
    pub location: Option<String>,
    /// Captured when `RUST_BACKTRACE` asks for one, as the default hook would print it.
    pub backtrace: Option<String>,
}

impl fmt::Display for Caught {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.location {
            Some(at) => write!(f, " (at {at})"),
            None => Ok(()),
        }
    }
}

/// Runs `f`, turning a panic into a [`Caught`] without the panic hook printing it.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Caught> {
    install();
    let outer = CATCHING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    result.map_err(|payload| {
        CAUGHT.take().unwrap_or_else(|| Caught {
            message: message(&*payload).to_owned(),
            location: None,
            backtrace: None,
        })
    })
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // A thread being torn down has no thread-locals left: let the old hook speak.
            if !CATCHING.try_with(Cell::get).unwrap_or(false) {
                return previous(info);
            }
            let backtrace = std::backtrace::Backtrace::capture();
            let caught = Caught {
                message: message(info.payload()).to_owned(),
                location: info.location().map(ToString::to_string),
                backtrace: (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
                    .then(|| backtrace.to_string()),
            };
            let _ = CAUGHT.try_with(|c| c.replace(Some(caught)));
        }));
    });
}

fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic payload that is not a string"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_keeps_its_message_and_location() {
        let caught = catch(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert_eq!(caught.message, "boom 7");
        let at = caught.location.expect("the hook saw where");
        assert!(at.starts_with("flyte-runtime/src/panic.rs:"), "{at}");
        assert_eq!(catch(|| 5).unwrap(), 5);
    }

    #[test]
    fn nested_catches_each_get_their_own_panic() {
        let outer = catch(|| {
            let inner = catch(|| panic!("inner")).unwrap_err();
            assert_eq!(inner.message, "inner");
            panic!("outer");
        })
        .unwrap_err();
        assert_eq!(outer.message, "outer");
    }
}
