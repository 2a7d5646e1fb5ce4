//! Checkpoints in object storage: the [`CheckpointBackend`] of an attempt on a Flyte cluster.
//!
//! Propeller gives each attempt two prefixes: `--prev-checkpoint`, where the previous attempt
//! committed (`""` on a first attempt), and `--checkpoint-path`, where this one commits. The
//! attempt starts from what the first holds and commits under the second; the task sees the
//! same [`Checkpoint`] as on one machine.
//!
//! # Layout of a prefix
//!
//! ```text
//! <prefix>/.flytekit-manifest          written last: names the current checkpoint
//! <prefix>/_dst_cp                     a checkpoint committed as bytes (write, save_state)
//! <prefix>/ckpt-0000000000000003/...   a checkpoint committed from a file or directory (save)
//! ```
//!
//! `_dst_cp` is the object flytekit's `SyncCheckpoint.write` uploads, so a single-value
//! checkpoint sits where flytekit's would; one that flytekit wrote (a prefix holding `_dst_cp`
//! and nothing else, without a manifest) is read as it is, unverified, since it carries no
//! checksum. The manifest's first lines say which kind the checkpoint is:
//!
//! ```text
//! flytekit-checkpoint 1
//! seq 3
//! bytes 8c736521 1048576           _dst_cp, its CRC-32 and length
//! pending 1a2b3c4d 1048580         (while a new _dst_cp is being uploaded over it)
//! ```
//!
//! or `tree ckpt-0000000000000003` followed by the entries of a local directory checkpoint's
//! manifest (`crc32 length path`, `dir path`, `link n target path`), the paths relative to that
//! folder.
//!
//! # Why a reader never sees half a checkpoint
//!
//! A single object appears whole or not at all (a `PUT`, or a multipart upload's completion),
//! and the manifest is one object. A directory checkpoint is uploaded under a new
//! `ckpt-<seq>/` folder and becomes the current one when the manifest naming it is written;
//! until then the manifest names the previous one, whose objects are removed only afterwards.
//! A bytes checkpoint overwrites `_dst_cp` in place (its name is fixed), so the manifest first
//! names the new bytes as `pending` beside the current ones: a reader accepts either, and
//! nothing else, so after a crash at any instant it finds the old value or the new one, whole,
//! and a damaged object (a flipped byte, a truncation) is [`CheckpointError::Corrupt`].
//!
//! # Carrying the checkpoint forward
//!
//! Propeller points `--prev-checkpoint` at the previous attempt's prefix only. So that an
//! attempt that commits nothing still hands on what it started from (as on one machine, where
//! `read` returns the last checkpoint *any* earlier attempt committed), opening copies the base
//! into the attempt's own prefix (in the store, without downloading it) unless that prefix
//! holds a checkpoint already.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use flyte_runtime::backend::{self, Kind, Manifest, ManifestEntry, Source};
use flyte_runtime::{Checkpoint, CheckpointBackend, CheckpointError};

use crate::storage::{Location, StorageError};

/// The object flytekit's checkpointer writes a single value to, and so do we.
pub const BYTES_OBJECT: &str = "_dst_cp";
/// The manifest's object, written last by every commit.
pub const MANIFEST_OBJECT: &str = ".flytekit-manifest";
const FORMAT: &str = "flytekit-checkpoint 1";

/// A checkpoint kept under object-store prefixes. Build one with [`ObjectStoreCheckpoint::open`]
/// and hand it to the task as [`Checkpoint::from_backend`], or use [`checkpoint`].
pub struct ObjectStoreCheckpoint {
    dest: Location,
    dest_path: PathBuf,
    base: Option<Base>,
    warnings: Vec<String>,
    state: Mutex<State>,
}

/// The checkpoint this attempt started from.
struct Base {
    at: Location,
    path: PathBuf,
    current: Current,
    /// When `prev` is the destination itself, the base's bytes, read before the first commit
    /// overwrites `_dst_cp`.
    kept: std::sync::OnceLock<Vec<u8>>,
}

