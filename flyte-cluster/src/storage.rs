//! Object storage as Flyte passes it to a task container: URIs (`s3://`, `gs://`, `abfs://`,
//! `file://`) read and written through the [object_store] crate, blocking, with large objects
//! streamed in chunks rather than held whole.
//!
//! Credentials and endpoints come from the environment, as flytekit takes them on a cluster:
//!
//! - `s3://bucket/key`: `FLYTE_AWS_ENDPOINT`, `FLYTE_AWS_ACCESS_KEY_ID` and
//!   `FLYTE_AWS_SECRET_ACCESS_KEY` (what Flyte's sandbox sets) take precedence over the usual
//!   `AWS_*` variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, ...), which object_store reads
//!   itself. Without a region, S3 uses `us-east-1`; an `http://` endpoint is allowed (a
//!   sandbox's MinIO, a test's server on loopback).
//! - `abfs://container/key` (the account from `AZURE_STORAGE_ACCOUNT_NAME`) or
//!   `abfs://container@account.dfs.core.windows.net/key`: object_store's `AZURE_*` variables
//!   (an account key, a SAS, a service principal, a managed identity). For the Azurite emulator,
//!   `AZURE_STORAGE_USE_EMULATOR=true`, with `AZURITE_BLOB_STORAGE_URL` where it listens
//!   (default `http://127.0.0.1:10000`): the account is then `devstoreaccount1` with its
//!   published key. The container must exist; nothing here creates one.
//! - `gs://bucket/key`: object_store's `GOOGLE_*` variables: `GOOGLE_SERVICE_ACCOUNT` (a key
//!   file's path), `GOOGLE_SERVICE_ACCOUNT_KEY` (its JSON), `GOOGLE_APPLICATION_CREDENTIALS`, else
//!   the VM's metadata server. An emulator is named in that JSON: `{"gcs_base_url":
//!   "http://host:port", "disable_oauth": true, "client_email": "", "private_key": "",
//!   "private_key_id": ""}`. object_store speaks GCS's XML API; fake-gcs-server serves its reads
//!   (started with `-public-host` set to the host in `gcs_base_url`) but refuses its writes
//!   (HTTP 400 `invalid uploadType`), so `gs://` is tested reading only.
//!
//! `flyte-cluster/tests/checkpoint_store.rs` runs against moto's S3 and
//! `flyte-cluster/tests/checkpoint_clouds.rs` against Azurite 3.35.0 and, reading only,
//! fake-gcs-server 1.54.0, all on loopback.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use tokio::io::AsyncWriteExt;

/// The size of the parts a large object is uploaded in, and of what is buffered before one
/// request goes out: an object up to this size is one `PUT`.
pub const PART_SIZE: usize = 8 << 20;
/// How many parts of one object are in flight at once: with [`PART_SIZE`], what an upload
/// holds in memory at most.
const PARTS_IN_FLIGHT: usize = 2;

