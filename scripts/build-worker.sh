#!/bin/sh
# Builds the Worker into build/ (index.js + index_bg.wasm). This is the
# [build] command in wrangler.toml, so `wrangler deploy` runs it too. Arguments
# go to worker-build (e.g. `--out-dir DIR -- --no-default-features`).
set -eu
. "$(dirname "$0")/env.sh"
cd "$ROOT"

# Smaller wasm (bench/README.md "Size of each provider adapter"): a pinned
# nightly rebuilds std for the Worker with panic=immediate-abort (a panic
# traps at once: no message formatting, no panic machinery), without caller
# locations (no file paths in the data), and with std's `optimize_for_size`
# feature (its smaller sort and formatting code). Its own target directory,
# so the stable builds (tests, clippy) keep theirs. Only the wasm32 target
# gets the flags: build scripts and proc-macros are built as usual.
export RUSTUP_TOOLCHAIN="$WORKER_TOOLCHAIN"
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/worker"
worker-build --release "$@"

# The output directory (worker-build's --out-dir / -d, default build/).
out=build
while [ $# -gt 0 ]; do
  case "$1" in
    --out-dir|-d) out=$2; shift ;;
    --out-dir=*) out=${1#--out-dir=} ;;
  esac
  shift
done
if [ -f "$out/index_bg.wasm" ]; then
  node scripts/strip-names.mjs "$out/index_bg.wasm"
fi
