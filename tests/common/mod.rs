//! Helpers shared by the integration tests: checkpoints on disk, and the test binary run again
//! as a child process. Each test file uses a part of them.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The committed checkpoint versions in `dir`, oldest first.
pub fn versions(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ckpt-"))
        .collect();
    found.sort();
    found
}

/// This test binary, run again to run only its ignored test `program`, which reads what to do
/// from the environment the caller sets; stdin is closed unless the caller says otherwise.
pub fn program_command() -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args([
        "program",
        "--exact",
        "--ignored",
        "--nocapture",
        "--quiet",
        "--test-threads=1",
    ])
    .stdin(Stdio::null());
    cmd
}
