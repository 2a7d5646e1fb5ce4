//! Intra-task checkpoints: where a task keeps its progress so that a retry resumes from it.
//!
//! A node's checkpoints live in one directory. Every commit is a new *version*, named by a
//! sequence number (`ckpt-0000000000000007`): a file for [`write`](Checkpoint::write) and
//! [`save_state`](Checkpoint::save_state), a directory for [`save`](Checkpoint::save).
//!
//! A commit is built under a temporary name, flushed to disk, renamed into place and the
//! directory flushed, so after a crash at any instant the next attempt sees the previous
//! version or the new one, whole. Each version carries CRC-32 checksums (a header on a file, a
//! manifest in a directory); a version damaged later is detected when opened or read, and the
//! next attempt falls back to the newest intact version, which the runtime records as an event.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::{CheckpointBackend, Source};
use crate::error::CheckpointError;
use crate::flush::{Flush, Writers};
use crate::stop::Stop;

const PREFIX: &str = "ckpt-";
const TMP_PREFIX: &str = ".tmp-";
/// Starts every file version: the format, the payload's CRC-32 and length, and zeros up to 32
/// bytes. The padding keeps the payload at the same alignment in the file as in the caller's
/// buffer, which makes the kernel's copy of a large payload markedly faster (BENCHMARKS.md).
const MAGIC: &[u8; 8] = b"FLYTECK2";
const HEADER: usize = 32;
/// In a directory version, lists its files with their CRC-32 and length, its empty
/// directories and its links (see [`Manifest`]).
const MANIFEST: &str = ".flytekit-manifest";
/// The single file `restore` writes for a checkpoint that was committed as bytes.
pub(crate) const BYTES_FILE: &str = "checkpoint";

/// A task's checkpoint, injected by the runtime into a `&Checkpoint` parameter.
///
/// * [`read`](Self::read) returns the checkpoint this attempt **started from**: the last one any
///   earlier attempt of the node committed, even when the attempt just before wrote nothing;
///   `None` on a first attempt or when nothing was ever written. What this attempt writes does
///   not change what `read` returns.
/// * [`write`](Self::write) replaces the current checkpoint atomically and durably: a crash in
///   the middle leaves the previous checkpoint whole.
/// * [`save`](Self::save) / [`restore`](Self::restore) do the same for a file or a whole
///   directory, and [`save_state`](Self::save_state) / [`load_state`](Self::load_state) for any
///   serde type. For tight loops, [`async_writer`](Self::async_writer) commits in the
///   background.
///
/// Every call is synchronous. In an `async fn` task, the ones that write (`write`, `save`,
/// `save_state`, `restore`) wait for the disk under `tokio::task::block_in_place` when they run
/// on a worker of a multi-thread tokio runtime, as the runtime's executor is: the worker's
/// other tasks move to another thread meanwhile, so a commit's fsync holds up no other task.
///
/// ```
/// use flytekit::Checkpoint;
///
/// # fn main() -> Result<(), flytekit::CheckpointError> {
/// let dir = tempfile::tempdir().unwrap();
/// let first = Checkpoint::new(dir.path())?; // what attempt 1 sees
/// assert_eq!(first.read()?, None);
/// first.write(b"3")?;
/// assert_eq!(first.read()?, None); // still what attempt 1 started from
///
/// let second = Checkpoint::new(dir.path())?; // attempt 2 starts from the last commit
/// assert_eq!(second.read()?.as_deref(), Some(&b"3"[..]));
/// assert!(second.prev_exists());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Checkpoint {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the versions live: a local directory ([`LocalDir`]) or another backend, such as
    /// flyte-cluster's object-store prefixes.
    backend: Box<dyn CheckpointBackend>,
    /// The asynchronous writers of this attempt, flushed before the task reports success.
    writers: Writers,
    /// When the attempt must stop; commits are refused from then on.
    stop: Stop,
}

/// The local backend: a node's checkpoint versions in a directory, as [`Checkpoint::new`] keeps
/// them (see the module's documentation).
pub struct LocalDir {
    dir: PathBuf,
    /// Whether commits are flushed to disk (fsync); off for throwaway temporary checkpoints.
    durable: bool,
    /// The version this attempt started from.
    base: Option<Version>,
    /// Damaged versions skipped when choosing the base, in words.
    warnings: Vec<String>,
    /// The next sequence number, and the versions this attempt committed.
    state: Mutex<State>,
    /// Keeps a temporary checkpoint's directory alive.
    _temp: Option<tempfile::TempDir>,
}

struct State {
    /// Whether the directory exists yet.
    exists: bool,
    next: u64,
    /// Versions this attempt committed, oldest first.
    committed: Vec<Version>,
    /// Versions other than the base, left by earlier attempts: dropped at this attempt's first
    /// commit, so that the directory holds the base and at most two newer commits.
    stale: Vec<Version>,
}

#[derive(Clone, Debug)]
struct Version {
    seq: u64,
    path: PathBuf,
}

impl Checkpoint {
    /// Opens the checkpoint kept in `dir` (created if missing), starting from its newest intact
    /// version.
    ///
    /// The runtime does this for every attempt; call it yourself to test a task as a plain
    /// function.
    pub fn new(dir: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
        Self::open(dir.as_ref().to_path_buf(), true, None, Stop::default(), true)
    }

    /// A checkpoint in a fresh temporary directory, removed when the last clone is dropped.
    /// Its commits are atomic but not flushed to disk.
    ///
    /// ```
    /// let cp = flytekit::Checkpoint::temporary()?;
    /// assert!(!cp.prev_exists());
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn temporary() -> Result<Checkpoint, CheckpointError> {
        let temp = tempfile::tempdir().map_err(|e| io_error("create", std::env::temp_dir(), e))?;
        Self::open(temp.path().to_path_buf(), false, Some(temp), Stop::default(), false)
    }

    pub(crate) fn open(
        dir: PathBuf,
        durable: bool,
        temp: Option<tempfile::TempDir>,
        stop: Stop,
        may_exist: bool,
    ) -> Result<Checkpoint, CheckpointError> {
        let local = LocalDir::open(dir, durable, temp, may_exist)?;
        Ok(Self::with_stop(Box::new(local), stop))
    }
}

impl LocalDir {
    /// Opens the checkpoint kept in `dir` (created by its first commit), starting from its
    /// newest intact version; commits are flushed to disk. `Checkpoint::new(dir)` is
    /// `Checkpoint::from_backend(LocalDir::new(dir)?)`.
    pub fn new(dir: impl AsRef<Path>) -> Result<LocalDir, CheckpointError> {
        Self::open(dir.as_ref().to_path_buf(), true, None, true)
    }