/// What a prefix's manifest says is there.
#[derive(Clone, Debug, PartialEq)]
enum Current {
    /// `_dst_cp`, with the CRC-32 and length it must have (or, while a commit is in flight,
    /// those of the value replacing it).
    Bytes {
        seq: u64,
        sum: (u32, u64),
        pending: Option<(u32, u64)>,
    },
    /// `_dst_cp` as flytekit writes it: no manifest, no checksum.
    Unverified,
    /// The entries under `ckpt-<seq>/`.
    Tree { seq: u64, entries: Vec<ManifestEntryText> },
}

/// A CRC-32 and a length.
type Sum = (u32, u64);

/// A manifest entry kept as its line (so that `Current` can be cloned and compared).
type ManifestEntryText = String;

struct State {
    /// Whether the destination was looked at: when there is nothing to carry forward, not
    /// before the first commit (most tasks never commit a checkpoint, and a task container's
    /// start-up should not wait for requests it does not need).
    looked_up: bool,
    /// What the destination's manifest names now, if anything.
    current: Option<Current>,
    /// The next sequence number.
    next: u64,
    /// Whether this attempt has removed what a crashed commit may have left in the destination.
    swept: bool,
}

/// `--prev-checkpoint` as propeller renders it: `""` (the two characters, on a first attempt),
/// an empty string, or a template variable left unrendered (`{{.prevCheckpointPrefix}}`) mean
/// none.
pub fn prev_checkpoint(arg: &str) -> Option<&str> {
    let arg = arg.trim();
    let none = arg.is_empty() || arg == "\"\"" || arg == "''" || (arg.starts_with("{{") && arg.ends_with("}}"));
    (!none).then_some(arg)
}

/// The task's [`Checkpoint`] for an attempt that commits under `checkpoint_path` and starts from
/// `prev` (already filtered through [`prev_checkpoint`]).
pub fn checkpoint(checkpoint_path: &str, prev: Option<&str>) -> Result<Checkpoint, CheckpointError> {
    Ok(Checkpoint::from_backend(ObjectStoreCheckpoint::open(
        checkpoint_path,
        prev,
    )?))
}

fn uri_error(uri: &str, e: StorageError) -> CheckpointError {
    CheckpointError::Io {
        op: "open",
        path: PathBuf::from(uri),
        source: e.into_io(),
    }
}

fn store_error(op: &'static str, at: &Location, e: StorageError) -> CheckpointError {
    CheckpointError::Io {
        op,
        path: at.as_path(),
        source: e.into_io(),
    }
}

fn corrupt(at: &Location, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt {
        path: at.as_path(),
        reason: reason.into(),
    }
}

fn folder(seq: u64) -> String {
    format!("ckpt-{seq:016}")
}

impl ObjectStoreCheckpoint {
    /// Opens the attempt's checkpoint: reads what `prev` holds (the manifest only; the data is
    /// checked when read or restored) and carries it forward into `checkpoint_path` unless that
    /// already holds a checkpoint.
    pub fn open(checkpoint_path: &str, prev: Option<&str>) -> Result<ObjectStoreCheckpoint, CheckpointError> {
        let dest = Location::parse(checkpoint_path).map_err(|e| uri_error(checkpoint_path, e))?;
        let mut warnings = Vec::new();
        let base = match prev {
            Some(prev) => {
                let at = Location::parse(prev).map_err(|e| uri_error(prev, e))?;
                read_current(&at, &mut warnings)?.map(|current| Base {
                    path: at.as_path(),
                    at,
                    current,
                    kept: std::sync::OnceLock::new(),
                })
            }
            None => None,
        };
        // The destination matters now only if there is something to carry into it.
        let (looked_up, dest_current) = match &base {
            Some(base) if base.at.same_place(&dest) => (true, Some(base.current.clone())),
            Some(_) => (true, read_current(&dest, &mut Vec::new())?),
            None => (false, None),
        };
        let next = [&dest_current, &base.as_ref().map(|b| b.current.clone())]
            .into_iter()
            .flatten()
            .map(|c| c.seq() + 1)
            .max()
            .unwrap_or(0);
        let mut cp = ObjectStoreCheckpoint {
            dest_path: dest.as_path(),
            dest,
            base,
            warnings,
            state: Mutex::new(State {
                looked_up,
                current: dest_current,
                next,
                swept: false,
            }),
        };
        cp.carry_forward()?;
        Ok(cp)
    }

