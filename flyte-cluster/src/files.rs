//! Files and directories ([`FlyteFile`](flyte_runtime::FlyteFile),
//! [`FlyteDirectory`](flyte_runtime::FlyteDirectory)) crossing a task container, as flytekit
//! moves them: each input is downloaded before the task starts, and each output that is only
//! local is uploaded under `--raw-output-data-prefix` after it ends. Both are streamed in
//! parts of at most [`PART_SIZE`], so that a file of any size costs
//! a few parts of memory, never its size.
//!
//! A value is walked along its [`Type`]: a file may be an input or output itself, or sit in a
//! list, a map, an optional or a struct's field. A value whose type holds no file is passed on
//! untouched (not even decoded).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ciborium::Value as Cbor;
use flyte_runtime::{Encoded, Type};

use crate::storage::{Location, StorageError, PART_SIZE};

/// Why a file could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Object storage failed, or the file's URI is not one it reads.
    #[error("the file {at}: {source}")]
    Storage {
        /// Which input or output, and where in it (`data`, `files[2]`).
        at: String,
        /// What the store said.
        source: StorageError,
    },
    /// The local file could not be read or written.
    #[error("the file {at} ({path}): {source}")]
    Local {
        /// Which input or output, and where in it.
        at: String,
        /// The local path.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The value is not what its type says (a bug of the caller's, or a hand-written serde impl).
    #[error("{at}: {message}")]
    Value {
        /// Which input or output.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// Whether a value of `ty` can hold a file.
pub fn holds_files(ty: &Type) -> bool {
    match ty {
        Type::File | Type::Directory => true,
        Type::Collection(inner) | Type::Dict(inner) | Type::Optional(inner) => holds_files(inner),
        Type::Struct {
            fields: Some(fields), ..
        } => fields.iter().any(|(_, ty)| holds_files(ty)),
        _ => false,
    }
}

/// A file or a directory, as the value's type says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
}

/// Downloads every file and directory in `values` (the inputs, named and typed by `slots`)
/// into `dir`, and gives the values with each one's path the local copy's. Each keeps its URI
/// as its remote, so that passing it on uploads nothing.
pub fn download_inputs(values: Vec<Encoded>, slots: &[(&str, &Type)], dir: &Path) -> Result<Vec<Encoded>, FileError> {
    let mut count = 0usize;
    rewrite(values, slots, |kind, at, remote, _path| {
        let remote = remote.ok_or_else(|| FileError::Value {
            at: at.to_owned(),
            message: "an input without a URI".to_owned(),
        })?;
        let storage = |source: StorageError| FileError::Storage {
            at: at.to_owned(),
            source,
        };
        let from = Location::parse(remote).map_err(storage)?;
        // One directory each, so that two of the same name do not collide and each keeps its
        // name (a task may look at the extension).
        count += 1;
        let local = dir.join(count.to_string()).join(file_name(remote));
        match kind {
            Kind::File => download(&from, &local, at)?,
            Kind::Directory => {
                fs::create_dir_all(&local).map_err(|source| local_error(at, &local, source))?;
                for (rel, object) in from.list_objects().map_err(storage)? {
                    download(&object, &local.join(relative(&rel, at)?), at)?;
                }
            }
        }
        Ok(Some((local, remote.to_owned())))
    })
}

/// Uploads every file and directory in `values` (the outputs, named and typed by `slots`)
/// that has no remote: a file to `raw_prefix/<output>/<n>/<file name>`, a directory's files to
/// their paths under `raw_prefix/<output>/<n>/<directory name>`; and gives the values with
/// each one's remote set to where it went. One that has a remote (an input passed on) is left
/// as it is.
pub fn upload_outputs(
    values: Vec<Encoded>,
    slots: &[(&str, &Type)],
    raw_prefix: &str,
) -> Result<Vec<Encoded>, FileError> {
    let mut count = 0usize;
    rewrite(values, slots, |kind, at, remote, path| {
        if remote.is_some() {
            return Ok(None);
        }
        let local = PathBuf::from(path);
        count += 1;
        let output = at.split(['[', '.']).next().unwrap_or(at);
        let to = Location::parse(raw_prefix)
            .map_err(|source| FileError::Storage {
                at: at.to_owned(),
                source,
            })?
            .join(&format!("{output}/{count}/{}", file_name(path)));
        match kind {
            Kind::File => upload(&local, &to, at)?,
            Kind::Directory => {
                let mut files = Vec::new();
                tree(&local, "", &mut files, at)?;
                for (rel, file) in files {
                    upload(&file, &to.join(&rel), at)?;
                }
            }
        }
        Ok(Some((local, to.uri().to_owned())))
    })
}

fn local_error(at: &str, path: &Path, source: std::io::Error) -> FileError {
    FileError::Local {
        at: at.to_owned(),
        path: path.to_owned(),
        source,
    }
}

/// Streams the object at `from` into a new file at `to`. Not synced: it is the attempt's
/// scratch copy, which a next attempt downloads again.
fn download(from: &Location, to: &Path, at: &str) -> Result<(), FileError> {
    let io = |source| local_error(at, to, source);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = fs::File::create(to).map_err(io)?;
    from.read_each(|_, piece| file.write_all(piece))
        .map_err(|source| FileError::Storage {
            at: at.to_owned(),
            source,
        })?
        .map_err(io)
}

/// Streams the file at `from` to the object at `to`, in parts of [`PART_SIZE`].
fn upload(from: &Path, to: &Location, at: &str) -> Result<(), FileError> {
    let io = |source| local_error(at, from, source);
    let mut file = fs::File::open(from).map_err(io)?;
    // What is left to read, as the file's size says: a small file's one part is its size, not
    // a whole part's. A file that grows meanwhile is read on, a part at a time, to its end.
    let mut left = file.metadata().map_err(io)?.len();
    to.write_from(|| {
        // A buffer per part, handed over whole: no part is copied.
        let size = match usize::try_from(left) {
            // At the size's end: a small read that finds the end, or what the file grew by.
            Ok(0) => 64 << 10,
            Ok(left) => left.min(PART_SIZE),
            Err(_) => PART_SIZE,
        };
        let mut part = vec![0u8; size];
        let n = read_full(&mut file, &mut part)?;
        left = left.saturating_sub(n as u64);
        part.truncate(n);
        Ok::<_, std::io::Error>((n > 0).then(|| Bytes::from(part)))
    })
    .map_err(|source| FileError::Storage {
        at: at.to_owned(),
        source,
    })?
    .map_err(io)
}

/// A listed object's path relative to the directory's prefix, as a relative local path: only
/// plain names, so that a download cannot write outside its directory.
fn relative(rel: &str, at: &str) -> Result<PathBuf, FileError> {
    let mut path = PathBuf::new();
    for part in rel.split('/') {
        let plain = !part.is_empty() && Path::new(part).file_name().is_some_and(|n| n == part);
        if !plain {
            return Err(FileError::Value {
                at: at.to_owned(),
                message: format!("the directory holds an object `{rel}` that is not a plain relative path"),
            });
        }
        path.push(part);
    }
    Ok(path)
}

/// Every file under `dir` (following links to files), with its `/`-separated path under it.
/// A link to a directory is refused rather than followed, which could loop.
fn tree(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>, at: &str) -> Result<(), FileError> {
    let io = |source| local_error(at, dir, source);
    let mut entries = fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| FileError::Value {
            at: at.to_owned(),
            message: format!("{} is not a UTF-8 name", path.display()),
        })?;
        let rel = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let link = entry.file_type().map_err(io)?.is_symlink();
        let meta = fs::metadata(&path).map_err(|source| local_error(at, &path, source))?;
        if meta.is_dir() && link {
            return Err(local_error(
                at,
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a link to a directory is not uploaded: copy the directory in",
                ),
            ));
        } else if meta.is_dir() {
            tree(&path, &rel, out, at)?;
        } else {
            out.push((rel, path));
        }
    }
    Ok(())
}

