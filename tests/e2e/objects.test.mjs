// End to end: rate limits and circuit breakers in real Durable Objects
// (workerd through Miniflare, SQLite-backed objects), against the mock
// provider. Time is moved with the test clock (`SWITCHYARD_TEST_CLOCK=1`
// and the `x-switchyard-test-clock-ms` header), never by sleeping.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const APP_KEY = "sy-objects-app-key-0123";
const OPS_KEY = "sy-objects-ops-key-4567";
const SECRETS = { KEY_A1: "sk-objects-SECRET-a1", KEY_A2: "sk-objects-SECRET-a2" };
const CHAT = "/v1/chat/completions";

let mock;
before(async () => {
  mock = await startMock();
});
after(async () => {
  await mock?.stop();
});

/**
 * A gateway serving `routes` with providers `a` and `b` at `A_URL` /
 * `B_URL` (`a` and `b`: mock directives). Options: `cache` (BREAKER_CACHE_MS),
 * `instances`, `persist`, `id` (to share mock paths between gateways).
 */
async function gateway(routes, { a = [], b = [], cache = 0, instances = 1, persist, id = randomUUID() } = {}) {
  const prefix = (name, directives) => `/t/${id}/${name}/${directives.map((d) => `${d}/`).join("")}`;
  const pa = prefix("a", a);
  const pb = prefix("b", b);
  const gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: `app:${hashKey(APP_KEY)},ops:${hashKey(OPS_KEY)}`,
      ADMIN_KEYS: "ops",
      A_URL: `${mock.url}${pa}v1`,
      B_URL: `${mock.url}${pb}v1`,
      BREAKER_CACHE_MS: String(cache),
      SWITCHYARD_TEST_CLOCK: "1",
      ...SECRETS,
    },
    routes: compileRoutes(routes),
    instances,
    persist,
  });
  const count = (p, key) =>
    mock.calls(`?path=${encodeURIComponent(`${p}v1/chat/completions`)}${key ? `&key=${key}` : ""}`).then((c) => c.count);
  let clock = 0;
  const headers = (key) => ({
    "content-type": "application/json",
    authorization: `Bearer ${key}`,
    "x-switchyard-test-clock-ms": String(clock),
  });
  const read = async (res) => {
    const text = await res.text();
    for (const s of Object.values(SECRETS)) assert.ok(!text.includes(s), `a key leaked: ${text}`);
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
  };
  return {
    stop: () => gw.stop(),
    calls: { a: (key) => count(pa, key), b: (key) => count(pb, key) },
    /** Moves the objects' clock forward. */
    advance(ms) {
      clock += ms;
    },
    async chat(body = {}, { via = 0, key = APP_KEY } = {}) {
      const res = await gw.fetchVia(via, CHAT, {
        method: "POST",
        headers: headers(key),
        body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "objects" }], ...body }),
      });
      return read(res);
    },
    /**
     * One request per Worker first: a fresh isolate serves the embedded plan
     * to requests that arrive while its first KV read is in flight.
     */
    async warm() {
      for (let n = 0; n < instances; n++) {
        const res = await gw.fetchVia(n, "/v1/models", { headers: headers(APP_KEY) });
        await res.text();
      }
    },
    async status(key = OPS_KEY, { via = 0 } = {}) {
      const res = await gw.fetchVia(via, "/v1/switchyard/status", { headers: key === null ? {} : headers(key) });
      return read(res);
    },
  };
}

async function withGateway(routes, options, fn) {
  const gw = await gateway(routes, options);
  try {
    await fn(gw);
  } finally {
    await gw.stop();
  }
}

const PROVIDERS = `
provider a { kind openai-compatible  base env A_URL }
provider b { kind openai-compatible  base env B_URL }
`;

/** Polls `probe` until it returns true (bookkeeping runs after the response). */
async function eventually(probe, what) {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`never happened: ${what}`);
}

// ------------------------------------------------------------------ limits

const N = 5;

