// Side-by-side throughput and latency on 127.0.0.1, one run, interleaved:
//   direct       oha -> mock provider
//   passthrough  oha -> trivial Rust Worker in workerd (the runtime's floor) -> mock
//   switchyard   oha -> Switchyard in workerd -> mock
// for JSON and streaming chat at concurrency 1 and 32; plus wasm sizes.
// And the response cache, against a 0 ms and a 100 ms upstream (mock
// directive `latency_ms=100` in the base path):
//   switchyard-cache-hit   every request a hit (one question, warmed up)
//   switchyard-cache-miss  every request a miss (a random question of 50,000
//                          per request, on a route whose entries live 1 ms)
//   switchyard-cache-miss-shards16  the same with FLIGHT_SHARDS=16 (0 ms only)
//   switchyard             (100 ms) the same gateway without a cache, for reference
// Prints a table with ratios to the pass-through Worker and the CPU time
// workerd spent per request (from /proc; all of workerd, Miniflare's own
// entry worker included), and writes JSON.
//
// Env: BENCH_SECONDS (per measurement, default 5), BENCH_ROUNDS (default 3;
// the median of the rounds is reported), BENCH_OUT (default bench/results/latest.json),
// BENCH_SYSTEMS (a regex: only the systems whose name matches, plus the
// pass-through floor; e.g. BENCH_SYSTEMS=cache).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT, compileRoutes, hashKey, startGateway, startMock } from "../tests/support/harness.mjs";
import { FALLBACK_ROUTES, LIMITS_ROUTES, cpuMicros, workerdChildren } from "./common.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OUT = process.env.BENCH_OUT ?? join(ROOT, "bench", "results", "latest.json");
const OHA = join(process.env.CARGO_HOME ?? join(process.env.HOME, ".cargo"), "bin", "oha");
const KEY = "sy-bench-key";
const PASSTHROUGH_SCRIPT = join(ROOT, "bench", "passthrough", "build", "index.js");
const ONLY = process.env.BENCH_SYSTEMS ? new RegExp(process.env.BENCH_SYSTEMS) : null;
/** Distinct questions in a cache-miss body file. */
const MISS_QUESTIONS = 50_000;

const body = (stream, model = "mock-small", question = "Say hello to the benchmark in a few words.") =>
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

function oha(url, { concurrency, stream, headers = {}, seconds = SECONDS, model, lines, wait = false }) {
  const args = ["-z", `${seconds}s`, "-c", String(concurrency), "--no-tui", "--output-format", "json", "-m", "POST",
    ...(wait ? ["--wait-ongoing-requests-after-deadline"] : []),
    "-H", "content-type: application/json",
    ...(lines ? ["-Z", lines[stream ? "stream" : "json"]] : ["-d", body(stream, model)])];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  args.push(url);
  const report = JSON.parse(execFileSync(OHA, args, { encoding: "utf8", maxBuffer: 64 << 20 }));
  const codes = report.statusCodeDistribution ?? {};
  const ok = codes["200"] ?? 0;
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  return {
    codes,
    rps: report.summary.requestsPerSec,
    p50_ms: report.latencyPercentiles.p50 * 1000,
    p99_ms: report.latencyPercentiles.p99 * 1000,
    ok,
    // Requests still in flight when the -z deadline hits are not failures.
    errors: total - ok + Object.entries(report.errorDistribution ?? {})
      .filter(([what]) => !what.includes("deadline"))
      .reduce((a, [, n]) => a + n, 0),
  };
}

/** Starts a Worker in workerd and finds the workerd process serving it. */
async function startMeasured(options) {
  const before = new Set(workerdChildren());
  const gw = await startGateway(options);
  return { ...gw, pid: workerdChildren().find((p) => !before.has(p)) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function size(path) {
  const raw = readFileSync(path);
  return { raw: statSync(path).size, gzip: gzipSync(raw, { level: 9 }).length };
}

const mock = await startMock();
const passthrough = await startMeasured({ scriptPath: PASSTHROUGH_SCRIPT, port: 0, bindings: { UPSTREAM_URL: mock.url } });
const switchyard = await startMeasured({
  port: 0,
  bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY) },
});

