#!/bin/sh
# `make bench`: builds the gateway, the pass-through Worker and the mock
# provider, installs the load generator if missing, and runs bench/run.mjs.
# Not part of `make test`: these are measurements, not pass/fail checks.
set -eu
. "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
OHA_VERSION=1.16.0

sh scripts/setup.sh
if [ "$("$CARGO_BIN/oha" --version 2>/dev/null | awk '{print $NF}')" != "$OHA_VERSION" ]; then
  echo "bench: installing oha $OHA_VERSION (a few minutes, once)"
  cargo install oha --version "$OHA_VERSION" --locked --force
fi
sh scripts/build-worker.sh
worker-build --release bench/passthrough
cargo build --release -p mock-provider
exec node bench/run.mjs "$@"
