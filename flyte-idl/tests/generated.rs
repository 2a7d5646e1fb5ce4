//! `src/generated/` is exactly what prost-build makes of the vendored `.proto` files.
//!
//! The generated code is checked in rather than produced by a build script, so that a crate
//! depending on this one compiles prost and prost-types only, not a protobuf compiler. This
//! test is the generator: it compiles every vendored file with protox (no system `protoc`),
//! runs prost-build on the result and compares with what is checked in. After changing the
//! protos, the options below or the prost-build version:
//!
//! ```text
//! FLYTE_IDL=overwrite cargo test -p flyte-idl --test generated
//! ```
//!
//! then read the diff.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The vendored packages, each a directory under `protos/flyteidl/`.
const PACKAGES: [&str; 3] = ["core", "admin", "event"];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every vendored `.proto` file, relative to `protos/` (the import root), sorted.
fn vendored_protos() -> Vec<PathBuf> {
    let root = manifest_dir().join("protos");
    let mut files = Vec::new();
    for package in PACKAGES {
        for entry in fs::read_dir(root.join("flyteidl").join(package)).expect("read a vendored package") {
            let path = entry.expect("read a directory entry").path();
            if path.extension().is_some_and(|e| e == "proto") {
                files.push(path.strip_prefix(&root).expect("under protos/").to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// The generated files by name, as prost-build writes them today.
fn generate(out_dir: &Path) -> BTreeMap<String, String> {
    let files = vendored_protos();
    let descriptors = protox::compile(&files, [manifest_dir().join("protos")]).expect("the vendored protos compile");

    // Every vendored file is in the descriptor set prost-build reads, and nothing else of Flyte's.
    let mut compiled: Vec<&str> = descriptors.file.iter().filter_map(|f| f.name.as_deref()).collect();
    compiled.retain(|name| name.starts_with("flyteidl/"));
    compiled.sort_unstable();
    let expected: Vec<String> = files
        .iter()
        .map(|f| f.to_str().expect("a UTF-8 path").replace('\\', "/"))
        .collect();
    assert_eq!(
        compiled, expected,
        "protox compiled a different set of files than is vendored"
    );

    if out_dir.exists() {
        fs::remove_dir_all(out_dir).expect("clear the output directory");
    }
    fs::create_dir_all(out_dir).expect("create the output directory");
    prost_build::Config::new()
        // Maps are BTreeMaps: a message encodes to the same bytes every time (prost writes map
        // entries in iteration order), so a package built twice is byte-identical.
        .btree_map(["."])
        .out_dir(out_dir)
        .compile_fds(descriptors)
        .expect("prost-build generates the Rust code");

    read_dir_files(out_dir)
}

fn read_dir_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).expect("read a directory") {
        let path = entry.expect("read a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name")
            .to_owned();
        files.insert(name, fs::read_to_string(&path).expect("read a generated file"));
    }
    files
}

#[test]
fn checked_in_code_is_what_prost_build_generates() {
    let fresh = generate(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("flyte-idl-generated"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        ["flyteidl.admin.rs", "flyteidl.core.rs", "flyteidl.event.rs"],
        "one generated file per vendored package, as src/lib.rs includes them"
    );

    let checked_in_dir = manifest_dir().join("src").join("generated");
    if std::env::var_os("FLYTE_IDL").is_some_and(|v| v == "overwrite") {
        if checked_in_dir.exists() {
            fs::remove_dir_all(&checked_in_dir).expect("clear src/generated");
        }
        fs::create_dir_all(&checked_in_dir).expect("create src/generated");
        for (name, text) in &fresh {
            fs::write(checked_in_dir.join(name), text).expect("write a generated file");
        }
        return;
    }

    let checked_in = read_dir_files(&checked_in_dir);
    assert_eq!(
        checked_in.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "src/generated/ holds other files than prost-build generates; \
         run `FLYTE_IDL=overwrite cargo test -p flyte-idl --test generated`"
    );
    for (name, text) in &fresh {
        // Not `assert_eq!` on the texts: a 150 kB diff in the failure helps nobody.
        if checked_in[name] != *text {
            let line = checked_in[name].lines().zip(text.lines()).position(|(a, b)| a != b);
            panic!(
                "src/generated/{name} differs from what prost-build generates now (first at line {}); \
                 run `FLYTE_IDL=overwrite cargo test -p flyte-idl --test generated` and read the diff",
                line.map_or_else(|| "the end".to_owned(), |l| (l + 1).to_string()),
            );
        }
    }
}