    fn open(
        dir: PathBuf,
        durable: bool,
        temp: Option<tempfile::TempDir>,
        may_exist: bool,
    ) -> Result<LocalDir, CheckpointError> {
        let mut versions = Vec::new();
        // The directory is created by the first commit: most nodes never checkpoint, and a
        // mkdir per node would be most of what running a trivial node costs. The caller knows
        // when it cannot exist yet, which saves even the lookup.
        let entries = match may_exist.then(|| fs::read_dir(&dir)) {
            Some(Ok(entries)) => Some(entries),
            None => None,
            Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => None,
            Some(Err(e)) => return Err(io_error("open", &dir, e)),
        };
        let exists = entries.is_some();
        for entry in entries.into_iter().flatten() {
            let entry = entry.map_err(|e| io_error("open", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                // Left by a crash mid-commit: never visible as a checkpoint, safe to drop.
                let _ = remove(&entry.path());
            } else if let Some(seq) = name.strip_prefix(PREFIX).and_then(|s| s.parse().ok()) {
                versions.push(Version {
                    seq,
                    path: entry.path(),
                });
            }
        }
        versions.sort_by_key(|v| v.seq);
        let next = versions.last().map_or(0, |v| v.seq + 1);
        // The newest version that verifies is the base; damaged newer ones are reported.
        let mut warnings = Vec::new();
        let mut base = None;
        for (i, version) in versions.iter().enumerate().rev() {
            match verify(&version.path) {
                Ok(()) => {
                    base = Some(versions.remove(i));
                    break;
                }
                Err(e) => warnings.push(e.to_string()),
            }
        }
        if !warnings.is_empty() {
            let fallback = match &base {
                Some(v) => format!("resuming from the newest intact checkpoint, {}", v.path.display()),
                None => "no intact checkpoint is left: starting from scratch".to_owned(),
            };
            warnings.iter_mut().for_each(|w| *w = format!("{w}; {fallback}"));
        }
        Ok(LocalDir {
            dir,
            durable,
            base,
            warnings,
            state: Mutex::new(State {
                exists,
                next,
                committed: Vec::new(),
                stale: versions,
            }),
            _temp: temp,
        })
    }
}

impl Checkpoint {
    /// A checkpoint kept by `backend`: the same API over another place than a local directory,
    /// such as the object-store prefixes of an attempt on a Flyte cluster (flyte-cluster's
    /// `ObjectStoreCheckpoint`).
    pub fn from_backend(backend: impl CheckpointBackend) -> Checkpoint {
        Self::with_stop(Box::new(backend), Stop::default())
    }

    pub(crate) fn with_stop(backend: Box<dyn CheckpointBackend>, stop: Stop) -> Checkpoint {
        Checkpoint {
            inner: Arc::new(Inner {
                backend,
                writers: Writers::default(),
                stop,
            }),
        }
    }

    /// Damaged versions this attempt skipped, each with the one it resumed from instead.
    pub(crate) fn warnings(&self) -> &[String] {
        self.inner.backend.warnings()
    }

    /// Registers an asynchronous writer, so that [`flush_writers`](Self::flush_writers) waits
    /// for it, and so that the runtime commits its latest state if the attempt is abandoned
    /// after a preemption notice.
    pub(crate) fn register_writer(&self, writer: Weak<dyn Flush>) {
        self.inner.stop.register_writer(writer.clone());
        self.inner.writers.register(writer);
    }

    /// Waits until every asynchronous writer of this attempt has committed its latest state, and
    /// returns the first error any of them met. The runtime calls this before a task's attempt
    /// counts as a success.
    pub(crate) fn flush_writers(&self) -> Result<(), CheckpointError> {
        self.inner.writers.flush()
    }

    /// The directory holding this node's checkpoints; it is created by the first commit. For a
    /// checkpoint kept by another backend, where it commits (an object-store prefix's URI).
    pub fn dir(&self) -> &Path {
        self.inner.backend.location()
    }

    /// Whether an earlier attempt committed a checkpoint this attempt can resume from.
    pub fn prev_exists(&self) -> bool {
        self.inner.backend.base().is_some()
    }

    /// The bytes of the checkpoint this attempt started from, or `None` if there is none.
    ///
    /// A checkpoint saved from a directory holding exactly one file (and nothing else) reads as
    /// that file's bytes; any other directory is an error that says to use
    /// [`restore`](Self::restore). Bytes that no longer match their checksum are
    /// [`CheckpointError::Corrupt`], with the file's path.
    pub fn read(&self) -> Result<Option<Vec<u8>>, CheckpointError> {
        self.inner.backend.read()
    }

    /// Commits `bytes` as the new checkpoint, atomically.
    pub fn write(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.commit(|backend| backend.write(bytes))
    }

    /// Commits a copy of a file or of a whole directory as the new checkpoint, atomically: a
    /// directory becomes visible to the next attempt as a unit or not at all.
    ///
    /// A directory checkpoint keeps every file's bytes, every directory (empty ones too) and
    /// every symbolic link, by name; not permissions, owners or times.
    ///
    /// **Symbolic links** inside the directory are stored as links: their target text is kept as
    /// written and they are never followed, so nothing outside the directory is copied, and a
    /// link to a directory, a dangling link or a loop of links is saved like any other link.
    /// [`restore`](Self::restore) recreates them as links. (On platforms other than Unix a link
    /// is refused with [`CheckpointError::UnsupportedEntry`].) The `path` given here is the one
    /// link that is followed: naming a link asks for what it points to, so a dangling one or a
    /// loop is [`CheckpointError::Io`] naming it.
    ///
    /// Other errors name the entry at fault, and nothing is committed:
    /// [`CheckpointError::Io`] for what cannot be read (a file without read permission, a
    /// directory that cannot be listed); [`CheckpointError::NotSaveable`] for a FIFO, a socket
    /// or a device; [`CheckpointError::UnsupportedEntry`] for a name that is not UTF-8 or holds a
    /// line break, a link whose target text is such, and a top-level entry named
    /// `.flytekit-manifest` (the name of the checkpoint's own table of contents).
    ///
    /// ```
    /// use flytekit::{Checkpoint, CheckpointError};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let work = tempfile::tempdir()?;
    /// let model = work.path().join("model");
    /// std::fs::create_dir_all(model.join("logs"))?; // empty, and kept
    /// std::fs::write(model.join("weights.bin"), [1, 2, 3])?;
    /// let dir = tempfile::tempdir()?;
    /// Checkpoint::new(dir.path())?.save(&model)?;
    ///
    /// let next = Checkpoint::new(dir.path())?;
    /// let out = work.path().join("restored");
    /// assert_eq!(next.restore(&out)?, Some(out.clone()));
    /// assert!(out.join("logs").is_dir());
    /// assert_eq!(std::fs::read(out.join("weights.bin"))?, [1, 2, 3]);
    ///
    /// // Restoring again into the same place is refused: it is no longer empty.
    /// assert!(matches!(next.restore(&out), Err(CheckpointError::RestoreTarget { .. })));
    /// # Ok(()) }
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let src = path.as_ref();
        self.commit(|backend| backend.save(src))
    }