test(`10 × ${N} concurrent requests against ${N} rpm: exactly ${N} admitted, the rest 429 with the headers`, () =>
  withGateway(`${PROVIDERS} route r { limit ${N} rpm  try a:{model} }`, {}, async (gw) => {
    await gw.warm();
    const all = await Promise.all(Array.from({ length: 10 * N }, () => gw.chat()));
    const ok = all.filter((r) => r.status === 200);
    const refused = all.filter((r) => r.status === 429);
    assert.equal(ok.length, N, all.map((r) => r.status).join(","));
    assert.equal(refused.length, 9 * N);
    assert.equal(await gw.calls.a(), N, "a refused request never reaches the provider");
    // The admitted ones saw the bucket go down one by one.
    const remaining = ok.map((r) => Number(r.headers.get("x-ratelimit-remaining-requests"))).sort();
    assert.deepEqual(remaining, [0, 1, 2, 3, 4]);
    for (const r of [...ok, ...refused]) {
      assert.equal(r.headers.get("x-ratelimit-limit-requests"), String(N));
      assert.match(r.headers.get("x-ratelimit-reset-requests"), /^\d+(\.\d+)?s$|^\d+m\d+(\.\d+)?s$/);
    }
    for (const r of refused) {
      assert.equal(r.headers.get("x-ratelimit-remaining-requests"), "0");
      // 5 per minute: the next one is 12 s away.
      assert.ok(Number(r.headers.get("retry-after")) >= 11 && Number(r.headers.get("retry-after")) <= 12, r.headers.get("retry-after"));
      const { error } = r.json();
      assert.equal(error.type, "rate_limit_error");
      assert.equal(error.code, "rate_limit_exceeded");
      assert.match(error.message, /Rate limit reached for route `r` for this gateway key: 5 requests per minute/);
    }
  }));

test("the bucket refills on schedule: one request per 12 s at 5 rpm, all five after a minute", () =>
  withGateway(`${PROVIDERS} route r { limit ${N} rpm  try a:{model} }`, {}, async (gw) => {
    for (let i = 0; i < N; i++) assert.equal((await gw.chat()).status, 200);
    assert.equal((await gw.chat()).status, 429);
    gw.advance(11_000);
    assert.equal((await gw.chat()).status, 429, "11 s: not yet");
    gw.advance(1_000);
    assert.equal((await gw.chat()).status, 200, "12 s: one more");
    assert.equal((await gw.chat()).status, 429);
    gw.advance(60_000);
    const next = [];
    for (let i = 0; i < N + 1; i++) next.push((await gw.chat()).status);
    assert.deepEqual(next, [200, 200, 200, 200, 200, 429], "a full bucket again, not more");
  }));

test("a busy key is admitted from leases, never beyond its limit", () =>
  withGateway(`${PROVIDERS} route r { limit 200 rpd  try a:{model} }`, {}, async (gw) => {
    await gw.warm();
    let admitted = 0;
    for (let batch = 0; batch < 8; batch++) {
      const all = await Promise.all(Array.from({ length: 50 }, () => gw.chat()));
      admitted += all.filter((r) => r.status === 200).length;
      assert.ok(all.every((r) => r.status === 200 || r.status === 429));
    }
    // Leases are granted only while the bucket is over half full and are
    // used up by the burst: exactly the limit.
    assert.equal(admitted, 200);
    assert.equal(await gw.calls.a(), admitted);
  }));

test("per key: each gateway key has its own counter", () =>
  withGateway(`${PROVIDERS} route r { limit 1 rpm per key  try a:{model} }`, {}, async (gw) => {
    assert.equal((await gw.chat()).status, 200);
    assert.equal((await gw.chat()).status, 429);
    assert.equal((await gw.chat({}, { key: OPS_KEY })).status, 200);
  }));

