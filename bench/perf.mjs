// Where workerd's CPU goes outside JavaScript (not part of make bench): the
// isolate's profile (profile.mjs) cannot see the runtime's C++ (headers,
// streams, timers, logging, GC), which is most of a request's CPU. This
// samples the whole workerd process with Linux `perf` (workerd's binary
// keeps its symbols) while oha drives it, for two systems in turn, and
// prints CPU µs per request by binary and the symbols whose cost differs most.
//   node bench/perf.mjs A B   (each `passthrough` or a DIR with index.js + index_bg.wasm)
// Env: BENCH_SERVE (common.mjs), PERF_STREAM=1 (streamed chat; `b`: B only, the same system JSON then streamed), PERF_CONC (default 1), PERF_SECONDS (default 6), REQUEST_LOG (default all), TOP (default 30).
// Needs `perf` (Debian: linux-perf) and permission to sample (run as root, or
// kernel.perf_event_paranoid ≤ 1). JIT code (JavaScript and wasm) shows as `[JIT]`.
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, hashKey, startGateway, startMock } from "../tests/support/harness.mjs";
import { DIRECT, buildScript, drain, workerdChildren } from "./common.mjs";

const [a = "passthrough", b = "build"] = process.argv.slice(2);
const CONC = process.env.PERF_CONC ?? "1";
const SECONDS = Number(process.env.PERF_SECONDS ?? 6);
const TOP = Number(process.env.TOP ?? 30);
const KEY = "sy-bench-key";
const OHA = join(process.env.HOME, ".cargo", "bin", "oha");
const run = promisify(execFile);
const mock = await startMock();
const bodyOf = (stream) => JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello to the benchmark in a few words." }], ...(stream ? { stream: true } : {}) });

/** Samples one system; returns its requests and the perf data file. */
async function record(system, out, i) {
  const body = bodyOf(process.env.PERF_STREAM === "1" || process.env.PERF_STREAM === "ab"[i]);
  const before = new Set(workerdChildren());
  const passthrough = system === "passthrough";
  const gw = await startGateway({
    handleRuntimeStdio: drain,
    direct: DIRECT,
    scriptPath: passthrough ? join(ROOT, "bench", "passthrough", "build", "index.js") : buildScript(system),
    objects: !passthrough,
    port: 0,
    bindings: passthrough ? { UPSTREAM_URL: mock.url } : { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), REQUEST_LOG: process.env.REQUEST_LOG ?? "all" },
  });
  const pid = workerdChildren().find((p) => !before.has(p));
  const oha = (s) => run(OHA, ["-z", `${s}s`, "-c", CONC, "--no-tui", "--output-format", "json", "-m", "POST", "-H", "content-type: application/json",
    "-H", `authorization: Bearer ${KEY}`, "-d", body, `${gw.url}/v1/chat/completions`], { encoding: "utf8", maxBuffer: 1 << 26 });
  try {
    await oha(2);
    const perf = spawn("perf", ["record", "-q", "-F", "2000", "-p", String(pid), "-o", out], { stdio: "ignore" });
    const r = JSON.parse((await oha(SECONDS)).stdout);
    perf.kill("SIGINT");
    await new Promise((resolve) => perf.on("exit", resolve));
    return Object.values(r.statusCodeDistribution ?? {}).reduce((x, y) => x + y, 0);
  } finally {
    await gw.stop();
  }
}

/** µs per request by (binary, symbol). */
async function costs(file, requests) {
  const { stdout } = await run("perf", ["report", "-i", file, "--stdio", "--no-children", "--sort", "dso,sym"], { maxBuffer: 1 << 28 });
  const total = Number(/Event count \(approx\.\): (\d+)/.exec(stdout)?.[1] ?? 0) / 1e3;
  const out = new Map();
  for (const line of stdout.split("\n")) {
    const m = /^\s+([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[.\]\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = `${m[2].replace(/ tid \d+/, "")}\t${m[3].replace(/0x[0-9a-f]+/g, "").slice(0, 100)}`;
    out.set(key, (out.get(key) ?? 0) + (Number(m[1]) * total) / 100 / requests);
  }
  return out;
}

try {
  const measured = [];
  for (const [i, system] of [a, b].entries()) {
    const file = join(ROOT, "target", `perf-${i}.data`);
    measured.push(await costs(file, await record(system, file, i)));
  }
  const [x, y] = measured;
  const sum = (m, pick) => [...m].filter(([k]) => pick(k)).reduce((s, [, v]) => s + v, 0);
  console.log(`workerd CPU µs per request, c${CONC}: ${a} | ${b} | difference`);
  const binaries = new Set([...x.keys(), ...y.keys()].map((k) => k.split("\t")[0]));
  for (const bin of binaries) {
    const [p, q] = [sum(x, (k) => k.startsWith(`${bin}\t`)), sum(y, (k) => k.startsWith(`${bin}\t`))];
    if (p + q >= 1) console.log(`${p.toFixed(0).padStart(7)} ${q.toFixed(0).padStart(7)} ${(q - p).toFixed(0).padStart(7)}  ${bin}`);
  }
  console.log(`${sum(x, () => true).toFixed(0).padStart(7)} ${sum(y, () => true).toFixed(0).padStart(7)} ${(sum(y, () => true) - sum(x, () => true)).toFixed(0).padStart(7)}  total`);
  console.log("\nlargest differences (µs per request):");
  const keys = [...new Set([...x.keys(), ...y.keys()])];
  const diff = keys.map((k) => [(y.get(k) ?? 0) - (x.get(k) ?? 0), k]).sort((m, n) => Math.abs(n[0]) - Math.abs(m[0]));
  for (const [d, k] of diff.slice(0, TOP)) console.log(`${d.toFixed(1).padStart(7)}  ${k.replace("\t", "  ")}`);
} finally {
  await mock.stop();
}
