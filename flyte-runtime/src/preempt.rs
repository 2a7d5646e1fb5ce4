//! Preemption notices: the machine is about to be taken away, and the run ends cleanly.
//!
//! Spot and preemptible machines give notice before they go: Kubernetes sends SIGTERM and
//! waits `terminationGracePeriodSeconds` (30 s by default) before SIGKILL, AWS announces a spot
//! interruption two minutes ahead, SLURM signals a job before its time limit (`--signal`).
//! A [`Preemption`] is where such a notice is raised: by a signal ([`signals`](crate::signals),
//! when the runtime was asked to listen) or by the program itself ([`Preemption::notify`]).
//!
//! What a notice does to the executions running under the handle:
//!
//! * **Running attempts see it** ([`TaskContext::preempted`](crate::TaskContext::preempted)),
//!   and their checkpoint commits still succeed, unlike a timeout's: a loop that checks the
//!   notice saves its latest state and returns. An attempt that returns an error after the
//!   notice is recorded as interrupted by preemption (a system failure, not counted against
//!   `retries`); one that returns its outputs succeeded (see [`retry`](crate::retry)).
//! * **Nothing new starts**: no node, no attempt, no map element.
//! * **A deadline.** Attempts still running when the grace period ends
//!   ([`LocalRuntime::grace_period`](crate::LocalRuntime::grace_period)) are abandoned by the
//!   *warden*, a thread this module starts at the notice: it flushes the asynchronous
//!   checkpoint writers of the handle's attempts (their latest state reaches the disk), records
//!   the running attempts and their executions as interrupted, syncs the stores, prints one line
//!   per execution on stderr and exits the process with the notice's status (143 for SIGTERM,
//!   130 for SIGINT). A second notice (a second Ctrl-C) does the same at once, without waiting
//!   for the writers. Rust cannot stop a thread, so ending the process is the only way to
//!   abandon an attempt; every record it leaves is whole, and the execution resumes.
//!
//! Whichever of the warden and the execution's own thread records an attempt first does (the
//! store's writes for it are conditional on the attempt still being recorded as running), and
//! only one of them finishes an execution: the one that takes it off the handle's list.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::error::Preempted;
use crate::flush::{Flush, Writers};
use crate::store::Store;

/// Why a preemption notice was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Notice {
    /// SIGTERM: Kubernetes deleting the pod (SIGKILL follows after its grace period),
    /// `docker stop`, `systemctl stop`, SLURM's `--signal=TERM@<seconds>`.
    Sigterm,
    /// SIGINT: Ctrl-C at the terminal.
    Sigint,
    /// The program raised it with [`Preemption::notify`]: from a thread that polls the AWS
    /// instance metadata for a spot interruption notice, say.
    Requested,
}

impl Notice {
    /// The exit status a process ended by this notice uses, as a shell reports a process
    /// killed by the signal: 130 for SIGINT, 143 for SIGTERM and for a notice the program
    /// raised (it asks the process to terminate).
    pub fn exit_status(self) -> u8 {
        match self {
            Notice::Sigint => 130,
            Notice::Sigterm | Notice::Requested => 143,
        }
    }

    fn code(self) -> u8 {
        match self {
            Notice::Sigterm => 1,
            Notice::Sigint => 2,
            Notice::Requested => 3,
        }
    }

    fn from_code(code: u8) -> Option<Notice> {
        match code {
            1 => Some(Notice::Sigterm),
            2 => Some(Notice::Sigint),
            3 => Some(Notice::Requested),
            _ => None,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Notice::Sigterm => "SIGTERM",
            Notice::Sigint => "SIGINT",
            Notice::Requested => "a notice from the program",
        })
    }
}