test("tokens are reserved with the estimate and settled with the real usage", () =>
  withGateway(`${PROVIDERS} route r { limit 1000 tpm per route  try a:{model} }`, {}, async (gw) => {
    const res = await gw.chat({ max_tokens: 400 });
    assert.equal(res.status, 200, res.text);
    const used = res.json().usage.total_tokens;
    assert.ok(used > 0 && used < 100, res.text);
    // The reservation (bytes/4 + 400) is what the response's header shows…
    const reservedRemaining = Number(res.headers.get("x-ratelimit-remaining-tokens"));
    assert.ok(reservedRemaining < 600, `remaining ${reservedRemaining} after reserving`);
    // …and after the settle the real usage is what counts.
    await eventually(async () => {
      const st = (await gw.status()).json();
      const level = st.limiters.find((l) => l.key === "route:r").levels[0];
      return level.remaining >= 1000 - used - 1 && level.remaining <= 1000 - used + 1;
    }, "the settle to the real usage");
    // An estimate over the whole capacity can never pass.
    const big = await gw.chat({ max_tokens: 5000 });
    assert.equal(big.status, 429);
    assert.match(big.json().error.message, /can never pass/);
  }));

test("a provider key over its own quota rotates to the next key without a call, then falls back", () =>
  withGateway(
    `provider a { kind openai-compatible  base env A_URL  keys [secret KEY_A1, secret KEY_A2]  limit 2 rpm per key }
     provider b { kind openai-compatible  base env B_URL }
     route r { try a:{model} with { attempts 1 } else b:{model} }`,
    {},
    async (gw) => {
      const served = [];
      for (let i = 0; i < 5; i++) {
        const res = await gw.chat();
        assert.equal(res.status, 200, res.text);
        served.push(res.headers.get("x-switchyard-target"));
      }
      assert.equal(await gw.calls.a(SECRETS.KEY_A1), 2);
      assert.equal(await gw.calls.a(SECRETS.KEY_A2), 2);
      assert.equal(await gw.calls.b(), 1);
      assert.equal(served[4], "b:mock-small");
    },
  ));

test("every target over its provider's quota: 429 with the trail", () =>
  withGateway(
    `provider a { kind openai-compatible  base env A_URL  limit 1 rpm }
     route r { try a:{model} }`,
    {},
    async (gw) => {
      assert.equal((await gw.chat()).status, 200);
      const res = await gw.chat();
      assert.equal(res.status, 429, res.text);
      assert.equal(res.json().error.attempts[0].reason, "provider_over_quota");
      assert.ok(Number(res.headers.get("retry-after")) >= 59);
      assert.equal(await gw.calls.a(), 1);
    },
  ));

// ---------------------------------------------------------------- breakers

const T = 3;
const DEAD_THEN_HEALTHY = `${PROVIDERS}
policy guarded { attempts 1  breaker ${T} failures in 60s, cooldown 30s, probes 1 }
route r { try a:mock-small with guarded else b:{model} }`;

for (const cache of [0, 1000]) {
  test(`BREAKER_CACHE_MS=${cache}: a dead provider gets at most ${T} + probes calls over 200 requests; after the cool-down it closes again`, () =>
    withGateway(DEAD_THEN_HEALTHY, { a: ["status=500", `fail_times=${T}`], cache }, async (gw) => {
      for (let i = 0; i < 200; i++) {
        const res = await gw.chat();
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers.get("x-switchyard-target"), "b:mock-small");
        if (i >= T) {
          const trail = JSON.parse(res.headers.get("x-switchyard-attempts")) ;
          assert.equal(trail, 2, "the skipped target and the fallback");
        }
      }
      assert.equal(await gw.calls.a(), T, "no call after the breaker opened");
      assert.equal(await gw.calls.b(), 200);
      const st = (await gw.status()).json();
      assert.equal(st.targets.find((t) => t.target === "a:mock-small").state, "open");

      gw.advance(30_000);
      // The cool-down is over: one probe; `a` has healed (fail_times), so it closes.
      const probe = await gw.chat();
      assert.equal(probe.headers.get("x-switchyard-target"), "a:mock-small", probe.text);
      assert.equal(await gw.calls.a(), T + 1);
      await eventually(async () => (await gw.status()).json().targets[0].state === "closed", "closed after the probe");
      for (let i = 0; i < 5; i++) assert.equal((await gw.chat()).headers.get("x-switchyard-target"), "a:mock-small");
      assert.equal(await gw.calls.a(), T + 6);
    }));
}

