// What a server process (and every process it started) costs, read from
// /proc: CPU time (per-thread schedstat, nanoseconds) and resident memory. Used by
// bench/run.mjs for workerd, the mock and the peer gateways alike.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const read = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // the process (or thread) is gone
  }
};

/** `pid` and all its descendants that are still alive. */
export function processTree(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // gone
    }
    // A child belongs to the thread that forked it: ask every thread.
    for (const task of tasks) {
      for (const child of (read(`/proc/${p}/task/${task}/children`) ?? "").trim().split(/\s+/)) {
        if (child) stack.push(Number(child));
      }
    }
  }
  return out;
}

/**
 * CPU time a process's live threads have used, in microseconds: the sum of
 * their `schedstat` run times (nanoseconds), or the process's `stat` ticks
 * (10 ms) where schedstat is missing.
 */
function cpuOf(pid) {
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // gone
  }
  let ns = 0;
  for (const task of tasks) {
    const line = read(`/proc/${pid}/task/${task}/schedstat`);
    if (line === null) return ticksOf(pid);
    ns += Number(line.split(" ")[0]);
  }
  return ns / 1000;
}

function ticksOf(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === null) return 0;
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Resident memory of a process, in KiB. */
function rssOf(pid) {
  const status = read(`/proc/${pid}/status`);
  const match = status && /^VmRSS:\s+(\d+)/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** CPU time (µs) used so far by `pid` and its live descendants. */
export const treeCpuMicros = (pid) => processTree(pid).reduce((a, p) => a + cpuOf(p), 0);

/** Resident memory (KiB) of `pid` and its live descendants. */
export const treeRssKiB = (pid) => processTree(pid).reduce((a, p) => a + rssOf(p), 0);

/** Child processes of this one whose command name contains `name`. */
export function childrenNamed(name) {
  const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([, c]) => c?.includes(name))
    .map(([p]) => Number(p));
}

/**
 * Samples the resident memory of `pid`'s tree every `everyMs` until the
 * returned `stop()`, which resolves to the peak in KiB.
 */
export function sampleRss(pid, everyMs = 200) {
  let peak = treeRssKiB(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssKiB(pid));
  }, everyMs);
  return () => {
    clearInterval(timer);
    return Math.max(peak, treeRssKiB(pid));
  };
}