    /// Copies the base into the destination when the destination holds no checkpoint. The
    /// attempt still reads from `prev`, which nothing writes any more, so that its own commits
    /// do not change what it started from.
    fn carry_forward(&mut self) -> Result<(), CheckpointError> {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some(base) = &self.base else { return Ok(()) };
        if state.current.is_some() || base.at.same_place(&self.dest) {
            return Ok(());
        }
        let rels = match &base.current {
            Current::Bytes { .. } | Current::Unverified => vec![BYTES_OBJECT.to_owned()],
            Current::Tree { seq, entries } => parse_entries(&base.at, entries)?
                .entries
                .iter()
                .filter(|e| matches!(e.kind, Kind::File { .. }))
                .map(|e| format!("{}/{}", folder(*seq), rel_text(&e.path)))
                .collect(),
        };
        for rel in rels {
            let from = base.at.join(&rel);
            match from.copy_to(&self.dest.join(&rel)) {
                Ok(()) => {}
                // Damage shows when the base is read or restored; it is not handed on.
                Err(StorageError::NotFound { .. }) => {
                    self.warnings.push(format!(
                        "{} is missing: the checkpoint it belongs to is damaged and is not carried forward to {}",
                        from.uri(),
                        self.dest.uri()
                    ));
                    return Ok(());
                }
                Err(e) => return Err(store_error("carry forward", &from, e)),
            }
        }
        let current = match &base.current {
            // What flytekit wrote gets no checksum by being copied: it stays unverified.
            Current::Unverified => None,
            c => Some(c.clone()),
        };
        if let Some(current) = &current {
            write_manifest(&self.dest, current)?;
        }
        state.current = current.or(Some(Current::Unverified));
        Ok(())
    }

    /// Looks at the destination before the first commit, if opening did not.
    fn look_up(&self, state: &mut State) -> Result<(), CheckpointError> {
        if !state.looked_up {
            state.current = read_current(&self.dest, &mut Vec::new())?;
            if let Some(current) = &state.current {
                state.next = state.next.max(current.seq() + 1);
            }
            state.looked_up = true;
        }
        Ok(())
    }

