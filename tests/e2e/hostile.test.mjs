// End to end: malformed and hostile requests through the real Worker in
// workerd. Every route leads to the mock provider on a prefix of its own,
// so a request that slips through is counted; every case must be refused
// with a 4xx in the client's dialect before any upstream call. Chat cases
// go both through a same-format route (forwarded as it came: only what
// routing needs is checked) and a translated one (decoded whole), or only
// through the translated one when the fast path rightly forwards them.
// Every response body and header, and everything the Worker logs, is
// scanned for the provider keys at the end.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const GATEWAY_KEY = "sy-hostile-key-0123456789abcdef";
const SECRETS = {
  OPENAI_KEY: "sk-hostile-SECRET-openai-7f3a9c",
  ANTHROPIC_KEY: "sk-ant-hostile-SECRET-91bc42",
  CATCH_KEY: "sk-catch-hostile-SECRET-55de10",
  BROKEN_KEY: "sk-broken-hostile-SECRET-0a0a77",
};
const MAX_BODY_BYTES = 4096;
const MAX_HEADER_BYTES = 2048;

const id = randomUUID();
const PREFIX = `/h/${id}/`;
let mock;
let gw;
/** Everything the gateway answered (status line, headers, body), for the leak scan. */
const SEEN = [];
/** What workerd wrote to stdout/stderr (the Worker's console). */
const counts = { requests: 0 };
const tally = (category) => {
  counts[category] = (counts[category] ?? 0) + 1;
};

before(async () => {
  mock = await startMock();
  const routes = compileRoutes(`
provider oai { kind openai-compatible  base env OAI_URL  keys [secret OPENAI_KEY] }
provider ant { kind anthropic  base env ANT_URL  keys [secret ANTHROPIC_KEY] }
provider catch { kind openai-compatible  base env CATCH_URL  keys [secret CATCH_KEY] }
provider broken { kind openai-compatible  base env BROKEN_URL  keys [secret BROKEN_KEY] }
route to_oai { when model == "to-oai"  try oai:mock-oai }
route to_ant { when model == "to-ant"  try ant:mock-ant }
route to_broken { when model == "to-broken"  try broken:mock-broken }
route default { try catch:{model} }
`);
  gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: hashKey(GATEWAY_KEY),
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      MAX_HEADER_BYTES: String(MAX_HEADER_BYTES),
      UPSTREAM_BASE_URL: `${mock.url}${PREFIX}unused/v1`,
      OAI_URL: `${mock.url}${PREFIX}oai/v1`,
      ANT_URL: `${mock.url}${PREFIX}ant/v1`,
      CATCH_URL: `${mock.url}${PREFIX}catch/v1`,
      BROKEN_URL: `${mock.url}/broken-${id}/status=500/v1`,
      ...SECRETS,
    },
    routes,
    captureLog: true,
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const upstreamCalls = () => mock.count(PREFIX);

function record(status, headers, text) {
  counts.requests += 1;
  SEEN.push(`${status}\n${[...headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n\n${text}`);
}

/** A request through `dispatchFetch`; the good key unless `headers` says otherwise. */
async function send(path, { method = "POST", body, headers = {}, auth = true } = {}) {
  const res = await gw.fetch(path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(auth ? { authorization: `Bearer ${GATEWAY_KEY}` } : {}),
      ...headers,
    },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  });
  const text = await res.text();
  record(res.status, res.headers, text);
  return { status: res.status, headers: res.headers, text };
}

const dialectOf = (path) => (path === "/v1/messages" || path.startsWith("/v1/messages/") ? "anthropic" : "openai");

/** A 4xx (or exactly `status`) whose body is an error in `dialect`. */
function assertRefused(res, dialect, status) {
  const what = `${res.status} ${res.text.slice(0, 300)}`;
  if (status === undefined) assert.ok(res.status >= 400 && res.status < 500, `a 4xx: ${what}`);
  else assert.equal(res.status, status, what);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, what);
  const body = JSON.parse(res.text);
  if (dialect === "anthropic") {
    assert.equal(body.type, "error", `an Anthropic error: ${what}`);
    assert.equal(typeof body.error?.type, "string", what);
    assert.equal(typeof body.error?.message, "string", what);
  } else {
    assert.equal(typeof body.error, "object", `an OpenAI error: ${what}`);
    assert.equal(typeof body.error.message, "string", what);
    assert.equal(typeof body.error.type, "string", what);
    assert.equal(body.type, undefined, `not an Anthropic error: ${what}`);
  }
  assert.ok(res.headers.get("x-request-id"), "the gateway answered, not the runtime");
}

/** Sends (through `via`), asserts a refusal in the path's dialect and no upstream call. */
async function refused(path, init, status, via = send) {
  const before = await upstreamCalls();
  const res = await via(path, init);
  assertRefused(res, dialectOf(path), status);
  assert.equal(await upstreamCalls(), before, `no upstream call for ${path}: ${res.text.slice(0, 200)}`);
  return res;
}

// ---------------------------------------------------------------- chat cases

