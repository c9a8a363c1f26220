// Side-by-side throughput, latency, CPU and memory on 127.0.0.1, one run,
// interleaved, every system against the same mock provider
// (tests/mock-provider), with an instant upstream (0 ms) and one that
// answers after 100 ms (mock directive `latency_ms=100` in the base path):
//   direct                 oha -> mock
//   passthrough            oha -> trivial Rust Worker in workerd (the runtime's floor) -> mock
//   switchyard             oha -> Switchyard in workerd -> mock (cache off)
//   switchyard-fallback    first target always 500, healthy fallback (0 ms only)
//   switchyard-limits      a rate limit (never reached) and a breaker (isolate-cached)
//   switchyard-limits-nocache  the same, the breaker object asked on every try (0 ms only)
//   switchyard-cache-hit   every request a cache hit (one question, warmed up)
//   switchyard-cache-miss  every request a miss (a random question of 50,000, entries live 1 ms)
//   switchyard-cache-miss-shards16  the same with FLIGHT_SHARDS=16 (0 ms only)
//   litellm, portkey       the peer gateways (bench/peers.mjs), unless BENCH_PEERS=0
// for JSON and streaming chat at concurrency 1 and 32. Prints a Markdown
// table with ratios to Switchyard (cache off, same upstream), the CPU time
// each server process tree spent per request (per-thread schedstat) and its
// peak resident memory,
// checks the issue's targets, writes JSON and an SVG chart (bench/chart.mjs).
//
// Env: BENCH_SECONDS (per measurement, default 3), BENCH_ROUNDS (default 3;
// the median of the rounds is reported), BENCH_OUT (default
// bench/results/latest.json), BENCH_CHART (default bench/results/peers.svg),
// BENCH_SYSTEMS (a regex: only the systems whose name matches, plus direct
// and the pass-through floor; e.g. BENCH_SYSTEMS=cache), BENCH_PEERS=0 (no peers),
// BENCH_SERVE (bench/common.mjs: `socket`, the default, or `entry`).
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { ROOT, compileRoutes, hashKey, startGateway, startMock } from "../tests/support/harness.mjs";
import { chartSvg } from "./chart.mjs";
import { DIRECT, FALLBACK_ROUTES, drain } from "./common.mjs";
import { LITELLM_KEY, LITELLM_MODELS, peerVersions, portkeyHeaders, startLiteLLM, startPortkey } from "./peers.mjs";
import { childrenNamed, sampleRss, treeCpuMicros } from "./procs.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OUT = process.env.BENCH_OUT ?? join(ROOT, "bench", "results", "latest.json");
const CHART = process.env.BENCH_CHART ?? join(ROOT, "bench", "results", "peers.svg");
const PEERS = process.env.BENCH_PEERS !== "0";
const OHA = join(process.env.CARGO_HOME ?? join(process.env.HOME, ".cargo"), "bin", "oha");
const KEY = "sy-bench-key";
const PASSTHROUGH_SCRIPT = join(ROOT, "bench", "passthrough", "build", "index.js");
const ONLY = process.env.BENCH_SYSTEMS ? new RegExp(process.env.BENCH_SYSTEMS) : null;
/** Systems always measured: the references every ratio needs. */
const REFERENCES = new Set(["direct", "passthrough"]);
/** Distinct questions in a cache-miss body file. */
const MISS_QUESTIONS = 50_000;
const QUESTION = "Say hello to the benchmark in a few words.";
const run = promisify(execFile);

const body = (stream, model = "mock-small", question = QUESTION) =>
  JSON.stringify({
    model,
    messages: [{ role: "user", content: question }],
    ...(stream ? { stream: true } : {}),
  });

