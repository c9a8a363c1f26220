// The fault matrix: drives a running gateway (the compiled Worker in workerd,
// through Miniflare on a real 127.0.0.1 port) through every upstream fault
// the mock provider can produce, under every kind of route policy, with JSON
// and streaming clients of both dialects (and providers of both formats), many requests per cell, all cells
// at once. Each request's outcome is checked and counted; a violation is
// any request that hangs (no answer within its route's deadline plus a
// margin), ends without a response, answers an error outside the fault's
// statuses or not in the client's dialect or without the attempt trail,
// reports success on a cut stream, ends a stream without a terminal event,
// or shows a provider or gateway key.
//
//   node tests/faults/matrix.mjs                 # full: 200 requests per cell
//   node tests/faults/matrix.mjs --per-cell 20 --json out.json
//
// `runMatrix` is also what tests/e2e/faults.test.mjs runs (reduced).
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const GATEWAY_KEY = "sy-faults-key-0123456789abcdef";
const PROVIDER_KEY = "sk-faults-SECRET-provider-4e1f0b";

/**
 * Route timing (ms), written into every policy. The attempt timeout is far
 * above what a healthy answer needs even with a hundred requests in flight
 * on a busy machine: a healthy upstream must never time out here.
 */
export const TIMING = { attemptMs: 4000, totalMs: 14000 };

/**
 * Upstream faults: mock directives for the faulty target `a`, and the error
 * statuses the gateway may answer with besides 502/503/504 (`status`).
 * `midStream`: the fault may break a stream after its first chunk, so a
 * terminal error event is a correct outcome.
 */
export const FAULTS = {
  ok: { directives: [], healthy: true },
  "429": { directives: ["status=429"], status: 429 },
  "429+retry-after": { directives: ["status=429", "retry_after=1"], status: 429 },
  "500": { directives: ["status=500"], status: 500 },
  "503": { directives: ["status=503"], status: 503 },
  "503 one in 2": { directives: ["status=503", "fail_every=2"], status: 503 },
  timeout: { directives: ["latency_ms=60000"] },
  "slow first byte": { directives: ["ttfb_ms=60000"] },
  reset: { directives: ["fault=reset"] },
  "malformed JSON": { directives: ["fault=malformed"], midStream: true },
  "cut mid-way": { directives: ["fault=cut", "cut_after=3"], midStream: true },
  "stall mid-way": { directives: ["fault=stall", "cut_after=3"], midStream: true },
};

const timeouts = `timeout ${TIMING.attemptMs}ms per attempt, ${TIMING.totalMs}ms total`;

/**
 * Route policies: the route's targets statement for a faulty provider `A`
 * and a healthy one `B`, and whether some requests of a faulty cell may
 * still succeed (`rescue`: B serves them).
 */
export const POLICIES = {
  single: { targets: (a) => `try ${a}:{model} with { attempts 1  ${timeouts} }` },
  retry: { targets: (a) => `try ${a}:{model} with { attempts 3  backoff constant 20ms  ${timeouts} }` },
  fallback: {
    targets: (a, b) => `try ${a}:{model} with { attempts 2  backoff constant 20ms  ${timeouts} } else ${b}:{model}`,
    rescue: true,
  },
  split: {
    targets: (a, b) => `use cell  split 50% ${a}:{model}, 50% ${b}:{model}`,
    rescue: true,
  },
  breaker: {
    targets: (a) => `try ${a}:{model} with { attempts 1  ${timeouts}  breaker 5 failures in 60s, cooldown 60s }`,
  },
};

export const MODES = ["json", "stream"];
/** Client dialects, and the wire formats of the cell's providers (`kind`). */
export const DIALECTS = ["openai", "anthropic"];
export const UPSTREAMS = { openai: "openai-compatible", anthropic: "anthropic" };

/** The longest a request may take before it counts as a hang. */
export function hangAfterMs(marginMs) {
  // The run's total deadline, then a started stream may idle for one
  // attempt timeout before its error event; then the margin.
  return TIMING.totalMs + TIMING.attemptMs + marginMs;
}

const PROMPT = (cell, i) => `faults ${cell} ${i}`;
const EXPECTED = (text) => `Mock reply to: ${text}`;

