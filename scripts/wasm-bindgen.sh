#!/bin/sh
# wasm-bindgen as worker-build runs it (scripts/build-worker.sh points
# worker-build's WASM_BINDGEN_BIN here; WASM_BINDGEN_REAL is the pinned CLI),
# without `--force-enable-abort-handler`: see scripts/build-worker.sh.
set -eu
for arg; do
  shift
  [ "$arg" = --force-enable-abort-handler ] || set -- "$@" "$arg"
done
exec "$WASM_BINDGEN_REAL" "$@"
