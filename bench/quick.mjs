// Quick A/B for one route file against the mock (not part of make bench):
//   node bench/quick.mjs "<route text>" [concurrency] [seconds]
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { compileRoutes, hashKey, startGateway, startMock } from "../tests/support/harness.mjs";

const [routes, conc = "32", secs = "3"] = process.argv.slice(2);
const OHA = join(process.env.HOME, ".cargo", "bin", "oha");
const mock = await startMock();
const gw = await startGateway({
  port: 0,
  bindings: { UPSTREAM_BASE_URL: `${mock.url}/v1`, GATEWAY_KEYS: hashKey("k"), BREAKER_CACHE_MS: process.env.CACHE ?? "1000" },
  ...(routes ? { routes: compileRoutes(routes) } : {}),
});
try {
  const body = JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hi" }] });
  const run = (s) =>
    JSON.parse(execFileSync(OHA, ["-z", `${s}s`, "-c", conc, "--no-tui", "--output-format", "json", "-m", "POST",
      "-H", "content-type: application/json", "-H", "authorization: Bearer k", "-d", body, `${gw.url}/v1/chat/completions`], { encoding: "utf8" }));
  run(1);
  const r = run(Number(secs));
  console.log(`${r.summary.requestsPerSec.toFixed(0)} req/s  p50 ${(r.latencyPercentiles.p50 * 1000).toFixed(2)} ms  codes ${JSON.stringify(r.statusCodeDistribution)}`);
} finally {
  await gw.stop();
  await mock.stop();
}
