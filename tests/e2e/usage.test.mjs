// End to end: usage and cost on every answer (JSON and streamed, same
// format and translated), prices from the route file and the built-in
// table, gateway keys kept in KV (tags in route conditions, allowed models
// and routes, revocation) and spend budgets in their Durable Object under
// 50 concurrent requests. Every response and the Worker's log are scanned
// for provider and gateway keys.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const APP_KEY = "sy-usage-app-key-0123456789";
const KV_KEYS = {
  tagged: "sy-usage-kv-tagged-abcdef0123",
  limited: "sy-usage-kv-limited-abcdef0123",
  revoked: "sy-usage-kv-revoked-abcdef0123",
  later: "sy-usage-kv-later-abcdef0123",
  capped: "sy-usage-kv-capped-abcdef0123",
};
const SECRETS = { UP_KEY: "sk-usage-SECRET-openai", CL_KEY: "sk-ant-usage-SECRET" };
const ALL_KEYS = [APP_KEY, ...Object.values(KV_KEYS), ...Object.values(SECRETS)];
const CHAT = "/v1/chat/completions";
const MESSAGES = "/v1/messages";

const id = randomUUID();
const upPath = `/t/${id}/up/`;
const clPath = `/t/${id}/cl/`;
// The race's upstream answers after 300 ms, so the requests overlap.
const racePath = `/t/${id}/race/latency_ms=300/`;

const ROUTES = `
provider up {
  kind openai-compatible
  base env UP_URL
  keys [secret UP_KEY]
  price "mock-priced" input 2.00 output 8.00
  price "gpt-4o" input 1.00 output 1.00 cached 0.50   # overrides the built-in price
}
provider claude {
  kind anthropic
  base env CL_URL
  keys [secret CL_KEY]
}
provider race {
  kind openai-compatible
  base env RACE_URL
  keys [secret UP_KEY]
  price "mock-race" input 0 output 1.00
}
route beta { when key.tags contains "beta"  try up:mock-beta }
route claude { when model == "to-claude"  try claude:claude-sonnet-4-5 }
route race { when model == "race"  try race:mock-race }
route default { try up:{model} }
`;

let mock;
let gw;
let LOG = "";
const seen = [];

before(async () => {
  mock = await startMock();
  gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: `app:${hashKey(APP_KEY)}`,
      UP_URL: `${mock.url}${upPath}v1`,
      CL_URL: `${mock.url}${clPath}v1`,
      RACE_URL: `${mock.url}${racePath}v1`,
      // Revocation is seen at once (the default trusts a lookup for 30 s).
      KEYS_CACHE_MS: "0",
      OBJECT_TIMEOUT_MS: "10000",
      ...SECRETS,
    },
    routes: compileRoutes(ROUTES),
    keys: true,
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) {
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
          LOG += chunk;
        });
      }
    },
  });
  await gw.putKey(KV_KEYS.tagged, { name: "tagged", tags: ["beta"] });
  await gw.putKey(KV_KEYS.limited, { name: "limited", models: ["mock-small", "gpt-4o*"], routes: ["default"] });
  await gw.putKey(KV_KEYS.revoked, { name: "gone", revoked_ms: 1 });
  await gw.putKey(KV_KEYS.later, { name: "later" });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

