// End to end: the response cache (KV `CACHE`) and single-flight (Durable
// Object `FLIGHT`) in workerd through Miniflare, against the mock provider.
// Every test asks its own question (a fresh nonce in the prompt), so tests
// share one gateway without sharing entries. The mock numbers its answers
// (`chatcmpl-mock-<n>`), so an answer served from the cache is told from a
// new one by its id, and the mock's call ledger says how many reached it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const KEY = "sy-cache-e2e-key-0123456789";
const id = randomUUID();
const HOUR = 3_600_000;

/** Each provider: its base path on the mock (directives in the path). */
const PROVIDERS = {
  fast: "",
  slow: "latency_ms=400/",
  broken: "latency_ms=300/status=500/",
  flaky: "status=500/fail_times=1/",
  cut: "fault=cut/cut_after=2/chunks=6/",
  claude: "",
};
const base = (name) => `${mock.url}/c/${id}/${name}/${PROVIDERS[name]}v1`;
const calls = (name) => mock.count(`/c/${id}/${name}/`);

const ROUTES = `
provider fast   { kind openai-compatible  base env FAST_URL }
provider slow   { kind openai-compatible  base env SLOW_URL }
provider broken { kind openai-compatible  base env BROKEN_URL }
provider flaky  { kind openai-compatible  base env FLAKY_URL }
provider cut    { kind openai-compatible  base env CUT_URL }
provider claude { kind anthropic  base env CLAUDE_URL  keys [secret CLAUDE_KEY] }
route cached   { when model == "cached"   cache 1h          try fast:mock-small }
route alias    { when model in ["alias-a", "alias-b"]  cache 1h  try fast:mock-small }
route sampled  { when model == "sampled"  cache 1h sampled  try fast:mock-small }
route slow     { when model == "slow"     cache 1h          try slow:mock-small }
route broken   { when model == "broken"   cache 1h          try broken:mock-small with { attempts 1 } }
route flaky    { when model == "flaky"    cache 1h          try flaky:mock-small with { attempts 1  timeout 2s per attempt, 2s total } }
route cut      { when model == "cut"      cache 1h          try cut:mock-small with { attempts 1 } }
route claude   { when model == "claude"   cache 1h          try claude:mock-claude }
route plain    { when model == "plain"    try fast:mock-small }
route default  { cache 1h  try fast:{model} }
`;

let mock;
let gw;