    /// Copies the checkpoint this attempt started from into `dir` and returns `Some(dir)`, or
    /// returns `None`, touching nothing, when there is no previous checkpoint.
    ///
    /// `dir` must be missing (it is created, with its parents) or an empty directory; anything
    /// else is [`CheckpointError::RestoreTarget`], and `dir` is left as it was. Refusing rather
    /// than clearing a directory that holds something keeps `restore` from deleting files it
    /// did not write, and from ever writing through a link the target holds; a target that is
    /// itself a symbolic link is refused for the same reason. (The parents of `dir` are
    /// resolved as in any path.)
    ///
    /// Afterwards `dir` holds exactly the saved tree: the same files with the same bytes, the
    /// same directories, empty ones too, and the same symbolic links with the same target text,
    /// recreated as links and never followed (a restored link may point outside `dir`, as the
    /// saved one did). A checkpoint committed with [`write`](Self::write) or
    /// [`save_state`](Self::save_state) is restored as `dir/checkpoint`. Checkpoints saved
    /// before directories and links were recorded restore as they did then, without their
    /// empty directories.
    ///
    /// Nothing outside `dir` is created or changed: every path in a checkpoint's manifest must
    /// be relative, made of plain names, and not lead through a stored link or file. A manifest
    /// that breaks this is [`CheckpointError::Corrupt`], found before `dir` is touched.
    ///
    /// The tree is built in a hidden directory inside `dir` and moved into place once every
    /// file has passed its checksum, so a failed restore leaves `dir` as it found it, missing or
    /// empty (parents it had to create stay). Building inside `dir` rather than beside it keeps
    /// the work on `dir`'s own file system (it may be a mounted volume) and keeps `dir` itself,
    /// with its permissions. A process killed mid-restore can leave a `.flytekit-restore-*`
    /// directory in `dir`: remove `dir` and restore again.
    pub fn restore(&self, dir: impl AsRef<Path>) -> Result<Option<PathBuf>, CheckpointError> {
        // A whole tree written to disk: off an async executor's worker, as a commit is.
        crate::asynchronous::offload(|| self.inner.backend.restore(dir.as_ref()))
    }

    /// Commits `state`, serialized, as the new checkpoint.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize, PartialEq, Debug)]
    /// struct Progress { step: u64, loss: f64 }
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let cp = flytekit::Checkpoint::new(dir.path())?;
    /// cp.save_state(&Progress { step: 10, loss: 0.5 })?;
    ///
    /// let next = flytekit::Checkpoint::new(dir.path())?;
    /// assert_eq!(next.load_state::<Progress>()?, Some(Progress { step: 10, loss: 0.5 }));
    /// # Ok::<(), flytekit::CheckpointError>(())
    /// ```
    pub fn save_state<T: Serialize + ?Sized>(&self, state: &T) -> Result<(), CheckpointError> {
        self.write(&encode_state(state, self.dir())?)
    }

    /// The state this attempt started from, deserialized, or `None` if there is none.
    pub fn load_state<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        let Some(bytes) = self.read()? else {
            return Ok(None);
        };
        let path = self.inner.backend.base().map(Path::to_path_buf).unwrap_or_default();
        ciborium::from_reader(&bytes[..])
            .map(Some)
            .map_err(|e| CheckpointError::State {
                path,
                type_name: std::any::type_name::<T>(),
                message: e.to_string(),
            })
    }

    /// Commits through the backend, unless the attempt was asked to stop.
    ///
    /// A commit blocks on the disk or the network: called from an async task, on a worker of a
    /// multi-thread executor, it runs while the worker's other tasks move to another thread
    /// ([`offload`](crate::asynchronous::offload)), so that they do not wait for this task's
    /// commit.
    fn commit(
        &self,
        op: impl FnOnce(&dyn CheckpointBackend) -> Result<(), CheckpointError>,
    ) -> Result<(), CheckpointError> {
        if let Some(reason) = self.inner.stop.reason() {
            return Err(CheckpointError::Stopped {
                path: self.dir().to_path_buf(),
                reason,
            });
        }
        crate::asynchronous::offload(|| op(&*self.inner.backend))
    }
}

impl CheckpointBackend for LocalDir {
    fn location(&self) -> &Path {
        &self.dir
    }

