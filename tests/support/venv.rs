//! A Python virtual environment for tests, made once under the cargo target directory:
//! `python3 -m venv`, `pip install` of what the tests need, a check that it imports, and last a
//! marker file naming what was installed. A later run finds the marker and starts at once; a
//! change to what is installed (the marker's text) makes the next run create it anew. Test
//! processes that start at the same moment are serialised by an OS file lock beside the
//! environment: one creates it, the others wait and then use it; the OS releases the lock if
//! that process dies, and the marker, written last, tells whether it finished.
//!
//! Nothing is skipped: without a Python 3.9+ that has `venv` and `pip`, or without the package
//! index, creating it fails with a message saying what to install. `FLYTEKIT_TEST_PYTHON` names
//! another interpreter than `python3`. Included by `flytekit.rs` and `s3.rs` beside it.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What an environment holds.
pub struct Spec<'a> {
    /// Its directory's name under the target directory's tmp (`flytekit-1.16.31-venv`).
    pub name: &'a str,
    /// What `pip install` gets, after its options (`-c constraints.txt flytekit==1.16.31`).
    pub install: &'a [&'a str],
    /// The marker's text: what was installed, with its pins.
    pub marker: String,
    /// Python that must run in it once installed, and what it must print (trimmed).
    pub check: (&'a str, &'a str),
    /// Who needs it, for the messages ("the S3 tests").
    pub needed_by: &'a str,
}

/// An environment that exists.
pub struct Venv {
    pub dir: PathBuf,
    /// How long creating it took in this process; `None` when it existed.
    pub installed_in: Option<Duration>,
}

impl Venv {
    /// Finds the environment `spec` describes, or creates it under the file lock.
    pub fn ensure(spec: &Spec<'_>) -> Result<Venv, String> {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = root.join(spec.name);
        let marker = dir.join(".ready");
        let ready = || fs::read_to_string(&marker).is_ok_and(|text| text == spec.marker);
        if ready() {
            return Ok(Venv {
                dir,
                installed_in: None,
            });
        }
        fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let lock_path = root.join(format!("{}.lock", spec.name));
        let lock = File::create(&lock_path)
            .map_err(|e| format!("cannot create the lock file {}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        if ready() {
            return Ok(Venv {
                dir,
                installed_in: None,
            });
        }
        let started = Instant::now();
        create(&dir, spec)?;
        // Written aside and renamed, so that a reader sees all of it or none.
        let partial = dir.join(".ready.partial");
        fs::write(&partial, &spec.marker)
            .and_then(|()| fs::rename(&partial, &marker))
            .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
        let took = started.elapsed();
        eprintln!(
            "{}: virtual environment created in {:.1} s",
            dir.display(),
            took.as_secs_f64()
        );
        Ok(Venv {
            dir,
            installed_in: Some(took),
        })
    }

    /// The environment's Python interpreter.
    pub fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join("python.exe")
        } else {
            self.dir.join("bin").join("python")
        }
    }
}

const INSTALL_PYTHON: &str = "install Python 3.9 or newer with its venv module and pip (Debian or \
     Ubuntu: `apt-get install python3 python3-venv python3-pip`), or set FLYTEKIT_TEST_PYTHON to \
     such an interpreter";

fn create(dir: &Path, spec: &Spec<'_>) -> Result<(), String> {
    let python = std::env::var_os("FLYTEKIT_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let shown = Path::new(&python).display().to_string();
    let needed_by = spec.needed_by;
    // A half-made environment from an interrupted run: start again.
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot remove the unfinished {}: {e}", dir.display()))?;
    }
    let version = run(Command::new(&python).args([
        "-c",
        "import sys, venv; assert sys.version_info >= (3, 9), sys.version; print(sys.version.split()[0])",
    ]))
    .map_err(|e| format!("{needed_by} need Python: `{shown}` does not work ({e}); {INSTALL_PYTHON}"))?;
    run(Command::new(&python).arg("-m").arg("venv").arg(dir)).map_err(|e| {
        format!(
            "`{shown} -m venv {}` failed (Python {}): {e}; {INSTALL_PYTHON}",
            dir.display(),
            version.trim()
        )
    })?;
    let venv = Venv {
        dir: dir.to_path_buf(),
        installed_in: None,
    };
    run(Command::new(venv.python())
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(spec.install))
    .map_err(|e| {
        format!(
            "`pip install {}` into {} failed: {e}; {needed_by} need pip and access to the Python \
             package index (PyPI), or a pip configured with a mirror or a wheel directory",
            spec.install.join(" "),
            dir.display()
        )
    })?;
    let (code, expected) = spec.check;
    let found = run(Command::new(venv.python()).args(["-c", code]))
        .map_err(|e| format!("`{code}` fails after installing into {}: {e}", dir.display()))?;
    if found.trim() != expected {
        return Err(format!(
            "`{code}` printed `{}` in {}, not `{expected}`",
            found.trim(),
            dir.display()
        ));
    }
    Ok(())
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
