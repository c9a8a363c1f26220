// End to end: the fault matrix, reduced (tests/faults/matrix.mjs runs the
// full one; see tests/faults/README.md). Every upstream fault of the mock ×
// every kind of route policy × JSON and streaming × OpenAI and Anthropic
// clients, a few requests per cell, all cells at once against one gateway.
// Fails on any hang, missing response, error outside the fault's statuses or
// not in the client's dialect or without its attempt trail, success
// reported on a cut stream, unterminated stream, or leaked key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { judge, runMatrix, table } from "../faults/matrix.mjs";

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

// The checker itself: each violation it exists for is caught (so a clean
// run means something).
test("the matrix's checker catches what it must", () => {
  const expected = "Mock reply to: x";
  const cell = (o) => ({ dialect: "openai", upstream: "openai", mode: "stream", fault: "cut mid-way", expected, expectedRoute: "c1", ...o });
  const sse = (text) => ({ status: 200, contentType: "text/event-stream", route: "c1", attempts: "1", text });
  const chunk = (content) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
  const oaiError = `data: {"error":{"message":"cut","type":"upstream_error","code":"upstream_incomplete"}}\n\n`;
  const verdict = (c, r) => judge(cell(c), r).violation ?? judge(cell(c), r).outcome;

  assert.equal(verdict({}, sse(chunk("Mock reply") + "data: [DONE]\n\n")), "success_on_cut_stream");
  assert.equal(verdict({}, sse(chunk("Mock reply"))), "stream_unterminated");
  assert.equal(verdict({}, sse(chunk("Mock reply") + oaiError)), "stream_error");
  assert.equal(verdict({}, sse(chunk("Mock reply") + oaiError + "data: [DONE]\n\n")), "events_after_end");
  assert.equal(verdict({ fault: "500" }, sse(chunk("Mock") + oaiError)), "stream_error_unexpected");
  assert.equal(verdict({ dialect: "anthropic", upstream: "openai" }, sse(`event: error\ndata: {"error":{"message":"m","type":"t"}}\n\n`)), "stream_error_wrong_dialect");
  assert.equal(verdict({ upstream: "anthropic" }, sse(`data: {not json\n\n${chunk(expected)}data: [DONE]\n\n`)), "malformed_event_relayed");
  assert.equal(verdict({}, sse(chunk(expected) + "data: [DONE]\n\n")), "ok");
  assert.equal(verdict({}, { ...sse(chunk(expected) + "data: [DONE]\n\n"), route: "fallthrough" }), "served_by_another_route");

  const error = (status, body) => ({ status, contentType: "application/json", text: JSON.stringify(body) });
  const trail = [{ provider: "a1", outcome: "reset" }];
  const json = { mode: "json", fault: "reset" };
  assert.equal(verdict(json, error(502, { error: { message: "m", type: "upstream_error", attempts: trail } })), "http_502");
  assert.equal(verdict(json, error(500, { error: { message: "m", type: "internal", attempts: trail } })), "unexpected_status");
  assert.equal(verdict(json, error(502, { error: { message: "m", type: "upstream_error" } })), "no_attempt_trail");
  assert.equal(verdict(json, error(502, { type: "error", error: { message: "m", type: "api_error", attempts: trail } })), "error_wrong_dialect");
  assert.equal(verdict({ ...json, dialect: "anthropic" }, error(502, { error: { message: "m", type: "upstream_error", attempts: trail } })), "error_wrong_dialect");
  assert.equal(verdict({ ...json, fault: "ok" }, error(502, { error: { message: "m", type: "upstream_error", attempts: trail } })), "error_on_healthy_upstream");
  const whole = { status: 200, contentType: "application/json", route: "c1", attempts: "1" };
  assert.equal(verdict(json, { ...whole, text: JSON.stringify({ choices: [{ message: { content: expected } }] }) }), "ok");
  assert.equal(verdict(json, { ...whole, text: JSON.stringify({ choices: [{ message: { content: "Mock" } }] }) }), "bad_success_body");
});