/** A file of request bodies, one a line, each another question (oha -Z picks one per request). */
function missBodies(model, stream) {
  const path = join(tmpdir(), `switchyard-bench-${process.pid}-${model}-${stream ? "stream" : "json"}.jsonl`);
  const lines = [];
  for (let i = 0; i < MISS_QUESTIONS; i++) lines.push(body(stream, model, `Question number ${i} of ${process.pid}?`));
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

async function oha(url, { concurrency, stream, headers = {}, seconds = SECONDS, model, lines, wait = false }) {
  const args = ["-z", `${seconds}s`, "-c", String(concurrency), "--no-tui", "--output-format", "json", "-m", "POST",
    ...(wait ? ["--wait-ongoing-requests-after-deadline"] : []),
    "-H", "content-type: application/json",
    ...(lines ? ["-Z", lines[stream ? "stream" : "json"]] : ["-d", body(stream, model)])];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  args.push(url);
  const { stdout } = await run(OHA, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  const report = JSON.parse(stdout);
  const codes = report.statusCodeDistribution ?? {};
  const ok = codes["200"] ?? 0;
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  return {
    codes,
    rps: report.summary.requestsPerSec,
    // null when no request finished in time (oha reports no percentiles).
    p50_ms: report.latencyPercentiles.p50 === null ? NaN : report.latencyPercentiles.p50 * 1000,
    p99_ms: report.latencyPercentiles.p99 === null ? NaN : report.latencyPercentiles.p99 * 1000,
    ok,
    // Requests still in flight when the -z deadline hits are not failures.
    errors: total - ok + Object.entries(report.errorDistribution ?? {})
      .filter(([what]) => !what.includes("deadline"))
      .reduce((a, [, n]) => a + n, 0),
  };
}

/** Starts a Worker in workerd and finds the workerd process serving it. */
async function startMeasured(options) {
  const before = new Set(childrenNamed("workerd"));
  const gw = await startGateway({ handleRuntimeStdio: drain, direct: DIRECT, ...options });
  return { ...gw, pid: childrenNamed("workerd").find((p) => !before.has(p)) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function size(path) {
  const raw = readFileSync(path);
  return { raw: statSync(path).size, gzip: gzipSync(raw, { level: 9 }).length };
}

const mock = await startMock();
const mockPid = childrenNamed("mock-provider")[0];
const SLOW = `${mock.url}/latency_ms=100`;
const auth = { authorization: `Bearer ${KEY}` };

// Route plans. The limits gateway: a rate limit (never reached) and a
// circuit breaker on every route; the breaker through the isolate's cache
// (BREAKER_CACHE_MS 1000, the default) or asked on every try (0).
const LIMITS_ROUTES = `
provider upstream { kind openai-compatible  base env UPSTREAM_BASE_URL }
provider slow     { kind openai-compatible  base env SLOW_URL }
policy guarded { breaker 5 failures in 30s, cooldown 15s }
route slow    { when model == "mock-slow"  limit 1000m rpm per route  use guarded  try slow:mock-small }
route default { limit 1000m rpm per route  use guarded  try upstream:{model} }
`;
// The response cache (KV + single-flight object). Hits ask one question
// (sampling is left to the route: `sampled`); misses ask a random one of
// MISS_QUESTIONS per request, on routes whose entries live 1 ms, so a
// repeated question misses as well.
const CACHE_ROUTES = `
provider fast { kind openai-compatible  base env FAST_URL }
provider slow { kind openai-compatible  base env SLOW_URL }
route hit-0    { when model == "hit-0"     cache 1h sampled   try fast:mock-small }
route hit-100  { when model == "hit-100"   cache 1h sampled   try slow:mock-small }
route miss-0   { when model == "miss-0"    cache 1ms sampled  try fast:mock-small }
route miss-100 { when model == "miss-100"  cache 1ms sampled  try slow:mock-small }
route plain    { try fast:{model} }
`;

/** Every server a system may need, started only when a selected system needs it. */
const SERVERS = {
  passthrough: () => startMeasured({ scriptPath: PASSTHROUGH_SCRIPT, port: 0, bindings: { UPSTREAM_URL: mock.url } }),
  "passthrough-100": () => startMeasured({ scriptPath: PASSTHROUGH_SCRIPT, port: 0, bindings: { UPSTREAM_URL: SLOW } }),
  switchyard: () => startMeasured({ port: 0, bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY) } }),
  "switchyard-100": () => startMeasured({ port: 0, bindings: { UPSTREAM_BASE_URL: `${SLOW}/v1`, GATEWAY_KEYS: hashKey(KEY) } }),
  // The same gateway writing log lines only for error answers (REQUEST_LOG=errors), like the peers here.
  "switchyard-errorlog": () => startMeasured({ port: 0, bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), REQUEST_LOG: "errors" } }),
  // Every request gets a 500 from the first target, then the fallback answers (two upstream calls).
  fallback: () =>
    startMeasured({
      port: 0,
      bindings: { GATEWAY_KEYS: hashKey(KEY), BROKEN_URL: `${mock.url}/status=500/v1`, HEALTHY_URL: `${mock.url}/v1` },
      routes: compileRoutes(FALLBACK_ROUTES),
    }),
  limits: () =>
    startMeasured({
      port: 0,
      bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, SLOW_URL: `${SLOW}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: "1000" },
      routes: compileRoutes(LIMITS_ROUTES),
    }),
  "limits-nocache": () =>
    startMeasured({
      port: 0,
      bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, SLOW_URL: `${SLOW}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: "0" },
      routes: compileRoutes(LIMITS_ROUTES),
    }),
  cached: () =>
    startMeasured({
      port: 0,
      cache: true,
      bindings: { GATEWAY_KEYS: hashKey(KEY), FAST_URL: `${mock.url}/v1`, SLOW_URL: `${SLOW}/v1` },
      routes: compileRoutes(CACHE_ROUTES),
    }),
  // The same gateway with its flight objects shared by the keys (FLIGHT_SHARDS=16).
  sharded: () =>
    startMeasured({
      port: 0,
      cache: true,
      bindings: { GATEWAY_KEYS: hashKey(KEY), FAST_URL: `${mock.url}/v1`, FLIGHT_SHARDS: "16" },
      routes: compileRoutes(`
provider fast { kind openai-compatible  base env FAST_URL }
route miss-0 { when model == "miss-0"  cache 1ms sampled  try fast:mock-small }
route plain  { try fast:{model} }
`),
    }),
  litellm: () => startLiteLLM(mock.url),
  portkey: () => startPortkey(),
};