const USER = [{ role: "user", content: "hi" }];
/** Same-format and translated models for each chat path. */
const MODELS = {
  "/v1/chat/completions": { same: "to-oai", translated: "to-ant" },
  "/v1/messages": { same: "to-ant", translated: "to-oai" },
};
const raw = (text) => ({ raw: text });
/** A body from a case: an object merged over the valid base, `raw` text, or a function of the model. */
function bodyFor(path, model, spec) {
  if (typeof spec === "function") return bodyFor(path, model, spec(model));
  if (spec && spec.raw !== undefined) return spec.raw;
  if (spec && spec.bytes !== undefined) return spec.bytes;
  const base =
    path === "/v1/messages" ? { model, max_tokens: 16, messages: USER } : { model, messages: USER };
  const merged = { ...base, ...spec };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return JSON.stringify(merged);
}

const deep = (n, open = "[", close = "]") => open.repeat(n) + close.repeat(n);
const big = (n) => "x".repeat(n);
const utf8 = (s) => Buffer.from(s, "utf8");
/** Raw bytes: JSON text with `\uFFFF` placeholders replaced by the byte 0xFF, `\u0000` by NUL. */
const bytes = (text, byte) => {
  const parts = text.split("@@");
  return Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from([byte]), utf8(p)] : [utf8(p)])));
};

/** Cases every chat path refuses before routing (the fast path's check). */
const COMMON_INVALID_JSON = [
  ["empty body", raw("")],
  ["whitespace only", raw(" \n\t ")],
  ["truncated object", raw('{"model":"to-oai","messages":[')],
  ["not JSON at all", raw("model=to-oai&messages=hi")],
  ["single quotes", raw("{'model':'to-oai'}")],
  ["trailing garbage", (m) => raw(`{"model":"${m}","messages":[{"role":"user","content":"hi"}],"max_tokens":5} x`)],
  ["two objects", (m) => raw(`{"model":"${m}"}{"model":"${m}"}`)],
  ["an array", raw('[{"model":"to-oai"}]')],
  ["null", raw("null")],
  ["a string", raw('"to-oai"')],
  ["a number", raw("42")],
  ["NaN literal", (m) => raw(`{"model":"${m}","messages":[{"role":"user","content":"hi"}],"max_tokens":NaN}`)],
  ["comments", (m) => raw(`{/* c */"model":"${m}","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)],
  ["byte order mark", (m) => raw(`\uFEFF{"model":"${m}","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)],
  ["10,000 nested arrays", (m) => raw(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x":${deep(10000)}}`)],
  ["10,000 nested objects", (m) => raw(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x":${'{"a":'.repeat(10000)}1${"}".repeat(10000)}}`)],
  ["unclosed deep nesting", (m) => raw(`{"model":"${m}","x":${"[".repeat(3000)}`)],
  ["invalid UTF-8 in a string", (m) => ({ bytes: bytes(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"h@@i"}]}`, 0xff) })],
  ["invalid UTF-8 in a key", (m) => ({ bytes: bytes(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"k@@":1}`, 0xc3) })],
  ["invalid UTF-8 in the model", (m) => ({ bytes: bytes(`{"model":"${m}@@","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 0x80) })],
  ["lone surrogate escape is fine but raw overlong UTF-8 is not", (m) => ({ bytes: bytes(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"@@"}]}`, 0xc0) })],
  ["raw NUL inside a string", (m) => ({ bytes: bytes(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"a@@b"}]}`, 0x00) })],
  ["NUL after the object", (m) => ({ bytes: bytes(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}@@`, 0x00) })],
  ["raw newline inside a string", (m) => raw(`{"model":"${m}","max_tokens":5,"messages":[{"role":"user","content":"a\nb"}]}`)],
];
/** A number JSON allows but no reader can hold: the OpenAI fast path skips it, every decoder refuses it. */
const OUT_OF_RANGE = ["number out of range", (m) => raw(`{"model":"${m}","max_tokens":1e400,"messages":[{"role":"user","content":"hi"}]}`)];

/** OpenAI chat: refused by the fast path's check (both routes). */
const OPENAI_COMMON = [
  ...COMMON_INVALID_JSON,
  ["model missing", { model: undefined }],
  ["model null", { model: null }],
  ["model a number", { model: 7 }],
  ["model an array", { model: ["to-oai"] }],
  ["model an object", { model: { name: "to-oai" } }],
  ["model true", { model: true }],
  ["model empty", { model: "" }],
  ["model blank", { model: "   " }],
  ["messages missing", { messages: undefined }],
  ["messages null", { messages: null }],
  ["messages a string", { messages: "hi" }],
  ["messages an object", { messages: { role: "user", content: "hi" } }],
  ["messages empty", { messages: [] }],
  ["message a number", { messages: [1] }],
  ["message a string", { messages: ["hi"] }],
  ["message null", { messages: [null] }],
  ["message an array", { messages: [["user", "hi"]] }],
  ["message without role", { messages: [{ content: "hi" }] }],
  ["role a number", { messages: [{ role: 1, content: "hi" }] }],
  ["role null", { messages: [{ role: null, content: "hi" }] }],
  ["role an object", { messages: [{ role: { name: "user" }, content: "hi" }] }],
  ["5,000 bad messages", { messages: Array(5000).fill(0) }],
  ["stream a string", { stream: "yes" }],
  ["stream a number", { stream: 1 }],
  ["stream an object", { stream: {} }],
  ["stream a huge string", { stream: big(3000) }],
  ["stream_options a string", { stream: true, stream_options: "usage" }],
  ["stream_options a number", { stream: true, stream_options: 1 }],
  ["stream_options.include_usage a string", { stream: true, stream_options: { include_usage: "yes" } }],
  ["duplicate model", (m) => raw(`{"model":"${m}","model":"${m}","messages":[{"role":"user","content":"hi"}]}`)],
];

