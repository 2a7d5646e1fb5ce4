//! The Flyte reference for tests: flytekit 1.16.31 in a virtual environment under the cargo
//! target directory, and `tests/flyte/reference.py` run with its Python.
//!
//! A test file includes this module with
//!
//! ```ignore
//! #[path = "support/flytekit.rs"]
//! mod flytekit_reference;
//! ```
//!
//! and calls [`Reference::get`], which creates the environment on first use: `python3 -m venv`,
//! then `pip install flytekit==1.16.31` with every dependency pinned by
//! `tests/flyte/constraints.txt`, then a check that flytekit imports at that version, and last a
//! marker file naming what was installed. A later run finds the marker and starts at once; a
//! change to the pins makes the next run create the environment anew. Test processes that start
//! at the same moment (two test binaries, `cargo test` running them in turn while another `cargo
//! test` runs) are serialised by an OS file lock beside the environment: one creates it, the
//! others wait and then use it.
//!
//! Nothing is skipped: without a Python 3 that has `venv` and `pip`, or without access to the
//! package index, the test fails with a message saying what to install. `FLYTEKIT_TEST_PYTHON`
//! names another interpreter than `python3`.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The flytekit release the reference is.
pub const FLYTEKIT_VERSION: &str = "1.16.31";

/// The pins, part of the marker: a change to them rebuilds the environment.
const CONSTRAINTS: &str = include_str!("../flyte/constraints.txt");

/// The environment, created (or found) once per test process.
pub struct Reference {
    venv: PathBuf,
    /// How long creating the environment took in this process; `None` when it existed.
    pub installed_in: Option<std::time::Duration>,
}

impl Reference {
    /// The environment, creating it if no process has yet. Panics with what to install when it
    /// cannot be created, in every test that asks (the attempt is made once per process).
    pub fn get() -> &'static Reference {
        static REFERENCE: OnceLock<Result<Reference, String>> = OnceLock::new();
        let found = REFERENCE.get_or_init(|| {
            let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let venv = root.join(format!("flytekit-{FLYTEKIT_VERSION}-venv"));
            let installed_in = ensure_venv(root, &venv)?;
            Ok(Reference { venv, installed_in })
        });
        match found {
            Ok(reference) => reference,
            Err(e) => panic!("{e}"),
        }
    }

    /// The environment's Python interpreter.
    pub fn python(&self) -> PathBuf {
        venv_python(&self.venv)
    }

    /// `tests/flyte`, where `reference.py` and the twins live: in the workspace's root, found
    /// from the root crate's tests and from a member crate's (`flyte-cluster/tests`) alike.
    pub fn dir() -> PathBuf {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest
            .ancestors()
            .map(|dir| dir.join("tests").join("flyte"))
            .find(|dir| dir.join("reference.py").is_file())
            .unwrap_or_else(|| manifest.join("tests").join("flyte"))
    }

    /// `tests/flyte/dynamic`, where the Python twin of `examples/on_cluster.rs`'s dynamic
    /// workflow lives (the package `on_cluster`).
    pub fn dynamic_dir() -> PathBuf {
        Self::dir().join("dynamic")
    }

    /// `pyflyte --pkgs on_cluster package` of [`dynamic_dir`](Self::dynamic_dir) into `out`,
    /// with `image` (as `reference.py package` packages the twins: no fast registration).
    pub fn package_dynamic(&self, image: &str, out: &Path) {
        let pyflyte = self.python().parent().unwrap().join("pyflyte");
        let mut cmd = Command::new(pyflyte);
        cmd.args(["--pkgs", "on_cluster", "package", "--image", image, "--output"])
            .arg(out)
            .args(["--force", "--copy", "none"])
            .current_dir(Self::dynamic_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null());
        let ran = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            ran.status.success(),
            "{cmd:?} failed ({}):\n--- stdout\n{}--- stderr\n{}",
            ran.status,
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&ran.stderr)
        );
    }

    /// `python reference.py ARGS..`, ready to run.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(self.python());
        cmd.arg("-B")
            .arg(Self::dir().join("reference.py"))
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `reference.py ARGS..` and returns what it did, whatever its exit status.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
    }

    /// Runs `reference.py ARGS..`, panics with its output unless it exits 0, and returns stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\n--- stdout\n{}--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("reference.py prints UTF-8")
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// What the marker holds: the release and the pins it was installed with.
fn marker_text() -> String {
    format!("flytekit=={FLYTEKIT_VERSION}\n{CONSTRAINTS}")
}