/** The request a client of `dialect` sends. */
function request(baseUrl, dialect, model, text, stream) {
  if (dialect === "openai") {
    return {
      url: `${baseUrl}/v1/chat/completions`,
      headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}` },
      body: JSON.stringify({ model, stream, messages: [{ role: "user", content: text }] }),
    };
  }
  return {
    url: `${baseUrl}/v1/messages`,
    headers: { "content-type": "application/json", "x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model, stream, max_tokens: 64, messages: [{ role: "user", content: text }] }),
  };
}

/** SSE events of a body: [{ event, data }] (data lines joined). */
function sseEvents(text) {
  const out = [];
  for (const block of text.replace(/\r\n/g, "\n").split("\n\n")) {
    let event = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (event !== null || data.length) out.push({ event, data: data.join("\n") });
  }
  return out;
}

const parse = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Whether `body` is an error in `dialect`'s shape; returns its trail or false. */
function dialectError(dialect, body) {
  if (!body || typeof body !== "object" || !body.error || typeof body.error.message !== "string") return false;
  if (dialect === "openai" && (typeof body.error.type !== "string" || "type" in body && body.type !== undefined)) return false;
  if (dialect === "anthropic" && (body.type !== "error" || typeof body.error.type !== "string")) return false;
  return { attempts: body.error.attempts };
}

/**
 * Reads one stream: content, whether it ended with the dialect's end marker
 * or a terminal error event, and any event that is not valid.
 */
function readStream(dialect, text) {
  let content = "";
  let done = false;
  let error = null;
  let afterEnd = false;
  let malformed = null;
  for (const { event, data } of sseEvents(text)) {
    if (done || error) afterEnd = true;
    if (dialect === "openai") {
      if (data === "[DONE]") {
        done = true;
        continue;
      }
      const json = parse(data);
      if (json === undefined) malformed ??= data.slice(0, 80);
      else if (json.error) error = json;
      else content += json.choices?.[0]?.delta?.content ?? "";
    } else {
      if (event === "ping") continue;
      const json = parse(data);
      if (json === undefined) {
        malformed ??= `${event}: ${data.slice(0, 80)}`;
        continue;
      }
      if (event === "error") error = json;
      else if (event === "message_stop") done = true;
      else if (event === "content_block_delta") content += json.delta?.text ?? "";
    }
  }
  return { content, done, error, afterEnd, malformed };
}

/**
 * Checks one answer. Returns { outcome } (a counted category) or
 * { violation, detail }.
 */
export function judge({ dialect, upstream, mode, fault, expected, expectedRoute }, res) {
  const f = FAULTS[fault];
  const { status, text, contentType } = res;
  if (status >= 200 && status < 300) {
    if (res.route !== expectedRoute) return { violation: "served_by_another_route", detail: `${res.route}` };
    if (mode === "json") {
      const body = parse(text);
      const got = dialect === "openai" ? body?.choices?.[0]?.message?.content : body?.content?.[0]?.text;
      if (got !== expected) return { violation: "bad_success_body", detail: text.slice(0, 200) };
      if (!res.attempts) return { violation: "no_attempts_header" };
      return { outcome: "ok" };
    }
    if (!contentType.startsWith("text/event-stream")) return { violation: "stream_not_sse", detail: contentType };
    const s = readStream(dialect, text);
    if (s.malformed !== null) {
      // Same format on both sides (OpenAI client and OpenAI-compatible
      // provider, or Anthropic on both): the gateway relays the provider's stream untouched and
      // uncopied (ARCHITECTURE.md, invariant 10), so a provider's invalid
      // event reaches the client as it was sent; the client's SDK raises on
      // it. Counted on its own, not as a violation; anywhere else (a
      // translated stream) it is one.
      const passthrough = dialect === upstream && fault === "malformed JSON";
      if (!passthrough) return { violation: "malformed_event_relayed", detail: s.malformed };
      if (s.error || (s.done && s.content !== expected)) return { violation: "success_on_cut_stream", detail: s.content };
      return { outcome: "relayed_as_sent" };
    }
    if (s.afterEnd) return { violation: "events_after_end", detail: text.slice(-200) };
    if (s.done && s.error) return { violation: "done_and_error" };
    if (s.done) {
      if (s.content !== expected) return { violation: "success_on_cut_stream", detail: s.content };
      return { outcome: "ok" };
    }
    if (s.error) {
      if (!dialectError(dialect, s.error)) return { violation: "stream_error_wrong_dialect", detail: JSON.stringify(s.error) };
      if (!f.midStream) return { violation: "stream_error_unexpected", detail: JSON.stringify(s.error).slice(0, 200) };
      return { outcome: "stream_error" };
    }
    return { violation: "stream_unterminated", detail: text.slice(-200) };
  }
  const body = parse(text);
  const err = dialectError(dialect, body);
  if (!err) return { violation: "error_wrong_dialect", detail: `${status} ${text.slice(0, 200)}` };
  if (f.healthy) return { violation: "error_on_healthy_upstream", detail: `${status} ${text.slice(0, 200)}` };
  const allowed = status === 502 || status === 503 || status === 504 || status === f.status;
  if (!allowed) return { violation: "unexpected_status", detail: `${status} ${text.slice(0, 200)}` };
  if (!Array.isArray(err.attempts) || err.attempts.length === 0) return { violation: "no_attempt_trail", detail: text.slice(0, 200) };
  return { outcome: `http_${status}` };
}

/**
 * Sends one request on a connection of its own (`Connection: close`: no
 * keep-alive, so a reset can never be a pooled connection the server had
 * just closed, it is one this request saw); resolves to the answer, or
 * { hang } / { failed }.
 */
function send(req, hangMs) {
  const started = performance.now();
  const ms = () => performance.now() - started;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...value, ms: ms() });
    };
    const r = http.request(req.url, { method: "POST", headers: { ...req.headers, connection: "close" }, agent: false });
    const timer = setTimeout(() => {
      finish({ hang: true });
      r.destroy();
    }, hangMs);
    r.on("error", (e) => finish({ failed: `no response: ${e.code ?? e.message}` }));
    r.on("response", (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("aborted", () => finish({ failed: "body broke off" }));
      res.on("error", (e) => finish({ failed: `body broke off: ${e.code ?? e.message}` }));
      res.on("end", () => {
        if (!res.complete) return finish({ failed: "body broke off" });
        const header = (name) => {
          const v = res.headers[name];
          return v === undefined ? null : String(v);
        };
        finish({
          status: res.statusCode,
          text: Buffer.concat(chunks).toString("utf8"),
          headers: Object.entries(res.headers)
            .map(([k, v]) => `${k}: ${v}`)
            .join("\n"),
          contentType: header("content-type") ?? "",
          attempts: header("x-switchyard-attempts"),
          route: header("x-switchyard-route"),
        });
      });
    });
    r.end(req.body);
  });
}

/** The cells: every fault × policy × mode × client dialect × upstream format (optionally filtered). */
export function cells({
  faults = Object.keys(FAULTS),
  policies = Object.keys(POLICIES),
  modes = MODES,
  dialects = DIALECTS,
  upstreams = Object.keys(UPSTREAMS),
} = {}) {
  const out = [];
  for (const policy of policies)
    for (const fault of faults)
      for (const mode of modes)
        for (const upstream of upstreams)
          for (const dialect of dialects)
            out.push({ policy, fault, mode, dialect, upstream, name: `${policy} | ${fault} | ${mode} | ${dialect} → ${upstream}` });
  return out;
}

/** Route-file text: per cell a faulty provider `a<i>`, a healthy `b<i>`, a route by model. */
function routeFile(list, mockUrl, runId) {
  const lines = [`policy cell { attempts 1  ${timeouts} }`];
  list.forEach((c, i) => {
    const dir = FAULTS[c.fault].directives.map((d) => `${d}/`).join("");
    c.model = `cell-${i}`;
    c.route = `c${i}`;
    const kind = UPSTREAMS[c.upstream];
    lines.push(`provider a${i} { kind ${kind}  base "${mockUrl}/f/${runId}/c${i}/a/${dir}v1"  keys [secret FAULT_KEY] }`);
    lines.push(`provider b${i} { kind ${kind}  base "${mockUrl}/f/${runId}/c${i}/b/v1"  keys [secret FAULT_KEY] }`);
    lines.push(`route c${i} { when model == "${c.model}"  ${POLICIES[c.policy].targets(`a${i}`, `b${i}`)} }`);
  });
  lines.push(`route fallthrough { try b0:{model} }`);
  return lines.join("\n");
}

/** Runs `tasks` (functions returning promises) with at most `limit` at once. */
async function pool(tasks, limit) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

/**
 * Runs the matrix. Options: `perCell` requests per cell, `concurrency`,
 * `marginMs` (added to a route's deadline before a request is a hang),
 * cell filters (`faults`, `policies`, `modes`, `dialects`, `upstreams`), `log(line)`.
 * Resolves to { cells: [{ name, …, n, outcomes, violations, samples, p50, max }],
 * violations, requests, seconds, leaks }.
 */
export async function runMatrix({ perCell = 200, concurrency = 128, marginMs = 15000, log = () => {}, ...filters } = {}) {
  const list = cells(filters);
  const runId = randomUUID().slice(0, 8);
  const mock = await startMock();
  let workerLog = "";
  let gw;
  try {
    const routes = compileRoutes(routeFile(list, mock.url, runId), "faults.route");
    gw = await startGateway({
      port: 0,
      bindings: {
        GATEWAY_KEYS: hashKey(GATEWAY_KEY),
        UPSTREAM_BASE_URL: `${mock.url}/f/${runId}/unused/v1`,
        FAULT_KEY: PROVIDER_KEY,
      },
      routes,
      handleRuntimeStdio(stdout, stderr) {
        const keep = (chunk) => {
          if (workerLog.length < 50_000_000) workerLog += chunk;
        };
        stdout.setEncoding("utf8").on("data", keep);
        stderr.setEncoding("utf8").on("data", keep);
      },
    });
    const hangMs = hangAfterMs(marginMs);
    // The plan comes from KV: until the isolate has read it, requests are
    // served by the embedded plan. Wait until the matrix's plan serves.
    for (let tries = 0; ; tries++) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}` },
        body: JSON.stringify({ model: "warm-up", messages: [{ role: "user", content: "warm up" }] }),
      });
      await res.text();
      if (res.headers.get("x-switchyard-route") === "fallthrough") break;
      if (tries > 100) throw new Error("the gateway never served the matrix's plan");
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const c of list) Object.assign(c, { n: 0, outcomes: {}, violations: {}, samples: [], times: [] });
    // Round-robin over the cells, so that every cell is in flight at once.
    const tasks = [];
    for (let i = 0; i < perCell; i++)
      for (const c of list)
        tasks.push(async () => {
          const text = PROMPT(c.model, i);
          const req = request(gw.url, c.dialect, c.model, text, c.mode === "stream");
          const res = await send(req, hangMs);
          c.n++;
          c.times.push(res.ms);
          let verdict;
          if (res.hang) verdict = { violation: "hang", detail: `no complete answer after ${Math.round(res.ms)} ms` };
          else if (res.failed) verdict = { violation: "no_response", detail: res.failed };
          else if (`${res.headers}\n${res.text}`.includes(PROVIDER_KEY) || res.text.includes(GATEWAY_KEY))
            verdict = { violation: "key_leaked" };
          else verdict = judge({ ...c, expected: EXPECTED(text), expectedRoute: c.route }, res);
          if (verdict.outcome) c.outcomes[verdict.outcome] = (c.outcomes[verdict.outcome] ?? 0) + 1;
          else {
            c.violations[verdict.violation] = (c.violations[verdict.violation] ?? 0) + 1;
            if (c.samples.length < 3) c.samples.push(`${verdict.violation}: ${verdict.detail ?? ""}`);
          }
        });
    const started = performance.now();
    let done = 0;
    const progress = setInterval(() => log(`… ${done}/${tasks.length} requests`), 10_000);
    try {
      await pool(
        tasks.map((t) => async () => {
          await t();
          done++;
        }),
        concurrency,
      );
    } finally {
      clearInterval(progress);
    }
    const seconds = (performance.now() - started) / 1000;
    // Upstream calls per cell (faulty `a`, healthy `b`), for the JSON.
    for (const c of list) {
      const base = `/f/${runId}/${c.route}/`;
      c.upstreamCalls = { a: await mock.count(`${base}a/`), b: await mock.count(`${base}b/`) };
    }
    for (const c of list) {
      const sorted = c.times.sort((x, y) => x - y);
      c.p50 = Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0);
      c.max = Math.round(sorted.at(-1) ?? 0);
      delete c.times;
    }
    const leaks = [PROVIDER_KEY, GATEWAY_KEY].filter((k) => workerLog.includes(k)).length;
    const violations = list.reduce((sum, c) => sum + Object.values(c.violations).reduce((a, b) => a + b, 0), 0) + leaks;
    return { cells: list, violations, requests: tasks.length, seconds, leaks, logBytes: workerLog.length, hangAfterMs: hangMs };
  } finally {
    await gw?.stop();
    await mock.stop();
  }
}