/** OpenAI chat: forwarded as it came to an OpenAI-compatible provider, refused when translated. */
const OPENAI_TRANSLATED = [
  OUT_OF_RANGE,
  ["role unknown", { messages: [{ role: "robot", content: "hi" }] }],
  ["role function", { messages: [{ role: "function", content: "hi", name: "f" }] }],
  ["role empty", { messages: [{ role: "", content: "hi" }] }],
  ["user content missing", { messages: [{ role: "user" }] }],
  ["content a number", { messages: [{ role: "user", content: 5 }] }],
  ["content an object", { messages: [{ role: "user", content: { text: "hi" } }] }],
  ["content true", { messages: [{ role: "user", content: true }] }],
  ["content part a number", { messages: [{ role: "user", content: [5] }] }],
  ["content part without type", { messages: [{ role: "user", content: [{ text: "hi" }] }] }],
  ["content part of unknown type", { messages: [{ role: "user", content: [{ type: "video", url: "x" }] }] }],
  ["content part type a number", { messages: [{ role: "user", content: [{ type: 1, text: "hi" }] }] }],
  ["text part with numeric text", { messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }],
  ["image part without image_url", { messages: [{ role: "user", content: [{ type: "image_url" }] }] }],
  ["image part with numeric url", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: 5 } }] }] }],
  ["name a number", { messages: [{ role: "user", content: "hi", name: 5 }] }],
  ["tool_calls a string", { messages: [...USER, { role: "assistant", content: null, tool_calls: "x" }] }],
  ["tool call without function", { messages: [...USER, { role: "assistant", tool_calls: [{ id: "c1" }] }] }],
  ["tool call with numeric id", { messages: [...USER, { role: "assistant", tool_calls: [{ id: 1, function: { name: "f" } }] }] }],
  ["tool call arguments an object", { messages: [...USER, { role: "assistant", tool_calls: [{ id: "c", function: { name: "f", arguments: {} } }] }] }],
  ["tool message without tool_call_id", { messages: [...USER, { role: "tool", content: "r" }] }],
  ["tools a string", { tools: "lookup" }],
  ["tools an object", { tools: { type: "function" } }],
  ["tool a number", { tools: [1] }],
  ["tool of unknown type", { tools: [{ type: "retrieval" }] }],
  ["tool without function", { tools: [{ type: "function" }] }],
  ["tool with empty name", { tools: [{ type: "function", function: { name: "" } }] }],
  ["tool parameters a string", { tools: [{ type: "function", function: { name: "f", parameters: "{}" } }] }],
  ["tool strict a string", { tools: [{ type: "function", function: { name: "f", strict: "yes" } }] }],
  ["tool description a number", { tools: [{ type: "function", function: { name: "f", description: 5 } }] }],
  ["tool_choice unknown word", { tool_choice: "sometimes" }],
  ["tool_choice a number", { tool_choice: 5 }],
  ["tool_choice function without name", { tool_choice: { type: "function" } }],
  ["tool_choice an array", { tool_choice: ["auto"] }],
  ["response_format a string", { response_format: "json" }],
  ["response_format of unknown type", { response_format: { type: "xml" } }],
  ["json_schema without schema object", { response_format: { type: "json_schema", json_schema: "x" } }],
  ["json_schema without name", { response_format: { type: "json_schema", json_schema: { schema: {} } } }],
  ["max_tokens negative", { max_tokens: -1 }],
  ["max_tokens a string", { max_tokens: "10" }],
  ["max_tokens fractional", { max_tokens: 1.5 }],
  ["max_completion_tokens an array", { max_completion_tokens: [10] }],
  ["temperature a string", { temperature: "hot" }],
  ["temperature an object", { temperature: { value: 1 } }],
  ["top_p a string", { top_p: "high" }],
  ["stop a number", { stop: 5 }],
  ["stop with a number", { stop: ["a", 1] }],
  ["stop an object", { stop: { seq: "a" } }],
  ["n negative", { n: -1 }],
  ["n a string", { n: "2" }],
  ["seed a string", { seed: "x" }],
  ["user a number", { user: 5 }],
  ["metadata a string", { metadata: "x" }],
  ["logprobs a string", { logprobs: "yes" }],
  ["parallel_tool_calls a number", { parallel_tool_calls: 1 }],
  ["presence_penalty a string", { presence_penalty: "x" }],
  ["huge bad role", { messages: [{ role: big(3000), content: "hi" }] }],
];