    fn base(&self) -> Option<&Path> {
        self.base.as_ref().map(|b| b.path.as_path())
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn read(&self) -> Result<Option<Vec<u8>>, CheckpointError> {
        let Some(base) = &self.base else {
            return Ok(None);
        };
        if base.path.is_dir() {
            let manifest = Manifest::read(&base.path)?;
            let [ManifestEntry {
                path,
                kind: Kind::File { crc, len },
            }] = &manifest.entries[..]
            else {
                return Err(CheckpointError::NotBytes {
                    path: base.path.clone(),
                });
            };
            let path = base.path.join(path);
            let bytes = fs::read(&path).map_err(|e| io_error("read", &path, e))?;
            if (crc32fast::hash(&bytes), bytes.len() as u64) != (*crc, *len) {
                return Err(corrupt(&path, "does not match its manifest"));
            }
            Ok(Some(bytes))
        } else {
            read_file_version(&base.path).map(Some)
        }
    }

    fn write(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
        let durable = self.durable;
        self.commit(|tmp| {
            let io = |e| io_error("write", tmp, e);
            let mut file = File::create(tmp).map_err(io)?;
            let mut header = Vec::with_capacity(HEADER);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
            header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            header.resize(HEADER, 0);
            file.write_all(&header).map_err(io)?;
            file.write_all(bytes).map_err(io)?;
            if durable {
                file.sync_all().map_err(io)?;
            }
            Ok(())
        })
    }

    fn save(&self, src: &Path) -> Result<(), CheckpointError> {
        let meta = fs::metadata(src).map_err(|e| io_error("save", src, e))?;
        let durable = self.durable;
        self.commit(|tmp| {
            fs::create_dir(tmp).map_err(|e| io_error("save", tmp, e))?;
            let mut manifest = Manifest::default();
            if meta.is_dir() {
                copy_tree(src, tmp, Path::new(""), durable, &mut manifest)?;
            } else if meta.is_file() {
                let name = match src.file_name() {
                    Some(name) => entry_name(src, name, true)?,
                    None => BYTES_FILE,
                };
                manifest.entries.push(copy_file(src, tmp, Path::new(name), durable)?);
            } else {
                return Err(CheckpointError::NotSaveable {
                    path: src.to_path_buf(),
                });
            }
            manifest.write(tmp, durable)
        })
    }

    fn restore(&self, dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
        let Some(base) = &self.base else {
            return Ok(None);
        };
        // Read first: a damaged or hostile manifest must fail before the target is touched.
        let manifest = if base.path.is_dir() {
            Some(Manifest::read(&base.path)?)
        } else {
            None
        };
        let top: HashSet<&OsStr> = match &manifest {
            Some(m) => m.entries.iter().filter_map(|e| e.path.iter().next()).collect(),
            None => HashSet::from([OsStr::new(BYTES_FILE)]),
        };
        restore_into(dir, &top, |staging| match &manifest {
            Some(manifest) => restore_tree(&base.path, manifest, staging),
            None => read_file_version(&base.path).and_then(|bytes| {
                let to = staging.join(BYTES_FILE);
                write_new(&to, |file| {
                    file.write_all(&bytes).map_err(|e| io_error("restore", &to, e))
                })
            }),
        })
        .map(Some)
    }
}

impl LocalDir {
    /// Creates the checkpoint's directory, and in durable mode makes its entry durable in every
    /// parent it had to create, so that a commit inside it cannot vanish with its parent.
    fn create_dir(&self) -> Result<(), CheckpointError> {
        let dir = &self.dir;
        let mut missing = Vec::new();
        let mut at = dir.as_path();
        while !at.exists() {
            missing.push(at);
            match at.parent() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        if self.durable {
            for created in missing {
                if let Some(parent) = created.parent() {
                    sync_dir(parent).map_err(|e| io_error("create", parent, e))?;
                }
            }
        }
        Ok(())
    }

    /// Builds a version under a temporary name with `fill`, then renames it into place.
    /// [`Checkpoint::commit`] has checked that the attempt may still commit and moved off an
    /// async worker.
    fn commit(&self, fill: impl FnOnce(&Path) -> Result<(), CheckpointError>) -> Result<(), CheckpointError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.exists {
            self.create_dir()?;
            state.exists = true;
        }
        let seq = state.next;
        let tmp = self.dir.join(format!("{TMP_PREFIX}{seq:016}"));
        let path = self.dir.join(format!("{PREFIX}{seq:016}"));
        if let Err(e) = fill(&tmp) {
            let _ = remove(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &path).map_err(|e| io_error("commit", &path, e))?;
        if self.durable {
            // The rename is only durable once the directory entry is.
            sync_dir(&self.dir).map_err(|e| io_error("commit", &self.dir, e))?;
        }
        tracing::debug!(event = "checkpoint_committed", path = %path.display(), seq, durable = self.durable, "checkpoint committed");
        state.next = seq + 1;
        state.committed.push(Version { seq, path });
        // Keep the base (this attempt may still read it) and the two newest commits.
        let keep_from = state.committed.len().saturating_sub(2);
        let mut old = std::mem::take(&mut state.stale);
        old.extend(state.committed.drain(..keep_from));
        for version in old {
            let _ = remove(&version.path);
        }
        Ok(())
    }
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("dir", &self.dir())
            .field("base", &self.inner.backend.base())
            .finish()
    }
}

/// Serializes a checkpoint state (CBOR, as values between tasks).
pub(crate) fn encode_state<T: Serialize + ?Sized>(state: &T, dir: &Path) -> Result<Vec<u8>, CheckpointError> {
    let mut bytes = Vec::new();
    ciborium::into_writer(state, &mut bytes).map_err(|e| CheckpointError::State {
        path: dir.to_path_buf(),
        type_name: std::any::type_name::<T>(),
        message: e.to_string(),
    })?;
    Ok(bytes)
}

fn corrupt(path: &Path, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The payload of a file version, checked against its header.
fn read_file_version(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let mut bytes = fs::read(path).map_err(|e| io_error("read", path, e))?;
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER>() else {
        return Err(corrupt(
            path,
            format!("{} bytes is shorter than the header", bytes.len()),
        ));
    };
    if &header[..8] != MAGIC {
        return Err(corrupt(path, "not a flytekit checkpoint (bad header)"));
    }
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[12..20]);
    let len = u64::from_le_bytes(len);
    if payload.len() as u64 != len {
        return Err(corrupt(path, format!("truncated: {} of {len} bytes", payload.len())));
    }
    if crc32fast::hash(payload) != crc {
        return Err(corrupt(path, "checksum mismatch"));
    }
    bytes.drain(..HEADER);
    Ok(bytes)
}

/// Checks a version, file or directory, against its checksums.
fn verify(path: &Path) -> Result<(), CheckpointError> {
    if !path.is_dir() {
        return read_file_version(path).map(drop);
    }
    let manifest = Manifest::read(path)?;
    for entry in &manifest.entries {
        let on_disk = path.join(&entry.path);
        let meta = fs::symlink_metadata(&on_disk).map_err(|e| corrupt(&on_disk, format!("missing: {e}")))?;
        match &entry.kind {
            Kind::File { crc, len } => {
                if !meta.is_file() {
                    return Err(corrupt(&on_disk, "is not a file, as its manifest says"));
                }
                let file = File::open(&on_disk).map_err(|e| corrupt(&on_disk, format!("missing: {e}")))?;
                let (found_crc, found_len) = stream(file, &on_disk, "read", |_| Ok(()))?;
                if (found_crc, found_len) != (*crc, *len) {
                    return Err(corrupt(
                        &on_disk,
                        format!("does not match its manifest ({found_len} bytes, expected {len})"),
                    ));
                }
            }
            Kind::Dir if !meta.is_dir() => {
                return Err(corrupt(&on_disk, "is not a directory, as its manifest says"));
            }
            Kind::Dir => {}
            Kind::Link { target } => {
                let found = fs::read_link(&on_disk)
                    .map_err(|_| corrupt(&on_disk, "is not a symbolic link, as its manifest says"))?;
                if found.as_os_str() != OsStr::new(target) {
                    return Err(corrupt(
                        &on_disk,
                        format!("links to `{}`, its manifest says `{target}`", found.display()),
                    ));
                }
            }
        }
    }
    // The manifest has no checksum of its own, and one cut at a line boundary still parses:
    // an entry on disk that it does not list is what shows that it lost lines.
    let listed: HashSet<&Path> = manifest.entries.iter().map(|e| e.path.as_path()).collect();
    if let Some(found) = unlisted(path, Path::new(""), &listed)? {
        return Err(corrupt(
            &path.join(MANIFEST),
            format!("does not list {}", found.display()),
        ));
    }
    Ok(())
}

/// The first file or link under `root/rel`, other than the manifest, that `listed` does not
/// hold. Directories are not reported themselves: versions saved before manifests listed
/// directories hold empty ones unlisted, and a directory holding a file or a link is reported
/// through it, which cannot be listed either.
fn unlisted(root: &Path, rel: &Path, listed: &HashSet<&Path>) -> Result<Option<PathBuf>, CheckpointError> {
    let dir = root.join(rel);
    let entries = fs::read_dir(&dir).map_err(|e| io_error("read", &dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read", &dir, e))?;
        let name = rel.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io_error("read", entry.path(), e))?;
        if kind.is_dir() {
            if let Some(found) = unlisted(root, &name, listed)? {
                return Ok(Some(found));
            }
        } else if name != Path::new(MANIFEST) && !listed.contains(name.as_path()) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// A directory version's table of contents, `.flytekit-manifest`, one line per entry:
///
/// * `crc32-hex length path`: a file (the only kind of line older versions have);
/// * `dir path`: a directory with nothing under it. Other directories are implied by the paths
///   under them, which keeps the manifest of a tree without empty directories or links exactly
///   as older versions wrote it;
/// * `link n target path`: a symbolic link whose target text is `n` bytes long.
///
/// Neither `dir` nor `link` parses as a CRC, so every line says its kind. Paths are relative
/// and UTF-8 without line breaks, which `save` ensures and `Manifest::read` checks.
#[derive(Default, Debug, PartialEq)]
pub struct Manifest {
    /// The entries, in the order the checkpoint was saved (directories first once written).
    pub entries: Vec<ManifestEntry>,
}

/// One line of a [`Manifest`].
#[derive(Debug, PartialEq)]
pub struct ManifestEntry {
    /// Relative, made of plain names (checked when a manifest is read).
    pub path: PathBuf,
    /// What is there.
    pub kind: Kind,
}

/// What a manifest entry is.
#[derive(Debug, PartialEq)]
pub enum Kind {
    /// A file, with the CRC-32 and the length of its bytes.
    File {
        /// CRC-32 (IEEE) of the bytes.
        crc: u32,
        /// Length in bytes.
        len: u64,
    },
    /// A directory with nothing under it.
    Dir,
    /// A symbolic link, with its target text.
    Link {
        /// The link's target, as written.
        target: String,
    },
}

impl ManifestEntry {
    fn parse(line: &str) -> Option<ManifestEntry> {
        let (path, kind) = if let Some(path) = line.strip_prefix("dir ") {
            (path, Kind::Dir)
        } else if let Some(rest) = line.strip_prefix("link ") {
            let (n, rest) = rest.split_once(' ')?;
            let n: usize = n.parse().ok()?;
            let (target, path) = (rest.get(..n)?, rest.get(n..)?.strip_prefix(' ')?);
            if target.is_empty() || target.contains('\0') {
                return None;
            }
            let target = target.to_owned();
            (path, Kind::Link { target })
        } else {
            let mut parts = line.splitn(3, ' ');
            let (crc, len, path) = (parts.next()?, parts.next()?, parts.next()?);
            let (crc, len) = (u32::from_str_radix(crc, 16).ok()?, len.parse().ok()?);
            (path, Kind::File { crc, len })
        };
        Some(ManifestEntry {
            path: PathBuf::from(path),
            kind,
        })
    }
}

impl Manifest {
    fn write(&self, dir: &Path, durable: bool) -> Result<(), CheckpointError> {
        let path = dir.join(MANIFEST);
        let text = self.text();
        let io = |e| io_error("save", &path, e);
        let mut file = File::create(&path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        if durable {
            file.sync_all().map_err(io)?;
            sync_dir(dir).map_err(|e| io_error("save", dir, e))?;
        }
        Ok(())
    }

    /// The manifest's lines.
    pub fn text(&self) -> String {
        let mut text = String::new();
        // Directories first: a manifest cut short loses its last lines, and `verify` notices a
        // lost file or link line by the entry left on disk, but not a lost empty directory.
        let (dirs, others): (Vec<_>, Vec<_>) = self.entries.iter().partition(|e| matches!(e.kind, Kind::Dir));
        for e in dirs.into_iter().chain(others) {
            let line = match &e.kind {
                Kind::File { crc, len } => format!("{crc:08x} {len} {}\n", e.path.display()),
                Kind::Dir => format!("dir {}\n", e.path.display()),
                Kind::Link { target } => format!("link {} {target} {}\n", target.len(), e.path.display()),
            };
            text.push_str(&line);
        }
        text
    }

    /// Reads a version's manifest and checks that every path in it stays inside the version:
    /// `read`, `verify` and `restore` all come through here.
    fn read(dir: &Path) -> Result<Manifest, CheckpointError> {
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|e| corrupt(&path, format!("unreadable manifest: {e}")))?;
        Self::parse(&path, &text)
    }

    /// Parses a manifest's lines, read from `path`, and checks its paths as `read`
    /// does.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, CheckpointError> {
        let mut entries = Vec::new();
        for line in text.lines() {
            let entry =
                ManifestEntry::parse(line).ok_or_else(|| corrupt(path, format!("bad manifest line `{line}`")))?;
            entries.push(entry);
        }
        check_paths(path, &entries)?;
        Ok(Manifest { entries })
    }
}

/// Each path must be relative and made of plain names (no `..`, root or prefix), be listed
/// once, and not lead through an entry that is not a directory. Restoring such a manifest can
/// only create things inside its target, and never writes through a link it made.
fn check_paths(manifest: &Path, entries: &[ManifestEntry]) -> Result<(), CheckpointError> {
    let mut is_dir: HashMap<&Path, bool> = HashMap::with_capacity(entries.len());
    for e in entries {
        let mut components = e.path.components().peekable();
        let plain = components.peek().is_some() && components.all(|c| matches!(c, Component::Normal(_)));
        if !plain || e.path == Path::new(MANIFEST) {
            return Err(corrupt(
                manifest,
                format!(
                    "entry `{}` does not name a place inside the checkpoint",
                    e.path.display()
                ),
            ));
        }
        if is_dir.insert(&e.path, matches!(e.kind, Kind::Dir)).is_some() {
            return Err(corrupt(manifest, format!("lists `{}` twice", e.path.display())));
        }
    }
    for e in entries {
        if let Some(through) = e.path.ancestors().skip(1).find(|a| is_dir.get(a) == Some(&false)) {
            return Err(corrupt(
                manifest,
                format!(
                    "entry `{}` leads through `{}`, which is not a directory",
                    e.path.display(),
                    through.display()
                ),
            ));
        }
    }
    Ok(())
}

fn io_error(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> CheckpointError {
    CheckpointError::Io {
        op,
        path: path.into(),
        source,
    }
}

/// Removes a file, a link (never what it points to) or a whole directory.
fn remove(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads `reader` to its end, handing each chunk to `sink`; returns the CRC-32 and the length.
fn stream(
    mut reader: impl Read,
    from: &Path,
    op: &'static str,
    mut sink: impl FnMut(&[u8]) -> Result<(), CheckpointError>,
) -> Result<(u32, u64), CheckpointError> {
    let mut hasher = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(op, from, e)),
        };
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
        len += n as u64;
    }
    Ok((hasher.finalize(), len))
}

/// `name` as a manifest can hold it: UTF-8 without line breaks, since the manifest is lines
/// of text, and at the top of the tree not the manifest's own name.
fn entry_name<'a>(path: &Path, name: &'a OsStr, top: bool) -> Result<&'a str, CheckpointError> {
    let unsupported = |reason| CheckpointError::UnsupportedEntry {
        path: path.to_path_buf(),
        reason,
    };
    let name = name
        .to_str()
        .filter(|n| !n.contains(['\n', '\r']))
        .ok_or_else(|| unsupported("its name is not UTF-8 or holds a line break"))?;
    if top && name == MANIFEST {
        return Err(unsupported(
            "`.flytekit-manifest` at the top of a checkpoint is the name of its own manifest",
        ));
    }
    Ok(name)
}