const CHAT = "/v1/chat/completions";
const litellmAuth = { authorization: `Bearer ${LITELLM_KEY}` };
/** name, upstream, server (a SERVERS key; none: the mock itself), and what each request carries. */
const allSystems = [
  { name: "direct", upstream: "0ms", base: mock.url },
  { name: "direct", upstream: "100ms", base: SLOW },
  { name: "passthrough", upstream: "0ms", server: "passthrough" },
  { name: "passthrough", upstream: "100ms", server: "passthrough-100" },
  { name: "switchyard", upstream: "0ms", server: "switchyard", headers: auth },
  { name: "switchyard", upstream: "100ms", server: "switchyard-100", headers: auth },
  { name: "switchyard-errorlog", upstream: "0ms", server: "switchyard-errorlog", headers: auth },
  { name: "switchyard-fallback", upstream: "0ms", server: "fallback", headers: auth },
  { name: "switchyard-limits", upstream: "0ms", server: "limits", headers: auth },
  { name: "switchyard-limits", upstream: "100ms", server: "limits", headers: auth, model: "mock-slow" },
  { name: "switchyard-limits-nocache", upstream: "0ms", server: "limits-nocache", headers: auth },
  { name: "switchyard-cache-hit", upstream: "0ms", server: "cached", headers: auth, model: "hit-0" },
  { name: "switchyard-cache-hit", upstream: "100ms", server: "cached", headers: auth, model: "hit-100" },
  { name: "switchyard-cache-miss", upstream: "0ms", server: "cached", headers: auth, model: "miss-0", lines: "miss-0" },
  { name: "switchyard-cache-miss", upstream: "100ms", server: "cached", headers: auth, model: "miss-100", lines: "miss-100" },
  { name: "switchyard-cache-miss-shards16", upstream: "0ms", server: "sharded", headers: auth, model: "miss-0", lines: "miss-0" },
  ...(PEERS
    ? [
        { name: "litellm", upstream: "0ms", server: "litellm", headers: litellmAuth, model: LITELLM_MODELS["0ms"], peer: true },
        { name: "litellm", upstream: "100ms", server: "litellm", headers: litellmAuth, model: LITELLM_MODELS["100ms"], peer: true },
        { name: "portkey", upstream: "0ms", server: "portkey", headers: portkeyHeaders(`${mock.url}/v1`), peer: true },
        { name: "portkey", upstream: "100ms", server: "portkey", headers: portkeyHeaders(`${SLOW}/v1`), peer: true },
      ]
    : []),
];
const systems = allSystems.filter((s) => REFERENCES.has(s.name) || !ONLY || ONLY.test(s.name));
const label = (s) => `${s.name}@${s.upstream}`;
const workloads = [];
for (const stream of [false, true]) for (const concurrency of [1, 32]) workloads.push({ stream, concurrency });