/// The last part of a path or URI: the file's name, or `file` for one that has none.
fn file_name(path_or_uri: &str) -> &str {
    path_or_uri
        .rsplit('/')
        .find(|part| !part.is_empty() && *part != "." && *part != "..")
        .unwrap_or("file")
}

/// Reads until `buffer` is full or the file ends.
fn read_full(file: &mut fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What to do with one file or directory: given which it is, where in the value (`at`), its
/// remote and its path, the new path and remote, or `None` to leave it.
type Visit<'a> = dyn FnMut(Kind, &str, Option<&str>, &str) -> Result<Option<(PathBuf, String)>, FileError> + 'a;

/// `values` with `visit` applied to every file in them.
fn rewrite(
    values: Vec<Encoded>,
    slots: &[(&str, &Type)],
    mut visit: impl FnMut(Kind, &str, Option<&str>, &str) -> Result<Option<(PathBuf, String)>, FileError>,
) -> Result<Vec<Encoded>, FileError> {
    values
        .into_iter()
        .zip(slots)
        .map(|(value, &(name, ty))| {
            if !holds_files(ty) {
                return Ok(value);
            }
            let invalid = |message: String| FileError::Value {
                at: name.to_owned(),
                message,
            };
            let mut cbor: Cbor = value.decode().map_err(|e| invalid(e.to_string()))?;
            drop(value);
            walk(&mut cbor, ty, name.to_owned(), &mut visit)?;
            Encoded::encode(&cbor).map_err(|e| invalid(e.to_string()))
        })
        .collect()
}

fn walk(v: &mut Cbor, ty: &Type, at: String, visit: &mut Visit<'_>) -> Result<(), FileError> {
    match (ty, v) {
        (Type::File | Type::Directory, Cbor::Map(entries)) => {
            let kind = if *ty == Type::File { Kind::File } else { Kind::Directory };
            let text = |entries: &[(Cbor, Cbor)], name: &str| {
                entries.iter().find_map(|(k, v)| match (k, v) {
                    (Cbor::Text(k), Cbor::Text(v)) if k == name => Some(v.clone()),
                    _ => None,
                })
            };
            let path = text(entries, "path").ok_or_else(|| FileError::Value {
                at: at.clone(),
                message: format!("a {ty} whose path is not text"),
            })?;
            let remote = text(entries, "remote");
            if let Some((path, remote)) = visit(kind, &at, remote.as_deref(), &path)? {
                let path = path.to_str().ok_or_else(|| FileError::Value {
                    at: at.clone(),
                    message: format!("the local path {} is not UTF-8", path.display()),
                })?;
                *entries = vec![
                    (Cbor::Text("path".into()), Cbor::Text(path.to_owned())),
                    (Cbor::Text("remote".into()), Cbor::Text(remote)),
                ];
            }
            Ok(())
        }
        (Type::File | Type::Directory, _) => Err(FileError::Value {
            at,
            message: format!("a {ty} that is not a FlyteFile's or FlyteDirectory's serde form"),
        }),
        (Type::Collection(item), Cbor::Array(items)) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, x)| walk(x, item, format!("{at}[{i}]"), visit)),
        (Type::Dict(value), Cbor::Map(entries)) => entries.iter_mut().try_for_each(|(k, x)| {
            let key = match k {
                Cbor::Text(k) => k.as_str(),
                _ => "?",
            };
            walk(x, value, format!("{at}[{key:?}]"), visit)
        }),
        (Type::Optional(_), Cbor::Null) => Ok(()),
        (Type::Optional(inner), v) => walk(v, inner, at, visit),
        (
            Type::Struct {
                fields: Some(fields), ..
            },
            Cbor::Map(entries),
        ) => entries.iter_mut().try_for_each(|(k, x)| {
            let field = match k {
                Cbor::Text(k) => fields.iter().find(|(name, _)| name == k),
                _ => None,
            };
            match field {
                Some((name, ty)) => walk(x, ty, format!("{at}.{name}"), visit),
                None => Ok(()),
            }
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyte_runtime::FlyteFile;

    fn uri(dir: &Path) -> String {
        format!("file://{}", dir.display())
    }

    #[test]
    fn files_anywhere_in_a_value_go_up_and_come_back_down_with_their_bytes() {
        let work = tempfile::tempdir().unwrap();
        let a = work.path().join("a.csv");
        let b = work.path().join("b.bin");
        fs::write(&a, "x,y\n1,2\n").unwrap();
        // Larger than a part, so that the upload takes several.
        let big: Vec<u8> = (0..PART_SIZE + 12345).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&b, &big).unwrap();
        let ty = Type::Dict(Box::new(Type::Collection(Box::new(Type::optional(Type::File)))));
        let value: std::collections::BTreeMap<String, Vec<Option<FlyteFile>>> = [(
            "k".to_owned(),
            vec![Some(FlyteFile::new(&a)), None, Some(FlyteFile::new(&b))],
        )]
        .into();
        let raw = work.path().join("raw");
        let slots = [("o0", &ty)];

        let up = upload_outputs(vec![Encoded::encode(&value).unwrap()], &slots, &uri(&raw)).unwrap();
        let up: std::collections::BTreeMap<String, Vec<Option<FlyteFile>>> = up[0].decode().unwrap();
        let files = &up["k"];
        let remote_a = files[0].as_ref().unwrap().remote().unwrap().to_owned();
        let remote_b = files[2].as_ref().unwrap().remote().unwrap().to_owned();
        assert_eq!(remote_a, format!("{}/o0/1/a.csv", uri(&raw)));
        assert_eq!(remote_b, format!("{}/o0/2/b.bin", uri(&raw)));
        assert_eq!(fs::read(raw.join("o0/2/b.bin")).unwrap(), big);
        assert_eq!(files[1], None);

        // Once uploaded, a file is not uploaded again.
        let again = upload_outputs(
            vec![Encoded::encode(&up).unwrap()],
            &slots,
            &uri(&work.path().join("raw2")),
        );
        assert_eq!(
            again.unwrap()[0]
                .decode::<std::collections::BTreeMap<String, Vec<Option<FlyteFile>>>>()
                .unwrap(),
            up
        );
        assert!(!work.path().join("raw2").exists());

        // Down: each its own directory, with its name and bytes, its remote kept.
        let inputs = work.path().join("inputs");
        let down = download_inputs(vec![Encoded::encode(&up).unwrap()], &[("files", &ty)], &inputs).unwrap();
        let down: std::collections::BTreeMap<String, Vec<Option<FlyteFile>>> = down[0].decode().unwrap();
        let got_a = down["k"][0].as_ref().unwrap();
        let got_b = down["k"][2].as_ref().unwrap();
        assert_eq!(got_a.path(), inputs.join("1/a.csv"));
        assert_eq!(got_b.path(), inputs.join("2/b.bin"));
        assert_eq!(got_a.remote(), Some(remote_a.as_str()));
        assert_eq!(fs::read_to_string(got_a.path()).unwrap(), "x,y\n1,2\n");
        assert_eq!(fs::read(got_b.path()).unwrap(), big);
    }

    #[test]
    fn a_value_without_files_is_passed_on_untouched_and_a_missing_file_is_named() {
        let work = tempfile::tempdir().unwrap();
        let plain = Encoded::encode(&vec![1u64, 2]).unwrap();
        let list = Type::Collection(Box::new(Type::Integer));
        let out = upload_outputs(vec![plain.clone()], &[("o0", &list)], &uri(work.path())).unwrap();
        assert_eq!(out, [plain]);

        let missing = work.path().join("gone.txt");
        let err = upload_outputs(
            vec![Encoded::encode(&FlyteFile::new(&missing)).unwrap()],
            &[("o1", &Type::File)],
            &uri(work.path()),
        )
        .unwrap_err();
        assert!(
            matches!(&err, FileError::Local { at, path, source } if at == "o1" && *path == missing && source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );

        let err = download_inputs(
            vec![Encoded::encode(&FlyteFile::downloaded("x", format!("{}/nothing", uri(work.path())))).unwrap()],
            &[("data", &Type::File)],
            &work.path().join("in"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, FileError::Storage { at, source: StorageError::NotFound { .. } } if at == "data"),
            "{err:?}"
        );
    }

    #[test]
    fn a_directory_goes_up_and_comes_back_down_as_the_same_tree() {
        use flyte_runtime::FlyteDirectory;
        let work = tempfile::tempdir().unwrap();
        let model = work.path().join("model");
        fs::create_dir_all(model.join("layers/deep")).unwrap();
        fs::create_dir_all(model.join("empty")).unwrap();
        fs::write(model.join("config.json"), "{}").unwrap();
        fs::write(model.join("layers/0.bin"), vec![7u8; PART_SIZE + 3]).unwrap();
        fs::write(model.join("layers/deep/1.bin"), "one").unwrap();
        let ty = Type::Struct {
            name: "Out".into(),
            fields: Some(vec![("n".into(), Type::Integer), ("model".into(), Type::Directory)]),
        };
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Out {
            n: u64,
            model: FlyteDirectory,
        }
        let raw = work.path().join("raw");
        let value = Encoded::encode(&Out {
            n: 3,
            model: FlyteDirectory::new(&model),
        })
        .unwrap();
        let up: Out = upload_outputs(vec![value], &[("o0", &ty)], &uri(&raw)).unwrap()[0]
            .decode()
            .unwrap();
        assert_eq!(up.model.remote(), Some(format!("{}/o0/1/model", uri(&raw)).as_str()));
        let listed = Location::parse(up.model.remote().unwrap()).unwrap().list().unwrap();
        assert_eq!(listed, ["config.json", "layers/0.bin", "layers/deep/1.bin"]);

        let inputs = work.path().join("inputs");
        let down: Out = download_inputs(vec![Encoded::encode(&up).unwrap()], &[("out", &ty)], &inputs).unwrap()[0]
            .decode()
            .unwrap();
        let got = down.model.path();
        assert_eq!(got, inputs.join("1/model"));
        assert_eq!(down.model.remote(), up.model.remote());
        assert_eq!(fs::read_to_string(got.join("config.json")).unwrap(), "{}");
        assert_eq!(fs::read(got.join("layers/0.bin")).unwrap(), vec![7u8; PART_SIZE + 3]);
        assert_eq!(fs::read_to_string(got.join("layers/deep/1.bin")).unwrap(), "one");
        // Object stores have no empty directories: an empty one is not carried.
        assert!(!got.join("empty").exists());
    }

    #[test]
    fn a_link_to_a_directory_is_refused_and_listed_names_must_be_plain() {
        use flyte_runtime::FlyteDirectory;
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("out");
        fs::create_dir_all(&out).unwrap();
        std::os::unix::fs::symlink(work.path(), out.join("up")).unwrap();
        let err = upload_outputs(
            vec![Encoded::encode(&FlyteDirectory::new(&out)).unwrap()],
            &[("o0", &Type::Directory)],
            &uri(&work.path().join("raw")),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("a link to a directory is not uploaded"),
            "{err}"
        );

        for bad in ["../x", "a//b", "./a", "a/.."] {
            assert!(relative(bad, "d").is_err(), "{bad}");
        }
        assert_eq!(relative("a/b.txt", "d").unwrap(), Path::new("a/b.txt"));
    }

    #[test]
    fn names_of_files_come_from_the_last_part() {
        assert_eq!(file_name("s3://b/raw/x/data.csv"), "data.csv");
        assert_eq!(file_name("/tmp/a/"), "a");
        assert_eq!(file_name("s3://b/.."), "b");
        assert_eq!(file_name(".."), "file");
    }
}