/// Something that went wrong with a URI or the store behind it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The text is not a URI this crate reads.
    #[error("`{uri}` is not a storage URI this program can use: {reason}")]
    BadUri {
        /// The text given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object is not there.
    #[error("{uri} does not exist")]
    NotFound {
        /// The object's URI.
        uri: String,
    },
    /// The store refused or failed a request.
    #[error("{op} {uri} failed: {source}")]
    Store {
        /// `read`, `write`, `list`, `delete`, `copy`.
        op: &'static str,
        /// The object's or prefix's URI.
        uri: String,
        /// The store's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StorageError {
    fn store(op: &'static str, uri: &str, e: object_store::Error) -> StorageError {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound { uri: uri.to_owned() },
            e => StorageError::Store {
                op,
                uri: uri.to_owned(),
                source: Box::new(e),
            },
        }
    }

    /// As an I/O error, for callers whose errors carry one (a checkpoint's).
    pub fn into_io(self) -> io::Error {
        let kind = match self {
            StorageError::NotFound { .. } => io::ErrorKind::NotFound,
            StorageError::BadUri { .. } => io::ErrorKind::InvalidInput,
            StorageError::Store { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// A place in object storage: a store and a key (or a prefix) in it, with the URI it came from.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    /// The key, without a trailing `/`.
    path: ObjectPath,
    /// The URI, without a trailing `/`.
    uri: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)
    }
}

impl Location {
    /// Parses `uri` and builds the client for its store from the environment.
    pub fn parse(uri: &str) -> Result<Location, StorageError> {
        let bad = |reason: String| StorageError::BadUri {
            uri: uri.to_owned(),
            reason,
        };
        let url = url::Url::parse(uri).map_err(|e| bad(e.to_string()))?;
        let key = url.path().trim_matches('/');
        let path = ObjectPath::from_url_path(key).map_err(|e| bad(e.to_string()))?;
        // Checked before the clients are looked up: every file:// URI shares one client.
        if url.scheme() == "file" && url.host_str().is_some_and(|h| !h.is_empty() && h != "localhost") {
            return Err(bad("a file:// URI names no host: write file:///absolute/path".into()));
        }
        let base = match url.scheme() {
            "file" => "file://".to_owned(),
            scheme => format!("{scheme}://{}", url.authority()),
        };
        let shown = if key.is_empty() {
            base.clone()
        } else {
            format!("{base}/{key}")
        };
        // One client per bucket (container, file system) and process: building one reads the
        // environment and, for the clouds, sets up TLS, which a task container should do once.
        static CLIENTS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Arc<dyn ObjectStore>>>> =
            OnceLock::new();
        let clients = CLIENTS.get_or_init(Default::default);
        if let Some(store) = clients.lock().unwrap_or_else(|p| p.into_inner()).get(&base) {
            return Ok(Location {
                store: Arc::clone(store),
                path,
                uri: shown,
            });
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => {
                let bucket = url.host_str().ok_or_else(|| bad("no bucket".into()))?;
                Arc::new(s3(bucket).map_err(|e| bad(e.to_string()))?)
            }
            "gs" => {
                let bucket = url.host_str().ok_or_else(|| bad("no bucket".into()))?;
                Arc::new(
                    GoogleCloudStorageBuilder::from_env()
                        .with_bucket_name(bucket)
                        .build()
                        .map_err(|e| bad(e.to_string()))?,
                )
            }
            "abfs" | "abfss" | "az" | "adl" | "azure" => Arc::new(
                MicrosoftAzureBuilder::from_env()
                    .with_url(uri)
                    .build()
                    .map_err(|e| bad(e.to_string()))?,
            ),
            "file" => Arc::new(LocalFileSystem::new()),
            other => return Err(bad(format!("unknown scheme `{other}` (s3, gs, abfs, file)"))),
        };
        clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(base, Arc::clone(&store));
        Ok(Location {
            store,
            path,
            uri: shown,
        })
    }

    /// The URI, without a trailing `/`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The URI as a path, for errors whose place is a path.
    pub fn as_path(&self) -> PathBuf {
        PathBuf::from(&self.uri)
    }

    /// The place `rel` (`/`-separated, relative) under this one.
    pub fn join(&self, rel: &str) -> Location {
        let mut path = self.path.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            path = path.child(part);
        }
        let uri = format!("{}/{}", self.uri, rel.trim_matches('/'));
        Location {
            store: self.store.clone(),
            path,
            uri,
        }
    }

    /// Whether the two name the same place (same URI).
    pub fn same_place(&self, other: &Location) -> bool {
        self.uri == other.uri
    }

    /// The object's bytes, in one buffer sized from the object's length.
    pub fn read(&self) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        self.read_each(|size, chunk| {
            if bytes.capacity() == 0 {
                bytes.reserve_exact(size as usize);
            }
            bytes.extend_from_slice(chunk);
            Ok::<(), std::convert::Infallible>(())
        })?
        .unwrap_or_else(|never| match never {});
        Ok(bytes)
    }

    /// The object's bytes, or `None` if there is no such object.
    pub fn read_if_exists(&self) -> Result<Option<Vec<u8>>, StorageError> {
        match self.read() {
            Ok(bytes) => Ok(Some(bytes)),
            Err(StorageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams the object: `chunk` gets the object's length and each piece as it arrives. An
    /// error from `chunk` ends the read and is returned as `Ok(Err(e))`.
    pub fn read_each<E: Send>(
        &self,
        mut chunk: impl FnMut(u64, &[u8]) -> Result<(), E> + Send,
    ) -> Result<Result<(), E>, StorageError> {
        block_on(async {
            let got = self
                .store
                .get(&self.path)
                .await
                .map_err(|e| StorageError::store("read", &self.uri, e))?;
            let size = got.meta.size;
            let mut stream = got.into_stream();
            while let Some(piece) = stream.next().await {
                let piece = piece.map_err(|e| StorageError::store("read", &self.uri, e))?;
                if let Err(e) = chunk(size, &piece) {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(()))
        })
    }

    /// The object, to be read piece by piece as it arrives ([`Pieces::next_piece`]), by a
    /// reader that keeps only what it has not used yet: never the whole object.
    pub fn pieces(&self) -> Result<Pieces, StorageError> {
        block_on(async {
            let got = self
                .store
                .get(&self.path)
                .await
                .map_err(|e| StorageError::store("read", &self.uri, e))?;
            Ok(Pieces {
                size: got.meta.size,
                stream: got.into_stream(),
                uri: self.uri.clone(),
            })
        })
    }

    /// Writes `bytes` as the object, atomically (a reader sees the old object or the new one),
    /// copying at most [`PART_SIZE`] of them at a time.
    pub fn write(&self, bytes: &[u8]) -> Result<(), StorageError> {
        let mut parts = bytes.chunks(PART_SIZE);
        self.write_from(|| Ok::<_, std::convert::Infallible>(parts.next().map(Bytes::copy_from_slice)))
            .map(|r| r.unwrap_or_else(|never| match never {}))
    }

    /// Writes the object from the pieces `next` returns until it returns `None`; the object
    /// appears, whole, once the last piece is in. At most a few [`PART_SIZE`] parts are held
    /// at once. An error from `next` abandons the upload and is returned as `Ok(Err(e))`.
    pub fn write_from<E: Send>(
        &self,
        mut next: impl FnMut() -> Result<Option<Bytes>, E> + Send,
    ) -> Result<Result<(), E>, StorageError> {
        block_on(async {
            let mut writer = BufWriter::with_capacity(self.store.clone(), self.path.clone(), PART_SIZE)
                .with_max_concurrency(PARTS_IN_FLIGHT);
            let io = |e: io::Error| StorageError::Store {
                op: "write",
                uri: self.uri.clone(),
                source: Box::new(e),
            };
            loop {
                match next() {
                    Ok(Some(piece)) => writer
                        .put(piece)
                        .await
                        .map_err(|e| StorageError::store("write", &self.uri, e))?,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Ok(Err(e));
                    }
                }
            }
            writer.shutdown().await.map_err(io)?;
            Ok(Ok(()))
        })
    }

    /// An upload of the object that its caller writes piece by piece ([`Upload::put`]), for
    /// pieces made by code that cannot hand them back one per call (a serializer walking a
    /// value); [`write_from`](Self::write_from) otherwise. The object appears, whole, at
    /// [`Upload::finish`].
    pub(crate) fn upload(&self) -> Upload<'_> {
        Upload {
            at: self,
            writer: BufWriter::with_capacity(self.store.clone(), self.path.clone(), PART_SIZE)
                .with_max_concurrency(PARTS_IN_FLIGHT),
        }
    }

    /// Every object under this prefix, as paths relative to it (`/`-separated, each part as the
    /// store spells it).
    pub fn list(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.list_objects()?.into_iter().map(|(rel, _)| rel).collect())
    }

    /// Every object under this prefix: its path relative to the prefix, and its place.
    pub fn list_objects(&self) -> Result<Vec<(String, Location)>, StorageError> {
        block_on(async {
            let mut found = Vec::new();
            let mut stream = self.store.list(Some(&self.path));
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| StorageError::store("list", &self.uri, e))?;
                let rel: Option<Vec<String>> = meta
                    .location
                    .prefix_match(&self.path)
                    .map(|rel| rel.map(|p| p.as_ref().to_owned()).collect());
                if let Some(parts) = rel {
                    let rel = parts.join("/");
                    let at = Location {
                        store: self.store.clone(),
                        uri: format!("{}/{rel}", self.uri),
                        path: meta.location,
                    };
                    found.push((rel, at));
                }
            }
            found.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(found)
        })
    }

    /// Removes the object; one already gone is not an error.
    pub fn delete(&self) -> Result<(), StorageError> {
        block_on(async {
            match self.store.delete(&self.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(StorageError::store("delete", &self.uri, e)),
            }
        })
    }

    /// Copies the object to `to`, in the store when both are in the same one.
    pub fn copy_to(&self, to: &Location) -> Result<(), StorageError> {
        if Arc::ptr_eq(&self.store, &to.store) || self.uri.split('/').take(3).eq(to.uri.split('/').take(3)) {
            let done = block_on(async { to.store.copy(&self.path, &to.path).await });
            if done.is_ok() {
                return Ok(());
            }
        }
        // Across stores (or where the store cannot copy): through this process, streamed.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Bytes, StorageError>>(PARTS_IN_FLIGHT);
        std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let sent = self.read_each(|_, chunk| tx.send(Ok(Bytes::copy_from_slice(chunk))).map_err(drop));
                if let Err(e) = sent {
                    let _ = tx.send(Err(e));
                }
            });
            let written = to.write_from(move || rx.recv().ok().transpose());
            let _ = reader.join();
            written?
        })
    }
}

