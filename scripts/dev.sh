#!/bin/sh
# `make dev`: install what is missing, build, and run the gateway locally.
set -eu
. "$(dirname "$0")/env.sh"
cd "$ROOT"
sh scripts/setup.sh
sh scripts/build-worker.sh
cargo build --release -p mock-provider
exec node scripts/dev.mjs
