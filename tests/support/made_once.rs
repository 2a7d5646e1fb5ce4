//! A directory the tests fill once under the cargo target directory (a Python environment, an
//! npm install) and then find ready: `create` fills it, and a marker file written last names
//! what it holds. A later run finds the marker and uses the directory at once; a change to what
//! it should hold (the marker's text) makes the next run create it anew. Test processes that
//! start at the same moment are serialised by an OS file lock beside the directory: one creates
//! it, the others wait and then use it; the OS releases the lock if that process dies, and the
//! marker, written last, tells whether it finished. Included by `venv.rs` and `npm.rs`.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory that exists and holds what its marker says.
pub struct Made {
    pub dir: PathBuf,
    /// How long creating it took in this process; `None` when it existed.
    pub installed_in: Option<Duration>,
}

/// Finds `target/tmp/<name>` holding `marker`, or creates it under the file lock: a half-made
/// directory from an interrupted run is removed first, then `create` fills the (absent)
/// directory and the marker is written. `what` names it in the messages ("virtual environment").
pub fn ensure(
    name: &str,
    marker: &str,
    what: &str,
    create: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Made, String> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = root.join(name);
    let marker_path = dir.join(".ready");
    let ready = || fs::read_to_string(&marker_path).is_ok_and(|text| text == marker);
    if ready() {
        return Ok(Made {
            dir,
            installed_in: None,
        });
    }
    fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let lock_path = root.join(format!("{name}.lock"));
    let lock =
        File::create(&lock_path).map_err(|e| format!("cannot create the lock file {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if ready() {
        return Ok(Made {
            dir,
            installed_in: None,
        });
    }
    let started = Instant::now();
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove the unfinished {}: {e}", dir.display()))?;
    }
    create(&dir)?;
    // Written aside and renamed, so that a reader sees all of it or none.
    let partial = dir.join(".ready.partial");
    fs::write(&partial, marker)
        .and_then(|()| fs::rename(&partial, &marker_path))
        .map_err(|e| format!("cannot write {}: {e}", marker_path.display()))?;
    let took = started.elapsed();
    eprintln!("{}: {what} created in {:.1} s", dir.display(), took.as_secs_f64());
    Ok(Made {
        dir,
        installed_in: Some(took),
    })
}

/// Runs a command to completion; its stdout, or what went wrong with its output's last lines.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!("it exited with {}:\n{}", out.status, tail.join("\n")))
}