const started = new Map();
const lineFiles = new Map();
const samples = new Map();
const startedAt = Date.now();
try {
  // Start what the selected systems need, one server at a time.
  for (const s of systems) {
    if (s.server && !started.has(s.server)) {
      const t0 = Date.now();
      started.set(s.server, await SERVERS[s.server]());
      process.stderr.write(`started ${s.server} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    const srv = s.server ? started.get(s.server) : { url: s.base, pid: mockPid };
    s.url = `${srv.url}${CHAT}`;
    s.pid = srv.pid;
    if (s.lines) {
      if (!lineFiles.has(s.lines)) lineFiles.set(s.lines, { json: missBodies(s.lines, false), stream: missBodies(s.lines, true) });
      s.lines = lineFiles.get(s.lines);
    }
  }
  await verify(systems);
  // Warm every isolate, interpreter and connection pool before measuring
  // (at concurrency 32, which also opens the pools concurrency 1 uses).
  for (const s of systems) for (const w of workloads.filter((x) => x.concurrency === 32)) {
    // Requests still running at the end are waited for: a slow system's first ones count.
    const r = await oha(s.url, { ...w, headers: s.headers, seconds: 1, model: s.model, lines: s.lines, wait: true });
    if (r.ok === 0) throw new Error(`${label(s)} ${JSON.stringify(w)} answered no request with 200 during warm-up: ${JSON.stringify(r)}`);
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const w of workloads) {
      // Interleave systems inside each workload so drift hits all of them alike.
      for (const s of systems) {
        const key = `${label(s)}|${w.stream ? "stream" : "json"}|${w.concurrency}`;
        const cpuBefore = treeCpuMicros(s.pid);
        const peakRss = sampleRss(s.pid);
        const r = await oha(s.url, { ...w, headers: s.headers, model: s.model, lines: s.lines });
        r.rss_kib = peakRss();
        r.cpu_us_per_req = (treeCpuMicros(s.pid) - cpuBefore) / Math.max(1, r.ok + r.errors);
        samples.set(key, [...(samples.get(key) ?? []), r]);
        process.stderr.write(`round ${round}/${ROUNDS} ${key.padEnd(44)} ${r.rps.toFixed(0).padStart(6)} req/s  ${(r.rss_kib / 1024).toFixed(0)} MiB\n`);
      }
    }
  }
} finally {
  await Promise.allSettled([...started.values()].map((srv) => srv.stop()));
  await mock.stop();
  for (const files of lineFiles.values()) for (const path of Object.values(files)) rmSync(path, { force: true });
}
const elapsed = (Date.now() - startedAt) / 1000;

/**
 * Before measuring: one JSON and one streamed request through every system
 * must answer 200 with the mock's own reply, and each request through a peer
 * must show up in the mock's call ledger (so a peer that answered from
 * anywhere else would be caught).
 */
async function verify(list) {
  const expected = {};
  for (const stream of [false, true]) {
    const res = await fetch(`${mock.url}${CHAT}`, { method: "POST", headers: { "content-type": "application/json" }, body: body(stream) });
    expected[stream] = replyText(await res.text(), stream);
  }
  for (const s of list) {
    if (s.lines) continue; // cache misses: another question each time
    for (const stream of [false, true]) {
      const upstreamPath = `${s.upstream === "100ms" ? "/latency_ms=100" : ""}${CHAT}`;
      const before = await mock.count(upstreamPath);
      const res = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json", ...s.headers }, body: body(stream, s.model) });
      const text = await res.text();
      const calls = (await mock.count(upstreamPath)) - before;
      const got = res.status === 200 ? replyText(text, stream) : null;
      if (got !== expected[stream]) {
        throw new Error(`${label(s)} ${stream ? "stream" : "json"}: expected the mock's reply ${JSON.stringify(expected[stream])}, got ${res.status} ${text.slice(0, 400)}`);
      }
      if (s.peer && calls < 1) throw new Error(`${label(s)} answered without calling the mock on ${upstreamPath}`);
      if (s.peer) process.stderr.write(`verified ${label(s)} ${stream ? "stream" : "json"}: mock reply relayed, ${calls} mock call(s)\n`);
    }
  }
}

