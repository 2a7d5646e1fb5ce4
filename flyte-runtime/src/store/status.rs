//! The states the store records, bound to and read from SQL as their names.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::error::FailureKind;

/// The state of an execution, a node or an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not started yet (a node whose inputs do not exist yet, or one to run again).
    Pending,
    /// Running now, or interrupted if no process owns the execution (its process died).
    Running,
    /// Finished with outputs.
    Succeeded,
    /// Failed for good (an execution or node), or failed and maybe retried (an attempt).
    Failed,
    /// An attempt cut short because its process died, or by a preemption notice; it counts
    /// against the system-failure budget, not against the task's retries. A node or an
    /// execution that a notice stopped is interrupted too, until it runs again.
    Interrupted,
    /// A node in a case of a branch that was not taken: it did not run, and will not.
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        use Status::*;
        by_name(
            value,
            "status",
            [Pending, Running, Succeeded, Failed, Interrupted, Skipped],
            |s| s.as_str(),
        )
    }
}

/// How a failed attempt ended, as the `attempts.kind` column keeps it.
pub(super) struct Kind(pub FailureKind);

impl Kind {
    fn as_str(&self) -> &'static str {
        match self.0 {
            FailureKind::Recoverable => "recoverable",
            FailureKind::NonRecoverable => "non-recoverable",
            FailureKind::Panic => "panic",
            FailureKind::Interrupted => "interrupted",
            FailureKind::TimedOut => "timed-out",
            FailureKind::Stopped => "stopped",
        }
    }
}

impl ToSql for Kind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Kind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        use FailureKind::*;
        let kinds = [Recoverable, NonRecoverable, Panic, Interrupted, TimedOut, Stopped].map(Kind);
        by_name(value, "failure kind", kinds, |k| k.as_str())
    }
}

/// The one of `all` whose name the column holds; any other text is an error saying what it is.
fn by_name<T>(
    value: ValueRef<'_>,
    what: &str,
    all: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> &'static str,
) -> FromSqlResult<T> {
    let text = value.as_str()?;
    all.into_iter()
        .find(|t| name(t) == text)
        .ok_or_else(|| FromSqlError::Other(format!("an unknown {what} `{}`", crate::error::shown(text)).into()))
}