// The same gateway with a failing target in front: every request gets a
// 500 from the first target, then the fallback answers (two upstream calls).
const fallback = await startMeasured({
  port: 0,
  bindings: { GATEWAY_KEYS: hashKey(KEY), BROKEN_URL: `${mock.url}/status=500/v1`, HEALTHY_URL: `${mock.url}/v1` },
  routes: compileRoutes(FALLBACK_ROUTES),
});

// The same gateway with a route that has a rate limit (never reached) and a
// circuit breaker: one limiter object call per request, the breaker through
// the isolate's cache (BREAKER_CACHE_MS 1000, the default) or asked on
// every try (0).
const LIMITS_PLAN = compileRoutes(LIMITS_ROUTES);
const limits = await startMeasured({
  port: 0,
  bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: "1000" },
  routes: LIMITS_PLAN,
});
const limitsExact = await startMeasured({
  port: 0,
  bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: "0" },
  routes: LIMITS_PLAN,
});

// The response cache (KV + single-flight object), against a 0 ms and a
// 100 ms upstream. Hits ask one question (sampling is left to the route:
// `sampled`); misses ask a random one of MISS_QUESTIONS per request, on
// routes whose entries live 1 ms, so a repeated question misses as well.
const cached = await startMeasured({
  port: 0,
  cache: true,
  bindings: { GATEWAY_KEYS: hashKey(KEY), FAST_URL: `${mock.url}/v1`, SLOW_URL: `${mock.url}/latency_ms=100/v1` },
  routes: compileRoutes(`
provider fast { kind openai-compatible  base env FAST_URL }
provider slow { kind openai-compatible  base env SLOW_URL }
route hit-0    { when model == "hit-0"     cache 1h sampled   try fast:mock-small }
route hit-100  { when model == "hit-100"   cache 1h sampled   try slow:mock-small }
route miss-0   { when model == "miss-0"    cache 1ms sampled  try fast:mock-small }
route miss-100 { when model == "miss-100"  cache 1ms sampled  try slow:mock-small }
route plain    { try slow:{model} }
`),
});
// The same gateway with its flight objects shared by the keys (FLIGHT_SHARDS=16).
const sharded = await startMeasured({
  port: 0,
  cache: true,
  bindings: { GATEWAY_KEYS: hashKey(KEY), FAST_URL: `${mock.url}/v1`, FLIGHT_SHARDS: "16" },
  routes: compileRoutes(`
provider fast { kind openai-compatible  base env FAST_URL }
route miss-0 { when model == "miss-0"  cache 1ms sampled  try fast:mock-small }
route plain  { try fast:{model} }
`),
});
const auth = { authorization: `Bearer ${KEY}` };
const cachedUrl = `${cached.url}/v1/chat/completions`;
const lineFiles = new Map();
const lines = (model) => {
  if (!lineFiles.has(model)) lineFiles.set(model, { json: missBodies(model, false), stream: missBodies(model, true) });
  return lineFiles.get(model);
};

const allSystems = [
  { name: "direct", url: `${mock.url}/v1/chat/completions` },
  { name: "passthrough", url: `${passthrough.url}/v1/chat/completions`, pid: passthrough.pid },
  { name: "switchyard", url: `${switchyard.url}/v1/chat/completions`, headers: { authorization: `Bearer ${KEY}` }, pid: switchyard.pid },
  {
    name: "switchyard-fallback",
    url: `${fallback.url}/v1/chat/completions`,
    headers: { authorization: `Bearer ${KEY}` },
    pid: fallback.pid,
  },
  { name: "switchyard-limits", url: `${limits.url}/v1/chat/completions`, headers: { authorization: `Bearer ${KEY}` }, pid: limits.pid },
  {
    name: "switchyard-limits-nocache",
    url: `${limitsExact.url}/v1/chat/completions`,
    headers: { authorization: `Bearer ${KEY}` },
    pid: limitsExact.pid,
  },
  { name: "switchyard-cache-hit", upstream: "0ms", url: cachedUrl, headers: auth, pid: cached.pid, model: "hit-0" },
  { name: "switchyard-cache-miss", upstream: "0ms", url: cachedUrl, headers: auth, pid: cached.pid, model: "miss-0", lines: "miss-0" },
  {
    name: "switchyard-cache-miss-shards16",
    upstream: "0ms",
    url: `${sharded.url}/v1/chat/completions`,
    headers: auth,
    pid: sharded.pid,
    model: "miss-0",
    lines: "miss-0",
  },
  { name: "switchyard", upstream: "100ms", url: cachedUrl, headers: auth, pid: cached.pid, model: "mock-small" },
  { name: "switchyard-cache-hit", upstream: "100ms", url: cachedUrl, headers: auth, pid: cached.pid, model: "hit-100" },
  { name: "switchyard-cache-miss", upstream: "100ms", url: cachedUrl, headers: auth, pid: cached.pid, model: "miss-100", lines: "miss-100" },
];
for (const s of allSystems) s.upstream ??= "0ms";
const systems = allSystems.filter((s) => s.name === "passthrough" || !ONLY || ONLY.test(s.name));
for (const s of systems) if (s.lines) s.lines = lines(s.lines);
const label = (s) => `${s.name}@${s.upstream}`;
const workloads = [];
for (const stream of [false, true]) for (const concurrency of [1, 32]) workloads.push({ stream, concurrency });

