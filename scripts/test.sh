#!/bin/sh
# `make test`: every test, from a fresh clone. Installs what is missing, then
# host unit tests, lints, wasm32 tests, the wasm build, a deploy dry run, and the
# end-to-end suite (compiled Worker in workerd against the mock provider).
set -eu
. "$(dirname "$0")/env.sh"
cd "$ROOT"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "setup"
sh scripts/setup.sh

step "host unit tests"
cargo test -p switchyard -p mock-provider

step "clippy (host and wasm32)"
cargo clippy -p switchyard -p mock-provider --all-targets -- -D warnings
cargo clippy -p switchyard --target wasm32-unknown-unknown --all-targets -- -D warnings

step "a route-file mistake fails the build, with its diagnostics"
log=$(mktemp)
if SWITCHYARD_ROUTES=tests/routes/invalid/many-mistakes.route cargo check -q -p switchyard >"$log" 2>&1; then
  echo "the build accepted tests/routes/invalid/many-mistakes.route"; exit 1
fi
grep -q "tests/routes/invalid/many-mistakes.route:4:34" "$log" || { cat "$log"; exit 1; }
grep -q "6 errors, 0 warnings" "$log" || { cat "$log"; exit 1; }
rm -f "$log"
echo "ok: cargo refused the build and printed the diagnostics"

step "wasm32 tests (wasm-bindgen-test under Node)"
cargo test -p switchyard --target wasm32-unknown-unknown --test wasm

step "build: Worker (wasm32) and mock provider"
sh scripts/build-worker.sh
cargo build --release -p mock-provider

step "wrangler deploy --dry-run"
out=$(mktemp -d)
wrangler deploy --dry-run --outdir "$out" </dev/null
rm -rf "$out"

step "end-to-end (workerd via miniflare)"
node --test --test-concurrency=1 tests/e2e/
