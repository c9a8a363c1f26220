// End to end: the execution engine over real fetch. Route files compiled by
// `yard` send requests to providers that live on their own paths of the
// mock, each with fault directives; the mock's ledger says how many calls
// each provider (and each key) received.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const GATEWAY_KEY = "sy-engine-key-0123456789";
const KEYS = { KEY_A1: "sk-engine-SECRET-a-one", KEY_A2: "sk-engine-SECRET-a-two", KEY_B: "sk-engine-SECRET-b" };
const CHAT = "/v1/chat/completions";

let mock;
before(async () => {
  mock = await startMock();
});
after(async () => {
  await mock?.stop();
});

/**
 * A gateway serving `routes` (route-file text using `base env A_URL` and
 * `base env B_URL`); `a` and `b` are directive lists for the two providers.
 */
async function gateway(routes, { a = [], b = [] } = {}) {
  const id = randomUUID();
  const prefix = (name, directives) => `/t/${id}/${name}/${directives.map((d) => `${d}/`).join("")}`;
  const pa = prefix("a", a);
  const pb = prefix("b", b);
  const gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: hashKey(GATEWAY_KEY),
      A_URL: `${mock.url}${pa}v1`,
      B_URL: `${mock.url}${pb}v1`,
      UPSTREAM_BASE_URL: `${mock.url}/t/${id}/unused/v1`,
      ...KEYS,
    },
    routes: compileRoutes(routes),
  });
  const count = (p, key) =>
    mock.calls(`?path=${encodeURIComponent(`${p}v1/chat/completions`)}${key ? `&key=${key}` : ""}`).then((c) => c.count);
  return {
    stop: () => gw.stop(),
    calls: { a: (key) => count(pa, key), b: (key) => count(pb, key) },
    async chat(body = {}) {
      const started = performance.now();
      const res = await gw.fetch(CHAT, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}` },
        body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "engine" }], ...body }),
      });
      const text = await res.text();
      for (const secret of Object.values(KEYS)) assert.ok(!text.includes(secret), `a key leaked: ${text}`);
      return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text), ms: performance.now() - started };
    },
  };
}

async function withGateway(routes, directives, fn) {
  const gw = await gateway(routes, directives);
  try {
    await fn(gw);
  } finally {
    await gw.stop();
  }
}

const PROVIDERS = `
provider a { kind openai-compatible  base env A_URL  keys [secret KEY_A1, secret KEY_A2] }
provider b { kind openai-compatible  base env B_URL  keys [secret KEY_B] }
provider solo { kind openai-compatible  base env A_URL  keys [secret KEY_A1] }
`;

test("429 then 200 on the same key: one retry, the client sees the 200", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} else b:{model} with { attempts 1 } }
     policy default { attempts 3  backoff constant 10ms }`,
    { a: ["status=429", "fail_times=1"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("x-switchyard-attempts"), "2");
      assert.equal(res.headers.get("x-switchyard-target"), "solo:mock-small");
      assert.equal(res.headers.get("x-switchyard-route"), "r");
      assert.equal(await gw.calls.a(KEYS.KEY_A1), 2);
      assert.equal(await gw.calls.b(), 0);
    },
  ));

test("429 on the first key: the second key answers, before any fallback", () =>
  withGateway(
    `${PROVIDERS}
     route r { try a:{model} with { attempts 1 } else b:{model} }`,
    { a: ["status=429", "fail_key=a-one"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("x-switchyard-attempts"), "2");
      assert.equal(await gw.calls.a(KEYS.KEY_A1), 1);
      assert.equal(await gw.calls.a(KEYS.KEY_A2), 1);
      assert.equal(await gw.calls.b(), 0);
    },
  ));

test("three 500s, then the fallback target answers", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 3  backoff constant 5ms } else b:mock-large }`,
    { a: ["status=500"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json().model, "mock-large", "the fallback's fixed model was sent");
      assert.equal(res.headers.get("x-switchyard-target"), "b:mock-large");
      assert.equal(res.headers.get("x-switchyard-attempts"), "4");
      assert.equal(await gw.calls.a(), 3);
      assert.equal(await gw.calls.b(), 1);
    },
  ));

test("a timeout moves on to the next target", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 1  timeout 200ms per attempt, 10s total } else b:{model} }`,
    { a: ["latency_ms=5000"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get("x-switchyard-target"), "b:mock-small");
      assert.equal(await gw.calls.b(), 1);
    },
  ));

