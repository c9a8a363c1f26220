// End to end: metrics, the dashboard and the structured log. Traffic of
// every kind (successes, a retry, a fallback, an error, a cache hit, a
// limited request, a stream) through the compiled Worker in workerd; then
// `GET /v1/switchyard/metrics` (JSON and Prometheus text, admin keys only),
// the one log line per request, and `/dashboard` in headless Chromium
// (Debian's package, driven by playwright-core): it signs in, shows the
// numbers, and leaves a screenshot in tests/artifacts/dashboard.png.
// Every output is scanned for provider and gateway keys.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";
import { ROOT, compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const APP_KEY = "sy-dash-app-key-7f3a9c";
const OPS_KEY = "sy-dash-ops-key-2b8e41";
// A gateway key kept in KV, with a spend budget (its Budget object) of
// $0.0002 a day: its two requests use about half of it.
const TEAM_KEY = "sy-dash-team-key-5c1d08";
const SECRETS = { OK_KEY: "sk-dash-SECRET-ok-91", BAD_KEY: "sk-dash-SECRET-bad-27", FLAKY_KEY: "sk-dash-SECRET-flaky-53" };
const FORBIDDEN = [APP_KEY, OPS_KEY, TEAM_KEY, hashKey(APP_KEY), hashKey(OPS_KEY), hashKey(TEAM_KEY), ...Object.values(SECRETS)];
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "tests", "artifacts");
const CHAT = "/v1/chat/completions";
const id = randomUUID();

const ROUTES = `
provider ok {
  kind openai-compatible  base env OK_URL  keys [secret OK_KEY]
  price "mock-small" input 2.00 output 8.00
}
provider bad   { kind openai-compatible  base env BAD_URL    keys [secret BAD_KEY] }
provider flaky { kind openai-compatible  base env FLAKY_URL  keys [secret FLAKY_KEY] }
route retry    { when model == "retry"    try flaky:mock-small with { attempts 2  backoff constant 1ms } }
policy guarded { attempts 1  breaker 2 failures in 60s, cooldown 60s, probes 1 }
route fallback { when model == "fallback" try bad:mock-small with guarded else ok:mock-small }
route broken   { when model == "broken"   try bad:mock-small with guarded }
route cached   { when model == "cached"   cache 1h  try ok:mock-small }
route limited  { when model == "limited"  limit 1 rpm  try ok:mock-small }
route main     { try ok:{model} }
`;

let mock;
let gw;
/** Everything the gateway said, for the key scan. */
const SEEN = [];

before(async () => {
  mock = await startMock();
  const base = (name, directives) => `${mock.url}/d/${id}/${name}/${directives}v1`;
  gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: `app:${hashKey(APP_KEY)},ops:${hashKey(OPS_KEY)}`,
      ADMIN_KEYS: "ops",
      OK_URL: base("ok", ""),
      BAD_URL: base("bad", "status=500/"),
      FLAKY_URL: base("flaky", "status=500/fail_times=1/"),
      ...SECRETS,
    },
    routes: compileRoutes(ROUTES),
    cache: true,
    keys: true,
    port: 0,
    captureLog: true,
  });
  await gw.putKey(TEAM_KEY, { name: "team", budget: { limit_micros: 200, period: "day" } });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const auth = (key) => ({ authorization: `Bearer ${key}` });
