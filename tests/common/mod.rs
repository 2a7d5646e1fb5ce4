//! Helpers shared by the integration tests that look at checkpoints on disk.

use std::fs;
use std::path::{Path, PathBuf};

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