/// Copies `src` to `root/rel`, returning its manifest entry.
fn copy_file(src: &Path, root: &Path, rel: &Path, durable: bool) -> Result<ManifestEntry, CheckpointError> {
    let dst = root.join(rel);
    let io = |e| io_error("save", &dst, e);
    let reader = File::open(src).map_err(|e| io_error("save", src, e))?;
    let mut writer = File::create(&dst).map_err(io)?;
    let (crc, len) = stream(reader, src, "save", |chunk| writer.write_all(chunk).map_err(io))?;
    if durable {
        writer.sync_all().map_err(io)?;
    }
    Ok(ManifestEntry {
        path: rel.to_path_buf(),
        kind: Kind::File { crc, len },
    })
}

/// Stores the link `src` as `root/rel`: a link with the same target text, not followed.
fn copy_link(src: &Path, root: &Path, rel: &Path) -> Result<ManifestEntry, CheckpointError> {
    let target = fs::read_link(src).map_err(|e| io_error("save", src, e))?;
    let Some(target) = target.to_str().filter(|t| !t.contains(['\n', '\r'])) else {
        return Err(CheckpointError::UnsupportedEntry {
            path: src.to_path_buf(),
            reason: "the target of this symbolic link is not UTF-8 or holds a line break",
        });
    };
    if !cfg!(unix) {
        return Err(CheckpointError::UnsupportedEntry {
            path: src.to_path_buf(),
            reason: "symbolic links are only kept on Unix",
        });
    }
    let dst = root.join(rel);
    symlink(target, &dst).map_err(|e| io_error("save", &dst, e))?;
    Ok(ManifestEntry {
        path: rel.to_path_buf(),
        kind: Kind::Link {
            target: target.to_owned(),
        },
    })
}

