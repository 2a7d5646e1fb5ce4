//! [`FlyteFile`] and [`FlyteDirectory`]: a file or a directory passed between tasks by
//! reference, Flyte's single-part and multi-part blobs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// A file passed between tasks by reference: flytekit's `FlyteFile`, Flyte's blob of one part
/// (`BlobType { format: "", dimensionality: SINGLE }`). Its bytes are never part of the value:
/// a task reads and writes the file at [`path`](Self::path), and what crosses the task
/// boundary is where the file is.
///
/// Locally the path is the file's, as given: a task that returns `FlyteFile::new("out.csv")`
/// hands the next task that path, so keep the file where the next task can read it (a
/// relative path is relative to the process's directory). On a Flyte cluster the task
/// container's `execute` downloads every input file before the task starts, streamed to a
/// local file (never held in memory), so that `path` is a local file there too; and it uploads
/// every output file whose [`remote`](Self::remote) is none under the attempt's
/// `--raw-output-data-prefix`, so that the next task, Rust or Python, can download it. A file
/// that came in as an input and goes out unchanged keeps its remote and is not uploaded again.
///
/// ```
/// use flytekit::{task, FlyteFile, LocalRuntime, Task, Type};
///
/// /// Counts the lines of a file.
/// #[task]
/// fn count_lines(file: FlyteFile) -> Result<u64, std::io::Error> {
///     Ok(std::fs::read_to_string(file.path())?.lines().count() as u64)
/// }
///
/// assert_eq!(count_lines.interface()?.inputs[0].1, Type::File);
///
/// let dir = tempfile::tempdir()?;
/// let notes = dir.path().join("notes.txt");
/// std::fs::write(&notes, "one\ntwo\nthree\n")?;
/// let lines = LocalRuntime::new().run_task(count_lines, FlyteFile::new(&notes))?;
/// assert_eq!(lines, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FlyteFile {
    path: PathBuf,
    remote: Option<String>,
}

impl FlyteFile {
    /// The file at `path`, not yet anywhere else.
    pub fn new(path: impl Into<PathBuf>) -> FlyteFile {
        FlyteFile {
            path: path.into(),
            remote: None,
        }
    }

    /// A file at `path` that is a copy of the object at `remote` (an `s3://`, `gs://`,
    /// `abfs://` or `file://` URI): what `execute` makes of an input file once it has
    /// downloaded it. Returned as an output, it is passed on as `remote`, not uploaded again.
    pub fn downloaded(path: impl Into<PathBuf>, remote: impl Into<String>) -> FlyteFile {
        FlyteFile {
            path: path.into(),
            remote: Some(remote.into()),
        }
    }