test("a 400 is the client's: returned at once, no retry, no fallback", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 3 } else b:{model} }`,
    { a: ["status=400"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json().error.attempts.length, 1);
      assert.equal(await gw.calls.a(), 1);
      assert.equal(await gw.calls.b(), 0);
    },
  ));

test("Retry-After is honoured before the retry", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 2  backoff constant 1ms  retry_after up to 5s } }`,
    { a: ["status=429", "retry_after=1", "fail_times=1"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 200, res.text);
      assert.equal(await gw.calls.a(), 2);
      // A lower bound only: the wait cannot be shorter than asked.
      assert.ok(res.ms >= 950, `answered after ${res.ms} ms, before the 1 s Retry-After`);
    },
  ));

test("the total deadline cuts a long chain: 504 with the attempt trail", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} else b:{model} else solo:{model} }
     policy default { attempts 3  backoff constant 10ms  timeout 150ms per attempt, 400ms total }`,
    { a: ["latency_ms=5000"], b: ["latency_ms=5000"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 504, res.text);
      const { error } = res.json();
      assert.match(error.message, /total deadline of 400ms/);
      assert.ok(error.attempts.length >= 2 && error.attempts.length <= 4, res.text);
      for (const a of error.attempts) {
        assert.deepEqual(Object.keys(a).sort(), ["duration_ms", "key", "model", "outcome", "provider", "status", "waited_ms"]);
        assert.equal(a.outcome, "timeout");
      }
    },
  ));

test("everything failing: the last failure, with every attempt in the trail", () =>
  withGateway(
    `${PROVIDERS}
     route r { try a:{model} with { attempts 1 } else b:{model} with { attempts 2  backoff constant 1ms } }`,
    { a: ["status=503"], b: ["status=502"] },
    async (gw) => {
      const res = await gw.chat();
      assert.equal(res.status, 502, res.text);
      const trail = res.json().error.attempts;
      assert.deepEqual(trail.map((t) => `${t.provider}/${t.key}/${t.outcome}`), ["a/0/503", "b/0/502", "b/0/502"]);
      assert.equal(trail[0].model, "mock-small");
    },
  ));

test("a stream that stalls before its first byte falls back; the client gets one clean stream", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 1 } else b:{model} }
     policy default { timeout 10s per attempt, 300ms first byte, 20s total }`,
    { a: ["ttfb_ms=5000"] },
    async (gw) => {
      const res = await gw.chat({ stream: true });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get("content-type"), /text\/event-stream/);
      assert.ok(res.text.trimEnd().endsWith("data: [DONE]"), res.text);
      assert.ok(!res.text.includes('"error"'), res.text);
      assert.equal(res.headers.get("x-switchyard-target"), "b:mock-small");
      assert.equal(await gw.calls.a(), 1);
      assert.equal(await gw.calls.b(), 1);
    },
  ));

test("a stream reset before its first byte falls back", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 1 } else b:{model} }`,
    { a: ["fault=reset"] },
    async (gw) => {
      const res = await gw.chat({ stream: true });
      assert.equal(res.status, 200, res.text);
      assert.ok(res.text.trimEnd().endsWith("data: [DONE]"), res.text);
      assert.equal(await gw.calls.b(), 1);
    },
  ));

test("a stream that fails after its first byte ends in an error event, with no fallback", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} else b:{model} }`,
    { a: ["fault=cut", "cut_after=1"] },
    async (gw) => {
      const res = await gw.chat({ stream: true });
      assert.equal(res.status, 200);
      assert.match(res.text, /"code":"upstream_incomplete"/);
      assert.ok(!res.text.includes("[DONE]"), res.text);
      assert.equal(await gw.calls.a(), 1);
      assert.equal(await gw.calls.b(), 0, "no second answer once the first has started");
    },
  ));

test("a stream that goes silent after its first chunk ends in an error event, not a hang", () =>
  withGateway(
    `${PROVIDERS}
     route r { try solo:{model} with { attempts 1  timeout 400ms per attempt, 20s total } else b:{model} }`,
    { a: ["chunk_delay_ms=10000"] },
    async (gw) => {
      const res = await gw.chat({ stream: true });
      assert.equal(res.status, 200);
      assert.match(res.text, /"code":"upstream_incomplete"/);
      assert.match(res.text, /no data for 400 ms/);
      assert.ok(!res.text.includes("[DONE]"), res.text);
      assert.equal(await gw.calls.b(), 0, "a started stream is never retried");
    },
  ));