#[cfg(unix)]
pub(crate) fn symlink(target: &str, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
pub(crate) fn symlink(_target: &str, _at: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symbolic links are only kept on Unix",
    ))
}

/// What `save(src)` keeps (see [`crate::backend::walk`]).
pub(crate) fn walk(src: &Path) -> Result<Vec<(PathBuf, Source)>, CheckpointError> {
    let meta = fs::metadata(src).map_err(|e| io_error("save", src, e))?;
    let mut found = Vec::new();
    if meta.is_dir() {
        walk_tree(src, Path::new(""), &mut found)?;
    } else if meta.is_file() {
        let name = match src.file_name() {
            Some(name) => entry_name(src, name, true)?,
            None => BYTES_FILE,
        };
        found.push((PathBuf::from(name), Source::File(src.to_path_buf())));
    } else {
        return Err(CheckpointError::NotSaveable {
            path: src.to_path_buf(),
        });
    }
    Ok(found)
}

fn walk_tree(src: &Path, rel: &Path, found: &mut Vec<(PathBuf, Source)>) -> Result<(), CheckpointError> {
    let entries = fs::read_dir(src).map_err(|e| io_error("save", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("save", src, e))?;
        let from = entry.path();
        let name = entry.file_name();
        let rel = rel.join(entry_name(&from, &name, rel.as_os_str().is_empty())?);
        let kind = entry.file_type().map_err(|e| io_error("save", &from, e))?;
        if kind.is_dir() {
            let before = found.len();
            walk_tree(&from, &rel, found)?;
            if found.len() == before {
                found.push((rel, Source::Dir));
            }
        } else if kind.is_file() {
            found.push((rel, Source::File(from)));
        } else if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(|e| io_error("save", &from, e))?;
            let Some(target) = target.to_str().filter(|t| !t.contains(['\n', '\r'])) else {
                return Err(CheckpointError::UnsupportedEntry {
                    path: from,
                    reason: "the target of this symbolic link is not UTF-8 or holds a line break",
                });
            };
            if !cfg!(unix) {
                return Err(CheckpointError::UnsupportedEntry {
                    path: from,
                    reason: "symbolic links are only kept on Unix",
                });
            }
            found.push((rel, Source::Link(target.to_owned())));
        } else {
            return Err(CheckpointError::NotSaveable { path: from });
        }
    }
    Ok(())
}

/// Copies the tree under `src` to `root/rel`, listing each file, each link and each directory
/// left with nothing under it.
fn copy_tree(
    src: &Path,
    root: &Path,
    rel: &Path,
    durable: bool,
    manifest: &mut Manifest,
) -> Result<(), CheckpointError> {
    let entries = fs::read_dir(src).map_err(|e| io_error("save", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("save", src, e))?;
        let from = entry.path();
        let name = entry.file_name();
        let rel = rel.join(entry_name(&from, &name, rel.as_os_str().is_empty())?);
        // The entry's own type: a link is a link here, whatever it points to.
        let kind = entry.file_type().map_err(|e| io_error("save", &from, e))?;
        if kind.is_dir() {
            let to = root.join(&rel);
            fs::create_dir(&to).map_err(|e| io_error("save", &to, e))?;
            let before = manifest.entries.len();
            copy_tree(&from, root, &rel, durable, manifest)?;
            if manifest.entries.len() == before {
                manifest.entries.push(ManifestEntry {
                    path: rel,
                    kind: Kind::Dir,
                });
            }
            if durable {
                sync_dir(&to).map_err(|e| io_error("save", &to, e))?;
            }
        } else if kind.is_file() {
            manifest.entries.push(copy_file(&from, root, &rel, durable)?);
        } else if kind.is_symlink() {
            manifest.entries.push(copy_link(&from, root, &rel)?);
        } else {
            return Err(CheckpointError::NotSaveable { path: from });
        }
    }
    Ok(())
}

/// Checks that `dst` is a place `restore` may fill, missing or an empty directory, and creates
/// it if missing; returns whether it did.
fn prepare_target(dst: &Path) -> Result<bool, CheckpointError> {
    let refuse = |found| CheckpointError::RestoreTarget {
        path: dst.to_path_buf(),
        found,
    };
    match fs::symlink_metadata(dst) {
        Ok(meta) if meta.file_type().is_symlink() => Err(refuse("a symbolic link")),
        Ok(meta) if meta.is_dir() => match fs::read_dir(dst).map_err(|e| io_error("restore", dst, e))?.next() {
            None => Ok(false),
            Some(Ok(_)) => Err(refuse("a directory that is not empty")),
            Some(Err(e)) => Err(io_error("restore", dst, e)),
        },
        Ok(_) => Err(refuse("not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| io_error("restore", parent, e))?;
            }
            fs::create_dir(dst).map_err(|e| io_error("restore", dst, e))?;
            Ok(true)
        }
        Err(e) => Err(io_error("restore", dst, e)),
    }
}

/// Creates the hidden directory inside `dst` that a restore is built in, under a name that
/// none of the tree's own top-level entries has.
fn staging_dir(dst: &Path, top: &HashSet<&OsStr>) -> Result<PathBuf, CheckpointError> {
    // Of `top.len() + 1` names, one is free.
    let name = (0..=top.len())
        .map(|n| format!(".flytekit-restore-{n}"))
        .find(|name| !top.contains(OsStr::new(name)))
        .unwrap_or_default();
    let path = dst.join(name);
    fs::create_dir(&path).map_err(|e| io_error("restore", &path, e))?;
    Ok(path)
}

/// Builds the tree `manifest` lists in `staging`, checking each file against its checksum.
fn restore_tree(version: &Path, manifest: &Manifest, staging: &Path) -> Result<(), CheckpointError> {
    for entry in &manifest.entries {
        let to = staging.join(&entry.path);
        // `Manifest::read` made sure that no path leads through a file or a link, so every
        // parent is a directory this call creates.
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| io_error("restore", parent, e))?;
        }
        match &entry.kind {
            Kind::Dir => fs::create_dir_all(&to).map_err(|e| io_error("restore", &to, e))?,
            Kind::Link { target } => symlink(target, &to).map_err(|e| io_error("restore", &to, e))?,
            Kind::File { crc, len } => {
                let from = version.join(&entry.path);
                let reader = File::open(&from).map_err(|e| io_error("restore", &from, e))?;
                let found = write_new(&to, |file| {
                    stream(reader, &from, "restore", |chunk| {
                        file.write_all(chunk).map_err(|e| io_error("restore", &to, e))
                    })
                })?;
                if found != (*crc, *len) {
                    return Err(corrupt(&from, "does not match its manifest"));
                }
            }
        }
    }
    Ok(())
}

