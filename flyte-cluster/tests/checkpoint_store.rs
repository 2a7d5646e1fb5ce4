//! The object-store checkpoint backend, against a real S3 API (moto's server on loopback, see
//! `tests/support/s3.rs`) and against `file://` prefixes: every case of
//! `support/checkpoint_cases.rs` runs on both.

#[path = "../../tests/support/s3.rs"]
mod s3;

#[macro_use]
#[path = "support/checkpoint_cases.rs"]
mod cases;

use std::path::Path;

use cases::Root;
use flyte_cluster::checkpoint::{checkpoint, prev_checkpoint};
use flyte_runtime::CheckpointError;

/// A new bucket on the shared S3 server.
fn s3_root() -> Root {
    Root::new(s3::S3::shared().new_bucket("ckpt"), None)
}

checkpoint_cases!(on_s3, s3_root());
checkpoint_cases!(on_file, Root::file());

#[test]
fn an_empty_or_unrendered_prev_checkpoint_means_none() {
    assert_eq!(prev_checkpoint("\"\""), None);
    assert_eq!(prev_checkpoint(""), None);
    assert_eq!(prev_checkpoint("{{.prevCheckpointPrefix}}"), None);
    assert_eq!(prev_checkpoint("s3://b/a1/"), Some("s3://b/a1/"));
}

#[test]
fn a_bad_uri_is_a_typed_error() {
    match checkpoint("ftp://host/x", None) {
        Err(CheckpointError::Io {
            op: "open",
            path,
            source,
        }) => {
            assert_eq!(path, Path::new("ftp://host/x"));
            assert!(source.to_string().contains("unknown scheme `ftp`"), "{source}");
        }
        other => panic!("expected an open error, got {other:?}"),
    }
}
