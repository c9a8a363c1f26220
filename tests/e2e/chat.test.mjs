// End to end: the compiled Worker in workerd (Miniflare) forwarding to the
// project's mock provider over 127.0.0.1 with real fetch. Every test gets a
// fresh gateway and its own upstream path, so counts never leak between tests.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";
import { plan, provider, route, step, when } from "../support/plans.mjs";

const GATEWAY_KEY = "sy-test-key-0123456789";
const PROVIDER_KEY = "sk-provider-SECRET-e2e-4242";
/**
 * The shipped default route with a provider key and one attempt (these
 * tests are about the single call; retries have their own suite):
 * compiled by `yard`, served from KV.
 */
const KEYED_ROUTES = compileRoutes(`
policy default { attempts 1 }
provider upstream {
  kind openai-compatible
  base env UPSTREAM_BASE_URL
  keys [secret PROVIDER_API_KEY]
}
route default { try upstream:{model} }
`);
const CHAT = "/v1/chat/completions";

let mock;
/** Every response body and header block seen, checked for the provider key at the end. */
const seen = [];

before(async () => {
  mock = await startMock();
});

after(async () => {
  await mock?.stop();
});

/**
 * A fresh gateway whose upstream is a path of its own on the mock, with
 * fault directives (e.g. ["status=500"]) as path segments. The embedded
 * (default) plan sends every model to UPSTREAM_BASE_URL; `routes` gives the
 * gateway a KV plan instead (see tests/support/plans.mjs).
 */
async function gateway({ directives = [], vars = {}, routes = KEYED_ROUTES } = {}) {
  const prefix = `/t/${randomUUID()}/${directives.map((d) => `${d}/`).join("")}`;
  const gw = await startGateway({
    bindings: {
      UPSTREAM_BASE_URL: `${mock.url}${prefix}v1`,
      PROVIDER_API_KEY: PROVIDER_KEY,
      GATEWAY_KEYS: `tests:${hashKey(GATEWAY_KEY)}`,
      ...vars,
    },
    routes,
  });
  return {
    ...gw,
    upstreamPath: `${prefix}v1${CHAT.slice(3)}`,
    /** Upstream calls made through this gateway. */
    upstreamCalls: () => mock.count(prefix),
    async send(path, { method = "POST", headers = {}, body, key = GATEWAY_KEY } = {}) {
      const auth = key === null ? {} : { authorization: `Bearer ${key}` };
      const res = await gw.fetch(path, {
        method,
        headers: { "content-type": "application/json", ...auth, ...headers },
        body: body === undefined || typeof body === "string" || body instanceof ReadableStream ? body : JSON.stringify(body),
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
      });
      const text = await res.text();
      seen.push(text, JSON.stringify([...res.headers]));
      return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
    },
  };
}

function withGateway(name, options, fn) {
  test(name, async () => {
    const gw = await gateway(options);
    try {
      await fn(gw);
    } finally {
      await gw.stop();
    }
  });
}

const hello = (extra = {}) => ({
  model: "mock-small",
  messages: [{ role: "user", content: "Hello there" }],
  ...extra,
});

function assertOpenAIError(res, status, pattern) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get("content-type"), /application\/json/);
  const { error } = res.json();
  assert.equal(typeof error.message, "string");
  assert.equal(typeof error.type, "string");
  assert.ok("code" in error && "param" in error, res.text);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

withGateway("health answers without a key", {}, async (gw) => {
  const res = await gw.send("/health", { method: "GET", key: null });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { status: "ok" });
});

withGateway("JSON chat completion round trip", {}, async (gw) => {
  const request = hello({ temperature: 0.2, some_future_field: { keep: [1, 2] } });
  const res = await gw.send(CHAT, { body: request });
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("x-request-id"), /^req_[0-9a-f]{32}$/);
  const body = res.json();
  assert.equal(body.object, "chat.completion");
  assert.equal(body.model, "mock-small");
  assert.match(body.choices[0].message.content, /Hello there/);
  assert.ok(body.usage.total_tokens > 0);

  assert.equal(await gw.upstreamCalls(), 1);
  const upstream = await mock.last(gw.upstreamPath);
  assert.equal(upstream.headers.authorization, `Bearer ${PROVIDER_KEY}`, "the provider key goes upstream");
  assert.ok(!JSON.stringify(upstream).includes(GATEWAY_KEY), "the gateway key never goes upstream");
  assert.deepEqual(JSON.parse(upstream.body), request, "the body is forwarded unchanged, unknown fields included");
});

