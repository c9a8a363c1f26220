// The Worker's entry module (src/entry.mjs): requests call the generated
// `fetch` directly, and a trap sends them through worker-build's own path,
// which re-instantiates the wasm module, until that path clears the mark.
// Run against a stand-in for worker-build's index.js (a trap cannot be
// provoked in the real Worker from outside); the e2e suite runs the real
// entry for every other test (tests/support/harness.mjs WORKER_SCRIPT).
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../support/harness.mjs";

// What the stand-in records: which path served, and the module's generation.
const STAND_IN = `
const state = (globalThis.__worker_init_state = { criticalError: false, instanceId: 0 });
globalThis.__served = [];
globalThis.__trapNext = false;
class Entrypoint {
  constructor(ctx, env) {
    // worker-build's construct trap: re-instantiate after a critical error.
    if (state.criticalError) { state.criticalError = false; state.instanceId++; }
    this.ctx = ctx;
    this.env = env;
  }
}
Entrypoint.prototype.fetch = async function (request) {
  globalThis.__served.push({ request, direct: !(this instanceof Entrypoint), generation: state.instanceId, env: this.env, ctx: this.ctx });
  if (globalThis.__trapNext) { globalThis.__trapNext = false; throw new WebAssembly.RuntimeError("unreachable"); }
  return "answer " + request;
};
export default Entrypoint;
export class Budget {}
`;

async function loadEntry() {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-entry-"));
  writeFileSync(join(dir, "index.js"), STAND_IN);
  copyFileSync(join(ROOT, "src", "entry.mjs"), join(dir, "entry.mjs"));
  return import(pathToFileURL(join(dir, "entry.mjs")).href);
}

test("requests call the generated fetch directly, with env and ctx", async () => {
  const entry = await loadEntry();
  assert.equal(await entry.default.fetch("a", { E: 1 }, { C: 1 }), "answer a");
  const [served] = globalThis.__served;
  assert.equal(served.direct, true);
  assert.deepEqual([served.env, served.ctx], [{ E: 1 }, { C: 1 }]);
  assert.equal(typeof entry.Budget, "function", "the Durable Object classes are re-exported");
});

test("after a trap the next request re-instantiates the module, then the direct path resumes", async () => {
  const entry = await loadEntry();
  globalThis.__trapNext = true;
  await assert.rejects(entry.default.fetch("trap", {}, {}), WebAssembly.RuntimeError);
  assert.equal(globalThis.__worker_init_state.criticalError, true);
  assert.equal(await entry.default.fetch("b", {}, {}), "answer b");
  assert.equal(await entry.default.fetch("c", {}, {}), "answer c");
  const [, recovered, after] = globalThis.__served;
  assert.deepEqual([recovered.direct, recovered.generation], [false, 1], "served by worker-build's path, on a new instance");
  assert.deepEqual([after.direct, after.generation], [true, 1], "then directly again");
});

test("an ordinary error does not mark the module broken", async () => {
  const entry = await loadEntry();
  await assert.rejects(entry.default.fetch({ toString() { throw new TypeError("bad"); } }, {}, {}), TypeError);
  assert.equal(globalThis.__worker_init_state.criticalError, false);
  assert.equal(await entry.default.fetch("d", {}, {}), "answer d");
  assert.equal(globalThis.__served.at(-1).direct, true);
});