before(async () => {
  mock = await startMock();
  const bindings = { GATEWAY_KEYS: hashKey(KEY), SWITCHYARD_TEST_CLOCK: "1", CLAUDE_KEY: "sk-ant-cache-e2e" };
  for (const name of Object.keys(PROVIDERS)) bindings[`${name.toUpperCase()}_URL`] = base(name);
  gw = await startGateway({ bindings, routes: compileRoutes(ROUTES), cache: true });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

/** A question nobody asked yet. */
const fresh = () => `what is ${randomUUID()}?`;

/** An OpenAI chat body (deterministic: temperature 0) about `question`. */
const chat = (model, question, extra = {}) => ({
  model,
  messages: [{ role: "user", content: question }],
  temperature: 0,
  ...extra,
});

async function send(body, headers = {}, path = "/v1/chat/completions") {
  const res = await gw.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, cache: res.headers.get("x-switchyard-cache") };
}

/** What an OpenAI SSE body says: id, text, finish reason, usage, and that it ended in [DONE]. */
function streamed(text) {
  const data = text.split(/\n\n+/).map((b) => b.split("\n").find((l) => l.startsWith("data: "))?.slice(6)).filter(Boolean);
  assert.equal(data.at(-1), "[DONE]", `the stream ends in [DONE]: ${text}`);
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"), text);
  return {
    id: chunks[0].id,
    text: chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join(""),
    finish: chunks.map((c) => c.choices?.[0]?.finish_reason).filter(Boolean),
    usage: chunks.map((c) => c.usage).filter(Boolean).at(-1) ?? null,
  };
}

/** The same, from a JSON answer. */
function answered(text) {
  const body = JSON.parse(text);
  return { id: body.id, text: body.choices[0].message.content, finish: [body.choices[0].finish_reason], usage: body.usage ?? null };
}

describe("cache: JSON", () => {
  test("a miss, then a hit with the same bytes, an age, no upstream call; the entry is versioned JSON in KV", async () => {
    const body = chat("cached", fresh());
    const first = await send(body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.cache, "MISS");
    const key = first.headers.get("x-switchyard-cache-key");
    assert.match(key, /^sy1:[0-9a-f]{64}$/);
    const before = await calls("fast");
    const second = await send(body);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.cache, "HIT");
    assert.equal(second.text, first.text, "a hit is the miss's answer, byte for byte");
    assert.match(second.headers.get("age"), /^\d+$/);
    assert.equal(second.headers.get("x-switchyard-route"), "cached");
    assert.equal(second.headers.get("x-switchyard-cache-key"), key);
    assert.equal(await calls("fast"), before, "a hit calls no upstream");
    const stored = JSON.parse(await (await gw.cacheKv()).get(key));
    assert.equal(stored.v, 1);
    assert.equal(stored.ttl_ms, HOUR);
    assert.ok(stored.stored_at_ms > 0);
    assert.equal(stored.answer.id, JSON.parse(first.text).id);
  });

  test("field order, whitespace and volatile fields do not change the key; what is asked does", async () => {
    const question = fresh();
    const first = await send(chat("cached", question, { user: "alice" }));
    assert.equal(first.cache, "MISS");
    const reordered = await gw.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, "x-request-id": "r-2" },
      body: `{ "temperature": 0.0, "user": "bob", "messages": [ { "content": ${JSON.stringify(question)}, "role": "user" } ], "model": "cached" }`,
    });
    assert.equal(reordered.headers.get("x-switchyard-cache"), "HIT");
    assert.equal(await reordered.text(), first.text);
    const other = await send(chat("cached", question, { max_tokens: 7 }));
    assert.equal(other.cache, "MISS");
  });

  test("the model as the route resolves it is the key: two aliases of one route share an entry", async () => {
    const question = fresh();
    assert.equal((await send(chat("alias-a", question))).cache, "MISS");
    assert.equal((await send(chat("alias-b", question))).cache, "HIT");
    // A pass-through route keys on the model it passes through.
    assert.equal((await send(chat("mock-x", question))).cache, "MISS");
    assert.equal((await send(chat("mock-y", question))).cache, "MISS");
    assert.equal((await send(chat("mock-x", question))).cache, "HIT");
  });

  test("Cache-Control: no-cache refreshes (calls upstream, overwrites); no-store bypasses (neither reads nor writes)", async () => {
    const body = chat("cached", fresh());
    const first = await send(body);
    assert.equal(first.cache, "MISS");
    const before = await calls("fast");
    const refreshed = await send(body, { "cache-control": "no-cache" });
    assert.equal(refreshed.cache, "REFRESH");
    assert.equal(await calls("fast"), before + 1);
    assert.notEqual(answered(refreshed.text).id, answered(first.text).id, "a new answer");
    const after = await send(body);
    assert.equal(after.cache, "HIT");
    assert.equal(after.text, refreshed.text, "the refresh overwrote the entry");

    const bypassed = await send(body, { "cache-control": "no-store" });
    assert.equal(bypassed.cache, "BYPASS");
    assert.equal(await calls("fast"), before + 2);
    assert.notEqual(answered(bypassed.text).id, answered(refreshed.text).id);
    const still = await send(body);
    assert.equal(still.cache, "HIT");
    assert.equal(still.text, refreshed.text, "no-store wrote nothing");
  });

  test("sampling that is not deterministic is cached only on a `sampled` route; a seed counts as deterministic", async () => {
    const question = fresh();
    const unsampled = { model: "cached", messages: [{ role: "user", content: question }] };
    assert.equal((await send(unsampled)).cache, "BYPASS");
    assert.equal((await send(unsampled)).cache, "BYPASS");
    assert.equal((await send({ ...unsampled, temperature: 0.9, seed: 7 })).cache, "MISS");
    assert.equal((await send({ ...unsampled, temperature: 0.9, seed: 7 })).cache, "HIT");
    const sampled = { ...unsampled, model: "sampled" };
    assert.equal((await send(sampled)).cache, "MISS");
    assert.equal((await send(sampled)).cache, "HIT");
    // Log probabilities are not kept in an entry: never cached.
    assert.equal((await send({ ...sampled, logprobs: true })).cache, "BYPASS");
  });

  test("a route without `cache` has no cache headers", async () => {
    const res = await send(chat("plain", fresh()));
    assert.equal(res.status, 200);
    assert.equal(res.cache, null);
    assert.equal(res.headers.get("x-switchyard-cache-key"), null);
  });

  test("TTL: fresh until the route's lifetime has passed since stored_at (test clock), then a miss", async () => {
    const body = chat("cached", fresh());
    assert.equal((await send(body)).cache, "MISS");
    const later = await send(body, { "x-switchyard-test-clock-ms": "5000" });
    assert.equal(later.cache, "HIT");
    assert.ok(Number(later.headers.get("age")) >= 5, `age ${later.headers.get("age")}`);
    const almost = await send(body, { "x-switchyard-test-clock-ms": String(HOUR - 60_000) });
    assert.equal(almost.cache, "HIT");
    const before = await calls("fast");
    const expired = await send(body, { "x-switchyard-test-clock-ms": String(HOUR + 1_000) });
    assert.equal(expired.cache, "MISS");
    assert.equal(await calls("fast"), before + 1);
    // The new entry is fresh from its own stored_at (on the moved clock).
    assert.equal((await send(body, { "x-switchyard-test-clock-ms": String(HOUR + 2_000) })).cache, "HIT");
  });

  test("namespaces isolate entries", async () => {
    const body = chat("cached", fresh());
    const ns = (name) => ({ "x-switchyard-cache-namespace": name });
    assert.equal((await send(body, ns("team-a"))).cache, "MISS");
    assert.equal((await send(body, ns("team-b"))).cache, "MISS");
    assert.equal((await send(body)).cache, "MISS");
    assert.equal((await send(body, ns("team-a"))).cache, "HIT");
    assert.equal((await send(body, ns("team-b"))).cache, "HIT");
    assert.equal((await send(body, ns(""))).cache, "HIT", "an empty namespace is no namespace");
  });
});