withGateway("x-api-key is accepted as the gateway key", {}, async (gw) => {
  const res = await gw.send(CHAT, { body: hello(), key: null, headers: { "x-api-key": GATEWAY_KEY } });
  assert.equal(res.status, 200, res.text);
});

withGateway("a stream arrives chunk by chunk as SSE events in order, ending in [DONE]", {
  directives: ["chunks=6", "chunk_delay_ms=40"],
}, async (gw) => {
  const res = await gw.fetch(CHAT, {
    method: "POST",
    headers: { authorization: `Bearer ${GATEWAY_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(hello({ stream: true, stream_options: { include_usage: true } })),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  assert.match(res.headers.get("x-request-id"), /^req_[0-9a-f]{32}$/);
  const reads = [];
  const decoder = new TextDecoder();
  for await (const chunk of res.body) reads.push(decoder.decode(chunk, { stream: true }));
  const text = reads.join("");
  seen.push(text);
  assert.ok(reads.length > 1, "the body arrived in more than one read: it was not buffered");
  assert.ok(!reads[0].includes("[DONE]"), "the first read came before the end of the stream");

  // SSE comment blocks (the gateway's usage lines) are not events.
  const events = text.split("\n\n").filter((e) => e && !e.startsWith(":")).map((e) => e.replace(/^data: /, ""));
  assert.equal(events.at(-1), "[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.ok(chunks.length >= 6, `expected at least 6 chunk events, got ${chunks.length}`);
  assert.equal(chunks[0].choices[0].delta.role, "assistant");
  const content = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
  assert.match(content, /Hello there/);
  assert.ok(chunks.at(-1).usage.total_tokens > 0, "the usage chunk comes last");

  // The same request as JSON has the same content: nothing was lost or reordered.
  const json = await gw.send(CHAT, { body: hello() });
  assert.equal(json.json().choices[0].message.content, content);
});

/** Sends a streamed chat request and returns the SSE events' data fields. */
async function streamEvents(gw) {
  const res = await gw.fetch(CHAT, {
    method: "POST",
    headers: { authorization: `Bearer ${GATEWAY_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(hello({ stream: true })),
  });
  const text = await res.text();
  seen.push(text);
  // SSE comment blocks (the gateway's usage lines) are not events.
  const events = text.split(/\n\n+/).map((e) => e.trim()).filter((e) => e && !e.startsWith(":")).map((e) => e.replace(/^data: ?/, ""));
  return { status: res.status, events };
}

for (const [name, directives] of [
  ["a stream the upstream cuts off", ["fault=cut", "cut_after=2"]],
  ["a stream the upstream resets mid-way", ["fault=cut", "cut_after=0", "chunk_delay_ms=20"]],
]) {
  withGateway(`${name} ends in an error event, never a clean end`, { directives }, async (gw) => {
    const { status, events } = await streamEvents(gw);
    assert.equal(status, 200, "the cut comes after the headers");
    assert.ok(!events.includes("[DONE]"), events.join("\n"));
    const last = JSON.parse(events.at(-1));
    assert.equal(last.error.code, "upstream_incomplete", events.at(-1));
    assert.match(last.error.message, /incomplete/);
    assert.equal(JSON.parse(events[0]).choices[0].delta.role, "assistant", "what arrived before the cut was relayed");
  });
}

withGateway("a complete stream carries no error event", {}, async (gw) => {
  const { events } = await streamEvents(gw);
  assert.equal(events.at(-1), "[DONE]");
  assert.ok(events.slice(0, -1).every((e) => !("error" in JSON.parse(e))));
});

withGateway("a truncated JSON answer is a 502, not a broken 200", { directives: ["fault=cut"] }, async (gw) => {
  const error = assertOpenAIError(await gw.send(CHAT, { body: hello() }), 502);
  assert.equal(error.code, "upstream_incomplete");
});

withGateway("a garbled JSON answer is a 502, not a broken 200", { directives: ["fault=malformed"] }, async (gw) => {
  const error = assertOpenAIError(await gw.send(CHAT, { body: hello() }), 502, /not valid JSON/);
  assert.equal(error.code, "upstream_malformed");
});

withGateway("no gateway key: 401 and the upstream receives nothing", {}, async (gw) => {
  const refused = await gw.send(CHAT, { body: hello(), key: null });
  const error = assertOpenAIError(refused, 401);
  assert.equal(error.code, "missing_api_key");
  assert.match(refused.headers.get("x-request-id"), /^req_/, "errors carry a request id too");
  assertOpenAIError(await gw.send("/v1/models", { method: "GET", key: null }), 401);
  assert.equal(await gw.upstreamCalls(), 0);
});

withGateway("wrong gateway key: 401 and the upstream receives nothing", {}, async (gw) => {
  const error = assertOpenAIError(await gw.send(CHAT, { body: hello(), key: "sy-wrong" }), 401);
  assert.equal(error.code, "invalid_api_key");
  assertOpenAIError(await gw.send(CHAT, { body: hello(), key: null, headers: { "x-api-key": PROVIDER_KEY } }), 401);
  assert.equal(await gw.upstreamCalls(), 0);
});

withGateway("upstream 500 is passed back with its status as an OpenAI error", {
  directives: ["status=500"],
}, async (gw) => {
  const error = assertOpenAIError(await gw.send(CHAT, { body: hello() }), 500);
  assert.ok(error.type.length > 0);
  assert.equal(await gw.upstreamCalls(), 1);
});

withGateway("upstream 429 is passed back with Retry-After", {
  directives: ["status=429", "retry_after=7"],
}, async (gw) => {
  const res = await gw.send(CHAT, { body: hello({ stream: true }) });
  assertOpenAIError(res, 429);
  assert.equal(res.headers.get("retry-after"), "7");
});

withGateway("malformed JSON: 400 naming the problem, nothing sent upstream", {}, async (gw) => {
  assertOpenAIError(await gw.send(CHAT, { body: '{"model": "mock-small", "messages": [' }), 400, /not valid JSON.*line 1 column/);
  assertOpenAIError(await gw.send(CHAT, { body: "" }), 400, /empty/);
  assert.equal(await gw.upstreamCalls(), 0);
});

withGateway("a body that is not a chat request: 400 naming the field", {}, async (gw) => {
  const missing = assertOpenAIError(await gw.send(CHAT, { body: { model: "mock-small" } }), 400, /`messages` is required/);
  assert.equal(missing.param, "messages");
  assertOpenAIError(await gw.send(CHAT, { body: { model: "mock-small", messages: "hi" } }), 400, /`messages` to be an array/);
  assertOpenAIError(await gw.send(CHAT, { body: { model: 42, messages: [] } }), 400, /`model` to be a string/);
  assertOpenAIError(await gw.send(CHAT, { body: [1, 2] }), 400, /JSON object/);
  assert.equal(await gw.upstreamCalls(), 0);
});

withGateway("oversized bodies: 413, with or without Content-Length", {
  vars: { MAX_BODY_BYTES: "4096" },
}, async (gw) => {
  const big = hello({ messages: [{ role: "user", content: "x".repeat(5000) }] });
  assertOpenAIError(await gw.send(CHAT, { body: big }), 413, /4096 bytes/);
  const chunked = new ReadableStream({
    start(controller) {
      for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode("x".repeat(1000)));
      controller.close();
    },
  });
  assertOpenAIError(await gw.send(CHAT, { body: chunked }), 413);
  const fits = await gw.send(CHAT, { body: hello() });
  assert.equal(fits.status, 200, fits.text);
  assert.equal(await gw.upstreamCalls(), 1);
});

withGateway("oversized headers: 431", { vars: { MAX_HEADER_BYTES: "2048" } }, async (gw) => {
  assertOpenAIError(await gw.send(CHAT, { body: hello(), headers: { "x-padding": "p".repeat(3000) } }), 431);
  assert.equal(await gw.upstreamCalls(), 0);
});

withGateway("unknown path: 404; wrong method: 405", {}, async (gw) => {
  assertOpenAIError(await gw.send("/v1/nothing", { method: "GET" }), 404, /\/v1\/nothing/);
  const wrongMethod = await gw.send(CHAT, { method: "GET" });
  assertOpenAIError(wrongMethod, 405, /POST/);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  assertOpenAIError(await gw.send("/v1/models", { method: "POST", body: "{}" }), 405, /GET/);
});

withGateway("/v1/models under the default plan: an empty list, every model passed through", {}, async (gw) => {
  const res = await gw.send("/v1/models", { method: "GET" });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { object: "list", data: [] });
  const any = await gw.send(CHAT, { body: hello({ model: "some-model-nobody-listed" }) });
  assert.equal(any.status, 200, any.text);
  assert.equal(any.json().model, "some-model-nobody-listed");
});

test("a model no route takes: 404 model_not_found, nothing sent upstream", async () => {
  const prefix = `/t/${randomUUID()}/`;
  const routes = plan({
    providers: [provider("mock", `${mock.url}${prefix}v1`)],
    routes: [route("small", when.model("mock-small"), step(0))],
    models: ["mock-small"],
  });
  const gw = await gateway({ routes });
  try {
    const error = assertOpenAIError(await gw.send(CHAT, { body: hello({ model: "gpt-nope" }) }), 404, /gpt-nope/);
    assert.equal(error.code, "model_not_found");
    assert.equal(error.param, "model");
    assert.equal(await mock.count(prefix), 0);
    assert.equal((await gw.send(CHAT, { body: hello() })).status, 200, "the routed model still works");
    assert.equal(await mock.count(prefix), 1);
  } finally {
    await gw.stop();
  }
});

withGateway("an upstream that does not answer in time: 504", {
  directives: ["latency_ms=3000"],
  vars: { UPSTREAM_TIMEOUT_MS: "150" },
}, async (gw) => {
  assertOpenAIError(await gw.send(CHAT, { body: hello() }), 504, /150 ms/);
});

test("an unreachable upstream: 502", async () => {
  const gw = await startGateway({
    bindings: {
      UPSTREAM_BASE_URL: "http://127.0.0.1:9/v1", // discard port: nothing listens
      PROVIDER_API_KEY: PROVIDER_KEY,
      GATEWAY_KEYS: hashKey(GATEWAY_KEY),
    },
  });
  try {
    const res = await gw.fetch(CHAT, {
      method: "POST",
      headers: { authorization: `Bearer ${GATEWAY_KEY}` },
      body: JSON.stringify(hello()),
    });
    const text = await res.text();
    seen.push(text);
    assert.equal(res.status, 502, text);
    assert.equal(JSON.parse(text).error.code, "upstream_unreachable");
  } finally {
    await gw.stop();
  }
});

test("a gateway without GATEWAY_KEYS refuses everything and says why", async () => {
  const gw = await startGateway({ bindings: { UPSTREAM_BASE_URL: `${mock.url}/unused/v1` } });
  try {
    const res = await gw.fetch(CHAT, { method: "POST", body: JSON.stringify(hello()) });
    const body = await res.json();
    assert.equal(res.status, 500);
    assert.match(body.error.message, /GATEWAY_KEYS is not set/);
    assert.equal(await mock.count("/unused/"), 0);
  } finally {
    await gw.stop();
  }
});

test("the provider key appears in no response", () => {
  assert.ok(seen.length > 20, "responses were collected");
  for (const text of seen) assert.ok(!text.includes(PROVIDER_KEY), `provider key leaked in: ${text.slice(0, 200)}`);
});

test("a client that leaves mid-stream stops the relay, which logs the stream's end as client_gone", async () => {
  const prefix = `/t/${randomUUID()}/chunks=40/chunk_delay_ms=25/`;
  const gw = await startGateway({
    bindings: { UPSTREAM_BASE_URL: `${mock.url}${prefix}v1`, PROVIDER_API_KEY: PROVIDER_KEY, GATEWAY_KEYS: `tests:${hashKey(GATEWAY_KEY)}` },
    routes: KEYED_ROUTES,
    captureLog: true,
  });
  try {
    const res = await gw.fetch(CHAT, {
      method: "POST",
      headers: { authorization: `Bearer ${GATEWAY_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(hello({ stream: true })),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /"role":"assistant"/);
    await reader.cancel();
    // The relay notices at its next write (the upstream sends one every 25 ms).
    const deadline = Date.now() + 15_000;
    while (!gw.log().includes('"stream_end":"client_gone"') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(gw.log().includes('"stream_end":"client_gone"'), gw.log());
    assert.ok(!gw.log().includes('"stream_end":"ok"'), "the stream did not run to its end");
  } finally {
    await gw.stop();
  }
});
