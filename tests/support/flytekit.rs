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

// Included by s3.rs as well: a test of both compiles it twice, harmlessly.
#[allow(clippy::duplicate_mod)]
#[path = "venv.rs"]
mod venv;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use venv::{Spec, Venv};

/// The flytekit release the reference is.
pub const FLYTEKIT_VERSION: &str = "1.16.31";

/// The pins, part of the marker: a change to them rebuilds the environment.
const CONSTRAINTS: &str = include_str!("../flyte/constraints.txt");

/// The environment, created (or found) once per test process.
pub struct Reference {
    pub venv: Venv,
}

impl Reference {
    /// The environment, creating it if no process has yet. Panics with what to install when it
    /// cannot be created, in every test that asks (the attempt is made once per process).
    pub fn get() -> &'static Reference {
        static REFERENCE: OnceLock<Result<Reference, String>> = OnceLock::new();
        let found = REFERENCE.get_or_init(|| {
            let constraints = Reference::dir().join("constraints.txt");
            let constraints = constraints.to_str().ok_or("the repository's path is not UTF-8")?;
            let venv = Venv::ensure(&Spec {
                name: &format!("flytekit-{FLYTEKIT_VERSION}-venv"),
                install: &["-c", constraints, &format!("flytekit=={FLYTEKIT_VERSION}")],
                marker: format!("flytekit=={FLYTEKIT_VERSION}\n{CONSTRAINTS}"),
                check: (
                    "import flytekit, flyteidl; print(flytekit.__version__)",
                    FLYTEKIT_VERSION,
                ),
                needed_by: "the flytekit reference tests",
            })?;
            Ok(Reference { venv })
        });
        match found {
            Ok(reference) => reference,
            Err(e) => panic!("{e}"),
        }
    }

    /// The environment's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.venv.python()
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

    /// `values` of `types` (JSON, as `reference.py encode` takes them) as the bytes of the
    /// `core.LiteralMap` flytekit's type engine makes of them.
    pub fn encode(&self, types: &str, values: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("inputs.pb");
        self.ok([OsStr::new("encode"), types.as_ref(), values.as_ref(), file.as_os_str()]);
        fs::read(&file).unwrap()
    }

    /// The `core.LiteralMap` in `bytes` as flytekit's type engine reads it as `types`, as JSON.
    pub fn decode(&self, types: &str, bytes: &[u8]) -> serde_json::Value {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("outputs.pb");
        fs::write(&file, bytes).unwrap();
        serde_json::from_str(&self.ok([OsStr::new("decode"), types.as_ref(), file.as_os_str()])).unwrap()
    }

    /// What flytekit's local execution of `module.workflow(**kwargs)` (a module under
    /// tests/flyte) returns, as `{"o0": .., "o1": ..}`.
    pub fn local(&self, module: &str, workflow: &str, kwargs: &str) -> serde_json::Value {
        self.local_in(&Self::dir(), module, workflow, kwargs)
    }

    /// [`local`](Self::local), `module` imported from `dir`.
    pub fn local_in(&self, dir: &Path, module: &str, workflow: &str, kwargs: &str) -> serde_json::Value {
        let script = "import importlib, json, sys\n\
                      m = importlib.import_module(sys.argv[1])\n\
                      r = getattr(m, sys.argv[2])(**json.loads(sys.argv[3]))\n\
                      r = tuple(r) if isinstance(r, tuple) else (r,)\n\
                      print(json.dumps({f'o{i}': v for i, v in enumerate(r)}))\n";
        let out = Command::new(self.python())
            .args(["-B", "-c", script, module, workflow, kwargs])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
    }
}
