#!/bin/sh
# Builds the Worker into build/ (entry.mjs, index.js, index_bg.wasm). This is the
# [build] command in wrangler.toml, so `wrangler deploy` runs it too. Arguments
# go to worker-build (e.g. `--out-dir DIR -- --no-default-features`).
set -eu
. "$(dirname "$0")/env.sh"
cd "$ROOT"

# Smaller wasm (bench/README.md "Size of each provider adapter"): a pinned
# nightly rebuilds std for the Worker with panic=immediate-abort (a panic
# traps at once: no message formatting, no panic machinery), without caller
# locations (no file paths in the data), with std's `optimize_for_size`
# feature (its smaller sort and formatting code), and with derived `Debug`
# impls printing the type's name only (`-Zfmt-debug=shallow`; `{:?}` of a
# string, a number, a `Vec` or a `JsValue` is unchanged: the log lines
# quote strings with it, and the Worker prints no derived `Debug`). Its own target directory,
# so the stable builds (tests, clippy) keep theirs. Only the wasm32 target
# gets the flags: build scripts and proc-macros are built as usual.
export RUSTUP_TOOLCHAIN="$WORKER_TOOLCHAIN"
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=shallow"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/worker"
# worker-build runs wasm-bindgen with `--experimental-reset-state-function`
# (the re-instantiation after a trap: kept) and `--force-enable-abort-handler`,
# which scripts/wasm-bindgen.sh drops: that handler wraps every import in an
# exception-catching function inside the wasm (~13 KB raw, 1.3 KB gzip) to
# mark the instance terminated when a JS exception crosses it. A trap (a
# panic) is caught outside the wasm either way: worker-build's `error`
# listener and Proxies and src/entry.mjs mark the module broken on a
# `WebAssembly.RuntimeError`, and the next request re-instantiates it.
export WASM_BINDGEN_REAL="$WASM_BINDGEN_BIN" WASM_BINDGEN_BIN="$ROOT/scripts/wasm-bindgen.sh"
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
# Unused exports and the names out, and the glue's hashed import names
# shortened in the wasm and index.js alike (scripts/wasm-trim.mjs), then wasm-opt
# (npm binaryen, pinned in package.json) with only the passes that shrink
# the gzipped Worker: identical functions merged, identical code tails
# folded, arguments no caller uses removed (`--dae-optimizing`), redundant
# local writes removed (`--rse`), then -O1 and -O2 with inlining off (-O2
# and up, -Os and -Oz with their inlining grow it), and the
# `target_features` section (for tools, not for the runtime) dropped.
# WASM_KEEP_NAMES=1 keeps the function names (a build for
# bench/profile.mjs). The features are workerd's set (worker-build's own list).
node scripts/wasm-trim.mjs "$out/index_bg.wasm" "$out/index.js"
"$WASM_OPT_BIN" "$out/index_bg.wasm" -o "$out/index_bg.wasm" ${WASM_KEEP_NAMES:+-g} \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling \
  --duplicate-function-elimination --code-folding --vacuum --duplicate-function-elimination \
  --dae-optimizing --rse -O1 -O2 --always-inline-max-function-size 0 \
  --one-caller-inline-max-function-size 0 --flexible-inline-max-function-size 0 \
  --strip-target-features

# The Worker's entry module (wrangler.toml `main`): src/entry.mjs, next to
# the build it wraps (it imports ./index.js).
cp src/entry.mjs "$out/entry.mjs"