/** Anthropic Messages: refused by the fast path's check (both routes). */
const ANTHROPIC_COMMON = [
  ...COMMON_INVALID_JSON,
  OUT_OF_RANGE,
  ["model missing", { model: undefined }],
  ["model null", { model: null }],
  ["model a number", { model: 7 }],
  ["model an array", { model: ["to-ant"] }],
  ["model empty", { model: "" }],
  ["model blank", { model: " \t" }],
  ["max_tokens missing", { max_tokens: undefined }],
  ["max_tokens null", { max_tokens: null }],
  ["max_tokens zero", { max_tokens: 0 }],
  ["max_tokens negative", { max_tokens: -5 }],
  ["max_tokens a string", { max_tokens: "100" }],
  ["max_tokens fractional", { max_tokens: 1.5 }],
  ["max_tokens an object", { max_tokens: { n: 1 } }],
  ["messages missing", { messages: undefined }],
  ["messages null", { messages: null }],
  ["messages a string", { messages: "hi" }],
  ["messages an object", { messages: { role: "user", content: "hi" } }],
  ["stream a string", { stream: "true" }],
  ["stream a number", { stream: 0 }],
  ["stream a huge string", { stream: big(3000) }],
];

/** Anthropic Messages: forwarded as it came to Anthropic, refused when translated. */
const ANTHROPIC_TRANSLATED = [
  ["messages empty", { messages: [] }],
  ["message a number", { messages: [1] }],
  ["message without role", { messages: [{ content: "hi" }] }],
  ["role system", { messages: [{ role: "system", content: "hi" }] }],
  ["role a number", { messages: [{ role: 1, content: "hi" }] }],
  ["content missing", { messages: [{ role: "user" }] }],
  ["content a number", { messages: [{ role: "user", content: 5 }] }],
  ["content block a string", { messages: [{ role: "user", content: ["hi"] }] }],
  ["content block without type", { messages: [{ role: "user", content: [{ text: "hi" }] }] }],
  ["content block type a number", { messages: [{ role: "user", content: [{ type: 5 }] }] }],
  ["document block", { messages: [{ role: "user", content: [{ type: "document", source: {} }] }] }],
  ["text block with numeric text", { messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }],
  ["image without source", { messages: [{ role: "user", content: [{ type: "image" }] }] }],
  ["image with file source", { messages: [{ role: "user", content: [{ type: "image", source: { type: "file", file_id: "f" } }] }] }],
  ["tool_use in a user turn", { messages: [{ role: "user", content: [{ type: "tool_use", id: "t", name: "f", input: {} }] }] }],
  ["tool_use without id", { messages: [...USER, { role: "assistant", content: [{ type: "tool_use", name: "f", input: {} }] }] }],
  ["tool_result without tool_use_id", { messages: [{ role: "user", content: [{ type: "tool_result", content: "r" }] }] }],
  ["tool_result content a number", { messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: 5 }] }] }],
  ["system a number", { system: 5 }],
  ["system an object", { system: { text: "be nice" } }],
  ["system block of type image", { system: [{ type: "image" }] }],
  ["system block a string", { system: ["be nice"] }],
  ["temperature a string", { temperature: "warm" }],
  ["top_p an array", { top_p: [1] }],
  ["top_k negative", { top_k: -1 }],
  ["top_k a string", { top_k: "5" }],
  ["stop_sequences a string", { stop_sequences: "END" }],
  ["stop_sequences with a number", { stop_sequences: ["END", 5] }],
  ["metadata a string", { metadata: "x" }],
  ["metadata.user_id a number", { metadata: { user_id: 5 } }],
  ["tools a string", { tools: "lookup" }],
  ["tool a number", { tools: [1] }],
  ["server tool", { tools: [{ type: "web_search_20250305", name: "web_search" }] }],
  ["tool without name", { tools: [{ input_schema: { type: "object" } }] }],
  ["tool input_schema a string", { tools: [{ name: "f", input_schema: "{}" }] }],
  ["tool_choice of unknown type", { tool_choice: { type: "sometimes" } }],
  ["tool_choice tool without name", { tool_choice: { type: "tool" } }],
  ["tool_choice a number", { tool_choice: 5 }],
];

function chatCases(path, common, translated) {
  describe(`${path}: malformed`, () => {
    for (const [name, spec] of common) {
      for (const route of ["same", "translated"]) {
        test(`${name} (${route})`, async () => {
          const body = bodyFor(path, MODELS[path][route], spec);
          await refused(path, { body, headers: path === "/v1/messages" ? { "anthropic-version": "2023-06-01" } : {} });
          tally(`${path} refused by the check (both routes)`);
        });
      }
    }
    for (const [name, spec] of translated) {
      test(`${name} (translated)`, async () => {
        const body = bodyFor(path, MODELS[path].translated, spec);
        await refused(path, { body });
        tally(`${path} refused by the decoder (translated route)`);
      });
    }
  });
}

chatCases("/v1/chat/completions", OPENAI_COMMON, OPENAI_TRANSLATED);
chatCases("/v1/messages", ANTHROPIC_COMMON, ANTHROPIC_TRANSLATED);

// ---------------------------------------------------------------- embeddings

const EMBEDDINGS = [
  ...COMMON_INVALID_JSON.filter(([n]) => !/nested|UTF-8|NUL|newline|range/.test(n)),
  ["invalid UTF-8 in input", (m) => ({ bytes: bytes(`{"model":"${m}","input":"a@@"}`, 0xff) })],
  ["NUL in input", (m) => ({ bytes: bytes(`{"model":"${m}","input":"a@@"}`, 0x00) })],
  ["10,000 nested arrays as input", (m) => raw(`{"model":"${m}","input":${deep(10000)}}`)],
  ["model missing", { model: undefined }],
  ["model a number", { model: 3 }],
  ["model empty", { model: "" }],
  ["input missing", { input: undefined }],
  ["input null", { input: null }],
  ["input a number", { input: 5 }],
  ["input an object", { input: { text: "a" } }],
  ["input empty", { input: [] }],
  ["input token ids", { input: [1, 2, 3] }],
  ["input token arrays", { input: [[1, 2]] }],
  ["input with null", { input: ["a", null] }],
  ["input with an object", { input: ["a", {}] }],
  ["dimensions a string", { dimensions: "256" }],
  ["dimensions negative", { dimensions: -1 }],
  ["encoding_format unknown", { encoding_format: "hex" }],
  ["encoding_format a number", { encoding_format: 1 }],
  ["user a number", { user: 5 }],
];