fn is_ready(venv: &Path) -> bool {
    fs::read_to_string(venv.join(".flytekit-ready")).is_ok_and(|text| text == marker_text())
}

/// Finds or creates the environment under the file lock; returns how long creating it took.
fn ensure_venv(root: &Path, venv: &Path) -> Result<Option<std::time::Duration>, String> {
    if is_ready(venv) {
        return Ok(None);
    }
    fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let lock_path = root.join(format!("flytekit-{FLYTEKIT_VERSION}-venv.lock"));
    let lock =
        File::create(&lock_path).map_err(|e| format!("cannot create the lock file {}: {e}", lock_path.display()))?;
    // Blocks while another test process creates the environment; the OS releases the lock if
    // that process dies, and the marker, written last, tells whether it finished.
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if is_ready(venv) {
        return Ok(None);
    }
    let started = Instant::now();
    create_venv(venv)?;
    let took = started.elapsed();
    eprintln!(
        "flytekit {FLYTEKIT_VERSION}: virtual environment created in {:.1} s at {}",
        took.as_secs_f64(),
        venv.display()
    );
    Ok(Some(took))
}

const INSTALL_PYTHON: &str = "install Python 3.9 or newer with its venv module and pip (Debian or \
     Ubuntu: `apt-get install python3 python3-venv python3-pip`), or set FLYTEKIT_TEST_PYTHON to \
     such an interpreter";

fn create_venv(venv: &Path) -> Result<(), String> {
    let python = std::env::var_os("FLYTEKIT_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let shown = Path::new(&python).display().to_string();
    // A half-made environment from an interrupted run: start again.
    if venv.exists() {
        fs::remove_dir_all(venv).map_err(|e| format!("cannot remove the unfinished {}: {e}", venv.display()))?;
    }
    let version = run(Command::new(&python).args([
        "-c",
        "import sys, venv; assert sys.version_info >= (3, 9), sys.version; print(sys.version.split()[0])",
    ]))
    .map_err(|e| {
        format!("the flytekit reference tests need Python: `{shown}` does not work ({e}); {INSTALL_PYTHON}")
    })?;
    run(Command::new(&python).arg("-m").arg("venv").arg(venv)).map_err(|e| {
        format!(
            "`{shown} -m venv {}` failed (Python {}): {e}; {INSTALL_PYTHON}",
            venv.display(),
            version.trim()
        )
    })?;
    let constraints = Reference::dir().join("constraints.txt");
    run(Command::new(venv_python(venv))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c"])
        .arg(&constraints)
        .arg(format!("flytekit=={FLYTEKIT_VERSION}")))
    .map_err(|e| {
        format!(
            "`pip install flytekit=={FLYTEKIT_VERSION}` into {} failed: {e}; the tests need pip \
             and access to the Python package index (PyPI), or a pip configured with a mirror \
             or a wheel directory holding flytekit {FLYTEKIT_VERSION} and the versions pinned \
             in {}",
            venv.display(),
            constraints.display()
        )
    })?;
    let found =
        run(Command::new(venv_python(venv)).args(["-c", "import flytekit, flyteidl; print(flytekit.__version__)"]))
            .map_err(|e| {
                format!(
                    "flytekit does not import after installing it into {}: {e}",
                    venv.display()
                )
            })?;
    if found.trim() != FLYTEKIT_VERSION {
        return Err(format!(
            "{} has flytekit {}, not {FLYTEKIT_VERSION}",
            venv.display(),
            found.trim()
        ));
    }
    // Last: the marker says the environment is complete. Written aside and renamed, so that a
    // reader sees all of it or none.
    let marker = venv.join(".flytekit-ready");
    let partial = venv.join(".flytekit-ready.partial");
    fs::write(&partial, marker_text())
        .and_then(|()| fs::rename(&partial, &marker))
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))
}

/// Runs a command to completion; its stdout, or what went wrong with its output's last lines.
fn run(cmd: &mut Command) -> Result<String, String> {
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
