//! A Python virtual environment for tests, made once under the cargo target directory:
//! `python3 -m venv`, `pip install` of what the tests need, a check that it imports, and last a
//! marker file naming what was installed (`made_once.rs`: a later run finds the marker and
//! starts at once, and test processes starting together are serialised by a file lock).
//!
//! Nothing is skipped: without a Python 3.9+ that has `venv` and `pip`, or without the package
//! index, creating it fails with a message saying what to install. `FLYTEKIT_TEST_PYTHON` names
//! another interpreter than `python3`. Included by `flytekit.rs` and `s3.rs` beside it.
#![allow(dead_code)]

#[path = "made_once.rs"]
mod made_once;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use made_once::run;

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
        let made = made_once::ensure(spec.name, &spec.marker, "virtual environment", |dir| create(dir, spec))?;
        Ok(Venv {
            dir: made.dir,
            installed_in: made.installed_in,
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