/// Fills `dir` as [`Checkpoint::restore`] says: `dir` must be missing or an empty directory;
/// `fill` builds the tree in a hidden staging directory inside it (named unlike any of `top`,
/// the tree's top-level names), which is moved up once `fill` succeeds; on any failure `dir` is
/// left as it was found.
pub(crate) fn restore_into(
    dir: &Path,
    top: &HashSet<&OsStr>,
    fill: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<PathBuf, CheckpointError> {
    // Without a trailing `/`, which would make the checks below look through a link.
    let dst: PathBuf = dir.components().collect();
    let dst = dst.as_path();
    let created = prepare_target(dst)?;
    let mut moved = Vec::new();
    let result = staging_dir(dst, top).and_then(|staging| {
        let result = fill(&staging).and_then(|()| move_up(&staging, dst, &mut moved));
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    });
    if let Err(e) = result {
        // `dst` was missing or empty: take back what this call put there.
        for path in &moved {
            let _ = remove(path);
        }
        if created {
            let _ = fs::remove_dir(dst);
        }
        return Err(e);
    }
    Ok(dir.to_path_buf())
}

/// Creates `path` and fills it; fails rather than open anything already there, a link above
/// all.
fn write_new<T>(path: &Path, fill: impl FnOnce(&mut File) -> Result<T, CheckpointError>) -> Result<T, CheckpointError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_error("restore", path, e))?;
    fill(&mut file)
}