/// Where preemption notices are raised, and seen by the executions that run under it.
///
/// A runtime runs under one with [`LocalRuntime::preemption`](crate::LocalRuntime::preemption)
/// (and [`handle_signals`](crate::LocalRuntime::handle_signals) makes SIGTERM and SIGINT raise
/// its notice); the program raises one itself with [`notify`](Self::notify). Clones share the
/// notice. A notice stays raised: a run started under a handle whose notice is up starts
/// nothing and returns [`Error::Preempted`](crate::Error::Preempted) at once.
///
/// ```
/// use std::sync::LazyLock;
/// use flytekit::{task, workflow, Error, LocalRuntime, Preemption, TaskContext, TaskError};
///
/// static NOTICE: LazyLock<Preemption> = LazyLock::new(Preemption::new);
///
/// #[task]
/// fn count(ctx: &TaskContext, n: u64) -> Result<u64, TaskError> {
///     let cp = ctx.checkpoint();
///     let mut i: u64 = cp.load_state()?.unwrap_or(0);
///     while i < n {
///         if ctx.preempted() {
///             cp.save_state(&i)?; // commits still succeed under a notice
///             return Err(TaskError::recoverable("preempted: state saved"));
///         }
///         i += 1;
///         if i == 5 {
///             NOTICE.notify(); // here the program raises the notice; SIGTERM does the same
///         }
///     }
///     Ok(i)
/// }
///
/// #[workflow]
/// fn counting(n: u64) -> u64 {
///     count(n)
/// }
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = LocalRuntime::with_store(dir.path())?.preemption(NOTICE.clone());
/// let Err(Error::Preempted(p)) = rt.run_with_id("c1", counting, 10) else { panic!() };
/// assert_eq!(p.execution, "c1");
/// assert_eq!(p.interrupted, [("n0".to_string(), 1)]); // node n0, attempt 1
///
/// // Run again without the notice: it resumes from the state saved at step 5.
/// let rt = LocalRuntime::with_store(dir.path())?;
/// assert_eq!(rt.run_with_id("c1", counting, 10)?, 10);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Preemption {
    shared: Arc<Shared>,
}

impl fmt::Debug for Preemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Preemption").field("notice", &self.notice()).finish()
    }
}

impl Preemption {
    /// A handle with no notice raised.
    pub fn new() -> Self {
        Preemption::default()
    }

    /// Raises a notice ([`Notice::Requested`]), as SIGTERM would: running attempts see it,
    /// nothing new starts, and attempts still running at the end of the grace period are
    /// abandoned. A second call abandons them at once.
    pub fn notify(&self) {
        self.shared.raise(Notice::Requested);
    }

    /// The notice raised, if one was (the first, when several were).
    pub fn notice(&self) -> Option<Notice> {
        self.shared.notice()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// What a [`Preemption`] handle shares with the executions under it, the warden and the
/// signal listener.
#[derive(Default)]
pub(crate) struct Shared {
    /// The first notice's [`Notice::code`], 0 while none: what running code reads, lock-free.
    notice: AtomicU8,
    state: Mutex<State>,
    /// Wakes the warden: a notice was raised, or an execution left.
    changed: Condvar,
    /// The asynchronous writers of every attempt under the handle, flushed when attempts are
    /// abandoned at the end of the grace period.
    writers: Writers,
}

#[derive(Default)]
struct State {
    /// How many notices were raised, and when the first was.
    notices: u32,
    since: Option<Instant>,
    /// The executions running under the handle.
    active: Vec<Active>,
    /// Numbers the executions' registrations.
    next_key: u64,
    /// Whether a warden thread is watching.
    warden: bool,
}

/// An execution running under a handle, as the warden needs it to abandon it.
struct Active {
    key: u64,
    execution: String,
    store: Option<Arc<Store>>,
    grace: Duration,
    /// The attempts the execution's own threads recorded as interrupted by the notice.
    interrupted: Arc<Mutex<Vec<(String, u32)>>>,
    /// How the message says to resume the execution.
    resume: String,
}

/// Why attempts were abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// They were still running when the grace period, of this length, ended.
    GracePeriod(Duration),
    /// A second notice came (a second Ctrl-C) before they returned.
    SecondNotice,
}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abandoned::GracePeriod(grace) => write!(f, "still running when the {grace:?} grace period ended"),
            Abandoned::SecondNotice => f.write_str("still running at a second notice"),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first notice raised, if any: one atomic load while there is none.
    pub(crate) fn notice(&self) -> Option<Notice> {
        Notice::from_code(self.notice.load(Ordering::Acquire))
    }

    /// Raises `notice`: the first sets the handle's notice and starts the grace period, the
    /// second abandons what still runs at once.
    pub(crate) fn raise(self: &Arc<Self>, notice: Notice) {
        let mut state = self.lock();
        state.notices += 1;
        if state.since.is_none() {
            state.since = Some(Instant::now());
            self.notice.store(notice.code(), Ordering::Release);
        }
        let first = state.notices == 1;
        tracing::warn!(
            event = "preemption_notice",
            notice = %notice,
            first,
            executions = state.active.len(),
            "preemption notice"
        );
        self.watch(&mut state);
        drop(state);
        self.changed.notify_all();
    }

    /// Starts the warden if a notice is up, executions run, and none watches yet.
    fn watch(self: &Arc<Self>, state: &mut State) {
        if state.since.is_none() || state.active.is_empty() || state.warden {
            return;
        }
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("flytekit-preemption-warden".into())
            .spawn(move || warden(&shared));
        match spawned {
            Ok(_) => state.warden = true,
            // Out of threads: attempts are waited for however long they take.
            Err(e) => {
                tracing::error!(event = "warden_failed", error = %e, "no thread for the grace period: attempts are waited for")
            }
        }
    }

