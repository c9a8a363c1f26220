# Sourced by every script: pinned tool versions and the environment that
# keeps worker-build and wrangler off the network (only package registries
# are reachable) and out of the user's home directory.
# shellcheck shell=sh
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$ROOT/node_modules/.bin:$PATH"

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate in Cargo.lock
WORKER_BUILD_VERSION=0.8.7
# The Worker's wasm is built with this nightly (std rebuilt with
# panic=immediate-abort: see scripts/build-worker.sh). Tests, clippy and the
# native tools stay on stable.
WORKER_TOOLCHAIN=nightly-2026-05-20

# worker-build would otherwise download wasm-bindgen and esbuild from GitHub.
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
if [ -x "$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild" ]; then
  export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
fi
# wasm-opt: npm binaryen, pinned in package.json (scripts/build-worker.sh
# runs it; worker-build's own run is off in Cargo.toml).
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
export WRANGLER_SEND_METRICS=false
export XDG_CONFIG_HOME="$ROOT/.wrangler/config"