/// Moves what `staging` holds up into `dst`, noting each move so that a failure can undo it.
fn move_up(staging: &Path, dst: &Path, moved: &mut Vec<PathBuf>) -> Result<(), CheckpointError> {
    let names = fs::read_dir(staging)
        .and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<Vec<_>>>()
        })
        .map_err(|e| io_error("restore", staging, e))?;
    for name in names {
        let to = dst.join(&name);
        fs::rename(staging.join(&name), &to).map_err(|e| io_error("restore", &to, e))?;
        moved.push(to);
    }
    fs::remove_dir(staging).map_err(|e| io_error("restore", staging, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn next_attempt_starts_from_the_last_commit_of_any_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let a1 = Checkpoint::new(dir.path()).unwrap();
        a1.write(b"1").unwrap();
        a1.write(b"2").unwrap();
        // Attempt 2 writes nothing; attempt 3 still sees attempt 1's last commit.
        let a2 = Checkpoint::new(dir.path()).unwrap();
        assert_eq!(a2.read().unwrap().unwrap(), b"2");
        let a3 = Checkpoint::new(dir.path()).unwrap();
        assert_eq!(a3.read().unwrap().unwrap(), b"2");
    }

    #[test]
    fn an_interrupted_commit_is_invisible_and_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        Checkpoint::new(dir.path()).unwrap().write(b"good").unwrap();
        // What a crash between the temporary write and the rename leaves behind.
        fs::write(dir.path().join(".tmp-0000000000000001"), b"half").unwrap();
        let next = Checkpoint::new(dir.path()).unwrap();
        assert_eq!(next.read().unwrap().unwrap(), b"good");
        assert_eq!(versions(dir.path()), ["ckpt-0000000000000000"]);
    }

    #[test]
    fn old_versions_are_pruned_but_the_base_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        Checkpoint::new(dir.path()).unwrap().write(b"base").unwrap();
        let cp = Checkpoint::new(dir.path()).unwrap();
        for i in 0..5u8 {
            cp.write(&[i]).unwrap();
        }
        assert_eq!(
            versions(dir.path()),
            [
                "ckpt-0000000000000000",
                "ckpt-0000000000000004",
                "ckpt-0000000000000005"
            ]
        );
        assert_eq!(cp.read().unwrap().unwrap(), b"base");
    }

    #[test]
    fn directories_round_trip_and_read_refuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("sub")).unwrap();
        fs::write(src.path().join("a.txt"), "a").unwrap();
        fs::write(src.path().join("sub/b.txt"), "b").unwrap();
        Checkpoint::new(dir.path()).unwrap().save(src.path()).unwrap();

        let next = Checkpoint::new(dir.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let restored = next.restore(out.path().join("r")).unwrap().unwrap();
        assert_eq!(fs::read_to_string(restored.join("sub/b.txt")).unwrap(), "b");
        assert_eq!(fs::read_to_string(restored.join("a.txt")).unwrap(), "a");
        match next.read() {
            Err(CheckpointError::NotBytes { path }) => assert!(path.starts_with(dir.path())),
            other => panic!("expected NotBytes, got {other:?}"),
        }
    }

    #[test]
    fn a_saved_file_reads_back_as_bytes_and_restores_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("model.bin");
        fs::write(&file, [1, 2, 3]).unwrap();
        Checkpoint::new(dir.path()).unwrap().save(&file).unwrap();
        let next = Checkpoint::new(dir.path()).unwrap();
        assert_eq!(next.read().unwrap().unwrap(), [1, 2, 3]);
        let out = tempfile::tempdir().unwrap();
        next.restore(out.path()).unwrap();
        assert_eq!(fs::read(out.path().join("model.bin")).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn bytes_restore_as_a_file_named_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        Checkpoint::new(dir.path()).unwrap().write(b"xyz").unwrap();
        let out = tempfile::tempdir().unwrap();
        let got = Checkpoint::new(dir.path()).unwrap().restore(out.path()).unwrap();
        assert_eq!(got.as_deref(), Some(out.path()));
        assert_eq!(fs::read(out.path().join("checkpoint")).unwrap(), b"xyz");
    }

    #[test]
    fn missing_and_mistyped_inputs_are_typed_errors() {
        let cp = Checkpoint::temporary().unwrap();
        assert_eq!(cp.restore(cp.dir().join("x")).unwrap(), None);
        assert_eq!(cp.load_state::<u64>().unwrap(), None);
        match cp.save("/definitely/not/here") {
            Err(CheckpointError::Io { op: "save", path, .. }) => assert_eq!(path, Path::new("/definitely/not/here")),
            other => panic!("expected an io error, got {other:?}"),
        }
        cp.save_state(&"text").unwrap();
        let next = Checkpoint::new(cp.dir()).unwrap();
        match next.load_state::<u64>() {
            Err(CheckpointError::State {
                type_name: "u64", path, ..
            }) => assert!(path.starts_with(cp.dir())),
            other => panic!("expected a state error, got {other:?}"),
        }
    }

    fn file_entry(path: &str, crc: u32, len: u64) -> ManifestEntry {
        ManifestEntry {
            path: PathBuf::from(path),
            kind: Kind::File { crc, len },
        }
    }

    /// `Manifest::read` on a version whose manifest is `text`.
    fn manifest_of(text: &str) -> Result<Manifest, CheckpointError> {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST), text).unwrap();
        Manifest::read(dir.path())
    }

    #[test]
    fn manifest_lines_of_every_kind_round_trip_with_spaces_in_names() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            file_entry("a b/c d.txt", 0xdead_beef, 12),
            ManifestEntry {
                path: PathBuf::from("empty dir"),
                kind: Kind::Dir,
            },
            ManifestEntry {
                path: PathBuf::from("l i n k"),
                kind: Kind::Link {
                    target: "../some where".to_owned(),
                },
            },
        ];
        Manifest { entries }.write(dir.path(), false).unwrap();
        let text = fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        // Directories first, so that a manifest cut short loses what `verify` can miss last.
        assert_eq!(
            text,
            "dir empty dir\ndeadbeef 12 a b/c d.txt\nlink 13 ../some where l i n k\n"
        );
        let read = Manifest::read(dir.path()).unwrap().entries;
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].kind, Kind::Dir);
        assert_eq!(read[1], file_entry("a b/c d.txt", 0xdead_beef, 12));
        assert_eq!(
            read[2].kind,
            Kind::Link {
                target: "../some where".to_owned()
            }
        );
    }

    #[test]
    fn an_old_format_manifest_reads_as_files() {
        let read = manifest_of("e8b7be43 1 a.txt\nb5ae1bae 2 sub/b b.txt\n")
            .unwrap()
            .entries;
        assert_eq!(
            read,
            [
                file_entry("a.txt", 0xe8b7_be43, 1),
                file_entry("sub/b b.txt", 0xb5ae_1bae, 2)
            ]
        );
    }

    #[test]
    fn manifest_paths_that_could_leave_the_target_are_corrupt() {
        let cases = [
            (
                "00000000 0 ../x\n",
                "entry `../x` does not name a place inside the checkpoint",
            ),
            (
                "00000000 0 /abs\n",
                "entry `/abs` does not name a place inside the checkpoint",
            ),
            (
                "dir a/../../x\n",
                "entry `a/../../x` does not name a place inside the checkpoint",
            ),
            (
                "link 4 /etc ..\n",
                "entry `..` does not name a place inside the checkpoint",
            ),
            ("dir .\n", "entry `.` does not name a place inside the checkpoint"),
            ("00000000 0 \n", "entry `` does not name a place inside the checkpoint"),
            (
                "00000000 0 .flytekit-manifest\n",
                "entry `.flytekit-manifest` does not name a place inside the checkpoint",
            ),
            (
                "link 4 /etc l\n00000000 0 l/passwd\n",
                "entry `l/passwd` leads through `l`, which is not a directory",
            ),
            (
                "00000000 0 f\ndir f/g/h\n",
                "entry `f/g/h` leads through `f`, which is not a directory",
            ),
            ("dir a\n00000000 0 a\n", "lists `a` twice"),
            ("link 0  l\n", "bad manifest line `link 0  l`"),
            ("link 9 short l\n", "bad manifest line `link 9 short l`"),
            ("link x y z\n", "bad manifest line `link x y z`"),
        ];
        for (text, expected) in cases {
            match manifest_of(text) {
                Err(CheckpointError::Corrupt { path, reason }) => {
                    assert!(path.ends_with(MANIFEST), "{}", path.display());
                    assert_eq!(reason, expected, "for {text:?}");
                }
                Err(other) => panic!("{text:?}: expected Corrupt, got {other:?}"),
                Ok(m) => panic!("{text:?}: accepted as {:?}", m.entries),
            }
        }
    }

    /// A directory version saved from a tree with a file, an empty directory and a link.
    #[cfg(unix)]
    fn saved_version() -> (tempfile::TempDir, PathBuf) {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("a.txt"), "a").unwrap();
        fs::create_dir_all(src.path().join("sub/empty")).unwrap();
        std::os::unix::fs::symlink("a.txt", src.path().join("link")).unwrap();
        let store = tempfile::tempdir().unwrap();
        Checkpoint::new(store.path()).unwrap().save(src.path()).unwrap();
        let version = store.path().join("ckpt-0000000000000000");
        verify(&version).unwrap();
        (store, version)
    }

    #[cfg(unix)]
    fn corrupt_reason(version: &Path) -> (PathBuf, String) {
        match verify(version) {
            Err(CheckpointError::Corrupt { path, reason }) => (path, reason),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn verify_checks_empty_directories_and_links() {
        let (_store, version) = saved_version();
        fs::remove_dir(version.join("sub/empty")).unwrap();
        let (path, reason) = corrupt_reason(&version);
        assert_eq!(path, version.join("sub/empty"));
        assert!(reason.starts_with("missing: "), "{reason}");

        let (_store, version) = saved_version();
        fs::remove_dir(version.join("sub/empty")).unwrap();
        fs::write(version.join("sub/empty"), "").unwrap();
        assert_eq!(
            corrupt_reason(&version),
            (
                version.join("sub/empty"),
                "is not a directory, as its manifest says".to_owned()
            )
        );

        let (_store, version) = saved_version();
        fs::remove_file(version.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", version.join("link")).unwrap();
        assert_eq!(
            corrupt_reason(&version),
            (
                version.join("link"),
                "links to `/etc/passwd`, its manifest says `a.txt`".to_owned()
            )
        );

        let (_store, version) = saved_version();
        fs::remove_file(version.join("link")).unwrap();
        fs::write(version.join("link"), "").unwrap();
        assert_eq!(
            corrupt_reason(&version),
            (
                version.join("link"),
                "is not a symbolic link, as its manifest says".to_owned()
            )
        );

        // A file replaced by a link to a file with the same bytes is still caught.
        let (store, version) = saved_version();
        let twin = store.path().join("twin");
        fs::write(&twin, "a").unwrap();
        fs::remove_file(version.join("a.txt")).unwrap();
        std::os::unix::fs::symlink(&twin, version.join("a.txt")).unwrap();
        assert_eq!(
            corrupt_reason(&version),
            (version.join("a.txt"), "is not a file, as its manifest says".to_owned())
        );
    }

    #[cfg(unix)]
    #[test]
    fn verify_reports_a_link_its_manifest_does_not_list() {
        let (_store, version) = saved_version();
        let manifest = version.join(MANIFEST);
        let text = fs::read_to_string(&manifest).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with("link "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(kept.lines().count(), 2, "{text}");
        fs::write(&manifest, kept).unwrap();
        assert_eq!(corrupt_reason(&version), (manifest, "does not list link".to_owned()));
    }

    #[test]
    fn an_unlisted_empty_directory_is_tolerated_as_older_versions_left_them() {
        let store = tempfile::tempdir().unwrap();
        let version = store.path().join("ckpt-0000000000000000");
        fs::create_dir_all(version.join("old-empty/deeper")).unwrap();
        fs::write(version.join("a.txt"), "a").unwrap();
        fs::write(version.join(MANIFEST), "e8b7be43 1 a.txt\n").unwrap();
        verify(&version).unwrap();
    }
}
