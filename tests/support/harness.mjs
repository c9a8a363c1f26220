// Shared by the dev server, the end-to-end tests and the benchmarks:
// start the project's mock provider and run the compiled Worker in workerd
// through Miniflare.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MOCK_BIN = join(ROOT, "target", "release", "mock-provider");
export const WORKER_SCRIPT = join(ROOT, "build", "entry.mjs");
/** Same as wrangler.toml (workerd 1.20260426.1 accepts up to 2026-05-03). */
export const COMPATIBILITY_DATE = "2026-04-26";

/**
 * Compiles route-file text with the project's own compiler (`yard compile`)
 * and returns the plan as JSON text, for a gateway's `routes`. Throws with
 * the compiler's diagnostics when the text has a mistake.
 */
export function compileRoutes(text, name = "e2e.route") {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-routes-"));
  try {
    const file = join(dir, name);
    writeFileSync(file, text);
    const run = spawnSync("cargo", ["run", "-q", "--bin", "yard", "--", "compile", "--color", "never", file], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (run.status !== 0) throw new Error(`yard compile failed:\n${run.stderr}`);
    return run.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** SHA-256 of a gateway key in hex: the form GATEWAY_KEYS stores. */
export function hashKey(key) {
  return createHash("sha256").update(key).digest("hex");
}

/**
 * Starts the mock provider on an ephemeral 127.0.0.1 port.
 * Resolves to { url, port, stop(), calls(query), last(path), reset() }.
 */
export async function startMock(args = []) {
  if (!existsSync(MOCK_BIN)) {
    throw new Error(`${MOCK_BIN} is missing: run \`cargo build --release -p mock-provider\` (make test does)`);
  }
  // stdin is a pipe the mock watches: when this process dies, however it
  // dies, the pipe closes and the mock exits with it.
  const child = spawn(MOCK_BIN, ["--host", "127.0.0.1", "--port", "0", "--exit-with-stdin", ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk) => {
      seen += chunk;
      const match = /listening on (http:\/\/[^\s]+)/.exec(seen);
      if (match) {
        child.stdout.off("data", onData);
        resolve(match[1]);
      }
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`mock-provider exited early (code ${code}): ${seen}`)));
    child.once("error", reject);
  });
  child.stdout.resume();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const getJson = async (path) => {
    const res = await fetch(url + path);
    if (!res.ok) throw new Error(`mock ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  return {
    url,
    port: Number(new URL(url).port),
    /** Call counts: all of them, or for one path / prefix. */
    calls: (query = "") => getJson(`/__mock/calls${query}`),
    /** Number of calls whose path starts with `prefix`. */
    async count(prefix) {
      const body = await getJson(`/__mock/calls?prefix=${encodeURIComponent(prefix)}`);
      return body.count;
    },
    /** The last request the mock saw on `path`, or null. */
    async last(path) {
      const res = await fetch(`${url}/__mock/last?path=${encodeURIComponent(path)}`);
      return res.status === 404 ? null : res.json();
    },
    reset: () => fetch(`${url}/__mock/reset`, { method: "POST" }),
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The KV namespace binding and key the Worker reads a routing plan from (src/edge/plan.rs). */
export const ROUTES_BINDING = "ROUTES";
export const PLAN_KEY = "plan";
/** The response cache's KV namespace and single-flight Durable Object (src/edge/cache.rs). */
export const CACHE_BINDING = "CACHE";
export const FLIGHT_BINDING = "FLIGHT";
/** Gateway keys kept in KV and the per-key budget objects (src/edge/keys.rs, src/edge/spend.rs). */
export const KEYS_BINDING = "KEYS";
export const BUDGET_BINDING = "BUDGET";

/**
 * Runs the compiled Worker in workerd. `bindings` are the Worker's vars and
 * secrets; pass `port` to serve on 127.0.0.1 (dev server, benchmarks).
 * `routes`: give the Worker a `ROUTES` KV namespace, seeded with this plan
 * (an object, serialized as JSON, or a raw string) unless it is `null`.
 * The result's `putPlan(plan)` / `deletePlan()` change it while running.
 * `cache: true`: bind the response cache (KV `CACHE`, Durable Object
 * `FLIGHT`; `cache: "kv"` binds the KV namespace only); the result's
 * `cacheKv()` and `flight(key)` reach them from the test.
 * `handleRuntimeStdio(stdout, stderr)`: workerd's output streams (what the
 * Worker logs), instead of this process's; `captureLog: true` collects them
 * instead, for the result's `log()` (all the text so far). Without either, a
 * test gateway (no `port`) passes its output through without the
 * per-request log lines; a served one (dev, benchmarks) prints everything.
 * `keys: true`: bind the `KEYS` KV namespace of gateway key records; the
 * result's `putKey(secret, record)` writes one as `yard keys create` does
 * (under the key's SHA-256), and `budget(name, message)` talks to the
 * budget object of the key named `name` (`{op:"peek"}` reads it).
 */
export async function startGateway({ bindings, port, scriptPath = WORKER_SCRIPT, objects, routes, cache, persist, instances = 1, handleRuntimeStdio, captureLog, keys, direct } = {}) {
  let log = "";
  if (captureLog) {
    handleRuntimeStdio = (stdout, stderr) => {
      for (const stream of [stdout, stderr]) {
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
          log += chunk;
        });
      }
    };
  } else if (handleRuntimeStdio === undefined && port === undefined) {
    // Tests: the Worker's output passes through without its per-request
    // log lines (one per request would drown everything else).
    handleRuntimeStdio = (stdout, stderr) => {
      for (const [stream, out] of [[stdout, process.stdout], [stderr, process.stderr]]) {
        stream.setEncoding("utf8");
        let rest = "";
        stream.on("data", (chunk) => {
          const lines = (rest + chunk).split("\n");
          rest = lines.pop();
          const kept = lines.filter((l) => !l.includes('{"event":"request"'));
          if (kept.length) out.write(kept.join("\n") + "\n");
        });
      }
    };
  }
  if (!existsSync(scriptPath)) {
    throw new Error(`${scriptPath} is missing: run \`sh scripts/build-worker.sh\` (make test does)`);
  }
  // The gateway's Durable Objects (wrangler.toml), SQLite-backed; the
  // pass-through Worker of the benchmarks has none (`objects`: another
  // build of the gateway, for A/B runs).
  const gatewayObjects = objects ?? scriptPath === WORKER_SCRIPT;
  const worker = (name, objectsFrom) => ({
    name,
    // `direct`: a socket of its own straight to this Worker, without
    // Miniflare's entry worker in front (see `url` below).
    ...(direct && objectsFrom === null ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
    modules: true,
    scriptPath,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }, { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings,
    kvNamespaces: [
      ...(routes === undefined ? [] : [ROUTES_BINDING]),
      ...(cache ? [CACHE_BINDING] : []),
      ...(keys ? [KEYS_BINDING] : []),
    ],
    ...(gatewayObjects
      ? {
          durableObjects: {
            LIMITER: { className: "RateLimiter", useSQLite: true, ...(objectsFrom ? { scriptName: objectsFrom } : {}) },
            BREAKER: { className: "CircuitBreaker", useSQLite: true, ...(objectsFrom ? { scriptName: objectsFrom } : {}) },
            METRICS: { className: "Metrics", useSQLite: true, ...(objectsFrom ? { scriptName: objectsFrom } : {}) },
            [BUDGET_BINDING]: { className: "Budget", useSQLite: true, ...(objectsFrom ? { scriptName: objectsFrom } : {}) },
            ...(cache === true
              ? { [FLIGHT_BINDING]: { className: "Flight", useSQLite: true, ...(objectsFrom ? { scriptName: objectsFrom } : {}) } }
              : {}),
          },
        }
      : {}),
  });
  // `instances > 1`: more gateway Workers in the same runtime, each its own
  // isolate with its own caches, all bound to the first one's objects.
  const workers = [worker("gateway", null)];
  for (let i = 1; i < instances; i++) workers.push(worker(`gateway-${i}`, "gateway"));
  const mf = new Miniflare({
    workers,
    ...(persist === undefined ? {} : { durableObjectsPersist: persist }),
    ...(port === undefined ? {} : { host: "127.0.0.1", port }),
    ...(handleRuntimeStdio === undefined ? {} : { handleRuntimeStdio }),
  });
  // (`unsafeGetDirectURL` waits until the runtime is ready, as `ready` does.)
  const url = direct ? await mf.unsafeGetDirectURL("gateway") : await mf.ready;
  const kv = async () => {
    if (routes === undefined) throw new Error("startGateway: pass `routes` to get a ROUTES namespace");
    return mf.getKVNamespace(ROUTES_BINDING);
  };
  const putPlan = async (plan) =>
    (await kv()).put(PLAN_KEY, typeof plan === "string" ? plan : JSON.stringify(plan));
  if (routes !== undefined && routes !== null) await putPlan(routes);
  return {
    mf,
    /** What the Worker wrote so far (with `captureLog: true`). */
    log: () => log,
    putPlan,
    deletePlan: async () => (await kv()).delete(PLAN_KEY),
    cacheKv: () => mf.getKVNamespace(CACHE_BINDING),
    keysKv: () => mf.getKVNamespace(KEYS_BINDING),
    /** Writes a key record (src/keys.rs) for the gateway key `secret`. */
    async putKey(secret, record) {
      const full = { v: 1, tags: [], routes: [], models: [], created_ms: Date.now(), ...record };
      await (await mf.getKVNamespace(KEYS_BINDING)).put(hashKey(secret), JSON.stringify(full));
    },
    /** Sends `message` (src/budget/ledger.rs) to the budget object of key `name`; resolves to its standing. */
    async budget(name, message = { op: "peek" }) {
      const ns = await mf.getDurableObjectNamespace(BUDGET_BINDING);
      const res = await ns.get(ns.idFromName(`budget:${name}`)).fetch("https://budget.test/", { method: "POST", body: JSON.stringify(message) });
      return res.json();
    },
    /**
     * Sends one message about `key` (text, see src/cache/flight.rs) to its
     * flight object (the one named `key`, without FLIGHT_SHARDS); resolves to the reply.
     */
    async flight(key, message) {
      const ns = await mf.getDurableObjectNamespace(FLIGHT_BINDING);
      const res = await ns.get(ns.idFromName(key)).fetch("https://flight.test/", { method: "POST", body: `${key} ${message}` });
      return res.text();
    },
    url: url.href.replace(/\/$/, ""),
    fetch: (path, init) => mf.dispatchFetch(new URL(path, "http://gateway.test").href, init),
    /** The same request to the `n`-th gateway Worker (0 is the first). */
    async fetchVia(n, path, init) {
      if (n === 0) return mf.dispatchFetch(new URL(path, "http://gateway.test").href, init);
      const w = await mf.getWorker(`gateway-${n}`);
      return w.fetch(new URL(path, "http://gateway.test").href, init);
    },
    stop: () => mf.dispose(),
  };
}