/// An object being read, piece by piece, from [`Location::pieces`].
pub struct Pieces {
    size: u64,
    stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    uri: String,
}

impl Pieces {
    /// The object's length, as the store reported it when the read began.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next piece of the object (as large as the store sends it: 8 KiB from a local file),
    /// or `None` once it has all been read.
    pub fn next_piece(&mut self) -> Result<Option<Bytes>, StorageError> {
        let stream = &mut self.stream;
        block_on(stream.next())
            .transpose()
            .map_err(|e| StorageError::store("read", &self.uri, e))
    }
}

impl std::fmt::Debug for Pieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces")
            .field("uri", &self.uri)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// An S3 client for `bucket` from the environment: the `AWS_*` variables, then Flyte's.
fn s3(bucket: &str) -> object_store::Result<object_store::aws::AmazonS3> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let endpoint = var("FLYTE_AWS_ENDPOINT")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .or_else(|| var("AWS_ENDPOINT"));
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    if let Some(key) = var("FLYTE_AWS_ACCESS_KEY_ID") {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = var("FLYTE_AWS_SECRET_ACCESS_KEY") {
        builder = builder.with_secret_access_key(secret);
    }
    if var("AWS_REGION").is_none() && var("AWS_DEFAULT_REGION").is_none() {
        builder = builder.with_region("us-east-1");
    }
    builder.build()
}