const samples = new Map();
try {
  // Warm every isolate and connection pool before measuring.
  for (const s of systems) for (const w of workloads) {
    // Requests still running at the end are waited for: a slow system's first ones count.
    const r = oha(s.url, { ...w, headers: s.headers, seconds: 1, model: s.model, lines: s.lines, wait: true });
    if (r.ok === 0) throw new Error(`${label(s)} ${JSON.stringify(w)} answered no request with 200 during warm-up: ${JSON.stringify(r)}`);
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const w of workloads) {
      // Interleave systems inside each workload so drift hits all of them alike.
      for (const s of systems) {
        const key = `${label(s)}|${w.stream ? "stream" : "json"}|${w.concurrency}`;
        const cpuBefore = s.pid ? cpuMicros(s.pid) : 0;
        const r = oha(s.url, { ...w, headers: s.headers, model: s.model, lines: s.lines });
        if (s.pid) r.cpu_us_per_req = (cpuMicros(s.pid) - cpuBefore) / Math.max(1, r.ok + r.errors);
        samples.set(key, [...(samples.get(key) ?? []), r]);
        process.stderr.write(`round ${round}/${ROUNDS} ${key.padEnd(40)} ${r.rps.toFixed(0)} req/s\n`);
      }
    }
  }
} finally {
  await Promise.allSettled([
    passthrough.stop(), switchyard.stop(), fallback.stop(), limits.stop(), limitsExact.stop(), cached.stop(), sharded.stop(), mock.stop(),
  ]);
  for (const files of lineFiles.values()) for (const path of Object.values(files)) rmSync(path, { force: true });
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
      cpu_us_per_req: runs[0].cpu_us_per_req === undefined ? null : median(runs.map((r) => r.cpu_us_per_req)),
    };
  };
  const floor = summarize("passthrough@0ms");
  for (const s of systems) {
    const m = summarize(label(s));
    rows.push({ workload, concurrency: w.concurrency, system: s.name, upstream: s.upstream, ...m, rps_vs_passthrough: m.rps / floor.rps });
  }
}

const sizes = {
  switchyard: size(join(ROOT, "build", "index_bg.wasm")),
  passthrough: size(join(dirname(PASSTHROUGH_SCRIPT), "index_bg.wasm")),
};
const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  method: { seconds_per_run: SECONDS, rounds: ROUNDS, statistic: "median of rounds", load_generator: "oha 1.16.0" },
  rows,
  wasm_bytes: sizes,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");

const fmt = (n, d = 0) => n.toFixed(d);
console.log("\n| workload | conc. | upstream | system | req/s | p50 ms | p99 ms | req/s vs passthrough | workerd CPU µs/req | errors |");
console.log("|---|---:|---|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const cpu = r.cpu_us_per_req === null ? "–" : fmt(r.cpu_us_per_req);
  console.log(`| ${r.workload} | ${r.concurrency} | ${r.upstream} | ${r.system} | ${fmt(r.rps)} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.rps_vs_passthrough, 2)}× | ${cpu} | ${r.errors} |`);
}
const cacheRows = rows.filter((r) => r.system === "switchyard-cache-hit");
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
console.log(`\nwritten: ${OUT}`);
