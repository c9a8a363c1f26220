// A/B of gateway builds against the pass-through floor, interleaved, for
// iterating on per-request cost (not part of make bench):
//   node bench/ab.mjs DIR[:LOG]... (each DIR holds a build: index.js + index_bg.wasm, and entry.mjs;
//   LOG its REQUEST_LOG, e.g. `build:off`)
// Env: AB_ROUTES=plain|limits|fallback, AB_STREAM=1, AB_CONC (default 1),
// AB_SECONDS (default 3), AB_ROUNDS (default 3), BENCH_SERVE (below), REQUEST_LOG (the gateway's, default all),
// AB_DIRECTIVES (mock directives for every system's upstream, e.g. `chunks=16`: a longer stream).
// Prints the median req/s and workerd CPU µs per request of each system.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { ROOT, compileRoutes, hashKey, startGateway, startMock } from "../tests/support/harness.mjs";
import { DIRECT, FALLBACK_ROUTES, buildScript, LIMITS_ROUTES, cpuMicros as cpu, drain, workerdChildren as workerd } from "./common.mjs";

const dirs = process.argv.slice(2);
const OHA = join(process.env.HOME, ".cargo", "bin", "oha");
const KEY = "sy-bench-key";
const SECONDS = Number(process.env.AB_SECONDS ?? 3);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 3);
const CONC = process.env.AB_CONC ?? "1";
const STREAM = process.env.AB_STREAM === "1";
const ROUTES = { plain: undefined, limits: LIMITS_ROUTES, fallback: FALLBACK_ROUTES }[process.env.AB_ROUTES ?? "plain"];

async function start(options) {
  const before = new Set(workerd());
  const gw = await startGateway({ handleRuntimeStdio: drain, ...options });
  return { ...gw, pid: workerd().find((p) => !before.has(p)) };
}

const mock = await startMock();
// The mock's directives go first in the upstream path (tests/mock-provider).
const upstream = process.env.AB_DIRECTIVES ? `${mock.url}/${process.env.AB_DIRECTIVES}` : mock.url;
const plan = ROUTES && compileRoutes(ROUTES);
// BENCH_SERVE (common.mjs): socket (the default), entry, or both (every
// system both ways, each against the pass-through served the same way).
const SERVE = process.env.BENCH_SERVE === "both" ? ["socket", "entry"] : [DIRECT ? "socket" : "entry"];
const systems = [];
for (const serve of SERVE) {
  const direct = serve === "socket";
  const suffix = SERVE.length > 1 ? ` (${serve})` : "";
  systems.push({ name: `passthrough${suffix}`, gw: await start({ direct, scriptPath: join(ROOT, "bench", "passthrough", "build", "index.js"), port: 0, bindings: { UPSTREAM_URL: upstream } }) });
  // `DIR:off` (or `:errors`, `:all`): that build with its own REQUEST_LOG.
  for (const spec of dirs) {
    const [dir, log = process.env.REQUEST_LOG ?? "all"] = spec.split(":");
    systems.push({
      name: `${spec}${suffix}`,
      auth: true,
      gw: await start({
        direct,
        scriptPath: buildScript(dir),
        objects: true,
        port: 0,
        bindings: { UPSTREAM_BASE_URL: `${upstream}/v1`, BROKEN_URL: `${mock.url}/status=500/v1`, HEALTHY_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: process.env.AB_CACHE ?? "1000", REQUEST_LOG: log },
        ...(plan ? { routes: plan } : {}),
      }),
    });
  }
}
const body = JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello to the benchmark in a few words." }], ...(STREAM ? { stream: true } : {}) });
// oha runs while this process's event loop keeps reading the Workers' output.
const oha = promisify(execFile);
const run = async (s, seconds) => {
  const before = cpu(s.gw.pid);
  const r = JSON.parse((await oha(OHA, ["-z", `${seconds}s`, "-c", CONC, "--no-tui", "--output-format", "json", "-m", "POST",
    "-H", "content-type: application/json", ...(s.auth ? ["-H", `authorization: Bearer ${KEY}`] : []), "-d", body, `${s.gw.url}/v1/chat/completions`], { encoding: "utf8", maxBuffer: 1 << 26 })).stdout);
  const n = Object.values(r.statusCodeDistribution ?? {}).reduce((a, b) => a + b, 0);
  if (n === 0) throw new Error(`${s.name}: no answers: ${JSON.stringify(r.errorDistribution)}`);
  if ((r.statusCodeDistribution?.["200"] ?? 0) !== n) throw new Error(`${s.name}: ${JSON.stringify(r.statusCodeDistribution)}`);
  return { rps: r.summary.requestsPerSec, cpu: (cpu(s.gw.pid) - before) / Math.max(1, n) };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  // A fresh isolate compiles the wasm and reads its plan on its first requests.
  for (const s of systems) {
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${s.gw.url}/v1/chat/completions`, { method: "POST", body, headers: { "content-type": "application/json", ...(s.auth ? { authorization: `Bearer ${KEY}` } : {}) } });
      await r.text();
      if (r.status !== 200) throw new Error(`${s.name}: warm-up answered ${r.status}`);
    }
  }
  for (const s of systems) await run(s, 1);
  const samples = new Map(systems.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) for (const s of systems) samples.get(s.name).push(await run(s, SECONDS));
  const floorOf = (name) => median(samples.get(`passthrough${name.match(/ \(\w+\)$/)?.[0] ?? ""}`).map((r) => r.rps));
  console.log(`${process.env.AB_ROUTES ?? "plain"} ${STREAM ? "stream" : "json"} c${CONC}, ${ROUNDS} × ${SECONDS} s`);
  for (const s of systems) {
    const rs = samples.get(s.name);
    const rps = median(rs.map((r) => r.rps));
    console.log(`${s.name.padEnd(28)} ${rps.toFixed(0).padStart(6)} req/s  ${(rps / floorOf(s.name)).toFixed(2)}×  CPU ${median(rs.map((r) => r.cpu)).toFixed(0).padStart(5)} µs/req (min ${Math.min(...rs.map((r) => r.cpu)).toFixed(0)})  (${rs.map((r) => r.cpu.toFixed(0)).join(" ")})`);
  }
} finally {
  await Promise.allSettled(systems.map((s) => s.gw.stop()));
  await mock.stop();
}
