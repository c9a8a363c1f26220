#!/bin/sh
# `make bench`: builds the gateway, the pass-through Worker and the mock
# provider, installs the load generator and the peer gateways (LiteLLM,
# Portkey: bench/peers/install.sh, a bench-only environment) if missing, and
# runs bench/run.mjs. BENCH_PEERS=0 skips the peers.
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
if [ "${BENCH_PEERS:-1}" != 0 ]; then
  sh bench/peers/install.sh
fi
sh scripts/build-worker.sh
worker-build --release bench/passthrough
cargo build --release -p mock-provider
exec node bench/run.mjs "$@"