    /// Reads the base's bytes into memory before the first commit overwrites them, when `prev`
    /// is the destination itself (propeller never passes that; a test or a script may).
    fn keep_base(&self) -> Result<(), CheckpointError> {
        match &self.base {
            Some(base)
                if base.at.same_place(&self.dest)
                    && base.kept.get().is_none()
                    && matches!(base.current, Current::Bytes { .. } | Current::Unverified) =>
            {
                let bytes = self.read()?.unwrap_or_default();
                let _ = base.kept.set(bytes);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Removes, at the first commit, what a crashed commit of an earlier process may have left
    /// in the destination, and after each commit what the previous one left: everything but
    /// the manifest and the objects `keep` names.
    fn sweep(&self, keep: &Current) -> Result<(), CheckpointError> {
        let keep_prefix = match keep {
            Current::Tree { seq, .. } => Some(format!("{}/", folder(*seq))),
            _ => None,
        };
        // When `prev` is the destination itself, the base's folder stays for `restore`.
        let base_prefix = match &self.base {
            Some(Base {
                at,
                current: Current::Tree { seq, .. },
                ..
            }) if at.same_place(&self.dest) => Some(format!("{}/", folder(*seq))),
            _ => None,
        };
        let found = self
            .dest
            .list_objects()
            .map_err(|e| store_error("list", &self.dest, e))?;
        for (rel, at) in found {
            let kept = rel == MANIFEST_OBJECT
                || base_prefix.as_ref().is_some_and(|p| rel.starts_with(p))
                || match &keep_prefix {
                    Some(prefix) => rel.starts_with(prefix),
                    None => rel == BYTES_OBJECT,
                };
            if !kept {
                at.delete().map_err(|e| store_error("delete", &at, e))?;
            }
        }
        Ok(())
    }
}

impl Current {
    fn seq(&self) -> u64 {
        match self {
            Current::Bytes { seq, .. } | Current::Tree { seq, .. } => *seq,
            Current::Unverified => 0,
        }
    }

    fn text(&self) -> String {
        match self {
            Current::Bytes { seq, sum, pending } => {
                let mut text = format!("{FORMAT}\nseq {seq}\nbytes {:08x} {}\n", sum.0, sum.1);
                if let Some((crc, len)) = pending {
                    text.push_str(&format!("pending {crc:08x} {len}\n"));
                }
                text
            }
            Current::Tree { seq, entries } => {
                let mut text = format!("{FORMAT}\nseq {seq}\ntree {}\n", folder(*seq));
                for line in entries {
                    text.push_str(line);
                    text.push('\n');
                }
                text
            }
            Current::Unverified => String::new(),
        }
    }

    fn parse(at: &Location, text: &str) -> Result<Current, CheckpointError> {
        let bad = |what: &str| corrupt(at, format!("bad manifest: {what}"));
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Err(bad(&format!("its first line is not `{FORMAT}`")));
        }
        let seq: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("seq "))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no `seq` line"))?;
        let kind = lines.next().ok_or_else(|| bad("no kind line"))?;
        if let Some(rest) = kind.strip_prefix("bytes ") {
            let sum = sum_of(rest).ok_or_else(|| bad(&format!("bad line `{kind}`")))?;
            let pending = match lines.next() {
                None => None,
                Some(line) => Some(
                    line.strip_prefix("pending ")
                        .and_then(sum_of)
                        .ok_or_else(|| bad(&format!("bad line `{line}`")))?,
                ),
            };
            if let Some(extra) = lines.next() {
                return Err(bad(&format!("unexpected line `{extra}`")));
            }
            Ok(Current::Bytes { seq, sum, pending })
        } else if let Some(name) = kind.strip_prefix("tree ") {
            if name != folder(seq) {
                return Err(bad(&format!("tree `{name}` is not the folder of seq {seq}")));
            }
            let entries: Vec<String> = lines.map(str::to_owned).collect();
            // Checked now: paths that would leave a restore's target are refused here.
            parse_entries(at, &entries)?;
            Ok(Current::Tree { seq, entries })
        } else {
            Err(bad(&format!("unknown kind line `{kind}`")))
        }
    }
}

fn sum_of(line: &str) -> Option<(u32, u64)> {
    let (crc, len) = line.split_once(' ')?;
    Some((u32::from_str_radix(crc, 16).ok()?, len.parse().ok()?))
}

fn parse_entries(at: &Location, lines: &[String]) -> Result<Manifest, CheckpointError> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    Manifest::parse(&at.join(MANIFEST_OBJECT).as_path(), &text)
}