/** One request; keeps the answer for the final scan for keys. */
async function send(path, body, { key = APP_KEY, headers = {} } = {}) {
  const res = await gw.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  seen.push(text, JSON.stringify([...res.headers]));
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

const chat = (model, extra = {}) => ({ model, messages: [{ role: "user", content: "count my cost" }], ...extra });
const messages = (model, extra = {}) => ({ model, max_tokens: 100, messages: [{ role: "user", content: "count my cost" }], ...extra });
/** µUSD as the headers write it. */
const usd = (micros) => `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, "0")}`;
/** Cost in µUSD: tokens × µUSD per token (prices per million tokens = µUSD per token), rounded up. */
const cost = (input, output, pin, pout) => Math.ceil(input * pin + output * pout - 1e-9);

/** The `: x-switchyard-…=…` comment lines at the end of a stream. */
function trailer(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^: (x-switchyard-[a-z-]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

describe("usage and cost on JSON answers", () => {
  test("OpenAI client to an OpenAI upstream, priced in the route file", async () => {
    const r = await send(CHAT, chat("mock-priced"));
    assert.equal(r.status, 200, r.text);
    const u = r.json().usage;
    assert.equal(r.headers.get("x-switchyard-tokens-in"), String(u.prompt_tokens));
    assert.equal(r.headers.get("x-switchyard-tokens-out"), String(u.completion_tokens));
    assert.equal(r.headers.get("x-switchyard-usage"), "reported");
    assert.equal(r.headers.get("x-switchyard-cost-usd"), usd(cost(u.prompt_tokens, u.completion_tokens, 2, 8)));
  });

  test("a route file's price overrides the built-in one; unpriced models carry tokens only", async () => {
    const r = await send(CHAT, chat("gpt-4o"));
    const u = r.json().usage;
    assert.equal(r.headers.get("x-switchyard-cost-usd"), usd(cost(u.prompt_tokens, u.completion_tokens, 1, 1)));
    const unpriced = await send(CHAT, chat("mock-small"));
    assert.equal(unpriced.status, 200);
    assert.ok(unpriced.headers.get("x-switchyard-tokens-in"));
    assert.equal(unpriced.headers.get("x-switchyard-cost-usd"), null);
  });

  test("translated both ways: built-in price of claude-sonnet-4-5, and Anthropic client to OpenAI", async () => {
    const r = await send(CHAT, chat("to-claude"));
    assert.equal(r.status, 200, r.text);
    const u = r.json().usage;
    assert.equal(r.headers.get("x-switchyard-tokens-in"), String(u.prompt_tokens));
    assert.equal(r.headers.get("x-switchyard-cost-usd"), usd(cost(u.prompt_tokens, u.completion_tokens, 3, 15)));
    const a = await send(MESSAGES, messages("mock-priced"));
    assert.equal(a.status, 200, a.text);
    const au = a.json().usage;
    assert.equal(a.headers.get("x-switchyard-tokens-out"), String(au.output_tokens));
    assert.equal(a.headers.get("x-switchyard-cost-usd"), usd(cost(au.input_tokens, au.output_tokens, 2, 8)));
  });
});

describe("usage and cost on streams", () => {
  test("the gateway asks for usage, takes it out of the client's stream, and adds its comment", async () => {
    const r = await send(CHAT, chat("mock-priced", { stream: true }));
    assert.equal(r.status, 200, r.text);
    // Headers carry the pre-call estimate, marked as such.
    assert.equal(r.headers.get("x-switchyard-usage"), "estimate");
    const upstream = await mock.last(`${upPath}v1/chat/completions`);
    assert.deepEqual(JSON.parse(upstream.body).stream_options, { include_usage: true });
    assert.ok(!r.text.includes('"usage"'), r.text);
    // The comment lines come just before the end event, which stays last.
    assert.ok(r.text.endsWith("data: [DONE]\n\n"), r.text);
    assert.ok(r.text.indexOf(": x-switchyard-cost-usd=") < r.text.indexOf("data: [DONE]"));
    const t = trailer(r.text);
    assert.equal(t["x-switchyard-usage"], "reported");
    assert.equal(t["x-switchyard-cost-usd"], usd(cost(Number(t["x-switchyard-tokens-in"]), Number(t["x-switchyard-tokens-out"]), 2, 8)));
    assert.ok(Number(t["x-switchyard-tokens-out"]) > 0);
  });

  test("a client that asked for usage gets its usage chunk and the same numbers", async () => {
    const r = await send(CHAT, chat("mock-priced", { stream: true, stream_options: { include_usage: true } }));
    const chunks = r.text.split("\n\n").filter((b) => b.startsWith("data: {")).map((b) => JSON.parse(b.slice(6)));
    const usage = chunks.at(-1).usage;
    const t = trailer(r.text);
    assert.equal(t["x-switchyard-tokens-in"], String(usage.prompt_tokens));
    assert.equal(t["x-switchyard-tokens-out"], String(usage.completion_tokens));
  });

  test("translated and Anthropic streams carry their usage too", async () => {
    const r = await send(CHAT, chat("to-claude", { stream: true }));
    assert.ok(r.text.endsWith("data: [DONE]\n\n"), r.text);
    let t = trailer(r.text);
    assert.equal(t["x-switchyard-usage"], "reported");
    assert.equal(t["x-switchyard-cost-usd"], usd(cost(Number(t["x-switchyard-tokens-in"]), Number(t["x-switchyard-tokens-out"]), 3, 15)));
    const a = await send(MESSAGES, messages("to-claude", { stream: true }));
    assert.equal(a.status, 200, a.text);
    assert.ok(a.text.indexOf(": x-switchyard-usage=") < a.text.indexOf("event: message_stop"), a.text);
    t = trailer(a.text);
    assert.equal(t["x-switchyard-usage"], "reported");
    assert.ok(Number(t["x-switchyard-tokens-in"]) > 0 && t["x-switchyard-cost-usd"]);
  });
});

describe("gateway keys in KV", () => {
  test("a KV key's tags reach route conditions; a secret key has none", async () => {
    const tagged = await send(CHAT, chat("mock-small"), { key: KV_KEYS.tagged });
    assert.equal(tagged.status, 200, tagged.text);
    assert.equal(tagged.headers.get("x-switchyard-route"), "beta");
    const plain = await send(CHAT, chat("mock-small"));
    assert.equal(plain.headers.get("x-switchyard-route"), "default");
  });

  test("unknown and revoked keys are refused with 401 and no upstream call", async () => {
    await mock.reset();
    for (const key of ["sy-usage-not-a-key", KV_KEYS.revoked]) {
      const r = await send(CHAT, chat("mock-small"), { key });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json().error.code, "invalid_api_key");
    }
    const anthropic = await send(MESSAGES, messages("mock-small"), { key: KV_KEYS.revoked });
    assert.equal(anthropic.status, 401);
    assert.equal(anthropic.json().type, "error");
    assert.equal((await mock.calls()).total, 0);
  });

  test("revoking a key takes effect (KEYS_CACHE_MS 0 here)", async () => {
    assert.equal((await send(CHAT, chat("mock-small"), { key: KV_KEYS.later })).status, 200);
    await gw.putKey(KV_KEYS.later, { name: "later", revoked_ms: Date.now() });
    assert.equal((await send(CHAT, chat("mock-small"), { key: KV_KEYS.later })).status, 401);
  });

  test("models and routes a key may not use are refused with 403 in the client's dialect, no upstream call", async () => {
    await mock.reset();
    const ok = await send(CHAT, chat("gpt-4o-mini"), { key: KV_KEYS.limited });
    assert.equal(ok.status, 200, ok.text);
    await mock.reset();
    const model = await send(CHAT, chat("mock-priced"), { key: KV_KEYS.limited });
    assert.equal(model.status, 403, model.text);
    assert.equal(model.json().error.type, "permission_error");
    assert.equal(model.json().error.param, "model");
    const anthropic = await send(MESSAGES, messages("mock-priced"), { key: KV_KEYS.limited });
    assert.equal(anthropic.status, 403);
    assert.deepEqual([anthropic.json().type, anthropic.json().error.type], ["error", "permission_error"]);
    const route = await send(CHAT, chat("to-claude"), { key: KV_KEYS.limited });
    assert.equal(route.status, 403);
    assert.match(route.json().error.message, /route `claude`/);
    assert.equal(await mock.count(`${upPath}`), 0);
    assert.equal(await mock.count(`${clPath}`), 0);
  });
});

describe("budgets", () => {
  test("50 concurrent requests against a budget of 10 requests' worth: at most 11 reach the upstream", async () => {
    // Price: output 1 µUSD per token, input free; max_tokens 1 makes each
    // request's estimate 1 µUSD, and a budget of 10 µUSD is ten requests' worth.
    // Each answer costs at least its estimate, so a settlement never frees room.
    await gw.putKey(KV_KEYS.capped, { name: "capped", budget: { limit_micros: 10, period: "day" } });
    const body = chat("race", { max_tokens: 1 });
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 50 }, () => send(CHAT, body, { key: KV_KEYS.capped })));
    const elapsed = performance.now() - started;
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    assert.equal(ok.length + refused.length, 50, results.map((r) => r.status).join(","));
    const upstream = await mock.count(racePath);
    assert.ok(upstream <= 11 && upstream >= 1, `upstream calls: ${upstream}`);
    assert.equal(upstream, ok.length);
    for (const r of refused) {
      const e = r.json().error;
      assert.deepEqual([e.type, e.code], ["insufficient_quota", "insufficient_quota"]);
      assert.equal(r.headers.get("x-switchyard-attempts"), "0");
    }
    // Anthropic clients get their own shape.
    const a = await send(MESSAGES, messages("race", { max_tokens: 1 }), { key: KV_KEYS.capped });
    assert.equal(a.status, 429);
    assert.deepEqual([a.json().type, a.json().error.type], ["error", "rate_limit_error"]);
    // Settlements run after the responses: wait for the object to show them.
    let standing;
    for (let i = 0; i < 200; i++) {
      standing = await gw.budget("capped");
      if (standing.reserved_micros === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(standing.reserved_micros, 0);
    assert.equal(standing.limit_micros, 10);
    assert.equal(standing.period, "day");
    const spent = ok.reduce((sum, r) => sum + Number(r.headers.get("x-switchyard-cost-usd")) * 1e6, 0);
    assert.equal(standing.spent_micros, Math.round(spent));
    assert.ok(standing.resets_at_ms > Date.now());
    console.log(`budget race: ${ok.length} admitted, ${refused.length} refused, 50 requests in ${elapsed.toFixed(0)} ms`);
  });
});

test("no response and no log line holds a provider key or a gateway key", () => {
  const everything = seen.join("\n") + LOG;
  for (const key of ALL_KEYS) assert.ok(!everything.includes(key), `a key leaked: ${key}`);
  assert.ok(seen.length > 20);
});
