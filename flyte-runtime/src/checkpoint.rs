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

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CheckpointError;
use crate::stop::Stop;

const PREFIX: &str = "ckpt-";
const TMP_PREFIX: &str = ".tmp-";
/// Starts every file version: the format, the payload's CRC-32 and length, and zeros up to 32
/// bytes. The padding keeps the payload at the same alignment in the file as in the caller's
/// buffer, which makes the kernel's copy of a large payload markedly faster (BENCHMARKS.md).
const MAGIC: &[u8; 8] = b"FLYTECK2";
const HEADER: usize = 32;
/// In a directory version, lists each file's CRC-32, length and relative path.
const MANIFEST: &str = ".flytekit-manifest";
/// The single file `restore` writes for a checkpoint that was committed as bytes.
const BYTES_FILE: &str = "checkpoint";

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
    /// The asynchronous writers of this attempt, flushed before the task reports success.
    writers: Mutex<Vec<std::sync::Weak<crate::writer::Shared>>>,
    /// When the attempt must stop; commits are refused from then on.
    stop: Stop,
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
        Ok(Checkpoint {
            inner: Arc::new(Inner {
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
                writers: Mutex::new(Vec::new()),
                stop,
            }),
        })
    }

    /// Damaged versions this attempt skipped, each with the one it resumed from instead.
    pub(crate) fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Registers an asynchronous writer, so that [`flush_writers`](Self::flush_writers) waits
    /// for it.
    pub(crate) fn register_writer(&self, writer: std::sync::Weak<crate::writer::Shared>) {
        self.inner
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(writer);
    }

    /// Waits until every asynchronous writer of this attempt has committed its latest state, and
    /// returns the first error any of them met. The runtime calls this before a task's attempt
    /// counts as a success.
    pub(crate) fn flush_writers(&self) -> Result<(), CheckpointError> {
        let writers = std::mem::take(&mut *self.inner.writers.lock().unwrap_or_else(|p| p.into_inner()));
        let mut first = Ok(());
        for writer in writers.iter().filter_map(std::sync::Weak::upgrade) {
            if let Err(e) = crate::writer::flush(&writer) {
                first = first.and(Err(e));
            }
        }
        first
    }

    /// The directory holding this node's checkpoints; it is created by the first commit.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether an earlier attempt committed a checkpoint this attempt can resume from.
    pub fn prev_exists(&self) -> bool {
        self.inner.base.is_some()
    }

    /// The bytes of the checkpoint this attempt started from, or `None` if there is none.
    ///
    /// A checkpoint saved from a directory holding exactly one file reads as that file's bytes;
    /// one holding more is an error that says to use [`restore`](Self::restore). Bytes that no
    /// longer match their checksum are [`CheckpointError::Corrupt`], with the file's path.
    pub fn read(&self) -> Result<Option<Vec<u8>>, CheckpointError> {
        let Some(base) = &self.inner.base else {
            return Ok(None);
        };
        if base.path.is_dir() {
            let manifest = Manifest::read(&base.path)?;
            let [entry] = &manifest.entries[..] else {
                return Err(CheckpointError::NotBytes {
                    path: base.path.clone(),
                });
            };
            let path = base.path.join(&entry.path);
            let bytes = fs::read(&path).map_err(|e| io_error("read", &path, e))?;
            entry.check(&path, &bytes)?;
            Ok(Some(bytes))
        } else {
            read_file_version(&base.path).map(Some)
        }
    }

    /// Commits `bytes` as the new checkpoint, atomically.
    pub fn write(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
        let durable = self.inner.durable;
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

    /// Commits a copy of a file or of a whole directory as the new checkpoint, atomically: a
    /// directory becomes visible to the next attempt as a unit or not at all.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let src = path.as_ref();
        let meta = fs::metadata(src).map_err(|e| io_error("save", src, e))?;
        let durable = self.inner.durable;
        self.commit(|tmp| {
            fs::create_dir(tmp).map_err(|e| io_error("save", tmp, e))?;
            let mut manifest = Manifest::default();
            if meta.is_dir() {
                copy_tree(src, tmp, Path::new(""), durable, &mut manifest)?;
            } else if meta.is_file() {
                let name = src.file_name().map_or_else(|| PathBuf::from(BYTES_FILE), PathBuf::from);
                manifest.entries.push(copy_file(src, tmp, &name, durable)?);
            } else {
                return Err(CheckpointError::NotSaveable {
                    path: src.to_path_buf(),
                });
            }
            manifest.write(tmp, durable)
        })
    }

    /// Copies the checkpoint this attempt started from into `dir` (created if missing) and
    /// returns `Some(dir)`, or returns `None` when there is no previous checkpoint.
    ///
    /// A checkpoint committed with `write` or `save_state` is restored as `dir/checkpoint`.
    pub fn restore(&self, dir: impl AsRef<Path>) -> Result<Option<PathBuf>, CheckpointError> {
        let Some(base) = &self.inner.base else {
            return Ok(None);
        };
        let dst = dir.as_ref();
        fs::create_dir_all(dst).map_err(|e| io_error("restore", dst, e))?;
        if base.path.is_dir() {
            for entry in Manifest::read(&base.path)?.entries {
                let from = base.path.join(&entry.path);
                let to = dst.join(&entry.path);
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_error("restore", parent, e))?;
                }
                let bytes = fs::read(&from).map_err(|e| io_error("restore", &from, e))?;
                entry.check(&from, &bytes)?;
                fs::write(&to, bytes).map_err(|e| io_error("restore", &to, e))?;
            }
        } else {
            let file = dst.join(BYTES_FILE);
            let bytes = read_file_version(&base.path)?;
            fs::write(&file, bytes).map_err(|e| io_error("restore", &file, e))?;
        }
        Ok(Some(dst.to_path_buf()))
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
        self.write(&encode_state(state, &self.inner.dir)?)
    }

    /// The state this attempt started from, deserialized, or `None` if there is none.
    pub fn load_state<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        let Some(bytes) = self.read()? else {
            return Ok(None);
        };
        let path = self.inner.base.as_ref().map(|b| b.path.clone()).unwrap_or_default();
        ciborium::from_reader(&bytes[..])
            .map(Some)
            .map_err(|e| CheckpointError::State {
                path,
                type_name: std::any::type_name::<T>(),
                message: e.to_string(),
            })
    }

    /// Creates the checkpoint's directory, and in durable mode makes its entry durable in every
    /// parent it had to create, so that a commit inside it cannot vanish with its parent.
    fn create_dir(&self) -> Result<(), CheckpointError> {
        let dir = &self.inner.dir;
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
        if self.inner.durable {
            for created in missing {
                if let Some(parent) = created.parent() {
                    sync_dir(parent).map_err(|e| io_error("create", parent, e))?;
                }
            }
        }
        Ok(())
    }

    /// Builds a version under a temporary name with `fill`, then renames it into place.
    fn commit(&self, fill: impl FnOnce(&Path) -> Result<(), CheckpointError>) -> Result<(), CheckpointError> {
        if let Some(reason) = self.inner.stop.reason() {
            return Err(CheckpointError::Stopped {
                path: self.inner.dir.clone(),
                reason,
            });
        }
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.exists {
            self.create_dir()?;
            state.exists = true;
        }
        let seq = state.next;
        let tmp = self.inner.dir.join(format!("{TMP_PREFIX}{seq:016}"));
        let path = self.inner.dir.join(format!("{PREFIX}{seq:016}"));
        if let Err(e) = fill(&tmp) {
            let _ = remove(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &path).map_err(|e| io_error("commit", &path, e))?;
        if self.inner.durable {
            // The rename is only durable once the directory entry is.
            sync_dir(&self.inner.dir).map_err(|e| io_error("commit", &self.inner.dir, e))?;
        }
        tracing::debug!(event = "checkpoint_committed", path = %path.display(), seq, durable = self.inner.durable, "checkpoint committed");
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
            .field("dir", &self.inner.dir)
            .field("base", &self.inner.base.as_ref().map(|b| b.seq))
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
        let file = path.join(&entry.path);
        let mut hasher = crc32fast::Hasher::new();
        let mut len = 0u64;
        let mut reader = File::open(&file).map_err(|e| corrupt(&file, format!("missing: {e}")))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(|e| io_error("read", &file, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        if len != entry.len || hasher.finalize() != entry.crc {
            return Err(corrupt(
                &file,
                format!("does not match its manifest ({len} bytes, expected {})", entry.len),
            ));
        }
    }
    // The manifest has no checksum of its own, and one cut at a line boundary still parses:
    // a committed file it does not list is what shows that it lost entries.
    let listed: HashSet<&Path> = manifest.entries.iter().map(|e| e.path.as_path()).collect();
    if let Some(file) = unlisted(path, Path::new(""), &listed)? {
        return Err(corrupt(
            &path.join(MANIFEST),
            format!("does not list {}", file.display()),
        ));
    }
    Ok(())
}

/// The first file under `root/rel`, other than the manifest, that `listed` does not hold.
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

#[derive(Default)]
struct Manifest {
    entries: Vec<ManifestEntry>,
}

struct ManifestEntry {
    crc: u32,
    len: u64,
    path: PathBuf,
}

impl ManifestEntry {
    fn check(&self, path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
        if bytes.len() as u64 != self.len || crc32fast::hash(bytes) != self.crc {
            return Err(corrupt(path, "does not match its manifest"));
        }
        Ok(())
    }
}

impl Manifest {
    /// One line per file: `crc32-hex length relative/path`.
    fn write(&self, dir: &Path, durable: bool) -> Result<(), CheckpointError> {
        let path = dir.join(MANIFEST);
        let mut text = String::new();
        for e in &self.entries {
            text.push_str(&format!("{:08x} {} {}\n", e.crc, e.len, e.path.display()));
        }
        let io = |e| io_error("save", &path, e);
        let mut file = File::create(&path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        if durable {
            file.sync_all().map_err(io)?;
            sync_dir(dir).map_err(|e| io_error("save", dir, e))?;
        }
        Ok(())
    }

    fn read(dir: &Path) -> Result<Manifest, CheckpointError> {
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|e| corrupt(&path, format!("unreadable manifest: {e}")))?;
        let mut entries = Vec::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            let (Some(crc), Some(len), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt(&path, format!("bad manifest line `{line}`")));
            };
            let (Ok(crc), Ok(len)) = (u32::from_str_radix(crc, 16), len.parse()) else {
                return Err(corrupt(&path, format!("bad manifest line `{line}`")));
            };
            entries.push(ManifestEntry {
                crc,
                len,
                path: PathBuf::from(name),
            });
        }
        Ok(Manifest { entries })
    }
}