describe("cache: streams", () => {
  test("a stream is recorded as it passes and replayed as SSE: same content, same event shape", async () => {
    const body = chat("cached", fresh(), { stream: true, stream_options: { include_usage: true } });
    const live = await send(body);
    assert.equal(live.status, 200, live.text);
    assert.equal(live.cache, "MISS");
    assert.match(live.headers.get("content-type"), /^text\/event-stream/);
    const before = await calls("fast");
    // The recording is written after the response; a hit may take a moment to appear.
    let replay;
    for (let i = 0; i < 50; i++) {
      replay = await send(body);
      if (replay.cache === "HIT") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(replay.cache, "HIT");
    assert.match(replay.headers.get("content-type"), /^text\/event-stream/);
    assert.deepEqual(streamed(replay.text), streamed(live.text));
    assert.ok(streamed(replay.text).usage, "usage was asked for and replayed");
    assert.ok((await calls("fast")) <= before + 1);
  });

  test("cross replay: an entry from a stream answers a JSON request, and one from JSON a stream", async () => {
    const question = fresh();
    const live = await send(chat("cached", question, { stream: true, stream_options: { include_usage: true } }));
    assert.equal(live.cache, "MISS");
    let json;
    for (let i = 0; i < 50; i++) {
      json = await send(chat("cached", question));
      if (json.cache === "HIT") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(json.cache, "HIT");
    assert.deepEqual(answered(json.text), streamed(live.text));

    const other = fresh();
    const first = await send(chat("cached", other));
    assert.equal(first.cache, "MISS");
    const replay = await send(chat("cached", other, { stream: true, stream_options: { include_usage: true } }));
    assert.equal(replay.cache, "HIT");
    assert.deepEqual(streamed(replay.text), answered(first.text));
    const noUsage = await send(chat("cached", other, { stream: true }));
    assert.equal(streamed(noUsage.text).usage, null, "usage only when asked for");
  });

  test("an Anthropic client is served the same entry, in Anthropic's shape, JSON and streamed", async () => {
    const question = fresh();
    const openai = await send(chat("claude", question, { max_tokens: 64 }));
    assert.equal(openai.status, 200, openai.text);
    assert.equal(openai.cache, "MISS");
    const anthropic = { model: "claude", max_tokens: 64, temperature: 0, messages: [{ role: "user", content: question }] };
    const json = await send(anthropic, {}, "/v1/messages");
    assert.equal(json.cache, "HIT");
    const message = JSON.parse(json.text);
    assert.equal(message.type, "message");
    assert.equal(message.content[0].text, answered(openai.text).text);
    const sse = await send({ ...anthropic, stream: true }, {}, "/v1/messages");
    assert.equal(sse.cache, "HIT");
    const events = sse.text.split("\n").filter((l) => l.startsWith("event: ")).map((l) => l.slice(7));
    assert.equal(events[0], "message_start");
    assert.equal(events.at(-1), "message_stop");
    const text = sse.text
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)))
      .filter((d) => d.type === "content_block_delta")
      .map((d) => d.delta.text)
      .join("");
    assert.equal(text, message.content[0].text);
  });

  test("a stream that breaks off is not stored", async () => {
    const body = chat("cut", fresh(), { stream: true });
    const first = await send(body);
    assert.equal(first.status, 200);
    assert.match(first.text, /upstream_incomplete/);
    await new Promise((r) => setTimeout(r, 100));
    const again = await send(body);
    assert.equal(again.cache, "MISS", "nothing was stored for the broken stream");
  });
});

