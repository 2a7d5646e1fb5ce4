#!/usr/bin/env bash
# Compile-time cost of #[task] and #[workflow]: a crate of 100 tasks and one workflow chaining
# them, against the same 100 functions without the macros (and a plain function chaining them).
#
#   bash benches/compile_time.sh            # from the repository's root; N=5 rebuilds per crate
#   N=9 bash benches/compile_time.sh        # more rebuilds
#
# Three throwaway crates are generated under target/compile-bench/ (each its own workspace):
#
#   tasks      depends on flytekit (by path): 100 `#[task] fn t_i(x: u64) -> u64` and a
#              `#[workflow] fn chain(x: u64) -> u64` calling all 100 in a row
#   plain      no dependency: the same 100 functions without the attribute, and a plain
#              `fn chain(x: u64) -> u64` calling them in a row (the baseline)
#   plain_dep  the plain crate, but depending on flytekit and naming it (`use flytekit as _;`):
#              separates loading the dependency from the macros' own cost
#
# All share one target directory (target/compile-bench/target). Dependencies are built once
# first, so only the generated crate is measured, in debug, with `cargo build --offline`:
#
#   clean        the crate's incremental cache removed, `touch src/lib.rs`, build: a full
#                compile of that crate alone (dependencies stay fresh), the headline figure
#   incremental  `touch src/lib.rs`, build: rustc reruns on an unchanged source with its
#                incremental cache (macro expansion is redone, most of codegen is reused)
#   no-op        build with nothing to do: cargo's own overhead (lock file, fingerprints of the
#                dependencies), which the plain crate, having none, barely pays
#
# Runs are interleaved across crates. Printed: medians, and the ratios tasks / plain, raw and
# with the no-op overhead subtracted (rustc's time alone).
set -euo pipefail

N=${N:-5}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/target/compile-bench"
export CARGO_TARGET_DIR="$BENCH/target"
# Keep the environment from changing the build (flags, incremental) between runs.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_INCREMENTAL
CARGO=(cargo build --offline --quiet)

manifest() { # name, dependency line (may be empty)
    cat <<EOF
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$2

[workspace]
EOF
}

gen_tasks() {
    echo "use flytekit::{task, workflow};"
    for i in $(seq 0 99); do
        printf '\n#[task]\npub fn t_%d(x: u64) -> u64 {\n    x.wrapping_mul(%d).wrapping_add(%d)\n}\n' "$i" $((2 * i + 1)) "$i"
    done
    printf '\n#[workflow]\npub fn chain(x: u64) -> u64 {\n    let a = t_0(x);\n'
    for i in $(seq 1 98); do printf '    let a = t_%d(a);\n' "$i"; done
    printf '    t_99(a)\n}\n'
}

gen_plain() { # extra first line
    echo "$1"
    for i in $(seq 0 99); do
        printf '\npub fn t_%d(x: u64) -> u64 {\n    x.wrapping_mul(%d).wrapping_add(%d)\n}\n' "$i" $((2 * i + 1)) "$i"
    done
    printf '\npub fn chain(x: u64) -> u64 {\n    let a = t_0(x);\n'
    for i in $(seq 1 98); do printf '    let a = t_%d(a);\n' "$i"; done
    printf '    t_99(a)\n}\n'
}

make_crate() { # name, dependency line, source generator...
    local dir="$BENCH/$1"
    rm -rf "$dir"
    mkdir -p "$dir/src"
    manifest "$1" "$2" >"$dir/Cargo.toml"
    # The repository's lock file pins the same dependency versions and needs no index update.
    [ -n "$2" ] && cp "$ROOT/Cargo.lock" "$dir/Cargo.lock"
    shift 2
    "$@" >"$dir/src/lib.rs"
}

FLYTEKIT="flytekit = { path = \"$ROOT\" }"
make_crate tasks "$FLYTEKIT" gen_tasks
make_crate plain "" gen_plain "// 100 plain functions and a plain function chaining them."
make_crate plain_dep "$FLYTEKIT" gen_plain "use flytekit as _;"

CRATES=(plain plain_dep tasks)
echo "rustc: $(rustc --version); $(nproc) cores; N=$N rebuilds per crate; target: $CARGO_TARGET_DIR"
echo "pre-building the dependencies (not timed)..."
for c in "${CRATES[@]}"; do (cd "$BENCH/$c" && "${CARGO[@]}"); done

now_ms() { echo $(($(date +%s%N) / 1000000)); }

time_ms() { # crate, mode (clean, incremental or noop): one `cargo build`, in ms
    local dir="$BENCH/$1"
    case $2 in
    clean) rm -rf "$CARGO_TARGET_DIR/debug/incremental/$1"-* && touch "$dir/src/lib.rs" ;;
    incremental) touch "$dir/src/lib.rs" ;;
    esac
    local t0 t1
    t0=$(now_ms)
    (cd "$dir" && "${CARGO[@]}")
    t1=$(now_ms)
    echo $((t1 - t0))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

MODES=(clean incremental noop)
declare -A MS MED
for _ in $(seq 1 "$N"); do
    for c in "${CRATES[@]}"; do
        for m in "${MODES[@]}"; do MS[$c.$m]+="$(time_ms "$c" "$m") "; done
    done
done

printf '\nmedians of %d builds, ms (every run in brackets)\n' "$N"
for m in "${MODES[@]}"; do
    for c in "${CRATES[@]}"; do
        MED[$c.$m]=$(tr ' ' '\n' <<<"${MS[$c.$m]}" | grep . | median)
        printf '%-12s %-10s %7s   [%s]\n' "$m" "$c" "${MED[$c.$m]}" "${MS[$c.$m]% }"
    done
done
for m in clean incremental; do
    awk -v m="$m" -v t="${MED[tasks.$m]}" -v p="${MED[plain.$m]}" -v d="${MED[plain_dep.$m]}" \
        -v tn="${MED[tasks.noop]}" -v pn="${MED[plain.noop]}" -v dn="${MED[plain_dep.noop]}" 'BEGIN {
        printf "\n%s: tasks / plain %.2f x (+%d ms, +%.2f ms per task)\n", m, t / p, t - p, (t - p) / 100
        printf "%s, minus the no-op build (rustc alone): tasks / plain %.2f x (%d vs %d ms), tasks / plain_dep %.2f x (%d vs %d ms)\n",
            m, (t - tn) / (p - pn), t - tn, p - pn, (t - tn) / (d - dn), t - tn, d - dn
    }'
done
