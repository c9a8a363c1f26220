// The peer gateways the benchmark measures Switchyard against, each run from
// the bench-only environment in bench/peers/ (`bench/peers/install.sh`; never
// project dependencies), on 127.0.0.1, against the project's mock provider:
//   litellm  LiteLLM proxy (PyPI `litellm[proxy]`, pinned in requirements.txt),
//            one uvicorn worker, a generated config with two `openai/` models
//            whose api_base is the mock (0 ms) and the mock behind
//            `latency_ms=100`; local model-cost map, no telemetry, no DB.
//   portkey  Portkey's gateway (npm `@portkey-ai/gateway`, pinned in
//            package.json), its Node server (`build/start-server.js
//            --headless`), routed per request by `x-portkey-provider: openai`
//            + `x-portkey-custom-host: <mock base URL>`.
// Neither may reach the network: outbound HTTP(S) proxies point at a closed
// local port (NO_PROXY covers 127.0.0.1), so a stray call fails at once.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../tests/support/harness.mjs";

export const PEERS_DIR = join(ROOT, "bench", "peers");
const LITELLM_BIN = join(PEERS_DIR, ".venv", "bin", "litellm");
const PORTKEY_DIR = join(PEERS_DIR, "node_modules", "@portkey-ai", "gateway");
/** The gateway key LiteLLM checks (its `master_key`), as Switchyard checks its own. */
export const LITELLM_KEY = "sk-bench-litellm";
/** The model names LiteLLM maps to the mock: no delay, and 100 ms upstream latency. */
export const LITELLM_MODELS = { "0ms": "mock-small", "100ms": "mock-small-100" };

/** Environment shared by both peers: nothing leaves the machine. */
const OFFLINE_ENV = {
  HTTP_PROXY: "http://127.0.0.1:9",
  HTTPS_PROXY: "http://127.0.0.1:9",
  http_proxy: "http://127.0.0.1:9",
  https_proxy: "http://127.0.0.1:9",
  NO_PROXY: "127.0.0.1,localhost",
  no_proxy: "127.0.0.1,localhost",
};

/** A free TCP port on 127.0.0.1 (closed again before the peer binds it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Spawns a server and resolves once `ready(url)` answers true; rejects with its output if it dies or takes too long. */
async function spawnServer(name, cmd, args, { env, cwd, url, ready, timeoutMs = 120_000 }) {
  const fullEnv = { ...process.env, ...OFFLINE_ENV, ...env };
  delete fullEnv.DATABASE_URL; // LiteLLM: no database
  const child = spawn(cmd, args, { cwd, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let dead = false;
  child.once("exit", () => {
    dead = true;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (dead) throw new Error(`${name} exited during start-up:\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} not ready after ${timeoutMs / 1000} s:\n${output}`);
    }
    try {
      if (await ready(url)) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    pid: child.pid,
    output: () => output,
    async stop() {
      if (!dead) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The installed version of a peer (from its package metadata). */
export function peerVersions() {
  const portkey = JSON.parse(readFileSync(join(PORTKEY_DIR, "package.json"), "utf8")).version;
  const pinned = readFileSync(join(PEERS_DIR, "requirements.txt"), "utf8").match(/litellm\[proxy\]==(\S+)/)?.[1];
  return { litellm: pinned, "portkey-gateway": portkey };
}

/** The LiteLLM proxy config: two models on the mock, a master key, nothing that writes or phones home. */
function liteLLMConfig(mockUrl) {
  const model = (name, base) => `  - model_name: ${name}
    litellm_params:
      model: openai/mock-small
      api_base: ${base}
      api_key: sk-mock-upstream
`;
  return `model_list:
${model(LITELLM_MODELS["0ms"], `${mockUrl}/v1`)}${model(LITELLM_MODELS["100ms"], `${mockUrl}/latency_ms=100/v1`)}
litellm_settings:
  telemetry: false
  set_verbose: false
  json_logs: false
  request_timeout: 60
general_settings:
  master_key: ${LITELLM_KEY}
  disable_spend_logs: true
  disable_error_logs: true
  allow_requests_on_db_unavailable: true
`;
}

/** Starts the LiteLLM proxy (one uvicorn worker) against the mock. */
export async function startLiteLLM(mockUrl) {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-litellm-"));
  const config = join(dir, "config.yaml");
  writeFileSync(config, liteLLMConfig(mockUrl));
  const port = await freePort();
  const server = await spawnServer(
    "litellm",
    LITELLM_BIN,
    ["--config", config, "--host", "127.0.0.1", "--port", String(port), "--num_workers", "1"],
    {
      cwd: dir,
      env: {
        LITELLM_LOCAL_MODEL_COST_MAP: "True",
        LITELLM_TELEMETRY: "False",
        LITELLM_LOG: "ERROR",
        LITELLM_MODE: "PRODUCTION",
        DISABLE_ADMIN_UI: "True",
        PYTHONDONTWRITEBYTECODE: "1",
      },
      url: `http://127.0.0.1:${port}`,
      ready: async (url) => (await fetch(`${url}/health/liveliness`)).ok,
    },
  );
  return {
    ...server,
    config: liteLLMConfig("<mock>"),
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts Portkey's gateway (its Node server, headless) on a free port. */
export async function startPortkey() {
  const port = await freePort();
  return spawnServer("portkey", process.execPath, [join(PORTKEY_DIR, "build", "start-server.js"), `--port=${port}`, "--headless"], {
    cwd: PORTKEY_DIR,
    env: { NODE_ENV: "production" },
    url: `http://127.0.0.1:${port}`,
    ready: async (url) => (await fetch(url)).ok,
  });
}

/** The headers that make Portkey send a request to an OpenAI-compatible base URL. */
export function portkeyHeaders(baseUrl) {
  return {
    "x-portkey-provider": "openai",
    "x-portkey-custom-host": baseUrl,
    authorization: "Bearer sk-mock-upstream",
  };
}