/// An object being written by its caller a piece at a time ([`Location::upload`]): as
/// [`Location::write_from`] writes, at most a few [`PART_SIZE`] parts held at once.
pub(crate) struct Upload<'a> {
    at: &'a Location,
    writer: BufWriter,
}

impl Upload<'_> {
    /// Adds `piece` to the object.
    pub(crate) fn put(&mut self, piece: Bytes) -> Result<(), StorageError> {
        block_on(self.writer.put(piece)).map_err(|e| StorageError::store("write", &self.at.uri, e))
    }

    /// Writes what is left and makes the object appear.
    pub(crate) fn finish(mut self) -> Result<(), StorageError> {
        block_on(self.writer.shutdown()).map_err(|e| StorageError::Store {
            op: "write",
            uri: self.at.uri.clone(),
            source: Box::new(e),
        })
    }

    /// Gives the upload up: the object does not appear.
    pub(crate) fn abort(mut self) {
        // Nothing to do about an upload that cannot even be abandoned: it never completes.
        let _ = block_on(self.writer.abort());
    }
}

/// Runs `future` to its end on this crate's tokio runtime, from any thread: a plain one, or
/// one already inside a runtime (where it waits on a helper thread, since a runtime cannot be
/// entered from inside another).
pub fn block_on<F: Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flytekit-storage")
            .enable_all()
            .build()
            .expect("flytekit cannot start the threads that talk to object storage")
    });
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(future))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        runtime.block_on(future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_of_every_scheme_parse_without_a_request() {
        let cases = [
            ("s3://bucket/a/b/", "s3://bucket/a/b", "a/b"),
            ("s3://bucket", "s3://bucket", ""),
            ("gs://bucket/x", "gs://bucket/x", "x"),
            (
                "abfs://container@account.dfs.core.windows.net/p/q",
                "abfs://container@account.dfs.core.windows.net/p/q",
                "p/q",
            ),
            (
                "file:///tmp/some where/x",
                "file:///tmp/some%20where/x",
                "tmp/some where/x",
            ),
        ];
        for (uri, shown, key) in cases {
            let at = Location::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(at.uri(), shown, "{uri}");
            assert_eq!(at.path.as_ref(), ObjectPath::from(key).as_ref(), "{uri}");
        }
        assert_eq!(
            Location::parse("s3://bucket/a").unwrap().join("b/c.txt").uri(),
            "s3://bucket/a/b/c.txt"
        );
    }

    #[test]
    fn what_is_not_a_storage_uri_says_why() {
        let reason = |uri: &str| match Location::parse(uri) {
            Err(StorageError::BadUri { reason, .. }) => reason,
            Err(other) => panic!("{uri}: {other}"),
            Ok(at) => panic!("{uri}: accepted as {at:?}"),
        };
        assert_eq!(reason("ftp://host/x"), "unknown scheme `ftp` (s3, gs, abfs, file)");
        assert_eq!(reason("/no/scheme"), "relative URL without a base");
        assert_eq!(
            reason("file://host/x"),
            "a file:// URI names no host: write file:///absolute/path"
        );
    }
}
