#!/usr/bin/env bash
# Clean debug build of the `flytekit` crate: a local-only build (default features) of an earlier
# revision and of this tree, and this tree with `--features cluster`, alternating, N rounds.
#
#   bash benches/clean_build_time.sh [BEFORE_REV]     # default 7c3b73c (before issue 12); N=2
#
# Each build starts from an empty target directory under target/clean-build/, so registry
# crates are compiled too (they are downloaded once, beforehand). Prints seconds and the load.
set -euo pipefail
cd "$(dirname "$0")/.."
before_rev=${1:-7c3b73c}
rounds=${N:-2}
root=$PWD/target/clean-build
mkdir -p "$root"
if [ ! -d "$root/before" ]; then
  git worktree add --detach "$root/before" "$before_rev" >/dev/null
fi
cargo fetch -q
(cd "$root/before" && cargo fetch -q)
build() {
  local label=$1 dir=$2; shift 2
  local target=$root/target
  rm -rf "$target"
  local start end
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR=$target cargo build -q -p flytekit "$@")
  end=$(date +%s.%N)
  printf '%-28s %6.1f s  load %s\n' "$label" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"
}
for round in $(seq "$rounds"); do
  build "before r$round" "$root/before"
  build "after r$round" "$PWD"
  build "after --features cluster r$round" "$PWD" --features cluster
done
rm -rf "$root/target"
git worktree remove --force "$root/before"