fn io_error(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> CheckpointError {
    CheckpointError::Io {
        op,
        path: path.into(),
        source,
    }
}

fn remove(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Copies `src` to `root/rel`, returning its manifest entry.
fn copy_file(src: &Path, root: &Path, rel: &Path, durable: bool) -> Result<ManifestEntry, CheckpointError> {
    let dst = root.join(rel);
    let io = |e| io_error("save", &dst, e);
    let mut reader = File::open(src).map_err(|e| io_error("save", src, e))?;
    let mut writer = File::create(&dst).map_err(io)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| io_error("save", src, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(io)?;
        len += n as u64;
    }
    if durable {
        writer.sync_all().map_err(io)?;
    }
    Ok(ManifestEntry {
        crc: hasher.finalize(),
        len,
        path: rel.to_path_buf(),
    })
}

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
        let rel = rel.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| io_error("save", &from, e))?;
        if kind.is_dir() {
            let to = root.join(&rel);
            fs::create_dir_all(&to).map_err(|e| io_error("save", &to, e))?;
            copy_tree(&from, root, &rel, durable, manifest)?;
            if durable {
                sync_dir(&to).map_err(|e| io_error("save", &to, e))?;
            }
        } else {
            manifest.entries.push(copy_file(&from, root, &rel, durable)?);
        }
    }
    Ok(())
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
}
