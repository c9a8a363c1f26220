// End to end: the fault matrix, reduced (tests/faults/matrix.mjs runs the
// full one; see tests/faults/README.md). Every upstream fault of the mock ×
// every kind of route policy × JSON and streaming × OpenAI and Anthropic
// clients, a few requests per cell, all cells at once against one gateway.
// Fails on any hang, missing response, error outside the fault's statuses or
// not in the client's dialect or without its attempt trail, success
// reported on a cut stream, unterminated stream, or leaked key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runMatrix, table } from "../faults/matrix.mjs";

const PER_CELL = Number(process.env.FAULTS_PER_CELL ?? 5);

test(`fault matrix, ${PER_CELL} requests per cell: no violation`, async () => {
  const result = await runMatrix({ perCell: PER_CELL, concurrency: 200 });
  const bad = result.cells.filter((c) => Object.keys(c.violations).length);
  const report = bad.map((c) => `${c.name}: ${JSON.stringify(c.violations)}\n    ${c.samples.join("\n    ")}`).join("\n");
  console.log(`faults: ${result.requests} requests, ${result.cells.length} cells, ${result.seconds.toFixed(1)} s, violations ${result.violations}`);
  assert.equal(result.leaks, 0, "a key appeared in the Worker's log");
  assert.equal(bad.length, 0, `violations:\n${report}\n\n${table(result)}`);
  // Every cell was exercised, and what is supposed to fail did fail
  // (a matrix that never reaches the faults would pass vacuously).
  for (const c of result.cells) {
    assert.equal(c.n, PER_CELL, c.name);
    const failures = Object.entries(c.outcomes).filter(([k]) => k !== "ok").reduce((a, [, v]) => a + v, 0);
    if (c.fault === "ok") assert.equal(failures, 0, c.name);
    if (c.fault !== "ok" && (c.policy === "single" || c.policy === "breaker") && c.fault !== "503 one in 2")
      assert.ok(failures > 0, `${c.name}: the fault reached the client: ${JSON.stringify(c.outcomes)}`);
  }
});
