// Side-by-side throughput and latency on 127.0.0.1, one run, interleaved:
//   direct       oha -> mock provider
//   passthrough  oha -> trivial Rust Worker in workerd (the runtime's floor) -> mock
//   switchyard   oha -> Switchyard in workerd -> mock
// for JSON and streaming chat at concurrency 1 and 32; plus wasm sizes.
// Prints a table with ratios to the pass-through Worker and the CPU time
// workerd spent per request (from /proc; all of workerd, Miniflare's own
// entry worker included), and writes JSON.
//
// Env: BENCH_SECONDS (per measurement, default 5), BENCH_ROUNDS (default 3;
// the median of the rounds is reported), BENCH_OUT (default bench/results/latest.json),
// BENCH_SYSTEMS (comma-separated names: measure only those, and the pass-through).
import { execFileSync } from "node:child_process";
import { readFileSync as readProc } from "node:fs";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT, compileRoutes, hashKey, startGateway, startMock } from "../tests/support/harness.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OUT = process.env.BENCH_OUT ?? join(ROOT, "bench", "results", "latest.json");
const OHA = join(process.env.CARGO_HOME ?? join(process.env.HOME, ".cargo"), "bin", "oha");
const KEY = "sy-bench-key";
const PASSTHROUGH_SCRIPT = join(ROOT, "bench", "passthrough", "build", "index.js");

const body = (stream) =>
  JSON.stringify({
    model: "mock-small",
    messages: [{ role: "user", content: "Say hello to the benchmark in a few words." }],
    ...(stream ? { stream: true } : {}),
  });

function oha(url, { concurrency, stream, headers = {}, seconds = SECONDS }) {
  const args = ["-z", `${seconds}s`, "-c", String(concurrency), "--no-tui", "--output-format", "json", "-m", "POST",
    "-H", "content-type: application/json", "-d", body(stream)];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  args.push(url);
  const report = JSON.parse(execFileSync(OHA, args, { encoding: "utf8", maxBuffer: 64 << 20 }));
  const codes = report.statusCodeDistribution ?? {};
  const ok = codes["200"] ?? 0;
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  return {
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

/** workerd processes started by this process (Miniflare spawns one per instance). */
function workerdChildren() {
  const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return out.trim().split("\n").map((l) => l.trim().split(/\s+/)).filter(([, c]) => c?.includes("workerd")).map(([p]) => Number(p));
}

/** CPU time (user + system) a process has used, in microseconds (from /proc, 10 ms ticks). */
function cpuMicros(pid) {
  const fields = readProc(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
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
  routes: compileRoutes(`
provider broken  { kind openai-compatible  base env BROKEN_URL }
provider healthy { kind openai-compatible  base env HEALTHY_URL }
route default { try broken:{model} with { attempts 1 } else healthy:{model} }
`),
});

// The same gateway with a route that has a rate limit (never reached) and a
// circuit breaker: one limiter object call per request, the breaker through
// the isolate's cache (BREAKER_CACHE_MS 1000, the default) or asked on
// every try (0).
const LIMITS_ROUTES = compileRoutes(`
provider upstream { kind openai-compatible  base env UPSTREAM_BASE_URL }
policy guarded { breaker 5 failures in 30s, cooldown 15s }
route default { limit 1000m rpm per route  use guarded  try upstream:{model} }
`);
const limits = await startMeasured({
  port: 0,
  bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: "1000" },
  routes: LIMITS_ROUTES,
});
const limitsExact = await startMeasured({
  port: 0,
  bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: "0" },
  routes: LIMITS_ROUTES,
});

const systems = [
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
];
// BENCH_SYSTEMS=a,b,… measures only those (the pass-through floor always).
const only = process.env.BENCH_SYSTEMS?.split(",");
if (only) systems.splice(0, systems.length, ...systems.filter((s) => s.name === "passthrough" || only.includes(s.name)));
const workloads = [];
for (const stream of [false, true]) for (const concurrency of [1, 32]) workloads.push({ stream, concurrency });

const samples = new Map();
try {
  // Warm every isolate and connection pool before measuring.
  for (const s of systems) for (const w of workloads) {
    const r = oha(s.url, { ...w, headers: s.headers, seconds: 1 });
    if (r.ok === 0) throw new Error(`${s.name} answered no request with 200 during warm-up`);
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const w of workloads) {
      // Interleave systems inside each workload so drift hits all of them alike.
      for (const s of systems) {
        const key = `${s.name}|${w.stream ? "stream" : "json"}|${w.concurrency}`;
        const cpuBefore = s.pid ? cpuMicros(s.pid) : 0;
        const r = oha(s.url, { ...w, headers: s.headers });
        if (s.pid) r.cpu_us_per_req = (cpuMicros(s.pid) - cpuBefore) / Math.max(1, r.ok + r.errors);
        samples.set(key, [...(samples.get(key) ?? []), r]);
        process.stderr.write(`round ${round}/${ROUNDS} ${key.padEnd(24)} ${r.rps.toFixed(0)} req/s\n`);
      }
    }
  }
} finally {
  await Promise.allSettled([passthrough.stop(), switchyard.stop(), fallback.stop(), limits.stop(), limitsExact.stop(), mock.stop()]);
}

const rows = [];
for (const w of workloads) {
  const workload = w.stream ? "stream" : "json";
  const summarize = (name) => {
    const runs = samples.get(`${name}|${workload}|${w.concurrency}`);
    return {
      rps: median(runs.map((r) => r.rps)),
      p50_ms: median(runs.map((r) => r.p50_ms)),
      p99_ms: median(runs.map((r) => r.p99_ms)),
      errors: runs.reduce((a, r) => a + r.errors, 0),
      cpu_us_per_req: runs[0].cpu_us_per_req === undefined ? null : median(runs.map((r) => r.cpu_us_per_req)),
    };
  };
  const floor = summarize("passthrough");
  for (const s of systems) {
    const m = summarize(s.name);
    rows.push({ workload, concurrency: w.concurrency, system: s.name, ...m, rps_vs_passthrough: m.rps / floor.rps });
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
console.log("\n| workload | conc. | system | req/s | p50 ms | p99 ms | req/s vs passthrough | workerd CPU µs/req | errors |");
console.log("|---|---:|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const cpu = r.cpu_us_per_req === null ? "–" : fmt(r.cpu_us_per_req);
  console.log(`| ${r.workload} | ${r.concurrency} | ${r.system} | ${fmt(r.rps)} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.rps_vs_passthrough, 2)}× | ${cpu} | ${r.errors} |`);
}
console.log("\n| wasm | raw bytes | gzip -9 bytes |\n|---|---:|---:|");
for (const [name, s] of Object.entries(sizes)) console.log(`| ${name} | ${s.raw} | ${s.gzip} (${fmt(s.gzip / 1024, 1)} KiB) |`);
console.log(`\nwritten: ${OUT}`);