    /// Registers an execution that starts under the handle; it is watched until the returned
    /// registration [`leave`](Registration::leave)s.
    pub(crate) fn enter(
        self: &Arc<Self>,
        execution: &str,
        store: Option<Arc<Store>>,
        grace: Duration,
        resume: String,
    ) -> Registration {
        let interrupted = Arc::new(Mutex::new(Vec::new()));
        let mut state = self.lock();
        state.next_key += 1;
        let key = state.next_key;
        state.active.push(Active {
            key,
            execution: execution.to_owned(),
            store,
            grace,
            interrupted: Arc::clone(&interrupted),
            resume,
        });
        self.watch(&mut state);
        Registration {
            shared: Arc::clone(self),
            key,
            interrupted,
            left: false,
        }
    }

    /// Adds an asynchronous writer of an attempt under the handle to those flushed when
    /// attempts are abandoned.
    pub(crate) fn register_writer(&self, writer: Weak<dyn Flush>) {
        self.writers.register(writer);
    }
}

/// An execution's place on its handle's list, taken off when it ends.
pub(crate) struct Registration {
    shared: Arc<Shared>,
    key: u64,
    interrupted: Arc<Mutex<Vec<(String, u32)>>>,
    left: bool,
}

impl Registration {
    /// Notes that attempt `attempt` of node `node` was recorded as interrupted by the notice.
    pub(crate) fn interrupted(&self, node: &str, attempt: u32) {
        self.interrupted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((node.to_owned(), attempt));
    }