    /// A new, empty file named `name` in a directory of its own under the system's temporary
    /// directory, and the file open for writing: a place for an output file that outlives the
    /// task (a `tempfile::TempDir` the task drops would take the file with it before it could
    /// be passed on). The directory is not removed: locally the file is the next task's input.
    ///
    /// ```
    /// use std::io::Write;
    /// use flytekit::{task, FlyteFile, LocalRuntime, TaskError};
    ///
    /// #[task]
    /// fn numbers(n: u64) -> Result<FlyteFile, TaskError> {
    ///     let (file, mut out) = FlyteFile::create("numbers.txt")?;
    ///     for i in 0..n {
    ///         writeln!(out, "{i}")?;
    ///     }
    ///     Ok(file)
    /// }
    ///
    /// let file = LocalRuntime::new().run_task(numbers, 3)?;
    /// assert!(file.path().ends_with("numbers.txt"));
    /// assert_eq!(std::fs::read_to_string(file.path())?, "0\n1\n2\n");
    /// # std::fs::remove_dir_all(file.path().parent().unwrap())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(name: &str) -> std::io::Result<(FlyteFile, std::fs::File)> {
        let plain = Path::new(name).file_name().is_some_and(|n| n == name);
        if !plain {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{name}` is not a plain file name (no directories, not `.` or `..`)"),
            ));
        }
        let dir = tempfile::Builder::new().prefix("flytekit-file-").tempdir()?.keep();
        let path = dir.join(name);
        let file = std::fs::File::create_new(&path)?;
        Ok((FlyteFile::new(path), file))
    }

    /// Where the file is on this machine.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The object the file is a copy of, if it came from or went to object storage.
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_deref()
    }
}

impl AsRef<Path> for FlyteFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl crate::Typed for FlyteFile {
    fn flyte_type() -> crate::Type {
        crate::Type::File
    }
}

/// A directory passed between tasks by reference: flytekit's `FlyteDirectory`, Flyte's
/// multi-part blob (`BlobType { format: "", dimensionality: MULTIPART }`). It is to a directory
/// what [`FlyteFile`] is to a file: locally its path; on a Flyte cluster `execute` downloads an
/// input directory's every object (each to its relative path under a local directory) before
/// the task starts, and uploads an output directory's every file, its tree kept, under the
/// attempt's `--raw-output-data-prefix`, the prefix becoming the value. Files are streamed, so
/// that a directory of any size costs a few parts of memory.
///
/// ```
/// use std::io::Write;
/// use flytekit::{task, FlyteDirectory, LocalRuntime, TaskError};
///
/// /// Writes `n` shards into a new directory.
/// #[task]
/// fn shards(n: u64) -> Result<FlyteDirectory, TaskError> {
///     let dir = FlyteDirectory::create()?;
///     for i in 0..n {
///         std::fs::write(dir.path().join(format!("shard-{i}.txt")), i.to_string())?;
///     }
///     Ok(dir)
/// }
///
/// /// Adds up what the shards hold.
/// #[task]
/// fn total(dir: FlyteDirectory) -> Result<u64, TaskError> {
///     let mut sum = 0;
///     for entry in std::fs::read_dir(dir.path())? {
///         sum += std::fs::read_to_string(entry?.path())?.parse::<u64>()?;
///     }
///     Ok(sum)
/// }
///
/// let dir = LocalRuntime::new().run_task(shards, 4)?;
/// assert_eq!(LocalRuntime::new().run_task(total, dir.clone())?, 6);
/// # std::fs::remove_dir_all(dir.path())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FlyteDirectory {
    path: PathBuf,
    remote: Option<String>,
}

impl FlyteDirectory {
    /// The directory at `path`, not yet anywhere else.
    pub fn new(path: impl Into<PathBuf>) -> FlyteDirectory {
        FlyteDirectory {
            path: path.into(),
            remote: None,
        }
    }

    /// A directory at `path` that is a copy of the objects under the prefix `remote`: what
    /// `execute` makes of an input directory once it has downloaded it. Returned as an output,
    /// it is passed on as `remote`, not uploaded again.
    pub fn downloaded(path: impl Into<PathBuf>, remote: impl Into<String>) -> FlyteDirectory {
        FlyteDirectory {
            path: path.into(),
            remote: Some(remote.into()),
        }
    }

    /// A new, empty directory under the system's temporary directory, for an output: it
    /// outlives the task, as [`FlyteFile::create`]'s files do.
    pub fn create() -> std::io::Result<FlyteDirectory> {
        let dir = tempfile::Builder::new().prefix("flytekit-dir-").tempdir()?.keep();
        Ok(FlyteDirectory::new(dir))
    }

    /// Where the directory is on this machine.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The prefix the directory is a copy of, if it came from or went to object storage.
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_deref()
    }
}

impl AsRef<Path> for FlyteDirectory {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl crate::Typed for FlyteDirectory {
    fn flyte_type() -> crate::Type {
        crate::Type::Directory
    }
}

/// What both serialize as, and are read from besides a bare path.
#[derive(Deserialize)]
#[serde(rename = "FlyteFile")]
struct Parts {
    path: PathBuf,
    remote: Option<String>,
}

/// Read from their serde form (`{path, remote}`) or from a bare path, which is what a path
/// given on the command line (`--data in.csv`) or in JSON (`"in.csv"`) is.
macro_rules! deserialize_from_path_or_parts {
    ($($t:ident),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Either;
                impl<'de> serde::de::Visitor<'de> for Either {
                    type Value = $t;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a path, or a map of `path` and `remote`")
                    }
                    fn visit_str<E: serde::de::Error>(self, path: &str) -> Result<$t, E> {
                        Ok($t::new(path))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$t, A::Error> {
                        let parts = Parts::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                        Ok($t { path: parts.path, remote: parts.remote })
                    }
                }
                d.deserialize_any(Either)
            }
        }
    )*};
}

