// What bench/run.mjs, bench/ab.mjs and bench/profile.mjs share: the route
// files of the measured systems and the workerd CPU counters.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

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

/** workerd processes started by this process (Miniflare spawns one per instance). */
export function workerdChildren() {
  const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return out.trim().split("\n").map((l) => l.trim().split(/\s+/)).filter(([, c]) => c?.includes("workerd")).map(([p]) => Number(p));
}

/** CPU time (user + system) a process has used, in microseconds (from /proc, 10 ms ticks). */
export function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