describe("single-flight", () => {
  test("20 concurrent identical requests: exactly one upstream call, 20 identical answers", async () => {
    const body = chat("slow", fresh());
    const before = await calls("slow");
    const answers = await Promise.all(Array.from({ length: 20 }, () => send(body)));
    assert.equal(await calls("slow"), before + 1, "one upstream call");
    for (const a of answers) {
      assert.equal(a.status, 200, a.text);
      assert.equal(a.text, answers[0].text);
    }
    const statuses = answers.map((a) => a.cache).sort();
    assert.deepEqual(statuses, [...Array(19).fill("HIT"), "MISS"]);
    assert.equal(answers.filter((a) => a.headers.get("x-switchyard-cache-coalesced") === "1").length, 19);
  });

  test("concurrent identical streams: one upstream call, every client gets the same content as a stream", async () => {
    const body = chat("slow", fresh(), { stream: true });
    const before = await calls("slow");
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(body)));
    assert.equal(await calls("slow"), before + 1);
    const first = streamed(answers[0].text);
    for (const a of answers) {
      assert.equal(a.status, 200, a.text);
      assert.match(a.headers.get("content-type"), /^text\/event-stream/);
      assert.deepEqual(streamed(a.text), first);
    }
  });

  test("a failing leader: every follower gets its error at once, one upstream call, nobody hangs", async () => {
    const body = chat("broken", fresh());
    const before = await calls("broken");
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(body)));
    assert.ok(Date.now() - started < 10_000, "nobody hung");
    assert.equal(await calls("broken"), before + 1, "the followers did not call the failing upstream");
    for (const a of answers) {
      assert.equal(a.status, 500, a.text);
      assert.equal(JSON.parse(a.text).error.message, JSON.parse(answers[0].text).error.message);
    }
    assert.equal(answers.filter((a) => a.headers.get("x-switchyard-cache-coalesced") === "1").length, 9);
    // Nothing was stored: the next request tries again.
    assert.equal((await send(body)).cache, "MISS");
  });

  test("a leader that vanishes: followers stop waiting at the route's deadline and call the upstream themselves", async () => {
    const body = chat("flaky", fresh());
    // The first call fails (fail_times=1): a miss whose key the response names, nothing stored.
    const first = await send(body);
    assert.equal(first.status, 500, first.text);
    const key = first.headers.get("x-switchyard-cache-key");
    // A leader that claims the key and is never heard of again (once the
    // first request's own report, sent after its response, has freed the key;
    // until then a claim that may not wait comes back `alone`).
    let reply;
    for (let i = 0; i < 200 && !/^lead \d+$/.test(reply ?? ""); i++) reply = await gw.flight(key, "claim 60000 0 0");
    assert.match(reply, /^lead \d+$/);
    const before = await calls("flaky");
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 3 }, () => send(body)));
    const took = Date.now() - started;
    for (const a of answers) assert.equal(a.status, 200, a.text);
    assert.ok(took >= 1_500, `they waited for the leader (${took} ms)`);
    assert.ok(took < 10_000, `...but not for ever (${took} ms)`);
    // Each went alone; one that finished first may have answered the others
    // still waiting (an answer is an answer, whoever brings it).
    const made = (await calls("flaky")) - before;
    assert.ok(made >= 1 && made <= 3, `${made} upstream calls`);
  });
});

