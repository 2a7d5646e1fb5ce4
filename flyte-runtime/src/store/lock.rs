//! One process at a time runs an execution: it holds an OS file lock, which the OS releases
//! when the process dies, so a killed run never blocks its resume.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long an execution's lock must stay taken before the execution counts as busy.
const LOCK_PATIENCE: Duration = Duration::from_millis(100);

/// Held while a process runs an execution; the OS releases it if the process dies.
pub(crate) struct ExecutionLock {
    _file: File,
}

/// Takes `<dir>/lock` for `execution`, or says which process has it.
pub(super) fn take(dir: &Path, execution: &str) -> Result<ExecutionLock, Error> {
    let path = dir.join("lock");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    // A lock can outlive its owner by a moment: a process spawned by another thread while
    // the owner held the file inherits the descriptor (and its flock) until it execs. So a
    // refusal is only believed after it has lasted a little while.
    let patience = Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < patience => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::ExecutionBusy {
                    id: execution.to_owned(),
                    holder: holder.trim().chars().filter(|c| !c.is_control()).take(64).collect(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
    }
    // For the message another process gets; the lock itself is what protects.
    let _ = file
        .set_len(0)
        .and_then(|()| write!(file, "process {}", std::process::id()));
    Ok(ExecutionLock { _file: file })
}
