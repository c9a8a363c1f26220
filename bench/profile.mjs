// CPU profile of one Worker in workerd under load (not part of make bench):
// where the isolate's time goes, by function, self time.
//   node bench/profile.mjs [switchyard|limits|fallback|passthrough] [json|stream] [concurrency] [seconds]
// Build with names for readable wasm frames:
//   CARGO_PROFILE_RELEASE_STRIP=false sh scripts/build-worker.sh
// FOCUS=regex limits the inclusive table to the stacks through a matching
// function (its callees' share), TOP=n the length of the tables.
// Uses V8's sampling profiler through workerd's inspector (Miniflare
// `inspectorPort`); C++ work the runtime does outside JavaScript and wasm
// (sockets, HTTP parsing) shows only as `(program)` or not at all.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { COMPATIBILITY_DATE, ROOT, WORKER_SCRIPT, compileRoutes, hashKey, startMock } from "../tests/support/harness.mjs";
import { DIRECT, FALLBACK_ROUTES, LIMITS_ROUTES, drain } from "./common.mjs";

const [which = "switchyard", kind = "json", conc = "1", secs = "4"] = process.argv.slice(2);
const OHA = join(process.env.HOME, ".cargo", "bin", "oha");
const KEY = "sy-bench-key";
const mock = await startMock();
const passthrough = which === "passthrough";
const routes = { limits: LIMITS_ROUTES, fallback: FALLBACK_ROUTES }[which];
const inspectorPort = 9300 + Math.floor(Math.random() * 500);
const mf = new Miniflare({
  inspectorPort,
  handleRuntimeStdio: drain,
  host: "127.0.0.1",
  port: 0,
  workers: [
    {
      name: "gateway",
      ...(DIRECT ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
      modules: true,
      scriptPath: passthrough ? join(ROOT, "bench", "passthrough", "build", "index.js") : process.env.SCRIPT ? join(ROOT, process.env.SCRIPT) : WORKER_SCRIPT,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }, { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
      compatibilityDate: COMPATIBILITY_DATE,
      bindings: passthrough
        ? { UPSTREAM_URL: mock.url }
        : { UPSTREAM_BASE_URL: `${mock.url}/v1`, BROKEN_URL: `${mock.url}/status=500/v1`, HEALTHY_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey(KEY), BREAKER_CACHE_MS: process.env.CACHE ?? "1000", REQUEST_LOG: process.env.REQUEST_LOG ?? "all" },
      kvNamespaces: routes ? ["ROUTES"] : [],
      ...(passthrough
        ? {}
        : {
            durableObjects: {
              LIMITER: { className: "RateLimiter", useSQLite: true },
              BREAKER: { className: "CircuitBreaker", useSQLite: true },
              METRICS: { className: "Metrics", useSQLite: true },
              BUDGET: { className: "Budget", useSQLite: true },
            },
          }),
    },
  ],
});
const url = (DIRECT ? await mf.unsafeGetDirectURL("gateway") : await mf.ready).href.replace(/\/$/, "");
if (routes) await (await mf.getKVNamespace("ROUTES")).put("plan", compileRoutes(routes));

const body = JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Say hello to the benchmark in a few words." }], ...(kind === "stream" ? { stream: true } : {}) });
// oha runs asynchronously so Node keeps draining workerd's output (the log
// lines): a full pipe would stall workerd after a few hundred requests.
const oha = promisify(execFile);
const run = async (s) =>
  JSON.parse(
    (await oha(OHA, ["-z", `${s}s`, "-c", conc, "--no-tui", "--output-format", "json", "-m", "POST", "-H", "content-type: application/json",
      "-H", `authorization: Bearer ${KEY}`, "-d", body, `${url}/v1/chat/completions`], { encoding: "utf8", maxBuffer: 1 << 26 })).stdout,
  );

try {
  await run(1);
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const target = targets.find((t) => t.title?.includes("gateway") || t.id?.includes("gateway")) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r, j) => { ws.once("open", r); ws.once("error", j); });
  let id = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const m = JSON.parse(data);
    if (m.id && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
  });
  const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: Number(process.env.INTERVAL_US ?? 50) });
  await send("Profiler.start");
  const r = await run(Number(secs));
  const { result } = await send("Profiler.stop");
  ws.close();
  const requests = Object.values(r.statusCodeDistribution ?? {}).reduce((a, b) => a + b, 0);
  const { nodes, samples, timeDeltas, startTime, endTime } = result.profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < samples.length; i++) {
    const n = byId.get(samples[i]);
    const f = n.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() : ""}`.trim();
    self.set(name, (self.get(name) ?? 0) + (timeDeltas[i + 1] ?? 0));
  }
  // Inclusive time per function (each sample counted once per distinct name on its stack).
  const parent = new Map();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // FOCUS=regex: only the samples whose stack passes through a function
  // whose name matches (what that function's callees cost).
  const focus = process.env.FOCUS && new RegExp(process.env.FOCUS);
  const through = (id) => {
    for (; id !== undefined; id = parent.get(id)) if (focus.test(byId.get(id).callFrame.functionName)) return true;
    return false;
  };
  const total = new Map();
  for (let i = 0; i < samples.length; i++) {
    if (focus && !through(samples[i])) continue;
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame;
      const name = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() : ""}`.trim();
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + (timeDeltas[i + 1] ?? 0));
    }
  }
  const wall = endTime - startTime;
  const idle = self.get("(idle)") ?? 0;
  console.log(`${which} ${kind} c${conc}: ${requests} requests, ${(requests / Number(secs)).toFixed(0)} req/s; isolate busy ${((wall - idle) / requests).toFixed(1)} µs/request`);
  const top = (m, n) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  console.log("\nself µs/request:");
  for (const [name, us] of top(self, Number(process.env.TOP ?? 45))) if (name !== "(idle)") console.log(`${(us / requests).toFixed(2).padStart(8)}  ${name}`);
  console.log("\ninclusive µs/request:");
  for (const [name, us] of top(total, Number(process.env.TOP ?? 45))) if (name !== "(idle)" && name !== "(root)") console.log(`${(us / requests).toFixed(2).padStart(8)}  ${name}`);
} finally {
  await mf.dispose();
  await mock.stop();
}
