#!/bin/sh
# Builds the Worker into build/ (index.js + index_bg.wasm). This is the
# [build] command in wrangler.toml, so `wrangler deploy` runs it too.
set -eu
. "$(dirname "$0")/env.sh"
cd "$ROOT"
worker-build --release