    /// The attempts recorded as interrupted so far.
    pub(crate) fn interrupted_attempts(&self) -> Vec<(String, u32)> {
        self.interrupted.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Takes the execution off the list, so that the warden leaves it alone: true if it was
    /// still on it. False means the warden is abandoning it and will end the process: the
    /// caller must not record the execution's end.
    pub(crate) fn leave(&mut self) -> bool {
        if self.left {
            return true;
        }
        self.left = true;
        let mut state = self.shared.lock();
        let before = state.active.len();
        state.active.retain(|a| a.key != self.key);
        let was_on = state.active.len() < before;
        drop(state);
        self.shared.changed.notify_all();
        was_on
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Parks the calling thread for good: the warden is abandoning its execution and ends the
/// process.
pub(crate) fn wait_for_exit() -> ! {
    loop {
        std::thread::park();
    }
}

/// Waits for the executions under the handle to end by themselves, and abandons those still
/// running when the grace period ends or a second notice comes.
fn warden(shared: &Arc<Shared>) {
    let mut state = shared.lock();
    loop {
        let (Some(since), false) = (state.since, state.active.is_empty()) else {
            state.warden = false;
            return;
        };
        let grace = state.active.iter().map(|a| a.grace).min().unwrap_or_default();
        let deadline = since.checked_add(grace);
        let now = Instant::now();
        let why = if state.notices >= 2 {
            Some(Abandoned::SecondNotice)
        } else if deadline.is_some_and(|d| now >= d) {
            Some(Abandoned::GracePeriod(grace))
        } else {
            None
        };
        if let Some(why) = why {
            let active = std::mem::take(&mut state.active);
            drop(state);
            abandon(shared, why, active);
        }
        state = match deadline {
            Some(d) => {
                shared
                    .changed
                    .wait_timeout(state, d.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Abandons the attempts of `active` still running ([`settle`]), prints one line per
/// execution and ends the process with the notice's exit status.
fn abandon(shared: &Shared, why: Abandoned, active: Vec<Active>) -> ! {
    let notice = shared.notice().unwrap_or(Notice::Requested);
    for line in settle(shared, why, active) {
        eprintln!("{line}");
    }
    std::process::exit(i32::from(notice.exit_status()))
}

/// Flushes the handle's asynchronous writers (at the end of the grace period only: a second
/// notice means now), records the running attempts of `active` and their executions as
/// interrupted, syncs the stores, and returns the lines to print.
fn settle(shared: &Shared, why: Abandoned, active: Vec<Active>) -> Vec<String> {
    let notice = shared.notice().unwrap_or(Notice::Requested);
    if let Abandoned::GracePeriod(_) = why {
        if let Err(e) = shared.writers.flush() {
            tracing::error!(event = "abandon_flush_failed", error = %e, "an asynchronous checkpoint writer could not commit its latest state");
        }
    }
    let mut lines = Vec::new();
    for execution in active {
        let mut interrupted = execution
            .interrupted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut problem = None;
        if let Some(store) = &execution.store {
            let cause = format!("preempted by {notice}: {why}; abandoned");
            match store.interrupt_running(&execution.execution, None, &cause) {
                Ok(more) => interrupted.extend(more),
                Err(e) => problem = Some(e.to_string()),
            }
        }
        let preempted = Preempted {
            execution: execution.execution.clone(),
            notice,
            interrupted,
            abandoned: Some(why),
            how_to_resume: execution.resume.clone(),
        };
        if let Some(store) = &execution.store {
            if let Err(e) = store.execution_interrupted(&execution.execution, &preempted.to_string()) {
                problem.get_or_insert(e.to_string());
            }
        }
        tracing::error!(
            event = "execution_abandoned",
            execution_id = %execution.execution,
            attempts = preempted.interrupted.len(),
            "attempts abandoned: {why}"
        );
        lines.push(preempted.to_string());
        if let Some(problem) = problem {
            lines.push(format!(
                "the store could not record it ({problem}): the next run counts its attempts as interrupted"
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_notice_is_kept_and_read_without_a_lock() {
        let p = Preemption::new();
        assert_eq!(p.notice(), None);
        p.shared().raise(Notice::Sigint);
        p.shared().raise(Notice::Sigterm);
        assert_eq!(p.notice(), Some(Notice::Sigint));
        assert_eq!(p.clone().notice(), Some(Notice::Sigint), "clones share it");
        assert_eq!(p.shared().lock().notices, 2);
    }

    #[test]
    fn exit_statuses_are_the_shells() {
        assert_eq!(Notice::Sigint.exit_status(), 130);
        assert_eq!(Notice::Sigterm.exit_status(), 143);
        assert_eq!(Notice::Requested.exit_status(), 143);
    }

    #[test]
    fn a_registration_leaves_once_and_the_warden_ends_with_the_last_execution() {
        let p = Preemption::new();
        let mut reg = p.shared().enter("x1", None, Duration::from_secs(3600), String::new());
        p.notify();
        assert!(
            p.shared().lock().warden,
            "a notice with an execution running starts the warden"
        );
        reg.interrupted("n0", 2);
        assert_eq!(reg.interrupted_attempts(), [("n0".to_owned(), 2)]);
        assert!(reg.leave());
        assert!(reg.leave(), "leaving twice is leaving once");
        // The warden sees the list empty and ends.
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.shared().lock().warden {
            assert!(Instant::now() < deadline, "the warden did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(p.shared().lock().active.is_empty());
    }

    /// Counts its flushes.
    #[derive(Default)]
    struct Probe(std::sync::atomic::AtomicUsize);

    impl Flush for Probe {
        fn flush(&self) -> Result<(), crate::CheckpointError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// An execution `id` on the list, and a writer of one of its attempts.
    fn abandoned(id: &str) -> (Preemption, Arc<Probe>, Vec<Active>) {
        let p = Preemption::new();
        let probe = Arc::new(Probe::default());
        let weak: Weak<Probe> = Arc::downgrade(&probe);
        p.shared().register_writer(weak);
        let reg = p
            .shared()
            .enter(id, None, Duration::from_secs(3600), "resume it with `x`".into());
        reg.interrupted("n1", 2);
        std::mem::forget(reg); // still running: it never leaves
                               // Off the list, as the warden takes it; the notice after, so that no warden starts.
        let active = std::mem::take(&mut p.shared().lock().active);
        p.shared().raise(Notice::Sigterm);
        (p, probe, active)
    }

    #[test]
    fn at_the_end_of_the_grace_period_writers_are_flushed_and_at_a_second_notice_not() {
        let (p, probe, active) = abandoned("x1");
        let lines = settle(p.shared(), Abandoned::GracePeriod(Duration::from_secs(25)), active);
        assert_eq!(
            probe.0.load(Ordering::SeqCst),
            1,
            "the writer's latest state was committed"
        );
        assert_eq!(
            lines,
            [
                "execution x1 stopped by SIGTERM: interrupted n1 attempt 2 (abandoned: still running when the 25s \
              grace period ended); resume it with `x`"
            ]
        );

        let (p, probe, active) = abandoned("x2");
        let lines = settle(p.shared(), Abandoned::SecondNotice, active);
        assert_eq!(probe.0.load(Ordering::SeqCst), 0, "a second notice waits for nothing");
        assert_eq!(
            lines,
            [
                "execution x2 stopped by SIGTERM: interrupted n1 attempt 2 (abandoned: still running at a second \
              notice); resume it with `x`"
            ]
        );
    }
}
