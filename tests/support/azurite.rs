//! Azure Blob Storage on loopback for tests: Azurite, Microsoft's emulator, from the npm
//! registry, installed under the cargo target directory, started on a free port with its data
//! in memory, and stopped when dropped.
//!
//! A test file includes this module with
//!
//! ```ignore
//! #[path = "../../tests/support/azurite.rs"]
//! mod azurite;
//! ```
//!
//! and calls [`Azurite::start`] (one server, stopped when the value is dropped) or
//! [`Azurite::shared`] (one server for the whole test process). The first use runs
//! `npm install --prefix target/tmp/azurite-<version> azurite@<version>` (`npm.rs`: a marker
//! written last, a file lock for test processes starting together); later runs start at once.
//! Without Node.js 20 or newer and npm, or without the npm registry, the test fails saying what
//! to install; it is never skipped.
//!
//! The server runs in a `node` child of the test process that exits when its standard input
//! closes: when the test process ends, however it ends, the pipe closes and the server goes
//! with it, so a server kept in a `static` (never dropped) does not outlive its tests either.
#![allow(dead_code)]

#[allow(clippy::duplicate_mod)]
#[path = "http.rs"]
mod http;
#[path = "npm.rs"]
mod npm;
#[allow(clippy::duplicate_mod)]
#[path = "server.rs"]
mod server;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use npm::{Npm, Spec};
use server::Server;

/// The Azurite release the tests use: the last one that runs on Node.js 20 (3.36.0 wants 21).
pub const AZURITE_VERSION: &str = "3.35.0";

/// The emulator's one account and its key, the same in every Azurite (Microsoft publishes
/// them); object_store uses them when `AZURE_STORAGE_USE_EMULATOR` is set.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The REST API version the requests here speak.
const API_VERSION: &str = "2023-11-03";

/// Runs Azurite's blob service in this node process, with the arguments after the script's
/// path, and exits when stdin closes: Azurite itself stops only on a signal.
const LAUNCHER: &str = r#"
const main = process.argv[1];
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
require(main);
"#;

/// A running Azurite blob service.
pub struct Azurite {
    server: Server,
    /// How long the install took in this process; `None` when it existed.
    pub installed_in: Option<Duration>,
    /// How long the server took to answer.
    pub started_in: Duration,
}

