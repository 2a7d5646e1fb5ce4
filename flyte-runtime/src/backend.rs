//! The seam under [`Checkpoint`](crate::Checkpoint): where its versions live.
//!
//! A task sees one API (`read`, `write`, `save`, `restore`, `save_state`, `load_state`, the
//! asynchronous writer) whatever keeps its checkpoints. The runtime's own backend is a local
//! directory (a node's versions, renamed into place and fsynced); flyte-cluster's keeps them
//! under object-store prefixes for an attempt on a Flyte cluster. [`Checkpoint`](crate::Checkpoint)
//! does what is common to all: refusing commits once the attempt must stop, keeping blocking
//! work off an async executor's workers, the asynchronous writers, the serde layer of
//! `save_state`/`load_state`.
//!
//! The helpers here let another backend keep the local one's rules without copying them: what
//! `save` accepts ([`walk`]), how `restore` treats its target ([`restore_into`]), and the
//! manifest that names a directory checkpoint's entries with their checksums ([`Manifest`]).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::CheckpointError;

pub use crate::checkpoint::{Kind, LocalDir, Manifest, ManifestEntry};

/// Where a [`Checkpoint`](crate::Checkpoint)'s versions live. One value serves one attempt: it
/// knows the version the attempt started from (its *base*) and commits new ones.
///
/// Every method may block; none is called on an async executor's worker thread without the
/// worker's other tasks having been moved away first. Commits (`write`, `save`) are only called
/// while the attempt may still commit.
pub trait CheckpointBackend: Send + Sync + 'static {
    /// Where commits go: a directory, or a URI written as a path. `Checkpoint::dir` returns it
    /// and errors name it.
    fn location(&self) -> &Path;

    /// Where the version this attempt started from is, or `None` when there is none.
    fn base(&self) -> Option<&Path>;

    /// Damaged versions skipped when choosing the base, in words.
    fn warnings(&self) -> &[String] {
        &[]
    }

    /// The base's bytes, verified, as [`Checkpoint::read`](crate::Checkpoint::read) says.
    fn read(&self) -> Result<Option<Vec<u8>>, CheckpointError>;

    /// Commits `bytes`: afterwards a reader sees them, whole, or the previous version.
    fn write(&self, bytes: &[u8]) -> Result<(), CheckpointError>;

    /// Commits a copy of a file or a directory, as [`Checkpoint::save`](crate::Checkpoint::save)
    /// says ([`walk`] lists what to copy).
    fn save(&self, src: &Path) -> Result<(), CheckpointError>;

    /// Copies the base into `dir`, as [`Checkpoint::restore`](crate::Checkpoint::restore) says
    /// ([`restore_into`] prepares `dir`).
    fn restore(&self, dir: &Path) -> Result<Option<PathBuf>, CheckpointError>;
}

/// One thing [`walk`] found to save.
#[derive(Debug, PartialEq)]
pub enum Source {
    /// A file to copy, at this path.
    File(PathBuf),
    /// A directory with nothing under it.
    Dir,
    /// A symbolic link, with its target text.
    Link(String),
}

/// What `save(src)` keeps, with each entry's relative path: a single file under its own name, or
/// a directory's files, links and empty directories, checked as the local backend checks them
/// (names that a manifest can hold, nothing but files, directories and links).
pub fn walk(src: &Path) -> Result<Vec<(PathBuf, Source)>, CheckpointError> {
    crate::checkpoint::walk(src)
}

/// Prepares `dir` as `restore` does (it must be missing or an empty directory, not a link),
/// has `fill` build the tree in a hidden staging directory inside it, named unlike any of `top`
/// (the tree's top-level names), and moves the tree up once `fill` succeeds. On failure `dir` is
/// left missing or empty, as it was found.
pub fn restore_into<'a>(
    dir: &Path,
    top: impl IntoIterator<Item = &'a OsStr>,
    fill: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<PathBuf, CheckpointError> {
    let top: HashSet<&OsStr> = top.into_iter().collect();
    crate::checkpoint::restore_into(dir, &top, fill)
}

/// Creates the symbolic link `at` with the text `target` (Unix only; an error elsewhere).
pub fn symlink(target: &str, at: &Path) -> std::io::Result<()> {
    crate::checkpoint::symlink(target, at)
}

/// The name a checkpoint committed as bytes is restored under: `checkpoint`.
pub const BYTES_FILE: &str = crate::checkpoint::BYTES_FILE;
