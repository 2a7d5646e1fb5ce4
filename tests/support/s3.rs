//! An S3 API on loopback for tests: moto's server mode, in a virtual environment under the
//! cargo target directory, started on a free port and stopped when dropped.
//!
//! A test file includes this module with
//!
//! ```ignore
//! #[path = "../../tests/support/s3.rs"]   // from a crate's tests/; `support/s3.rs` from the root's
//! mod s3;
//! ```
//!
//! and calls [`S3::start`] (one server, stopped when the value is dropped) or [`S3::shared`]
//! (one server for the whole test process). The first use creates `target/tmp/moto-<version>-venv`
//! with `python3 -m venv` and `pip install moto[server]==<version>`, and writes a marker last;
//! later runs find the marker and start at once. Test processes that start together are
//! serialised by an OS file lock beside the environment, as `support/flytekit.rs` does for
//! flytekit. Without Python 3 with `venv` and `pip`, or without the package index, the test
//! fails saying what to install (`FLYTEKIT_TEST_PYTHON` names another interpreter); it is never
//! skipped.
//!
//! The server runs as a child of the test process that reads its standard input: when the test
//! process ends, however it ends, the pipe closes and the server exits, so a server kept in a
//! `static` (which is never dropped) does not outlive its tests either.
#![allow(dead_code)]

// flytekit.rs includes it as well: a test of both compiles it twice, harmlessly.
#[allow(clippy::duplicate_mod)]
#[path = "venv.rs"]
mod venv;

#[path = "http.rs"]
mod http;
#[allow(clippy::duplicate_mod)]
#[path = "server.rs"]
mod server;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use server::Server;
use venv::{Spec, Venv};

/// The moto release the tests use.
pub const MOTO_VERSION: &str = "5.2.5";

/// The credentials and region moto is given (it accepts any).
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// What a signed request carries, with a signature moto does not check: without an
/// `Authorization` header moto takes a request as anonymous and refuses reading an object
/// (403), though it lets one be written.
const UNCHECKED_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, \
     SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// Starts moto's threaded server on a free port, prints it, and stops when stdin closes.
const SERVER: &str = r#"
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(port, flush=True)
sys.stdin.read()
server.stop()
"#;

/// A running S3 server.
pub struct S3 {
    server: Server,
    /// How long the environment took to create in this process; `None` when it existed.
    pub installed_in: Option<Duration>,
    /// How long the server took to answer.
    pub started_in: Duration,
}

impl S3 {
    /// A new server, stopped when the value is dropped. Panics saying what to install when
    /// the environment cannot be created.
    pub fn start() -> S3 {
        let venv = Venv::ensure(&Spec {
            name: &format!("moto-{MOTO_VERSION}-venv"),
            install: &[&format!("moto[server]=={MOTO_VERSION}")],
            marker: format!("moto[server]=={MOTO_VERSION}\n"),
            check: ("import moto.server, flask", ""),
            needed_by: "the S3 tests",
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let installed_in = venv.installed_in;
        let started = Instant::now();
        let mut cmd = Command::new(venv.python());
        cmd.args(["-B", "-c", SERVER]);
        let server = Server::spawn(cmd, "moto's server", |line| line.parse().ok());
        let s3 = S3 {
            server,
            installed_in,
            started_in: Duration::ZERO,
        };
        s3.server
            .wait_until("moto's server", || s3.request("GET", "/", &[]).is_ok());
        S3 {
            started_in: started.elapsed(),
            ..s3
        }
    }

    /// One server for the whole test process, started by the first caller, with the
    /// environment variables [`env`](Self::env) lists set in this process.
    pub fn shared() -> &'static S3 {
        static SHARED: OnceLock<S3> = OnceLock::new();
        SHARED.get_or_init(|| {
            let s3 = S3::start();
            server::export(s3.env());
            s3
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The variables a Flyte task container gets in the sandbox, pointing at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FLYTE_AWS_ENDPOINT", self.endpoint()),
            ("FLYTE_AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
        ]
    }

    /// Creates a bucket (moto checks no signature).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self
            .request("PUT", &format!("/{bucket}"), &[])
            .unwrap_or_else(|e| panic!("cannot create bucket {bucket}: {e}"));
        assert!(status == 200, "creating bucket {bucket}: HTTP {status}: {body}");
    }

    /// A new bucket with a unique name, and its `s3://` URI.
    pub fn new_bucket(&self, name: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let bucket = format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        self.create_bucket(&bucket);
        format!("s3://{bucket}")
    }

    /// The object at `bucket/key` (moto checks no signature).
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (status, body) = self.request_bytes("GET", &format!("/{bucket}/{key}"), &[]).unwrap();
        assert_eq!(status, 200, "GET {bucket}/{key}");
        body
    }

    /// Writes `body` as the object at `bucket/key`, as something other than flytekit would.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let (status, _) = self.request_bytes("PUT", &format!("/{bucket}/{key}"), body).unwrap();
        assert_eq!(status, 200, "PUT {bucket}/{key}");
    }

    /// Removes the object at `bucket/key`.
    pub fn delete(&self, bucket: &str, key: &str) {
        let (status, _) = self.request_bytes("DELETE", &format!("/{bucket}/{key}"), &[]).unwrap();
        assert!(status == 204 || status == 200, "DELETE {bucket}/{key}: {status}");
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        self.request_bytes(method, path, body)
            .map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
    }

    fn request_bytes(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        http::request(
            self.server.port,
            method,
            path,
            &[("Authorization", UNCHECKED_AUTHORIZATION)],
            body,
        )
    }
}