/** The result as a text table: one line per cell. */
export function table(result) {
  const rows = [["policy", "fault", "mode", "client", "upstream", "n", "outcomes", "violations", "p50 ms", "max ms"]];
  for (const c of result.cells) {
    const fmt = (o) =>
      Object.entries(o)
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "-";
    rows.push([c.policy, c.fault, c.mode, c.dialect, c.upstream, String(c.n), fmt(c.outcomes), fmt(c.violations), String(c.p50), String(c.max)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((v, i) => v.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

/**
 * The result folded over client dialects and upstream formats: one line
 * per policy × fault, outcomes of JSON and of streaming requests.
 */
export function summary(result) {
  const rows = new Map();
  for (const c of result.cells) {
    const key = `${c.policy} | ${c.fault}`;
    const row = rows.get(key) ?? { policy: c.policy, fault: c.fault, json: {}, stream: {}, violations: 0, max: 0 };
    for (const [k, v] of Object.entries(c.outcomes)) row[c.mode][k] = (row[c.mode][k] ?? 0) + v;
    row.violations += Object.values(c.violations).reduce((a, b) => a + b, 0);
    row.max = Math.max(row.max, c.max);
    rows.set(key, row);
  }
  const fmt = (o) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "-";
  const lines = ["| policy | fault | JSON | stream | violations | max ms |", "|---|---|---|---|---|---|"];
  for (const r of rows.values()) lines.push(`| ${r.policy} | ${r.fault} | ${fmt(r.json)} | ${fmt(r.stream)} | ${r.violations} | ${r.max} |`);
  return lines.join("\n");
}

function args(argv) {
  const opts = { perCell: 200 };
  const list = (v) => v.split(",").map((s) => s.trim());
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--per-cell": opts.perCell = Number(value()); break;
      case "--concurrency": opts.concurrency = Number(value()); break;
      case "--margin-ms": opts.marginMs = Number(value()); break;
      case "--json": opts.json = value(); break;
      case "--faults": opts.faults = list(value()); break;
      case "--policies": opts.policies = list(value()); break;
      case "--modes": opts.modes = list(value()); break;
      case "--dialects": opts.dialects = list(value()); break;
      case "--upstreams": opts.upstreams = list(value()); break;
      default:
        console.error(`unknown flag ${argv[i]}\nusage: node tests/faults/matrix.mjs [--per-cell N] [--concurrency N] [--margin-ms MS] [--json FILE] [--faults a,b] [--policies a,b] [--modes json,stream] [--dialects openai,anthropic] [--upstreams openai,anthropic]`);
        process.exit(2);
    }
  }
  return opts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const opts = args(process.argv.slice(2));
  const result = await runMatrix({ ...opts, log: (l) => console.error(l) });
  console.log(table(result));
  console.log(`\n${summary(result)}`);
  console.log(
    `\n${result.requests} requests in ${result.seconds.toFixed(1)} s (${result.cells.length} cells × ${opts.perCell}), ` +
      `hang after ${result.hangAfterMs} ms; worker log ${result.logBytes} bytes, keys in it: ${result.leaks}; violations: ${result.violations}`,
  );
  for (const c of result.cells) for (const s of c.samples) console.log(`  ${c.name}: ${s}`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ date: new Date().toISOString(), perCell: opts.perCell, ...result }, null, 1));
  process.exit(result.violations === 0 ? 0 : 1);
}
