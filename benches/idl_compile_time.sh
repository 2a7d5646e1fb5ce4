#!/usr/bin/env bash
# Compile time of flyte-idl, as checked in (generated code in src/generated/, prost and
# prost-types its only dependencies) against the alternative it replaced: a build script
# running protox and prost-build on every clean build (the same options as tests/generated.rs).
#
#   bash benches/idl_compile_time.sh        # from the repository's root; N=3 rounds
#
# Two throwaway copies of the crate are made under target/idl-bench/, each its own workspace
# with the workspace's Cargo.lock (so the same versions) and its own target directory:
#
#   checked-in    flyte-idl as it is
#   build-script  the same protos, src/generated/ removed, a build.rs generating it into OUT_DIR
#
# Each round removes both target directories and builds each copy from nothing, in debug and in
# release (`cargo build --offline`, wall clock): what a first build of a crate depending on
# flyte-idl pays. Then, in the workspace itself, the crate alone while its dependencies stay
# fresh: `cargo clean -p flyte-idl && cargo build -p flyte-idl`. Printed: every figure, medians.
set -euo pipefail

N=${N:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/target/idl-bench"
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_INCREMENTAL

rm -rf "$BENCH"
for variant in checked-in build-script; do
    dir="$BENCH/$variant"
    mkdir -p "$dir"
    cp -r "$ROOT/flyte-idl/protos" "$ROOT/flyte-idl/src" "$dir/"
    cp "$ROOT/Cargo.lock" "$dir/"
    cat >"$dir/Cargo.toml" <<'EOF'
[package]
name = "flyte-idl"
version = "0.1.0"
edition = "2021"

[workspace]

[dependencies]
prost = "0.14"
prost-types = "0.14"
EOF
done

dir="$BENCH/build-script"
rm -r "$dir/src/generated"
sed -i 's|include!("generated/\(flyteidl\.[a-z]*\.rs\)")|include!(concat!(env!("OUT_DIR"), "/\1"))|' "$dir/src/lib.rs"
grep -q 'OUT_DIR' "$dir/src/lib.rs"
cat >>"$dir/Cargo.toml" <<'EOF'

[build-dependencies]
prost-build = "0.14"
protox = "0.10"
EOF
cat >"$dir/build.rs" <<'EOF'
use std::path::PathBuf;

fn main() {
    let mut files = Vec::new();
    for package in ["core", "admin", "event"] {
        for entry in std::fs::read_dir(format!("protos/flyteidl/{package}")).unwrap() {
            files.push(entry.unwrap().path().strip_prefix("protos").unwrap().to_path_buf());
        }
    }
    files.sort();
    let descriptors = protox::compile(&files, ["protos"]).unwrap();
    prost_build::Config::new()
        .btree_map(["."])
        .out_dir(PathBuf::from(std::env::var_os("OUT_DIR").unwrap()))
        .compile_fds(descriptors)
        .unwrap();
    println!("cargo:rerun-if-changed=protos");
}
EOF

# Fetch once, so that no round measures a download.
for variant in checked-in build-script; do
    (cd "$BENCH/$variant" && cargo fetch --quiet)
done

seconds() { # command...: runs it quietly, prints its wall-clock time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

declare -A times
for round in $(seq "$N"); do
    for variant in checked-in build-script; do
        for profile in debug release; do
            rm -rf "$BENCH/$variant/target"
            flag=()
            [ "$profile" = release ] && flag=(--release)
            t=$(cd "$BENCH/$variant" && CARGO_TARGET_DIR=target seconds cargo build --offline "${flag[@]}")
            times["$variant $profile"]+="$t "
            echo "round $round: $variant, $profile, from nothing: ${t} s"
        done
    done
    t=$(cd "$ROOT" && cargo build --offline -q -p flyte-idl && cargo clean --offline -q -p flyte-idl \
        && seconds cargo build --offline -p flyte-idl)
    times["workspace crate alone"]+="$t "
    echo "round $round: cargo clean -p flyte-idl && cargo build -p flyte-idl: ${t} s"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "medians of $N (s):"
for key in "checked-in debug" "build-script debug" "checked-in release" "build-script release" "workspace crate alone"; do
    printf '  %-24s %s\n' "$key" "$(echo "${times[$key]}" | median)"
done

# The copies' target directories hold about 1 GB; the disk is shared.
rm -rf "$BENCH"/*/target