deserialize_from_path_or_parts!(FlyteFile, FlyteDirectory);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{traced, Encoded, Type, Typed};

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Report {
        name: String,
        data: FlyteFile,
        extra: Vec<Option<FlyteFile>>,
        out: FlyteDirectory,
    }

    #[test]
    fn is_a_file_whether_named_or_traced_and_inside_a_struct() {
        assert_eq!(FlyteFile::flyte_type(), Type::File);
        assert_eq!(traced::<FlyteFile>().unwrap(), Type::File);
        assert_eq!(FlyteDirectory::flyte_type(), Type::Directory);
        assert_eq!(traced::<FlyteDirectory>().unwrap(), Type::Directory);
        assert_eq!(
            traced::<Report>().unwrap(),
            Type::Struct {
                name: "Report".into(),
                fields: Some(vec![
                    ("name".into(), Type::Str),
                    ("data".into(), Type::File),
                    ("extra".into(), Type::Collection(Box::new(Type::optional(Type::File)))),
                    ("out".into(), Type::Directory),
                ]),
            }
        );
    }

    #[test]
    fn create_makes_a_new_file_of_that_name_and_refuses_paths() {
        let (a, _) = FlyteFile::create("out.csv").unwrap();
        let (b, _) = FlyteFile::create("out.csv").unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().is_file() && a.path().ends_with("out.csv"));
        for bad in ["../x", "a/b", "..", "", "/etc/passwd"] {
            let err = FlyteFile::create(bad).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
        }
        for f in [a, b] {
            std::fs::remove_dir_all(f.path().parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn reads_a_bare_path_as_a_local_file_and_refuses_other_shapes() {
        let file: FlyteFile = serde_json::from_str(r#""data/in.csv""#).unwrap();
        assert_eq!(file, FlyteFile::new("data/in.csv"));
        let dir: FlyteDirectory = serde_json::from_str(r#"{"path": "/d", "remote": "s3://b/d"}"#).unwrap();
        assert_eq!(dir, FlyteDirectory::downloaded("/d", "s3://b/d"));
        let err = serde_json::from_str::<FlyteFile>("3").unwrap_err();
        assert!(
            err.to_string().contains("a path, or a map of `path` and `remote`"),
            "{err}"
        );
        let err = serde_json::from_str::<FlyteFile>(r#"{"remote": "s3://b/x"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `path`"), "{err}");
    }

    #[test]
    fn round_trips_its_path_and_remote() {
        for file in [
            FlyteFile::new("data/in.csv"),
            FlyteFile::downloaded("/tmp/x/in.csv", "s3://bucket/raw/in.csv"),
        ] {
            let back: FlyteFile = Encoded::encode(&file).unwrap().decode().unwrap();
            assert_eq!(back, file);
        }
        let file = FlyteFile::downloaded("/tmp/x/in.csv", "s3://bucket/raw/in.csv");
        assert_eq!(file.path(), Path::new("/tmp/x/in.csv"));
        assert_eq!(file.remote(), Some("s3://bucket/raw/in.csv"));
        assert_eq!(FlyteFile::new("a").remote(), None);
        let dir = FlyteDirectory::downloaded("/tmp/d", "s3://bucket/raw/d");
        assert_eq!(Encoded::encode(&dir).unwrap().decode::<FlyteDirectory>().unwrap(), dir);
        assert_eq!(
            (dir.path(), dir.remote()),
            (Path::new("/tmp/d"), Some("s3://bucket/raw/d"))
        );
        let made = FlyteDirectory::create().unwrap();
        assert!(made.path().is_dir() && std::fs::read_dir(made.path()).unwrap().next().is_none());
        std::fs::remove_dir(made.path()).unwrap();
    }
}