async function chat(model, extra = {}, key = APP_KEY) {
  const res = await gw.fetch(CHAT, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth(key) },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "dashboard prompt text" }], ...extra }),
  });
  const text = await res.text();
  SEEN.push(text);
  return { status: res.status, headers: res.headers, text };
}
async function metrics(query = "", headers = auth(OPS_KEY)) {
  const res = await gw.fetch(`/v1/switchyard/metrics${query}`, { headers });
  const text = await res.text();
  SEEN.push(text);
  return { status: res.status, type: res.headers.get("content-type"), text };
}
/** Polls `check` every 10 ms until it returns a value (at most `ms`): waits for a state, never for a time. */
async function until(what, check, ms = 15_000) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The usage a stream's end comment states (`: x-switchyard-…=…` lines). */
function trailer(text) {
  return Object.fromEntries([...text.matchAll(/^: (x-switchyard-[a-z-]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
}
const usd = (x) => Number(x);

let sent = 0;
/** The budgeted key's two answers: one JSON, one stream (its usage from its end comment). */
const team = { json: null, stream: null };
const expected = { success: 0, retried: 0, fallback: 0, cache_hit: 0, limited: 0, error: 0 };

test("metrics and dashboard data need an admin key, and cost no upstream call", async () => {
  const before = (await mock.calls()).count;
  assert.equal((await metrics("", {})).status, 401);
  assert.equal((await metrics("", auth("not-a-key"))).status, 401);
  const refused = await metrics("", auth(APP_KEY));
  assert.equal(refused.status, 403);
  assert.match(JSON.parse(refused.text).error.message, /ADMIN_KEYS/);
  assert.equal((await metrics("?format=prometheus", auth(APP_KEY))).status, 403);
  assert.equal((await mock.calls()).count, before);
  // The page itself holds no data: served without a key, locked down by its CSP.
  const page = await gw.fetch("/dashboard");
  const html = await page.text();
  SEEN.push(html);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /^text\/html/);
  const csp = page.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'sha256-/);
  assert.equal(page.headers.get("cache-control"), "no-store");
  assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(html), "no external resource");
});

test("traffic of every kind is counted by outcome, route, target and key", async () => {
  for (let i = 0; i < 5; i++) {
    assert.equal((await chat("mock-small")).status, 200);
    expected.success++;
  }
  const streamed = await chat("mock-small", { stream: true });
  assert.equal(streamed.status, 200);
  assert.match(streamed.text, /\[DONE\]/);
  expected.success++;
  const retried = await chat("retry");
  assert.equal(retried.status, 200);
  assert.equal(retried.headers.get("x-switchyard-attempts"), "2");
  expected.retried++;
  const fell = await chat("fallback");
  assert.equal(fell.status, 200);
  assert.equal(fell.headers.get("x-switchyard-target"), "ok:mock-small");
  expected.fallback++;
  const broken = await chat("broken");
  assert.ok(broken.status >= 500, broken.text);
  expected.error++;
  assert.equal((await chat("limited")).status, 200);
  expected.success++;
  assert.equal((await chat("limited")).status, 429);
  expected.limited++;
  // temperature 0: deterministic, so the route caches it.
  assert.equal((await chat("cached", { temperature: 0 })).headers.get("x-switchyard-cache"), "MISS");
  expected.success++;
  // The entry is written after the answer: ask until it is served from the cache.
  await until("a cache hit", async () => {
    const again = await chat("cached", { temperature: 0 });
    const hit = again.headers.get("x-switchyard-cache") === "HIT";
    if (hit) expected.cache_hit++;
    else expected.success++;
    return hit;
  });
  // The budgeted key: a JSON answer and a stream, both priced (route file).
  const json = await chat("mock-small", {}, TEAM_KEY);
  assert.equal(json.status, 200, json.text);
  team.json = { in: Number(json.headers.get("x-switchyard-tokens-in")), out: Number(json.headers.get("x-switchyard-tokens-out")), usd: usd(json.headers.get("x-switchyard-cost-usd")) };
  const stream = await chat("mock-small", { stream: true }, TEAM_KEY);
  assert.equal(stream.status, 200, stream.text);
  // The stream's headers hold the estimate; its real usage comes at its end.
  assert.equal(stream.headers.get("x-switchyard-usage"), "estimate");
  const t = trailer(stream.text);
  assert.equal(t["x-switchyard-usage"], "reported");
  team.stream = { id: stream.headers.get("x-request-id"), in: Number(t["x-switchyard-tokens-in"]), out: Number(t["x-switchyard-tokens-out"]), usd: usd(t["x-switchyard-cost-usd"]) };
  assert.ok(team.stream.out > 0 && team.stream.usd > 0, stream.text);
  assert.notEqual(stream.headers.get("x-switchyard-tokens-out"), String(team.stream.out), "the estimate differs from the real count");
  expected.success += 2;
  sent = Object.values(expected).reduce((a, b) => a + b, 0);

  const m = await until("the metrics to count every request", async () => {
    const r = await metrics();
    assert.equal(r.status, 200);
    const doc = JSON.parse(r.text);
    return doc.totals.requests === sent ? doc : null;
  });
  for (const [outcome, n] of Object.entries(expected)) assert.equal(m.outcomes[outcome], n, `${outcome}: ${JSON.stringify(m.outcomes)}`);
  assert.equal(m.outcomes.breaker_open, 0);
  assert.equal(m.totals.errors, 1);
  assert.equal(m.totals.limited, 1);
  assert.equal(m.totals.cache_hits, expected.cache_hit);
  assert.ok(m.totals.p50_ms !== null && m.totals.p95_ms >= m.totals.p50_ms);
  assert.equal(m.totals.last_minute, sent);
  const route = (name) => m.routes.find((r) => r.route === name);
  assert.equal(route("main").requests, 8);
  assert.equal(route("broken").errors, 1);
  const key = (name) => m.keys.find((k) => k.key === name);
  assert.equal(key("app").requests, sent - 2);
  assert.equal(key("ops").requests, 0, "configured keys are listed without traffic");
  assert.equal(key("app").budget_usd, null, "a key without a budget shows none");
  assert.equal(key("ops").budget_usd, null);
  // The budgeted key: the stream counted with its real usage (its end), not its estimate.
  const budgeted = key("team");
  assert.equal(budgeted.requests, 2);
  assert.equal(budgeted.tokens_in, team.json.in + team.stream.in);
  assert.equal(budgeted.tokens_out, team.json.out + team.stream.out);
  assert.equal(budgeted.costed, 2);
  assert.ok(Math.abs(budgeted.cost_usd - (team.json.usd + team.stream.usd)) < 1e-9, JSON.stringify(budgeted));
  // Its budget and what its Budget object counted as spent (settled after each answer).
  assert.equal(budgeted.budget_usd, 0.0002);
  const settled = await until("the budget object to settle both answers", async () => {
    const k = JSON.parse((await metrics()).text).keys.find((k) => k.key === "team");
    return Math.abs(k.budget_spent_usd - (team.json.usd + team.stream.usd)) < 1e-9 ? k : null;
  });
  assert.equal(settled.budget_usd, 0.0002);
  assert.ok(m.targets.some((t) => t.target === "ok:mock-small" && t.requests >= 9));
  // A target's health counts its tries in every trail: bad failed in the fallback and in broken.
  const bad = m.targets.find((t) => t.target === "bad:mock-small");
  assert.equal(bad.tries, 2);
  assert.equal(bad.failed_tries, 2);
  const flaky = m.targets.find((t) => t.target === "flaky:mock-small");
  assert.deepEqual([flaky.tries, flaky.failed_tries], [2, 1]);
  assert.ok(m.errors_by_class.some((e) => e.error === "upstream_status" || e.error.startsWith("upstream")));
  const [recent] = m.recent_errors;
  assert.equal(recent.route, "broken");
  assert.equal(recent.key, "app");
  assert.equal(recent.attempts[0].provider, "bad");
  assert.equal(recent.attempts[0].outcome, "500");
  assert.equal(m.timeline.requests.reduce((a, b) => a + b, 0), sent);
});

test("the Prometheus text format: HELP, TYPE, escaped labels, histograms", async () => {
  for (const r of [await metrics("?format=prometheus"), await metrics("", { ...auth(OPS_KEY), accept: "text/plain" })]) {
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    for (const name of ["switchyard_requests_total", "switchyard_request_duration_seconds", "switchyard_tokens_total", "switchyard_cost_usd_total"]) {
      assert.match(r.text, new RegExp(`^# HELP ${name} .+$`, "m"));
      assert.match(r.text, new RegExp(`^# TYPE ${name} (counter|histogram)$`, "m"));
    }
    assert.match(r.text, /^switchyard_requests_total\{route="main",target="ok:mock-small",key="app",outcome="success",error=""\} 6$/m);
    assert.match(r.text, /^switchyard_request_duration_seconds_bucket\{route="main",target="ok:mock-small",key="app",.*le="\+Inf"\} 6$/m);
    assert.match(r.text, /^switchyard_budget_usd\{key="team"\} 0\.0002$/m);
    assert.match(r.text, /^switchyard_budget_spent_usd\{key="team"\} 0\.\d+$/m);
    const total = [...r.text.matchAll(/^switchyard_requests_total\{.*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    assert.equal(total, sent);
  }
});

test("one JSON log line per request, with its chain and no prompt; a stream's when it ends", async () => {
  const lines = await until("every request's log line", () => {
    const found = gw.log().split("\n")
      .map((l) => l.slice(l.indexOf("{")))
      .filter((l) => l.startsWith('{"event":"request"'))
      .map((l) => JSON.parse(l));
    const chats = found.filter((l) => l.route);
    return chats.length >= sent ? chats : null;
  });
  assert.equal(new Set(lines.map((l) => l.request_id)).size, lines.length, "one line per request");
  const fell = lines.find((l) => l.route === "fallback");
  assert.equal(fell.outcome, "fallback");
  assert.deepEqual(fell.chain.map((a) => `${a.provider}:${a.outcome}`), ["bad:500", "ok:ok"]);
  assert.equal(typeof fell.latency_ms, "number");
  assert.ok("tokens_in" in fell && "cost_usd" in fell);
  const stream = lines.find((l) => l.stream);
  assert.equal(stream.stream_end, "ok");
  // A stream's line carries its real usage and cost, known at its end.
  const teamStream = lines.find((l) => l.request_id === team.stream.id);
  assert.equal(teamStream.key, "team");
  assert.equal(teamStream.stream_end, "ok");
  assert.deepEqual([teamStream.tokens_in, teamStream.tokens_out], [team.stream.in, team.stream.out]);
  assert.ok(Math.abs(teamStream.cost_usd - team.stream.usd) < 1e-9, JSON.stringify(teamStream));
  assert.equal(lines.find((l) => l.route === "limited" && l.status === 429).outcome, "limited");
  assert.ok(!gw.log().includes("dashboard prompt text"), "prompts are never logged");
});

test("the dashboard signs in, shows live numbers after traffic, and is screenshotted", { skip: !existsSync(CHROMIUM) && "no /usr/bin/chromium (scripts/setup.sh installs it)" }, async () => {
  const profile = mkdtempSync(join(tmpdir(), "switchyard-chromium-"));
  // A new empty profile (--user-data-dir) and the flags of the toolchain notes.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 1000 },
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(String(e)));
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(`${gw.url}/dashboard`);
    assert.equal(await page.isVisible("#login"), true);
    // A key that may not read the metrics is refused and forgotten.
    await page.fill("#key", APP_KEY);
    // The page asks the metrics and the status at once: both refusals must be in before they are forgotten.
    const refusals = ["/v1/switchyard/metrics", "/v1/switchyard/status"].map((path) =>
      page.waitForResponse((r) => new URL(r.url()).pathname === path && r.status() === 403));
    await page.click("button[type=submit]");
    await Promise.all(refusals);
    await page.waitForFunction(() => /ADMIN_KEYS/.test(document.getElementById("msg").textContent));
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    problems.length = 0; // the refusals' own 403s
    await page.fill("#key", OPS_KEY);
    await page.click("button[type=submit]");
    await page.waitForFunction((n) => document.getElementById("kpi-requests").textContent === String(n), sent);
    const text = (sel) => page.textContent(sel);
    assert.equal(await text("#kpi-errors"), "1");
    assert.match(await text("#kpi-p50"), /^\d+(\.\d)? m?s$/);
    assert.match(await text("#kpi-hit"), /%$/);
    assert.match(await text("#targets"), /ok:mock-small/);
    assert.match(await text("#targets"), /bad:mock-small/);
    assert.match(await text("#routes"), /fallback/);
    assert.match(await text("#keys"), /app/);
    // The budgeted key's row: its budget, and the bar of what its Budget object counted.
    const teamRow = await page.locator("#keys tr", { hasText: "team" }).textContent();
    assert.match(teamRow, /\$0\.00020/);
    const used = await page.locator("#keys tr", { hasText: "team" }).locator(".bar i").evaluate((e) => parseFloat(e.style.width));
    assert.ok(used > 10 && used < 100, `the budget bar shows what was spent: ${used}%`);
    assert.match(await text("#errors"), /bad:mock-small → 500/);
    assert.equal(await page.locator("#timeline rect").count() > 0, true);
    // The key lives in this tab's sessionStorage only: no cookie, not in a URL.
    assert.deepEqual(await browser.cookies(), []);
    for (const url of requests) for (const k of FORBIDDEN) assert.ok(!url.includes(k), url);
    assert.ok(requests.every((u) => u.startsWith(gw.url)), `only the gateway is asked: ${requests}`);
    // Live: more traffic shows up at the next refresh (every 5 s).
    await chat("mock-small");
    await page.waitForFunction((n) => document.getElementById("kpi-requests").textContent === String(n), sent + 1, { timeout: 20_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    SEEN.push(await page.content());
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test("REQUEST_LOG=errors: a line for each error answer, none for a success; the metrics count both", async () => {
  const quiet = await startGateway({
    bindings: { GATEWAY_KEYS: `app:${hashKey(APP_KEY)},ops:${hashKey(OPS_KEY)}`, ADMIN_KEYS: "ops", OK_URL: `${mock.url}/d/${id}/quiet/v1`, REQUEST_LOG: "errors", ...SECRETS },
    routes: compileRoutes(`provider ok { kind openai-compatible  base env OK_URL  keys [secret OK_KEY] }\nroute main { when model == "mock-small"  try ok:{model} }`),
    captureLog: true,
  });
  try {
    const send = async (model) => {
      const res = await quiet.fetch(CHAT, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth(APP_KEY) },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
      });
      await res.text();
      return { status: res.status, id: res.headers.get("x-request-id") };
    };
    const ok = await send("mock-small");
    const missing = await send("no-such-model");
    assert.deepEqual([ok.status, missing.status], [200, 404]);
    // Lines are written in order: once the error's is out, the success's would be too.
    const lines = await until("the error's log line", () => {
      const found = quiet.log().split("\n").map((l) => l.slice(l.indexOf("{"))).filter((l) => l.startsWith('{"event":"request"')).map((l) => JSON.parse(l));
      return found.some((l) => l.request_id === missing.id) ? found : null;
    });
    assert.deepEqual(lines.map((l) => [l.request_id, l.status]), [[missing.id, 404]]);
    const res = await quiet.fetch("/v1/switchyard/metrics", { headers: auth(OPS_KEY) });
    assert.equal(JSON.parse(await res.text()).totals.requests, 2);
  } finally {
    await quiet.stop();
  }
});

test("two isolates' batches add up in the one object, none counted twice", async () => {
  const two = await startGateway({
    bindings: { GATEWAY_KEYS: `app:${hashKey(APP_KEY)},ops:${hashKey(OPS_KEY)}`, ADMIN_KEYS: "ops", OK_URL: `${mock.url}/d/${id}/two/v1`, ...SECRETS },
    routes: compileRoutes(`provider ok { kind openai-compatible  base env OK_URL  keys [secret OK_KEY] }\nroute main { try ok:{model} }`),
    instances: 2,
    captureLog: true,
  });
  try {
    const send = async (via) => {
      const res = await two.fetchVia(via, CHAT, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth(APP_KEY) },
        body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hi" }] }),
      });
      assert.equal(res.status, 200);
      await res.text();
    };
    for (let i = 0; i < 7; i++) await send(0);
    for (let i = 0; i < 5; i++) await send(1);
    const read = async () => {
      const res = await two.fetch("/v1/switchyard/metrics", { headers: auth(OPS_KEY) });
      return JSON.parse(await res.text()).totals.requests;
    };
    // The reading isolate sends its own batch; the other's arrives on its timer.
    await until("both isolates' batches", async () => (await read()) === 12);
    // Both timers have fired or find their batch gone: reading again changes nothing.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(await read(), 12);
    for (let i = 0; i < 3; i++) await send(1);
    await until("the second isolate's next batch", async () => (await read()) === 15);
  } finally {
    await two.stop();
  }
});

test("no metric, page or log line holds a provider key or a gateway key", async () => {
  SEEN.push((await metrics()).text, (await metrics("?format=prometheus")).text, gw.log());
  assert.ok(gw.log().includes('"event":"request"'));
  for (const text of SEEN) for (const k of FORBIDDEN) assert.ok(!text.includes(k), `a key leaked: ${k}`);
});