/** The assistant's text in a chat completion, or the concatenated deltas of an SSE stream. */
function replyText(text, stream) {
  if (!stream) return JSON.parse(text).choices?.[0]?.message?.content ?? null;
  if (!text.includes("data: [DONE]")) return null;
  let out = "";
  for (const line of text.split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    out += JSON.parse(line.slice(6)).choices?.[0]?.delta?.content ?? "";
  }
  return out;
}

const rows = [];
for (const w of workloads) {
  const workload = w.stream ? "stream" : "json";
  const summarize = (name) => {
    const runs = samples.get(`${name}|${workload}|${w.concurrency}`);
    if (!runs) return null;
    return {
      rps: median(runs.map((r) => r.rps)),
      p50_ms: median(runs.map((r) => r.p50_ms)),
      p99_ms: median(runs.map((r) => r.p99_ms)),
      errors: runs.reduce((a, r) => a + r.errors, 0),
      cpu_us_per_req: median(runs.map((r) => r.cpu_us_per_req)),
      rss_mib: Math.max(...runs.map((r) => r.rss_kib)) / 1024,
    };
  };
  for (const s of systems) {
    const m = summarize(label(s));
    const direct = summarize(`direct@${s.upstream}`);
    const floor = summarize(`passthrough@${s.upstream}`);
    const sy = summarize(`switchyard@${s.upstream}`);
    const overhead = s.name === "direct" ? null : m.p50_ms - direct.p50_ms;
    const syOverhead = sy ? sy.p50_ms - direct.p50_ms : null;
    rows.push({
      workload,
      concurrency: w.concurrency,
      system: s.name,
      upstream: s.upstream,
      ...m,
      overhead_ms: overhead,
      rps_vs_passthrough: m.rps / floor.rps,
      rps_vs_switchyard: sy ? m.rps / sy.rps : null,
      overhead_vs_switchyard: sy && overhead > 0 && syOverhead > 0 ? overhead / syOverhead : null,
    });
  }
}

/**
 * The issue's targets, against the fast (0 ms) mock: at concurrency 32
 * Switchyard's req/s ≥ 2× Portkey's and ≥ 15× LiteLLM's; at 1, a lower
 * overhead than both. (Behind 100 ms, 32 clients cap everyone at 320 req/s.)
 */
const targets = [];
if (PEERS) {
  // The default gateway (a log line per request), the same with error lines only
  // (like the peers, which run without logging sinks), and the pass-through
  // floor for context (what the runtime allows at all).
  for (const r of rows.filter((x) => ["switchyard", "switchyard-errorlog", "passthrough"].includes(x.system) && x.upstream === "0ms")) {
    const peer = (name) => rows.find((x) => x.system === name && x.workload === r.workload && x.concurrency === r.concurrency && x.upstream === r.upstream);
    const portkey = peer("portkey");
    const litellm = peer("litellm");
    if (!portkey || !litellm) continue;
    if (r.concurrency === 32) {
      targets.push({ system: r.system, workload: r.workload, concurrency: 32, upstream: r.upstream, check: "req/s ≥ 2× Portkey", value: r.rps / portkey.rps, met: r.rps >= 2 * portkey.rps });
      targets.push({ system: r.system, workload: r.workload, concurrency: 32, upstream: r.upstream, check: "req/s ≥ 15× LiteLLM", value: r.rps / litellm.rps, met: r.rps >= 15 * litellm.rps });
    } else {
      for (const [name, p] of [["Portkey", portkey], ["LiteLLM", litellm]]) {
        targets.push({ system: r.system, workload: r.workload, concurrency: 1, upstream: r.upstream, check: `overhead < ${name}`, value: p.overhead_ms - r.overhead_ms, met: r.overhead_ms < p.overhead_ms, switchyard_ms: r.overhead_ms, peer_ms: p.overhead_ms });
      }
    }
  }
}