// A stream's try is reported to its breaker when the relay ends: a provider
// that breaks every stream after its first chunk trips it like a 500 does.
for (const fault of ["cut", "stall"]) {
  test(`streams that ${fault} after their first chunk trip the breaker: after ${T} the rest fall back, nothing more reaches the provider`, () =>
    withGateway(
      `${PROVIDERS}
       policy guarded { attempts 1  timeout 400ms per attempt, 30s total  breaker ${T} failures in 60s, cooldown 30s }
       route r { try a:mock-small with guarded else b:{model} }`,
      { a: [`fault=${fault}`, "cut_after=1"] },
      async (gw) => {
        for (let i = 0; i < T; i++) {
          const res = await gw.chat({ stream: true });
          assert.equal(res.status, 200, res.text);
          assert.equal(res.headers.get("x-switchyard-target"), "a:mock-small");
          assert.match(res.text, /data: \{"error":/, "the broken stream ends in an error event");
          assert.doesNotMatch(res.text, /\[DONE\]/);
        }
        const target = async () => (await gw.status()).json().targets.find((t) => t.target === "a:mock-small");
        await eventually(async () => (await target())?.state === "open", `open after ${T} broken streams`);
        assert.equal((await target()).in_flight, 0, "the broken streams are no longer in flight");
        for (let i = 0; i < 10; i++) {
          const res = await gw.chat({ stream: true });
          assert.equal(res.status, 200, res.text);
          assert.equal(res.headers.get("x-switchyard-target"), "b:mock-small");
          assert.match(res.text, /data: \[DONE\]/);
        }
        assert.equal(await gw.calls.a(), T, "no call after the breaker opened");
        assert.equal(await gw.calls.b(), 10);
      },
    ));
}

test("streams that complete keep the breaker closed and leave nothing in flight", () =>
  withGateway(DEAD_THEN_HEALTHY, { a: ["status=500", "fail_times=1"] }, async (gw) => {
    assert.equal((await gw.chat({ stream: true })).headers.get("x-switchyard-target"), "b:mock-small");
    for (let i = 0; i < 2 * T; i++) {
      const res = await gw.chat({ stream: true });
      assert.equal(res.headers.get("x-switchyard-target"), "a:mock-small", res.text);
      assert.match(res.text, /data: \[DONE\]/);
    }
    const target = async () => (await gw.status()).json().targets.find((t) => t.target === "a:mock-small");
    await eventually(async () => (await target())?.in_flight === 0, "nothing in flight");
    assert.equal((await target()).state, "closed");
    assert.equal(await gw.calls.a(), 2 * T + 1);
  }));

test("a failed probe opens the breaker again for another cool-down", () =>
  withGateway(DEAD_THEN_HEALTHY, { a: ["status=500"], cache: 0 }, async (gw) => {
    for (let i = 0; i < T + 2; i++) await gw.chat();
    assert.equal(await gw.calls.a(), T);
    gw.advance(30_000);
    await gw.chat();
    assert.equal(await gw.calls.a(), T + 1, "one probe");
    for (let i = 0; i < 5; i++) await gw.chat();
    assert.equal(await gw.calls.a(), T + 1, "open again");
    const st = (await gw.status()).json().targets[0];
    assert.equal(st.state, "open");
    assert.equal(st.trips, 2);
  }));

test("every target open: a clear 503 with the trail and Retry-After", () =>
  withGateway(
    `${PROVIDERS}
     policy guarded { attempts 1  breaker 1 failures in 60s, cooldown 20s }
     route r { try a:m1 with guarded else b:m2 with guarded }`,
    { a: ["status=500"], b: ["status=503"] },
    async (gw) => {
      assert.equal((await gw.chat()).status, 503, "both failed once: both open");
      const res = await gw.chat();
      assert.equal(res.status, 503, res.text);
      const { error } = res.json();
      assert.equal(error.code, "targets_unavailable");
      assert.match(error.message, /circuit breaker open for `a:m1`, `b:m2`/);
      assert.deepEqual(error.attempts.map((t) => `${t.provider}:${t.outcome}:${t.reason}`), ["a:skipped:breaker_open", "b:skipped:breaker_open"]);
      assert.ok(Number(res.headers.get("retry-after")) >= 19, res.headers.get("retry-after"));
      assert.equal(await gw.calls.a(), 1);
      assert.equal(await gw.calls.b(), 1);
    },
  ));

// ------------------------------------------------- across Worker instances

test("two gateway Workers (two isolates) share the limiter exactly and see each other's breaker", () =>
  withGateway(
    `${PROVIDERS}
     policy guarded { attempts 1  breaker 2 failures in 60s, cooldown 30s }
     route limited { when model == "limited"  limit ${N} rpm per route  try b:{model} }
     route guarded { try a:mock-small with guarded else b:{model} }`,
    { a: ["status=500"], instances: 2, cache: 1000 },
    async (gw) => {
      await gw.warm();
      const all = await Promise.all(Array.from({ length: 10 * N }, (_, i) => gw.chat({ model: "limited" }, { via: i % 2 })));
      assert.equal(all.filter((r) => r.status === 200).length, N, all.map((r) => r.status).join(","));
      assert.equal(all.filter((r) => r.status === 429).length, 9 * N);
      assert.ok(all.every((r) => r.status === 200 || r.status === 429), all.map((r) => r.status).join(","));
      // One more refills in 12 s: taken through the second Worker, gone for the first.
      gw.advance(12_000);
      assert.equal((await gw.chat({ model: "limited" }, { via: 1 })).status, 200);
      assert.equal((await gw.chat({ model: "limited" }, { via: 0 })).status, 429);
      // Instance 0 trips the breaker; instance 1, which never called `a`, skips it.
      await gw.chat({}, { via: 0 });
      await gw.chat({}, { via: 0 });
      assert.equal(await gw.calls.a(), 2);
      const res = await gw.chat({}, { via: 1 });
      assert.equal(res.status, 200);
      assert.equal(res.json().model, "mock-small");
      assert.equal(await gw.calls.a(), 2, "the second Worker skipped the open target");
    },
  ));

test("state survives a restart: a new runtime on the same storage continues the count and the breaker", async () => {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-objects-"));
  const id = randomUUID();
  const routes = `${PROVIDERS}
    policy guarded { attempts 1  breaker 2 failures in 60s, cooldown 30s }
    route limited { when model == "limited"  limit 2 rpm per route  try b:{model} }
    route guarded { try a:mock-small with guarded else b:{model} }`;
  try {
    await withGateway(routes, { a: ["status=500"], persist: dir, id }, async (gw) => {
      assert.equal((await gw.chat({ model: "limited" })).status, 200);
      assert.equal((await gw.chat({ model: "limited" })).status, 200);
      await gw.chat();
      await gw.chat();
      assert.equal(await gw.calls.a(), 2);
    });
    await withGateway(routes, { a: ["status=500"], persist: dir, id }, async (gw) => {
      assert.equal((await gw.chat({ model: "limited" })).status, 429, "the bucket is still empty");
      assert.equal((await gw.chat()).status, 200);
      assert.equal(await gw.calls.a(), 2, "the breaker is still open");
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------- status, modes

test("the status endpoint: 401 without a key, 403 for a non-admin key, breakers and limiters for an admin", () =>
  withGateway(
    `${PROVIDERS}
     policy guarded { attempts 1  breaker 1 failures in 60s, cooldown 30s }
     route r { limit 10 rpm  try a:mock-small with guarded else b:{model} }`,
    { a: ["status=500"] },
    async (gw) => {
      await gw.chat();
      assert.equal((await gw.status(null)).status, 401);
      const denied = await gw.status(APP_KEY);
      assert.equal(denied.status, 403);
      assert.equal(denied.json().error.type, "permission_error");
      const res = await gw.status();
      assert.equal(res.status, 200, res.text);
      const st = res.json();
      const app = st.limiters.find((l) => l.key === "route:r|key:app");
      assert.deepEqual(app.levels.map((l) => [l.unit, l.limit, l.remaining, l.used]), [["requests_per_minute", 10, 9, 1]]);
      assert.deepEqual(st.limiters.find((l) => l.key === "route:r|key:ops").levels, []);
      const a = st.targets.find((t) => t.target === "a:mock-small");
      assert.equal(a.state, "open");
      assert.equal(a.trips, 1);
      assert.ok(a.half_open_in_ms > 29_000);
      assert.equal(a.in_flight, 0);
    },
  ));

test("the status of a Worker that served nothing lists the `{model}` target another Worker tripped open, and every limiter of the plan", () =>
  withGateway(
    `${PROVIDERS}
     policy guarded { attempts 1  breaker 1 failures in 60s, cooldown 30s }
     route r { limit 10 rpm per route  try a:{model} with guarded else b:mock-small with guarded }`,
    { a: ["status=500"], instances: 2, cache: 1000 },
    async (gw) => {
      // Only the second Worker serves; it trips `a:tripped` (a model only it was asked for).
      assert.equal((await gw.chat({ model: "tripped" }, { via: 1 })).status, 200);
      assert.equal(await gw.calls.a(), 1);
      // Registration runs after the response: poll the first Worker, which never served a request.
      let st;
      await eventually(async () => {
        st = (await gw.status(OPS_KEY, { via: 0 })).json();
        return st.targets.some((t) => t.target === "a:tripped");
      }, "the fresh Worker lists a:tripped");
      const a = st.targets.find((t) => t.target === "a:tripped");
      assert.equal(a.state, "open", JSON.stringify(a));
      assert.equal(a.trips, 1);
      assert.equal(a.breaker, true);
      const b = st.targets.find((t) => t.target === "b:mock-small");
      assert.equal(b.state, "closed", JSON.stringify(b));
      assert.deepEqual(st.limiters.find((l) => l.key === "route:r").levels.map((l) => [l.limit, l.remaining]), [[10, 9]]);
      assert.equal(st.directory_error, undefined);
    },
  ));

test("lowest_latency: once both are measured, the fast target takes the traffic", () =>
  withGateway(
    `${PROVIDERS} route r { split lowest_latency a:{model}, b:{model} }`,
    { a: ["latency_ms=150"] },
    async (gw) => {
      for (let i = 0; i < 10; i++) assert.equal((await gw.chat()).status, 200);
      assert.equal(await gw.calls.a(), 1, "the slow one was measured once");
      assert.equal(await gw.calls.b(), 9);
      const st = (await gw.status()).json();
      const a = st.targets.find((t) => t.target === "a:mock-small");
      assert.ok(a.latency_ms >= 140, JSON.stringify(a));
    },
  ));

test("least_busy: requests go where fewer tries are in flight", () =>
  withGateway(
    `${PROVIDERS} route r { split least_busy a:{model}, b:{model} }`,
    { a: ["latency_ms=600"], b: ["latency_ms=600"] },
    async (gw) => {
      const pending = [];
      for (let i = 0; i < 4; i++) {
        pending.push(gw.chat());
        await new Promise((r) => setTimeout(r, 80));
      }
      const all = await Promise.all(pending);
      assert.ok(all.every((r) => r.status === 200));
      assert.equal(await gw.calls.a(), 2);
      assert.equal(await gw.calls.b(), 2);
    },
  ));
