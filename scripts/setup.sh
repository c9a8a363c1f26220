#!/bin/sh
# Installs what building and testing need, and only what is missing:
# the wasm32 target, the pinned nightly the Worker is built with, pinned wasm-bindgen-cli and worker-build, and the npm
# packages (wrangler, miniflare, playwright-core), and Chromium for the
# dashboard test. Idempotent: a second run takes a second.
set -eu
. "$(dirname "$0")/env.sh"
cd "$ROOT"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The pinned nightly that builds the Worker (scripts/build-worker.sh), with
# the std sources (rebuilt for wasm32) and the wasm32 target. Checked on disk:
# `rustup toolchain install` asks the network even when nothing is missing.
toolchain_dir=$(echo "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$WORKER_TOOLCHAIN"-*)
if [ ! -d "$toolchain_dir/lib/rustlib/src/rust/library" ] || [ ! -d "$toolchain_dir/lib/rustlib/wasm32-unknown-unknown" ]; then
  say "installing the $WORKER_TOOLCHAIN toolchain for the Worker build (about 15 s, once)"
  # --no-self-update: where auto self-update is on, rustup would otherwise
  # replace itself with the dist server's release (an older one, here).
  rustup toolchain install "$WORKER_TOOLCHAIN" --profile minimal --component rust-src --target wasm32-unknown-unknown --no-self-update
fi

installed_version() { "$CARGO_BIN/$1" --version 2>/dev/null | awk '{print $NF}'; }

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

# npm ci only when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Debian's Chromium for the dashboard's browser test (playwright-core drives
# it; its own browser download cannot work here). apt-get only when missing.
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (apt-get, once)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