impl Azurite {
    /// A new server, stopped when the value is dropped. Panics saying what to install when
    /// Azurite cannot be installed or does not start.
    pub fn start() -> Azurite {
        let npm = Npm::ensure(&Spec {
            name: &format!("azurite-{AZURITE_VERSION}"),
            package: &format!("azurite@{AZURITE_VERSION}"),
            node_major: 20,
            needed_by: "the Azure Blob Storage tests",
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let main = npm.module_file("azurite", "dist/src/blob/main.js");
        let started = Instant::now();
        let mut cmd = Command::new("node");
        cmd.arg("-e")
            .arg(LAUNCHER)
            .arg(&main)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0"])
            // Nothing on disk, and at most this many MB of blob data held.
            .args(["--inMemoryPersistence", "--extentMemoryLimit", "512"])
            // No access log on stdout, and no telemetry sent anywhere.
            .args(["--silent", "--disableTelemetry"]);
        // "Azurite Blob service successfully listens on http://127.0.0.1:PORT"
        let server = Server::spawn(cmd, "Azurite", |line| {
            let url = line.split("successfully listens on ").nth(1)?;
            url.rsplit(':').next()?.parse().ok()
        });
        server.wait_until("Azurite", || http::request(server.port, "GET", "/", &[], &[]).is_ok());
        Azurite {
            server,
            installed_in: npm.installed_in,
            started_in: started.elapsed(),
        }
    }

    /// One server for the whole test process, started by the first caller, with the
    /// environment variables [`env`](Self::env) lists set in this process.
    pub fn shared() -> &'static Azurite {
        static SHARED: OnceLock<Azurite> = OnceLock::new();
        SHARED.get_or_init(|| {
            let azurite = Azurite::start();
            server::export(azurite.env());
            azurite
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// What a user sets to point `abfs://` at Azurite: object_store's emulator switch (the
    /// account `devstoreaccount1` and its well-known key) and where the emulator listens.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_owned()),
            ("AZURITE_BLOB_STORAGE_URL", self.endpoint()),
        ]
    }

    /// Creates a container: object_store writes blobs but creates no container.
    pub fn create_container(&self, container: &str) {
        let (status, body) = self
            .signed("PUT", &format!("/{container}"), &[("restype", "container")], &[], &[])
            .unwrap_or_else(|e| panic!("cannot create container {container}: {e}"));
        assert!(
            status == 201,
            "creating container {container}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// A new container with a unique name, and its `abfs://` URI.
    pub fn new_container(&self, name: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        // Container names: lowercase letters, digits and single hyphens, 3 to 63 of them.
        let container = format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        self.create_container(&container);
        format!("abfs://{container}")
    }

    /// The blob `name` in `container` (`/`-separated, plain ASCII), read past flytekit's code.
    pub fn get(&self, container: &str, name: &str) -> Vec<u8> {
        let (status, body) = self
            .signed("GET", &format!("/{container}/{name}"), &[], &[], &[])
            .unwrap_or_else(|e| panic!("GET {container}/{name}: {e}"));
        assert_eq!(
            status,
            200,
            "GET {container}/{name}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// Writes `body` as the blob `name` in `container`, as something other than flytekit would.
    pub fn put(&self, container: &str, name: &str, body: &[u8]) {
        let (status, answer) = self
            .signed(
                "PUT",
                &format!("/{container}/{name}"),
                &[],
                &[("x-ms-blob-type", "BlockBlob")],
                body,
            )
            .unwrap_or_else(|e| panic!("PUT {container}/{name}: {e}"));
        assert_eq!(
            status,
            201,
            "PUT {container}/{name}: {}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// How many blocks the blob `name` in `container` was committed as (Get Block List): one
    /// for a single `PUT`, one per part for an upload in parts.
    pub fn committed_blocks(&self, container: &str, name: &str) -> usize {
        let query = [("blocklisttype", "committed"), ("comp", "blocklist")];
        let (status, body) = self
            .signed("GET", &format!("/{container}/{name}"), &query, &[], &[])
            .unwrap_or_else(|e| panic!("GET {container}/{name}?comp=blocklist: {e}"));
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "GET {container}/{name}?comp=blocklist: {body}");
        body.matches("<Block>").count()
    }

    /// A request to `/devstoreaccount1<path>?<query>` signed with the account key (Shared Key
    /// authorization: Azurite refuses anonymous requests).
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        x_ms: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let date = http_date(SystemTime::now());
        let mut headers: Vec<(&str, &str)> = vec![("x-ms-date", &date), ("x-ms-version", API_VERSION)];
        headers.extend_from_slice(x_ms);
        headers.sort();
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        // VERB, Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since,
        // If-Match, If-None-Match, If-Unmodified-Since, Range; then the x-ms- headers, sorted,
        // and the resource: the account, the path (which repeats the account on the emulator's
        // path-style URLs) and the query's parameters, sorted.
        let mut to_sign = format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n");
        for (name, value) in &headers {
            to_sign.push_str(&format!("{name}:{value}\n"));
        }
        to_sign.push_str(&format!("/{ACCOUNT}/{ACCOUNT}{path}"));
        let mut query = query.to_vec();
        query.sort();
        for (name, value) in &query {
            to_sign.push_str(&format!("\n{name}:{value}"));
        }
        let engine = base64::engine::general_purpose::STANDARD;
        let key = engine.decode(ACCOUNT_KEY).expect("the well-known key is base64");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let signature = engine.encode(ring::hmac::sign(&key, to_sign.as_bytes()));
        let authorization = format!("SharedKey {ACCOUNT}:{signature}");
        headers.push(("Authorization", &authorization));
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let target = if query.is_empty() {
            format!("/{ACCOUNT}{path}")
        } else {
            format!("/{ACCOUNT}{path}?{}", query.join("&"))
        };
        http::request(self.server.port, method, &target, &headers, body)
    }
}

/// `Mon, 30 Nov 2026 08:36:28 GMT`, the date format of HTTP and of `x-ms-date`.
fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Howard Hinnant's civil_from_days: the proleptic Gregorian date of a day count.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        months[(month - 1) as usize]
    )
}
