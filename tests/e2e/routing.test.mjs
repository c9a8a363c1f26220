// End to end: routing by a plan from the ROUTES KV namespace. Each test
// gives its providers their own paths on the mock, so the ledger tells
// which upstream each request reached.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { hashKey, startGateway, startMock } from "../support/harness.mjs";
import { chain, plan, provider, route, split, step, when } from "../support/plans.mjs";

const GATEWAY_KEY = "sy-routing-key-0123456789";
const SECRETS = {
  KEY_A: "sk-a-SECRET-routing-1111",
  KEY_B: "sk-b-SECRET-routing-2222",
  PROVIDER_API_KEY: "sk-default-SECRET-routing-3333",
};
const CHAT = "/v1/chat/completions";

let mock;
/** Every response body and header block seen, checked for secret values at the end. */
const seen = [];

before(async () => {
  mock = await startMock();
});

after(async () => {
  await mock?.stop();
});

/** Upstream paths of their own: `base(name)` for a provider, `path(name)` for its chat calls. */
function upstreams() {
  const id = randomUUID();
  const prefix = (name) => `/t/${id}/${name}/`;
  return {
    base: (name) => `${mock.url}${prefix(name)}v1`,
    path: (name) => `${prefix(name)}v1/chat/completions`,
    count: (name) => mock.count(prefix(name)),
    last: (name) => mock.last(`${prefix(name)}v1/chat/completions`),
  };
}