/// A manifest path as the `/`-separated text object keys use.
fn rel_text(path: &Path) -> String {
    path.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// What `at` holds: its manifest's checkpoint, a lone `_dst_cp` as flytekit leaves it, or none.
/// Anything else without a manifest is an unfinished commit (or not ours): none, with a warning.
fn read_current(at: &Location, warnings: &mut Vec<String>) -> Result<Option<Current>, CheckpointError> {
    let manifest = at.join(MANIFEST_OBJECT);
    if let Some(bytes) = manifest
        .read_if_exists()
        .map_err(|e| store_error("read", &manifest, e))?
    {
        let text = String::from_utf8(bytes).map_err(|_| corrupt(&manifest, "bad manifest: not UTF-8"))?;
        return Current::parse(&manifest, &text).map(Some);
    }
    let found = at.list().map_err(|e| store_error("list", at, e))?;
    match &found[..] {
        [] => Ok(None),
        [only] if only == BYTES_OBJECT => Ok(Some(Current::Unverified)),
        _ => {
            warnings.push(format!(
                "{} holds {} objects but no {MANIFEST_OBJECT}: an unfinished commit, not a checkpoint; starting without it",
                at.uri(),
                found.len()
            ));
            Ok(None)
        }
    }
}

fn write_manifest(dest: &Location, current: &Current) -> Result<(), CheckpointError> {
    let at = dest.join(MANIFEST_OBJECT);
    at.write(current.text().as_bytes())
        .map_err(|e| store_error("commit", &at, e))
}

impl Base {
    /// Checks `found` against what the manifest says the object `at` must be.
    fn check_bytes(&self, at: &Location, found: (u32, u64)) -> Result<(), CheckpointError> {
        match &self.current {
            Current::Bytes { sum, pending, .. } if found != *sum && Some(found) != *pending => Err(corrupt(
                at,
                format!(
                    "does not match its manifest ({} bytes, CRC-32 {:08x}; expected {} bytes, CRC-32 {:08x})",
                    found.1, found.0, sum.1, sum.0
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The single file of a tree checkpoint, with its checksum.
    fn only_file(&self) -> Result<Option<(Location, Sum)>, CheckpointError> {
        let Current::Tree { seq, entries } = &self.current else {
            return Ok(None);
        };
        let manifest = parse_entries(&self.at, entries)?;
        match &manifest.entries[..] {
            [ManifestEntry {
                path,
                kind: Kind::File { crc, len },
            }] => Ok(Some((
                self.at.join(&format!("{}/{}", folder(*seq), rel_text(path))),
                (*crc, *len),
            ))),
            _ => Err(CheckpointError::NotBytes {
                path: self.path.clone(),
            }),
        }
    }
}

/// Streams `at` into `sink`, returning its CRC-32 and length.
fn stream_from(
    at: &Location,
    mut sink: impl FnMut(&[u8]) -> Result<(), CheckpointError> + Send,
) -> Result<(u32, u64), CheckpointError> {
    let mut hasher = crc32fast::Hasher::new();
    let mut len = 0u64;
    at.read_each(|_, chunk| {
        hasher.update(chunk);
        len += chunk.len() as u64;
        sink(chunk)
    })
    .map_err(|e| store_error("read", at, e))??;
    Ok((hasher.finalize(), len))
}

impl CheckpointBackend for ObjectStoreCheckpoint {
    fn location(&self) -> &Path {
        &self.dest_path
    }

    fn base(&self) -> Option<&Path> {
        self.base.as_ref().map(|b| b.path.as_path())
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn read(&self) -> Result<Option<Vec<u8>>, CheckpointError> {
        let Some(base) = &self.base else { return Ok(None) };
        if let Some(kept) = base.kept.get() {
            return Ok(Some(kept.clone()));
        }
        let (at, expected) = match base.only_file()? {
            Some((at, sum)) => (at, Some(sum)),
            None => (base.at.join(BYTES_OBJECT), None),
        };
        let bytes = at.read().map_err(|e| match e {
            StorageError::NotFound { .. } => corrupt(&at, "missing: its manifest names it"),
            e => store_error("read", &at, e),
        })?;
        let found = (crc32fast::hash(&bytes), bytes.len() as u64);
        match expected {
            Some(sum) if sum != found => return Err(corrupt(&at, "does not match its manifest")),
            Some(_) => {}
            None => base.check_bytes(&at, found)?,
        }
        Ok(Some(bytes))
    }

    fn write(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.look_up(&mut state)?;
        self.keep_base()?;
        let sum = (crc32fast::hash(bytes), bytes.len() as u64);
        let seq = state.next;
        // `_dst_cp` is overwritten in place: name the new value as pending first, so that a
        // reader accepts the object whichever of the two it finds.
        if let Some(Current::Bytes { seq, sum: old, .. }) = &state.current {
            let pending = Current::Bytes {
                seq: *seq,
                sum: *old,
                pending: Some(sum),
            };
            write_manifest(&self.dest, &pending)?;
        }
        let at = self.dest.join(BYTES_OBJECT);
        at.write(bytes).map_err(|e| store_error("write", &at, e))?;
        let current = Current::Bytes {
            seq,
            sum,
            pending: None,
        };
        write_manifest(&self.dest, &current)?;
        let was_bytes = matches!(state.current, Some(Current::Bytes { .. }));
        if !state.swept || !was_bytes {
            self.sweep(&current)?;
            state.swept = true;
        }
        tracing::debug!(event = "checkpoint_committed", path = %self.dest.uri(), seq, "checkpoint committed");
        state.current = Some(current);
        state.next = seq + 1;
        Ok(())
    }

    fn save(&self, src: &Path) -> Result<(), CheckpointError> {
        let found = backend::walk(src)?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.look_up(&mut state)?;
        let seq = state.next;
        let root = self.dest.join(&folder(seq));
        let mut manifest = Manifest::default();
        for (rel, source) in found {
            let kind = match source {
                Source::Dir => Kind::Dir,
                Source::Link(target) => Kind::Link { target },
                Source::File(from) => {
                    let at = root.join(&rel_text(&rel));
                    let (crc, len) = upload_file(&from, &at)?;
                    Kind::File { crc, len }
                }
            };
            manifest.entries.push(ManifestEntry { path: rel, kind });
        }
        let current = Current::Tree {
            seq,
            entries: manifest.text().lines().map(str::to_owned).collect(),
        };
        write_manifest(&self.dest, &current)?;
        self.sweep(&current)?;
        state.swept = true;
        tracing::debug!(event = "checkpoint_committed", path = %root.uri(), seq, "checkpoint committed");
        state.current = Some(current);
        state.next = seq + 1;
        Ok(())
    }

    fn restore(&self, dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
        let Some(base) = &self.base else { return Ok(None) };
        if let Some(kept) = base.kept.get() {
            return backend::restore_into(dir, [OsStr::new(backend::BYTES_FILE)], |staging| {
                let to = staging.join(backend::BYTES_FILE);
                fs::write(&to, kept).map_err(|e| io_error(&to, e))
            })
            .map(Some);
        }
        match &base.current {
            Current::Tree { seq, entries } => {
                let manifest = parse_entries(&base.at, entries)?;
                let top: Vec<&OsStr> = manifest.entries.iter().filter_map(|e| e.path.iter().next()).collect();
                let root = base.at.join(&folder(*seq));
                backend::restore_into(dir, top, |staging| {
                    for entry in &manifest.entries {
                        let to = staging.join(&entry.path);
                        if let Some(parent) = to.parent() {
                            fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                        }
                        match &entry.kind {
                            Kind::Dir => fs::create_dir_all(&to).map_err(|e| io_error(&to, e))?,
                            Kind::Link { target } => backend::symlink(target, &to).map_err(|e| io_error(&to, e))?,
                            Kind::File { crc, len } => {
                                let at = root.join(&rel_text(&entry.path));
                                let found = download(&at, &to)?;
                                if found != (*crc, *len) {
                                    return Err(corrupt(&at, "does not match its manifest"));
                                }
                            }
                        }
                    }
                    Ok(())
                })
                .map(Some)
            }
            _ => {
                let at = base.at.join(BYTES_OBJECT);
                backend::restore_into(dir, [OsStr::new(backend::BYTES_FILE)], |staging| {
                    let found = download(&at, &staging.join(backend::BYTES_FILE))?;
                    base.check_bytes(&at, found)
                })
                .map(Some)
            }
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> CheckpointError {
    CheckpointError::Io {
        op: "restore",
        path: path.to_path_buf(),
        source,
    }
}

/// Streams the object `at` into a new file `to`; its CRC-32 and length.
fn download(at: &Location, to: &Path) -> Result<(u32, u64), CheckpointError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| io_error(to, e))?;
    stream_from(at, |chunk| file.write_all(chunk).map_err(|e| io_error(to, e))).map_err(|e| match e {
        CheckpointError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            corrupt(at, "missing: its manifest names it")
        }
        e => e,
    })
}

/// Streams the file `from` to the object `at` in parts; its CRC-32 and length.
fn upload_file(from: &Path, at: &Location) -> Result<(u32, u64), CheckpointError> {
    use std::io::Read;
    let save_error = |e| CheckpointError::Io {
        op: "save",
        path: from.to_path_buf(),
        source: e,
    };
    let mut file = fs::File::open(from).map_err(save_error)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut len = 0u64;
    at.write_from(|| {
        let mut part = vec![0u8; crate::storage::PART_SIZE];
        let mut filled = 0;
        while filled < part.len() {
            match file.read(&mut part[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(save_error(e)),
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        part.truncate(filled);
        hasher.update(&part);
        len += filled as u64;
        Ok(Some(Bytes::from(part)))
    })
    .map_err(|e| store_error("save", at, e))??;
    Ok((hasher.finalize(), len))
}
