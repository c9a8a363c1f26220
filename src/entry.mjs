// The Worker's entry module (wrangler.toml `main`; scripts/build-worker.sh
// copies it next to the build it wraps, as build/entry.mjs).
//
// worker-build's own entry (build/index.js's default export) is a class
// behind a Proxy: for every request the runtime constructs it through a
// `construct` trap, and the `fetch` it reads goes through a `get` trap that
// wraps the method in a new Proxy with an async `apply`. That machinery
// exists to re-instantiate the wasm module after a trap (a panic aborts at
// once in this build), and it costs ~15 µs of workerd CPU per request
// (bench/README.md). This entry calls the same generated `fetch` directly
// and keeps the same recovery:
// - a `WebAssembly.RuntimeError` out of a request marks the module broken
//   (the flag worker-build's glue keeps on `globalThis.__worker_init_state`);
// - while it is marked, requests take worker-build's own path, whose first
//   construction re-instantiates the module and clears the mark.
// The Durable Object classes are worker-build's, unchanged.
import Generated from "./index.js";

export * from "./index.js";

const state = globalThis.__worker_init_state;
const fetchInWasm = Generated.prototype.fetch;

export default {
  async fetch(request, env, ctx) {
    if (!state || state.criticalError) return new Generated(ctx, env).fetch(request);
    try {
      return await fetchInWasm.call({ env, ctx }, request);
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) state.criticalError = true;
      throw error;
    }
  },
};