const sizes = {
  switchyard: size(join(ROOT, "build", "index_bg.wasm")),
  passthrough: size(join(dirname(PASSTHROUGH_SCRIPT), "index_bg.wasm")),
};
const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  method: {
    seconds_per_run: SECONDS,
    rounds: ROUNDS,
    statistic: "median of rounds (peak RSS: the largest sample of any round)",
    load_generator: "oha 1.16.0",
    workerd_serving: DIRECT
      ? "Miniflare 4.20260426.0, workerd 1.20260426.1: a socket of each Worker's own (unsafeDirectSockets), no entry worker"
      : "Miniflare 4.20260426.0 on a port (workerd 1.20260426.1), through Miniflare's entry worker",
    elapsed_s: Math.round(elapsed),
  },
  peers: PEERS ? peerVersions() : null,
  rows,
  targets,
  wasm_bytes: sizes,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");
const meta = `${result.date.slice(0, 16).replace("T", " ")} UTC · ${result.machine.cpus} cores (${result.machine.model ?? "?"}) · medians of ${ROUNDS} × ${SECONDS} s, oha · ${PEERS ? `LiteLLM ${result.peers.litellm}, Portkey gateway ${result.peers["portkey-gateway"]}` : "no peers"}`;
mkdirSync(dirname(CHART), { recursive: true });
writeFileSync(CHART, chartSvg(rows, meta));

const fmt = (n, d = 0) => (n === null || n === undefined || !Number.isFinite(n) ? "–" : n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const times = (n, d = 2) => (n === null || n === undefined || !Number.isFinite(n) ? "–" : `${fmt(n, d)}×`);
console.log("\n| workload | conc. | upstream | system | req/s | req/s ÷ Switchyard | p50 ms | p99 ms | overhead p50 ms | overhead ÷ Switchyard | CPU µs/req | peak RSS MiB | errors |");
console.log("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(`| ${r.workload} | ${r.concurrency} | ${r.upstream} | ${r.system} | ${fmt(r.rps)} | ${times(r.rps_vs_switchyard)} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.overhead_ms, 2)} | ${times(r.overhead_vs_switchyard, 1)} | ${fmt(r.cpu_us_per_req)} | ${fmt(r.rss_mib)} | ${r.errors} |`);
}
if (targets.length) {
  console.log("\n| system | target | workload | conc. | upstream | figure | met |\n|---|---|---|---:|---|---:|---|");
  for (const t of targets) {
    const figure = t.concurrency === 32 ? `${fmt(t.value, 1)}×` : `${fmt(t.switchyard_ms, 2)} vs ${fmt(t.peer_ms, 2)} ms`;
    console.log(`| ${t.system} | ${t.check} | ${t.workload} | ${t.concurrency} | ${t.upstream} | ${figure} | ${t.met ? "yes" : "**no**"} |`);
  }
}
const cacheRows = rows.filter((r) => r.system === "switchyard-cache-hit" && rows.some((m) => m.system === "switchyard-cache-miss" && m.upstream === r.upstream));
if (cacheRows.length) {
  console.log("\n| cache | workload | conc. | upstream | hit p50 ms | miss p50 ms | miss / hit | hit req/s | miss req/s | hit CPU µs | miss CPU µs |");
  console.log("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const hit of cacheRows) {
    const miss = rows.find((r) => r.system === "switchyard-cache-miss" && r.workload === hit.workload && r.concurrency === hit.concurrency && r.upstream === hit.upstream);
    if (!miss) continue;
    const verdict = hit.p50_ms < miss.p50_ms ? "hit < miss" : "HIT NOT CHEAPER";
    console.log(`| ${verdict} | ${hit.workload} | ${hit.concurrency} | ${hit.upstream} | ${fmt(hit.p50_ms, 2)} | ${fmt(miss.p50_ms, 2)} | ${fmt(miss.p50_ms / hit.p50_ms, 1)}× | ${fmt(hit.rps)} | ${fmt(miss.rps)} | ${fmt(hit.cpu_us_per_req ?? 0)} | ${fmt(miss.cpu_us_per_req ?? 0)} |`);
  }
}
console.log("\n| wasm | raw bytes | gzip -9 bytes |\n|---|---:|---:|");
for (const [name, s] of Object.entries(sizes)) console.log(`| ${name} | ${s.raw} | ${s.gzip} (${fmt(s.gzip / 1024, 1)} KiB) |`);
console.log(`\n${Math.round(elapsed)} s measuring. written: ${OUT}, ${CHART}`);