async function gateway({ routes = null, vars = {}, secrets = SECRETS, up }) {
  const gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: `tests:${hashKey(GATEWAY_KEY)}`,
      UPSTREAM_BASE_URL: up.base("embedded"),
      ...secrets,
      ...vars,
    },
    routes,
  });
  const send = async (path, { method = "POST", headers = {}, body } = {}) => {
    const res = await gw.fetch(path, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}`, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    seen.push(text, JSON.stringify([...res.headers]));
    return { status: res.status, text, json: () => JSON.parse(text) };
  };
  return {
    ...gw,
    send,
    chat: (model, headers = {}) =>
      send(CHAT, { headers, body: { model, messages: [{ role: "user", content: "route me" }] } }),
  };
}

async function withGateway(options, fn) {
  const gw = await gateway(options);
  try {
    await fn(gw);
  } finally {
    await gw.stop();
  }
}

/** Two providers, a and b, with their own keys. */
function twoProviders(up) {
  return [
    provider("a", up.base("a"), { keys: ["KEY_A"] }),
    provider("b", up.base("b"), { keys: ["KEY_B"] }),
  ];
}

test("two providers, routes by model: each request reaches its upstream, fixed models rewritten", async () => {
  const up = upstreams();
  const routes = plan({
    providers: twoProviders(up),
    routes: [
      route("small", when.model("mock-small"), step(0)),
      route("big", when.any(when.in("model", ["big", "large"]), when.matches("model", "^big-")), step(1, "mock-large")),
    ],
  });
  await withGateway({ routes, up }, async (gw) => {
    const small = await gw.chat("mock-small");
    assert.equal(small.status, 200, small.text);
    assert.equal(small.json().model, "mock-small");
    assert.deepEqual([await up.count("a"), await up.count("b")], [1, 0]);
    const toA = await up.last("a");
    assert.equal(toA.headers.authorization, `Bearer ${SECRETS.KEY_A}`);
    assert.equal(JSON.parse(toA.body).model, "mock-small", "{model} passes the request's model");

    for (const model of ["big", "big-2"]) {
      const big = await gw.chat(model);
      assert.equal(big.status, 200, big.text);
      assert.equal(big.json().model, "mock-large", "the provider saw the fixed model");
    }
    assert.deepEqual([await up.count("a"), await up.count("b"), await up.count("embedded")], [1, 2, 0]);
    const toB = await up.last("b");
    assert.equal(toB.headers.authorization, `Bearer ${SECRETS.KEY_B}`);
    const sent = JSON.parse(toB.body);
    assert.equal(sent.model, "mock-large");
    assert.deepEqual(sent.messages, [{ role: "user", content: "route me" }], "the rest of the body is kept");

    // A stream is routed and rewritten the same way, and still streams.
    const streamed = await gw.send(CHAT, { body: { model: "big", stream: true, messages: [{ role: "user", content: "hi" }] } });
    assert.equal(streamed.status, 200, streamed.text);
    const events = streamed.text.split("\n\n").filter(Boolean).map((e) => e.replace(/^data: /, ""));
    assert.equal(events.at(-1), "[DONE]");
    assert.equal(JSON.parse(events[0]).model, "mock-large");
    assert.equal(JSON.parse((await up.last("b")).body).stream, true);

    const none = await gw.chat("mock-medium");
    assert.equal(none.status, 404, none.text);
    assert.equal(none.json().error.code, "model_not_found");
  });
});

test("a split inside a chain: the picked branch's first step is called", async () => {
  const up = upstreams();
  // One branch of weight 100: deterministic whatever Math.random says.
  const routes = plan({
    providers: twoProviders(up),
    routes: [route("all", null, chain(split([100, step(1, "mock-large")]), step(0)))],
  });
  await withGateway({ routes, up }, async (gw) => {
    const res = await gw.chat("anything");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().model, "mock-large");
    assert.deepEqual([await up.count("a"), await up.count("b")], [0, 1]);
  });
});

test("header conditions route, whatever the header's case", async () => {
  const up = upstreams();
  const routes = plan({
    providers: twoProviders(up),
    routes: [
      route("pro", when.all(when.header("X-Tier", "pro"), when.eq("key_name", "tests")), step(1)),
      route("teams", when.ne({ header: "x-team" }, null), step(1, "mock-large")),
      route("default", null, step(0)),
    ],
  });
  await withGateway({ routes, up }, async (gw) => {
    assert.equal((await gw.chat("mock-small", { "x-tier": "pro" })).status, 200);
    assert.equal((await gw.chat("mock-small", { "X-TIER": "pro" })).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [0, 2]);
    assert.equal((await gw.chat("mock-small", { "x-tier": "free" })).status, 200);
    assert.equal((await gw.chat("mock-small")).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [2, 2]);
    const team = await gw.chat("mock-small", { "x-team": "search" });
    assert.equal(team.json().model, "mock-large");
    assert.deepEqual([await up.count("a"), await up.count("b")], [2, 3]);
  });
});

test("metadata and param conditions", async () => {
  const up = upstreams();
  const routes = plan({
    providers: twoProviders(up),
    routes: [
      route("search", when.eq({ metadata: "team" }, "search"), step(1)),
      route("long", when.all(when.eq({ param: "stream" }, null), { compare: { field: { param: "max_tokens" }, op: "gt", value: { number: 4000 } } }), step(1)),
      route("default", null, step(0)),
    ],
  });
  await withGateway({ routes, up }, async (gw) => {
    const body = (extra = {}) => ({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra });
    assert.equal((await gw.send(CHAT, { headers: { "x-switchyard-metadata": '{"team":"search"}' }, body: body() })).status, 200);
    assert.equal((await gw.send(CHAT, { body: body({ max_tokens: 5000 }) })).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [0, 2]);
    assert.equal((await gw.send(CHAT, { headers: { "x-switchyard-metadata": "not json" }, body: body() })).status, 200);
    assert.equal((await gw.send(CHAT, { body: body({ max_tokens: 100 }) })).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [2, 2]);
  });
});

test("a KV plan with a newer format is refused; the embedded plan keeps serving", async () => {
  const up = upstreams();
  const newer = plan({
    format: 999,
    providers: twoProviders(up),
    routes: [route("all", null, step(0))],
    models: ["from-the-refused-plan"],
  });
  await withGateway({ routes: newer, up, vars: { PLAN_REFRESH_MS: "0" } }, async (gw) => {
    const res = await gw.chat("mock-small");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([await up.count("embedded"), await up.count("a")], [1, 0]);
    assert.deepEqual((await gw.send("/v1/models", { method: "GET" })).json().data, []);
    await gw.putPlan("{ this is not a plan");
    assert.equal((await gw.chat("mock-small")).status, 200);
    assert.deepEqual([await up.count("embedded"), await up.count("a")], [2, 0]);
  });
});

test("/v1/models lists the plan's models", async () => {
  const up = upstreams();
  const routes = plan({
    providers: twoProviders(up),
    routes: [route("all", when.in("model", ["alpha", "beta"]), step(0))],
    models: ["alpha", "beta"],
  });
  await withGateway({ routes, up }, async (gw) => {
    const res = await gw.send("/v1/models", { method: "GET" });
    assert.equal(res.status, 200);
    const body = res.json();
    assert.equal(body.object, "list");
    assert.deepEqual(body.data.map((m) => [m.id, m.object]), [["alpha", "model"], ["beta", "model"]]);
  });
});

test("a missing key secret: 500 misconfigured naming the secret, no value, nothing sent", async () => {
  const up = upstreams();
  const routes = plan({
    providers: [provider("a", up.base("a"), { keys: ["KEY_NOT_SET"] })],
    routes: [route("all", null, step(0))],
  });
  await withGateway({ routes, up }, async (gw) => {
    const res = await gw.chat("mock-small");
    assert.equal(res.status, 500, res.text);
    const { error } = res.json();
    assert.equal(error.code, "misconfigured");
    assert.match(error.message, /KEY_NOT_SET/);
    for (const value of Object.values(SECRETS)) assert.ok(!res.text.includes(value));
    assert.equal(await up.count("a"), 0);
  });
  // The embedded plan (routes/main.route) declares no key: it serves
  // without one and sends no credentials upstream.
  await withGateway({ up, secrets: {} }, async (gw) => {
    const res = await gw.chat("mock-small");
    assert.equal(res.status, 200, res.text);
    assert.equal(await up.count("embedded"), 1);
    assert.equal((await up.last("embedded")).headers.authorization, undefined);
  });
});

test("a base URL var that is not set: 500 naming the var", async () => {
  const up = upstreams();
  const routes = plan({
    providers: [provider("a", { env: "A_BASE_URL" })],
    routes: [route("all", null, step(0))],
  });
  await withGateway({ routes, up }, async (gw) => {
    const res = await gw.chat("mock-small");
    assert.equal(res.status, 500, res.text);
    assert.match(res.json().error.message, /A_BASE_URL/);
  });
});

test("a changed KV plan is picked up without a restart, and a deleted one falls back to the embedded plan", async () => {
  const up = upstreams();
  const toA = plan({ providers: twoProviders(up), routes: [route("all", null, step(0))] });
  const toB = plan({ providers: twoProviders(up), routes: [route("all", null, chain(step(1), step(0)))] });
  await withGateway({ routes: toA, up, vars: { PLAN_REFRESH_MS: "0" } }, async (gw) => {
    assert.equal((await gw.chat("mock-small")).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [1, 0]);
    await gw.putPlan(toB);
    assert.equal((await gw.chat("mock-small")).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [1, 1], "only the chain's first step is called");
    await gw.deletePlan();
    assert.equal((await gw.chat("mock-small")).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b"), await up.count("embedded")], [1, 1, 1]);
  });
});

test("within PLAN_REFRESH_MS the isolate keeps its plan without reading KV again", async () => {
  const up = upstreams();
  const toA = plan({ providers: twoProviders(up), routes: [route("all", null, step(0))] });
  const toB = plan({ providers: twoProviders(up), routes: [route("all", null, step(1))] });
  // Ten minutes: the second request comes long before the next check is due.
  await withGateway({ routes: toA, up, vars: { PLAN_REFRESH_MS: "600000" } }, async (gw) => {
    assert.equal((await gw.chat("mock-small")).status, 200);
    await gw.putPlan(toB);
    assert.equal((await gw.chat("mock-small")).status, 200);
    assert.deepEqual([await up.count("a"), await up.count("b")], [2, 0]);
  });
});

test("a fresh isolate serves the KV plan to every request, also those that arrive during its first KV read", async () => {
  const up = upstreams();
  const toA = plan({ providers: twoProviders(up), routes: [route("all", null, step(0))] });
  // On a real port, so the requests reach the isolate at the same time
  // (dispatchFetch sends them one after another).
  const gw = await startGateway({
    bindings: { GATEWAY_KEYS: `tests:${hashKey(GATEWAY_KEY)}`, UPSTREAM_BASE_URL: up.base("embedded"), PLAN_REFRESH_MS: "600000", ...SECRETS },
    routes: toA,
    port: 0,
  });
  try {
    const body = JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "route me" }] });
    const all = await Promise.all(
      Array.from({ length: 16 }, () =>
        fetch(`${gw.url}${CHAT}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}` }, body })
          .then(async (res) => (await res.text(), res.status)),
      ),
    );
    assert.deepEqual(all, Array(16).fill(200));
    assert.deepEqual([await up.count("a"), await up.count("embedded")], [16, 0], "none went by the embedded plan");
  } finally {
    await gw.stop();
  }
});

test("no secret value appears in any response", () => {
  assert.ok(seen.length > 20, "responses were collected");
  for (const text of seen) {
    for (const value of Object.values(SECRETS)) {
      assert.ok(!text.includes(value), `secret leaked in: ${text.slice(0, 200)}`);
    }
  }
});
