// The local gateway: the mock provider on an ephemeral port and the compiled
// Worker in workerd (Miniflare) on 127.0.0.1:$PORT (default 8787), with a
// built-in configuration (the embedded default plan: every model passed
// through to the mock, which ignores the key). Ctrl-C stops both.
import { hashKey, startGateway, startMock } from "../tests/support/harness.mjs";

const PORT = Number(process.env.PORT ?? 8787);
const DEV_KEY = process.env.SWITCHYARD_DEV_KEY ?? "sy-local-dev-key";

const mock = await startMock();
const gateway = await startGateway({
  port: PORT,
  bindings: {
    UPSTREAM_BASE_URL: `${mock.url}/v1`,
    GATEWAY_KEYS: `local-dev:${hashKey(DEV_KEY)}`,
    // The dev key may read the status, the metrics and the dashboard's data.
    ADMIN_KEYS: "local-dev",
    // The default plan's key secret; the mock accepts any key.
  },
});

console.log(`
Switchyard is running at ${gateway.url}
  upstream:    mock provider at ${mock.url} (no provider key needed)
  gateway key: ${DEV_KEY}
  models:      any (the mock answers mock-small, mock-large or whatever you ask for)
  dashboard:   ${gateway.url}/dashboard (sign in with the gateway key above)

Try it:
  curl -s ${gateway.url}/v1/chat/completions \\
    -H 'Authorization: Bearer ${DEV_KEY}' -H 'Content-Type: application/json' \\
    -d '{"model":"mock-small","messages":[{"role":"user","content":"Hello!"}]}'

  curl -sN ${gateway.url}/v1/chat/completions \\
    -H 'Authorization: Bearer ${DEV_KEY}' -H 'Content-Type: application/json' \\
    -d '{"model":"mock-small","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

Press Ctrl-C to stop.`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([gateway.stop(), mock.stop()]);
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