describe("/v1/embeddings: malformed", () => {
  for (const [name, spec] of EMBEDDINGS) {
    for (const model of ["to-oai", "to-ant"]) {
      test(`${name} (${model})`, async () => {
        let body = typeof spec === "function" ? spec(model) : spec;
        body = body.raw ?? body.bytes ?? JSON.stringify(Object.fromEntries(Object.entries({ model, input: "hello", ...body }).filter(([, v]) => v !== undefined)));
        await refused("/v1/embeddings", { body });
        tally("/v1/embeddings refused");
      });
    }
  }
});

// ---------------------------------------------------------------- sizes

describe("oversized", () => {
  const valid = (path, model, pad) =>
    path === "/v1/messages"
      ? JSON.stringify({ model, max_tokens: 5, messages: [{ role: "user", content: pad }] })
      : path === "/v1/embeddings"
        ? JSON.stringify({ model, input: pad })
        : JSON.stringify({ model, messages: [{ role: "user", content: pad }] });
  // A big upload answered early (before it is all sent) makes undici's
  // fetch fail on the closed connection, so these go over a raw socket,
  // which still reads the answer.
  const rawPost = (path, { body, chunked = false }) => {
    const data = Buffer.from(body);
    const framing = chunked
      ? Buffer.concat([
          ...Array.from({ length: Math.ceil(data.length / 1000) }, (_, i) => {
            const part = data.subarray(i * 1000, (i + 1) * 1000);
            return Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")]);
          }),
          Buffer.from("0\r\n\r\n"),
        ])
      : data;
    const lines = [
      `POST ${path} HTTP/1.1`,
      "host: gateway.test",
      "connection: close",
      `authorization: Bearer ${GATEWAY_KEY}`,
      "content-type: application/json",
      chunked ? "transfer-encoding: chunked" : `content-length: ${data.length}`,
    ];
    return rawHttp(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), framing]));
  };
  for (const path of ["/v1/chat/completions", "/v1/messages", "/v1/embeddings"]) {
    for (const model of ["to-oai", "to-ant"]) {
      test(`${path} ${model}: over MAX_BODY_BYTES with a Content-Length`, async () => {
        await refused(path, { body: valid(path, model, big(MAX_BODY_BYTES)) }, 413);
        tally("oversized");
      });
      test(`${path} ${model}: over MAX_BODY_BYTES streamed, no Content-Length`, async () => {
        await refused(path, { body: valid(path, model, big(MAX_BODY_BYTES * 4)), chunked: true }, 413, rawPost);
        tally("oversized");
      });
    }
    test(`${path}: a 1 MB body`, async () => {
      await refused(path, { body: valid(path, "to-oai", big(1 << 20)) }, 413, rawPost);
      tally("oversized");
    });
    test(`${path}: headers over MAX_HEADER_BYTES`, async () => {
      await refused(path, { body: valid(path, "to-oai", "hi"), headers: { "x-pad": big(MAX_HEADER_BYTES + 10) } }, 431);
      tally("oversized");
    });
    test(`${path}: many small headers over MAX_HEADER_BYTES`, async () => {
      const headers = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-h${i}`, big(30)]));
      await refused(path, { body: valid(path, "to-oai", "hi"), headers }, 431);
      tally("oversized");
    });
  }
  test("a huge model name within the limit routes nowhere new: still 4xx when it is the wrong type", async () => {
    await refused("/v1/chat/completions", { body: JSON.stringify({ model: [big(3500)], messages: USER }) });
    tally("oversized");
  });
});

// ---------------------------------------------------------------- endpoints, methods

describe("unknown endpoints and wrong methods", () => {
  const validChat = JSON.stringify({ model: "to-oai", messages: USER });
  const unknown = [
    "/",
    "/v1",
    "/v1/",
    "/v1/completions",
    "/v1/chat/completion",
    "/v1/chat/completions/extra",
    "/v2/chat/completions",
    "/V1/CHAT/COMPLETIONS",
    "//v1/chat/completions",
    "/v1//chat/completions",
    "/v1/chat%2Fcompletions",
    "/v1/chat/completions%00",
    "/v1/chat/completions;x",
    "/v1/models/gpt-4o",
    "/v1/embeddings/x",
    "/v1/messages/count_tokens",
    "/v1/messages/batches",
    "/health/x",
    "/healthz",
    "/.env",
    "/admin",
    `/${big(4000)}`,
    "/v1/chat/completions%0d%0aX-Injected:%201",
  ];
  for (const path of unknown) {
    test(`POST ${path.slice(0, 60)} → 404`, async () => {
      const res = await refused(path, { body: validChat }, 404);
      assert.equal(res.headers.get("x-injected"), null);
      tally("unknown endpoints");
    });
  }
  const wrong = [
    ["GET", "/v1/chat/completions"],
    ["PUT", "/v1/chat/completions"],
    ["DELETE", "/v1/chat/completions"],
    ["PATCH", "/v1/chat/completions"],
    ["OPTIONS", "/v1/chat/completions"],
    ["GET", "/v1/messages"],
    ["PUT", "/v1/messages"],
    ["DELETE", "/v1/messages"],
    ["GET", "/v1/embeddings"],
    ["PATCH", "/v1/embeddings"],
    ["POST", "/v1/models"],
    ["DELETE", "/v1/models"],
    ["POST", "/health"],
    ["PUT", "/health"],
  ];
  for (const [method, path] of wrong) {
    test(`${method} ${path} → 405`, async () => {
      const hasBody = !["GET", "HEAD", "OPTIONS"].includes(method);
      const res = await refused(path, { method, body: hasBody ? validChat : undefined }, 405);
      assert.ok(res.headers.get("allow"), "Allow names the method");
      tally("wrong methods");
    });
  }
  test("an unknown method never reaches the Worker: workerd answers 501 itself", async () => {
    const before = await upstreamCalls();
    const res = await send("/v1/chat/completions", { method: "BREW", body: validChat });
    assert.equal(res.status, 501, res.text);
    assert.equal(res.headers.get("x-request-id"), null, "the Worker did not run");
    assert.equal(await upstreamCalls(), before);
    tally("wrong methods (runtime)");
  });
});

// ---------------------------------------------------------------- auth

describe("auth", () => {
  const endpoints = [
    ["GET", "/v1/models", undefined],
    ["POST", "/v1/chat/completions", JSON.stringify({ model: "to-oai", messages: USER })],
    ["POST", "/v1/chat/completions", JSON.stringify({ model: "to-ant", messages: USER })],
    ["POST", "/v1/messages", JSON.stringify({ model: "to-ant", max_tokens: 5, messages: USER })],
    ["POST", "/v1/messages", JSON.stringify({ model: "to-oai", max_tokens: 5, messages: USER })],
    ["POST", "/v1/embeddings", JSON.stringify({ model: "to-oai", input: "a" })],
    ["GET", "/v1/switchyard/status", undefined],
  ];
  const wrongKeys = [
    ["no key", {}],
    ["a wrong bearer key", { authorization: "Bearer sy-wrong-key" }],
    ["a wrong x-api-key", { "x-api-key": "sy-wrong-key" }],
    ["the key under another scheme", { authorization: `Basic ${GATEWAY_KEY}` }],
    ["an empty bearer", { authorization: "Bearer " }],
    ["the key with a suffix", { authorization: `Bearer ${GATEWAY_KEY}x` }],
    ["a prefix of the key", { authorization: `Bearer ${GATEWAY_KEY.slice(0, -1)}` }],
    ["a provider key", { authorization: `Bearer ${SECRETS.OPENAI_KEY}` }],
    ["the key's hash", { authorization: `Bearer ${hashKey(GATEWAY_KEY)}` }],
    ["a long key", { "x-api-key": big(1500) }],
    ["latin-1 bytes", { authorization: "Bearer sk-\u00ff\u00fe" }],
  ];
  for (const [method, path, body] of endpoints) {
    for (const [what, headers] of wrongKeys) {
      test(`${method} ${path} ${body ? JSON.parse(body).model : ""} with ${what} → 401`, async () => {
        await refused(path, { method, body, headers, auth: false }, 401);
        tally("auth");
      });
    }
  }
  test("a wrong key is refused before the body's size is looked at", async () => {
    await refused("/v1/chat/completions", { body: big(MAX_BODY_BYTES * 2), auth: false }, 401);
    tally("auth");
  });
  test("a wrong key is refused before the body is parsed", async () => {
    await refused("/v1/messages", { body: "{not json", auth: false, headers: { "x-api-key": "nope" } }, 401);
    tally("auth");
  });
  // This gateway names no ADMIN_KEYS: a valid gateway key is still not an
  // admin key, in either header, with or without a trailing slash.
  for (const [path, headers] of [
    ["/v1/switchyard/status", { authorization: `Bearer ${GATEWAY_KEY}` }],
    ["/v1/switchyard/status", { "x-api-key": GATEWAY_KEY }],
    ["/v1/switchyard/status/", { authorization: `Bearer ${GATEWAY_KEY}` }],
  ]) {
    test(`GET ${path} with a valid non-admin key (${Object.keys(headers)[0]}) → 403`, async () => {
      const res = await refused(path, { method: "GET", headers, auth: false }, 403);
      assert.equal(JSON.parse(res.text).error.type, "permission_error");
      tally("auth");
    });
  }
  for (const headers of [{}, { authorization: "Bearer sy-wrong-key" }]) {
    test(`/health stays open (${Object.keys(headers).length ? "wrong key" : "no key"})`, async () => {
      const res = await send("/health", { method: "GET", auth: false, headers });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(JSON.parse(res.text), { status: "ok" });
    });
  }
});

// ---------------------------------------------------------------- raw HTTP

/** Sends raw bytes to the gateway's socket; resolves to { status, headers, text } or { closed }. */
function rawHttp(bytes, timeoutMs = 10000) {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const chunks = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer: the gateway hung"));
    }, timeoutMs);
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString("latin1");
      const cut = all.indexOf("\r\n\r\n");
      if (cut < 0) return resolve({ closed: true, all });
      const [statusLine, ...lines] = all.slice(0, cut).split("\r\n");
      const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      let body = all.slice(cut + 4);
      if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
        let out = "";
        for (;;) {
          const eol = body.indexOf("\r\n");
          const size = parseInt(body.slice(0, eol), 16);
          if (!size) break;
          out += body.slice(eol + 2, eol + 2 + size);
          body = body.slice(eol + 4 + size);
        }
        body = out;
      }
      const status = Number(statusLine.split(" ")[1]);
      record(status, headers, body);
      resolve({ status, headers: { get: (k) => headers.get(k) ?? null }, text: body });
    });
    socket.end(bytes);
  });
}

describe("raw HTTP", () => {
  const head = (path, lines, body = "") =>
    Buffer.concat([
      Buffer.from(`POST ${path} HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\n${lines.join("\r\n")}${lines.length ? "\r\n" : ""}\r\n`, "latin1"),
      Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1"),
    ]);
  const chat = JSON.stringify({ model: "to-oai", messages: USER });
  const auth = `authorization: Bearer ${GATEWAY_KEY}`;
  const type = "content-type: application/json";
  // `refuse`: a 4xx (from the gateway, in the path's dialect, or from the
  // runtime's own parser) or a dropped connection, and no upstream call.
  // `framing`: what RFC 9112 lets a server read as a well-formed request
  // (a bare CR or LF ends a line, an obs-fold is a space, chunked wins
  // over Content-Length): it may be served, but the "injected" header
  // never reaches the provider (client headers are never forwarded) nor
  // the response. `runtime`: workerd refuses it before the Worker runs
  // (an unparsable Content-Length is its own 500): no upstream call, and
  // the Worker never saw it (no x-request-id).
  const cases = [
    ["framing", "a bare CR inside the authorization value", head("/v1/chat/completions", [`authorization: Bearer ${GATEWAY_KEY}\rx-injected: 1`, type, `content-length: ${chat.length}`], chat)],
    ["framing", "a bare LF splitting a header", head("/v1/chat/completions", [`x-note: a\nx-injected: 1`, auth, type, `content-length: ${chat.length}`], chat)],
    ["framing", "an obs-fold continuation line", head("/v1/chat/completions", [`x-note: a`, ` x-injected: 1`, auth, type, `content-length: ${chat.length}`], chat)],
    ["framing", "content-length and chunked together", head("/v1/chat/completions", [auth, type, "content-length: 5", "transfer-encoding: chunked"], `${chat.length.toString(16)}\r\n${chat}\r\n0\r\n\r\n`)],
    ["refuse", "a bare CR injecting a header without a key", head("/v1/chat/completions", [`x-note: a\rauthorization: Bearer wrong`, type, `content-length: ${chat.length}`], chat)],
    ["refuse", "a NUL inside a header value", head("/v1/chat/completions", [`x-note: a\0b`, auth, type, `content-length: ${chat.length}`], chat)],
    ["runtime", "a non-numeric content-length", head("/v1/chat/completions", [auth, type, "content-length: lots"], chat)],
    ["runtime", "a negative content-length", head("/v1/chat/completions", [auth, type, "content-length: -1"], chat)],
    ["runtime", "two different content-lengths", head("/v1/chat/completions", [auth, type, `content-length: ${chat.length}`, "content-length: 5"], chat)],
    ["refuse", "a huge content-length", head("/v1/chat/completions", [auth, type, "content-length: 99999999999999999999"], chat)],
    ["refuse", "chunked over the limit", head("/v1/chat/completions", [auth, type, "transfer-encoding: chunked"], `${(MAX_BODY_BYTES * 2).toString(16)}\r\n${big(MAX_BODY_BYTES * 2)}\r\n0\r\n\r\n`)],
    ["refuse", "chunked over the limit in small chunks", head("/v1/messages", [auth, type, "transfer-encoding: chunked"], `${Array.from({ length: 100 }, () => `64\r\n${big(100)}\r\n`).join("")}0\r\n\r\n`)],
    ["refuse", "a malformed chunk size", head("/v1/chat/completions", [auth, type, "transfer-encoding: chunked"], `zz\r\n${chat}\r\n0\r\n\r\n`)],
    ["refuse", "invalid UTF-8 in the authorization value", head("/v1/chat/completions", [`authorization: Bearer \xff\xfe${GATEWAY_KEY}`, type, `content-length: ${chat.length}`], chat)],
    ["refuse", "invalid UTF-8 in the x-api-key value", head("/v1/messages", [`x-api-key: ${GATEWAY_KEY}\xc3`, type, `content-length: ${chat.length}`], chat)],
    ["refuse", "a header block over MAX_HEADER_BYTES", head("/v1/messages", [auth, `x-pad: ${big(MAX_HEADER_BYTES * 2)}`, type, `content-length: ${chat.length}`], chat)],
    ["refuse", "a 100 KB header block", head("/v1/chat/completions", [auth, ...Array.from({ length: 100 }, (_, i) => `x-pad-${i}: ${big(1000)}`), `content-length: ${chat.length}`], chat)],
    ["refuse", "a request line with a space in the path", Buffer.from(`POST /v1/chat completions HTTP/1.1\r\nhost: g\r\nconnection: close\r\n${auth}\r\ncontent-length: ${chat.length}\r\n\r\n${chat}`, "latin1")],
    ["refuse", "a path with raw non-ASCII bytes", Buffer.concat([Buffer.from("POST /v1/chat/completions\xff HTTP/1.1\r\nhost: g\r\nconnection: close\r\n", "latin1"), Buffer.from(`${auth}\r\ncontent-length: ${chat.length}\r\n\r\n${chat}`)])],
    ["refuse", "a dot-dot path", head("/v1/../v1/chat/completions/../../admin", [auth, type, `content-length: ${chat.length}`], chat)],
    ["refuse", "a body with invalid UTF-8 and no content-type", head("/v1/chat/completions", [auth, "content-length: 4"], Buffer.from([0xff, 0xfe, 0xfd, 0xfc]))],
    ["refuse", "a short body for its content-length, then close", head("/v1/chat/completions", [auth, type, `content-length: ${chat.length + 50}`], chat)],
  ];
  for (const [expect, name, bytes] of cases) {
    test(`${name} (${expect})`, async () => {
      const before = await upstreamCalls();
      const res = await rawHttp(bytes);
      const calls = (await upstreamCalls()) - before;
      if (!res.closed) assert.equal(res.headers.get("x-injected"), null, "no header was injected into the response");
      if (expect === "framing") {
        if (calls > 0) {
          const last = await mock.last(`${PREFIX}oai/v1/chat/completions`);
          assert.equal(last.headers["x-injected"], undefined, "the client's header never reaches the provider");
          assert.equal(last.headers["x-note"], undefined);
        }
        if (!res.closed) assert.ok(res.status < 500, `not a 5xx: ${res.status} ${res.text.slice(0, 200)}`);
        tally(`raw HTTP: framing read by the runtime (${calls ? "served" : "refused"})`);
        return;
      }
      assert.equal(calls, 0, "no upstream call");
      if (expect === "runtime") {
        if (!res.closed) assert.equal(res.headers.get("x-request-id"), null, "the Worker never saw it");
        tally("raw HTTP: refused by workerd before the Worker");
        return;
      }
      if (res.closed) {
        tally("raw HTTP: connection closed by the runtime");
        return;
      }
      assert.ok(res.status >= 400 && res.status < 500, `a 4xx: ${res.status} ${res.text.slice(0, 200)}`);
      if (res.headers.get("x-request-id")) {
        // The gateway answered (not the runtime's own parser): in the path's dialect.
        const path = bytes.toString("latin1").split(" ")[1];
        assertRefused(res, dialectOf(path));
        tally("raw HTTP: refused by the gateway");
      } else {
        tally(`raw HTTP: refused by the runtime (${name})`);
      }
    });
  }
});

// ---------------------------------------------------------------- the routes work, logs, leaks

describe("controls", () => {
  test("valid requests on each route reach the mock once each (the 0-call checks mean something)", async () => {
    const cases = [
      ["/v1/chat/completions", "to-oai", "oai"],
      ["/v1/chat/completions", "to-ant", "ant"],
      ["/v1/messages", "to-ant", "ant"],
      ["/v1/messages", "to-oai", "oai"],
      ["/v1/chat/completions", "anything-else", "catch"],
    ];
    for (const [path, model, provider] of cases) {
      const before = await mock.count(`${PREFIX}${provider}/`);
      const body =
        path === "/v1/messages" ? { model, max_tokens: 16, messages: USER } : { model, messages: USER };
      const res = await send(path, { body: JSON.stringify(body) });
      assert.equal(res.status, 200, `${path} ${model}: ${res.text}`);
      assert.equal((await mock.count(`${PREFIX}${provider}/`)) - before, 1, `${path} ${model} reached ${provider}`);
    }
  });

  test("an upstream 500 is logged by the gateway (the log capture works)", async () => {
    const res = await send("/v1/chat/completions", { body: JSON.stringify({ model: "to-broken", messages: USER }) });
    assert.ok(res.status >= 500, res.text);
    const requestId = res.headers.get("x-request-id");
    for (let i = 0; i < 50 && !gw.log().includes(requestId); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(gw.log().includes(requestId), `the gateway's log line was captured:\n${gw.log().slice(-2000)}`);
  });

  test("no provider key in any response body or header, nor in the gateway's log", () => {
    assert.ok(SEEN.length > 300, `responses collected: ${SEEN.length}`);
    const all = SEEN.join("\n");
    for (const [name, secret] of Object.entries(SECRETS)) {
      assert.ok(!all.includes(secret), `${name} leaked into a response`);
      assert.ok(!gw.log().includes(secret), `${name} leaked into the log`);
      // A fragment long enough to matter (a secret's distinctive middle).
      const fragment = secret.slice(3, -3);
      assert.ok(!all.includes(fragment), `part of ${name} leaked into a response`);
      assert.ok(!gw.log().includes(fragment), `part of ${name} leaked into the log`);
    }
    assert.ok(!all.includes(GATEWAY_KEY.slice(3)), "the gateway key is never echoed");
    console.log(`hostile: ${counts.requests} requests; ${JSON.stringify(counts)}; log ${gw.log().length} bytes`);
  });
});