describe("single-flight over shared objects (FLIGHT_SHARDS)", () => {
  test("keys spread over 4 objects still coalesce: 20 concurrent → one upstream call; other keys are apart", async () => {
    const sharded = await startGateway({
      bindings: { GATEWAY_KEYS: hashKey(KEY), SLOW_URL: base("slow"), FLIGHT_SHARDS: "4" },
      routes: compileRoutes(`
provider slow { kind openai-compatible  base env SLOW_URL }
route slow { cache 1h  try slow:{model} }
`),
      cache: true,
    });
    try {
      const ask = (body) =>
        sharded
          .fetch("/v1/chat/completions", {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
            body: JSON.stringify(body),
          })
          .then(async (r) => ({ status: r.status, cache: r.headers.get("x-switchyard-cache"), text: await r.text() }));
      await ask(chat("warm-up", fresh()));
      const before = await calls("slow");
      const questions = Array.from({ length: 6 }, fresh);
      const answers = await Promise.all(questions.flatMap((q) => Array.from({ length: 20 }, () => ask(chat("slow", q)))));
      assert.equal(await calls("slow"), before + questions.length, "one upstream call per distinct question");
      for (let i = 0; i < questions.length; i++) {
        const mine = answers.slice(i * 20, i * 20 + 20);
        assert.ok(mine.every((a) => a.status === 200 && a.text === mine[0].text), "the same answer for the same question");
        assert.equal(mine.filter((a) => a.cache === "MISS").length, 1);
      }
      assert.equal(new Set(answers.map((a) => a.text)).size, questions.length, "different questions, different answers");
    } finally {
      await sharded.stop();
    }
  });
});

describe("cache: KV only, no flight object", () => {
  test("caching still works; identical misses are not coalesced", async () => {
    const alone = await startGateway({
      bindings: { GATEWAY_KEYS: hashKey(KEY), SLOW_URL: base("slow"), FAST_URL: base("fast") },
      routes: compileRoutes(`
provider slow { kind openai-compatible  base env SLOW_URL }
provider fast { kind openai-compatible  base env FAST_URL }
route slow { when model == "slow"  cache 1h  try slow:mock-small }
route other { cache 1h  try fast:{model} }
`),
      cache: "kv",
    });
    try {
      const ask = (body) =>
        alone
          .fetch("/v1/chat/completions", {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
            body: JSON.stringify(body),
          })
          .then(async (r) => ({ cache: r.headers.get("x-switchyard-cache"), status: r.status, text: await r.text() }));
      // The isolate adopts the KV plan on its first request: make that one alone.
      await ask(chat("other-model", fresh()));
      const body = chat("slow", fresh());
      const before = await calls("slow");
      const both = await Promise.all([ask(body), ask(body)]);
      assert.deepEqual(both.map((b) => b.cache), ["MISS", "MISS"], JSON.stringify(both));
      assert.equal(await calls("slow"), before + 2);
      assert.equal((await ask(body)).cache, "HIT");
    } finally {
      await alone.stop();
    }
  });
});
