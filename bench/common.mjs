// What bench/run.mjs, bench/ab.mjs and bench/profile.mjs share: the route
// files of the measured systems and the workerd CPU counters (from procs.mjs).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childrenNamed, treeCpuMicros } from "./procs.mjs";

/** A failing target in front (every request: a 500, then the healthy fallback). */
export const FALLBACK_ROUTES = `
provider broken  { kind openai-compatible  base env BROKEN_URL }
provider healthy { kind openai-compatible  base env HEALTHY_URL }
route default { try broken:{model} with { attempts 1 } else healthy:{model} }
`;

/** A rate limit that is never reached and a circuit breaker. */
export const LIMITS_ROUTES = `
provider upstream { kind openai-compatible  base env UPSTREAM_BASE_URL }
policy guarded { breaker 5 failures in 30s, cooldown 15s }
route default { limit 1000m rpm per route  use guarded  try upstream:{model} }
`;

/**
 * How the Workers are served: `socket` (the default) gives each measured
 * Worker a socket of its own in workerd (Miniflare's `unsafeDirectSockets`),
 * so nothing but workerd's HTTP handling stands in front of it; `entry`
 * serves them through Miniflare's entry worker, as `mf.ready`'s URL does
 * (a JavaScript Worker in the same workerd that forwards every request:
 * ~200 µs of workerd CPU per request here, in front of every Worker alike).
 */
export const SERVE = process.env.BENCH_SERVE ?? "socket";
export const DIRECT = SERVE !== "entry";

/** The script to run for a build in `dir`: its entry module (src/entry.mjs) when it has one, else worker-build's index.js. */
export const buildScript = (dir) => (existsSync(join(dir, "entry.mjs")) ? join(dir, "entry.mjs") : join(dir, "index.js"));

/** workerd processes started by this process (Miniflare spawns one per instance). */
export const workerdChildren = () => childrenNamed("workerd");

/** CPU time (user + system) a workerd process has used, in microseconds (10 ms ticks). */
export const cpuMicros = treeCpuMicros;

/**
 * Miniflare's `handleRuntimeStdio`: the Workers' output (the gateway's one
 * JSON log line per request) is read and dropped. The Worker still writes
 * every line, but Node copying them to a terminal is not part of the
 * serving path on Cloudflare (the platform ships them) and would compete
 * for the same cores; left unread, the pipe fills and workerd stalls.
 */
export const drain = (stdout, stderr) => {
  for (const stream of [stdout, stderr]) stream.resume();
};
