// End to end: every inbound dialect × every outbound provider family, JSON
// and streamed, through real fetch in workerd. The mock provider speaks each
// wire format (OpenAI, Anthropic Messages, Gemini, Bedrock Converse with
// event-stream framing, Cohere v2) with the same reply rules, so every cell
// must show the client the same text and usage in the client's own format.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const GATEWAY_KEY = "sy-dialects-key-0123456789";
const SECRETS = {
  OPENAI_KEY: "sk-dialects-SECRET-openai",
  ANTHROPIC_KEY: "sk-ant-dialects-SECRET",
  GEMINI_KEY: "AIza-dialects-SECRET-gemini",
  COHERE_KEY: "co-dialects-SECRET-cohere",
  BEDROCK_KEY: "AKIADIALECTSEXAMPLE:dialectsSECRETaccesskey0123456789",
};
const TEXT = "hello matrix";
const REPLY = `Mock reply to: ${TEXT}`;

/** Each outbound family: its route-file kind, the API root its base ends in, its key. */
const FAMILIES = {
  openai: { kind: "openai-compatible", root: "v1", key: "OPENAI_KEY" },
  anthropic: { kind: "anthropic", root: "v1", key: "ANTHROPIC_KEY" },
  gemini: { kind: "gemini", root: "v1beta", key: "GEMINI_KEY" },
  bedrock: { kind: "bedrock", root: "v1", key: "BEDROCK_KEY", extra: 'region "us-east-1"' },
  cohere: { kind: "cohere", root: "v2", key: "COHERE_KEY" },
};

let mock;
let gw;
const id = randomUUID();
/** Fault variants: each family has a provider per variant, its directives in the base path. */
const VARIANTS = { "": "", cut: "fault=cut/cut_after=3/chunks=6/", e400: "status=400/", e429: "status=429/" };
const prefix = (family, variant = "") => `/t/${id}/${family}${variant ? `-${variant}` : ""}/${VARIANTS[variant]}`;
const upper = (s) => s.toUpperCase().replace(/-/g, "_");

before(async () => {
  mock = await startMock();
  const lines = [];
  const bases = {};
  for (const [name, f] of Object.entries(FAMILIES)) {
    for (const variant of Object.keys(VARIANTS)) {
      const p = variant ? `${name}_${variant}` : name;
      lines.push(`provider ${p} { kind ${f.kind}  base env ${upper(p)}_URL  keys [secret ${f.key}] ${f.extra ?? ""} }`);
      // The model names the family and variant: `to-<family>[-<variant>]`.
      const model = variant ? `to-${name}-${variant}` : `to-${name}`;
      lines.push(`route ${p} { when model == "${model}"  try ${p}:mock-${name} }`);
      bases[`${upper(p)}_URL`] = `${mock.url}${prefix(name, variant)}${f.root}`;
    }
  }
  gw = await startGateway({
    bindings: { GATEWAY_KEYS: hashKey(GATEWAY_KEY), UPSTREAM_BASE_URL: `${mock.url}/unused/v1`, ...bases, ...SECRETS },
    routes: compileRoutes(`${lines.join("\n")}\n`),
  });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

/** A request through the gateway; asserts no provider key leaked into what came back. */
async function send(path, body, headers = {}) {
  const res = await gw.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  for (const secret of Object.values(SECRETS)) {
    for (const part of secret.split(":")) assert.ok(!text.includes(part), `a key leaked: ${text}`);
  }
  return { status: res.status, headers: res.headers, text };
}

/** `data:` payloads of an SSE body, with their `event:` names. */
function events(text) {
  const out = [];
  for (const block of text.split(/\n\n+/)) {
    const lines = block.split("\n");
    const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim();
    const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
    if (data) out.push({ event, data });
  }
  return out;
}

const openaiChat = (family, extra = {}) =>
  send("/v1/chat/completions", { model: `to-${family}`, messages: [{ role: "user", content: TEXT }], ...extra });

const anthropicChat = (family, extra = {}) =>
  send(
    "/v1/messages",
    { model: `to-${family}`, max_tokens: 100, messages: [{ role: "user", content: TEXT }], ...extra },
    { "anthropic-version": "2023-06-01" },
  );

/** The text and usage an OpenAI client read from a stream; asserts it ended properly. */
function readOpenAiStream(text) {
  const all = events(text);
  assert.equal(all.at(-1).data, "[DONE]", `stream ends with [DONE]: ${text}`);
  let content = "";
  let usage = null;
  let finish = null;
  for (const { data } of all.slice(0, -1)) {
    const chunk = JSON.parse(data);
    assert.ok(!chunk.error, `no error event: ${data}`);
    assert.equal(chunk.object, "chat.completion.chunk");
    for (const choice of chunk.choices) {
      content += choice.delta?.content ?? "";
      finish = choice.finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  return { content, usage, finish };
}

/** The same for an Anthropic client. */
function readAnthropicStream(text) {
  const all = events(text);
  const names = all.map((e) => e.event);
  assert.equal(names[0], "message_start", text);
  assert.equal(names.at(-1), "message_stop", text);
  assert.ok(!names.includes("error"), text);
  let content = "";
  let stop = null;
  let usage = {};
  for (const { event, data } of all) {
    const body = JSON.parse(data);
    assert.equal(body.type, event, "each event's data names its type");
    if (event === "message_start") usage = { ...usage, ...body.message.usage };
    if (event === "content_block_delta" && body.delta.type === "text_delta") content += body.delta.text;
    if (event === "message_delta") {
      stop = body.delta.stop_reason;
      usage = { ...usage, ...body.usage };
    }
  }
  return { content, stop, usage };
}

for (const family of Object.keys(FAMILIES)) {
  describe(`to ${family}`, () => {
    test(`OpenAI client, JSON`, async () => {
      const before = await mock.count(prefix(family));
      const res = await openaiChat(family);
      assert.equal(res.status, 200, res.text);
      const body = JSON.parse(res.text);
      assert.equal(body.object, "chat.completion");
      assert.equal(body.choices[0].message.role, "assistant");
      assert.equal(body.choices[0].message.content, REPLY);
      assert.equal(body.choices[0].finish_reason, "stop");
      assert.equal(body.usage.prompt_tokens, 2);
      assert.equal(body.usage.completion_tokens, 5);
      assert.equal(res.headers.get("x-switchyard-target"), `${family}:mock-${family}`);
      assert.equal((await mock.count(prefix(family))) - before, 1, "one upstream call");
    });

    test(`OpenAI client, stream with usage`, async () => {
      const res = await openaiChat(family, { stream: true, stream_options: { include_usage: true } });
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get("content-type"), /^text\/event-stream/);
      const { content, usage, finish } = readOpenAiStream(res.text);
      assert.equal(content, REPLY);
      assert.equal(finish, "stop");
      assert.equal(usage?.prompt_tokens, 2, `usage on the stream: ${res.text}`);
      assert.equal(usage?.completion_tokens, 5);
    });

    test(`Anthropic client, JSON`, async () => {
      const res = await anthropicChat(family);
      assert.equal(res.status, 200, res.text);
      const body = JSON.parse(res.text);
      assert.equal(body.type, "message");
      assert.equal(body.role, "assistant");
      assert.deepEqual(body.content, [{ type: "text", text: REPLY }]);
      assert.equal(body.stop_reason, "end_turn");
      assert.equal(body.usage.input_tokens, 2);
      assert.equal(body.usage.output_tokens, 5);
    });

    test(`Anthropic client, stream`, async () => {
      const res = await anthropicChat(family, { stream: true });
      assert.equal(res.status, 200, res.text);
      const { content, stop, usage } = readAnthropicStream(res.text);
      assert.equal(content, REPLY);
      assert.equal(stop, "end_turn");
      assert.equal(usage.output_tokens, 5, res.text);
    });

    test(`a tool call reaches each client in its own shape`, async () => {
      const tools = [{ type: "function", function: { name: "lookup", description: "find", parameters: { type: "object", properties: { input: { type: "string" } } } } }];
      const res = await send("/v1/chat/completions", {
        model: `to-${family}`,
        messages: [{ role: "user", content: "please use the tool" }],
        tools,
      });
      assert.equal(res.status, 200, res.text);
      const choice = JSON.parse(res.text).choices[0];
      assert.equal(choice.finish_reason, "tool_calls");
      assert.equal(choice.message.tool_calls[0].function.name, "lookup");
      assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), { input: "please use the tool" });

      const anth = await send(
        "/v1/messages",
        {
          model: `to-${family}`,
          max_tokens: 50,
          messages: [{ role: "user", content: "please use the tool" }],
          tools: [{ name: "lookup", description: "find", input_schema: { type: "object", properties: { input: { type: "string" } } } }],
        },
      );
      assert.equal(anth.status, 200, anth.text);
      const msg = JSON.parse(anth.text);
      assert.equal(msg.stop_reason, "tool_use");
      const use = msg.content.find((b) => b.type === "tool_use");
      assert.equal(use.name, "lookup");
      assert.deepEqual(use.input, { input: "please use the tool" });
    });

    test(`a stream cut mid-way ends in the client's error event, never a clean end`, async () => {
      const res = await send("/v1/messages", {
        model: `to-${family}-cut`,
        max_tokens: 10,
        stream: true,
        messages: [{ role: "user", content: "a longer text to cut into pieces" }],
      });
      // The cut may come before the first byte (then the engine retries and
      // the client gets an error status) or after it (an error event).
      if (res.status === 200) {
        const all = events(res.text);
        assert.equal(all.at(-1).event, "error", res.text);
        assert.equal(JSON.parse(all.at(-1).data).type, "error");
        assert.ok(!all.some((e) => e.event === "message_stop"), res.text);
      } else {
        assert.equal(JSON.parse(res.text).type, "error", res.text);
      }
    });
  });
}

test("a provider's error reaches an Anthropic client in Anthropic's shape, the provider's message kept", async () => {
  for (const family of Object.keys(FAMILIES)) {
    const res = await send("/v1/messages", { model: `to-${family}-e400`, max_tokens: 10, messages: [{ role: "user", content: TEXT }] });
    assert.equal(res.status, 400, `${family}: ${res.text}`);
    const body = JSON.parse(res.text);
    assert.equal(body.type, "error", family);
    assert.equal(body.error.type, "invalid_request_error", family);
    assert.ok(body.error.message.length > 0, family);
    assert.ok(Array.isArray(body.error.attempts), `${family}: the trail rides along`);

    const limited = await send("/v1/chat/completions", { model: `to-${family}-e429`, messages: [{ role: "user", content: TEXT }] });
    assert.equal(limited.status, 429, `${family}: ${limited.text}`);
    assert.equal(JSON.parse(limited.text).error.type, "rate_limit_error", family);
  }
});

test("Anthropic client without a key: 401 in Anthropic's shape, nothing sent upstream", async () => {
  const before = (await mock.calls()).total;
  const res = await gw.fetch("/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "to-anthropic", max_tokens: 5, messages: [{ role: "user", content: "x" }] }),
  });
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.equal(body.type, "error");
  assert.equal(body.error.type, "authentication_error");
  assert.equal((await mock.calls()).total, before);
});

test("a bad Anthropic request is a 400 in Anthropic's shape, nothing sent upstream", async () => {
  const before = (await mock.calls()).total;
  for (const body of ['{"model":"to-openai","messages":[]', '{"model":"to-openai","messages":"x","max_tokens":1}', "[]"]) {
    const res = await send("/v1/messages", body);
    assert.equal(res.status, 400, res.text);
    assert.equal(JSON.parse(res.text).type, "error");
  }
  assert.equal((await mock.calls()).total, before);
});

test("Anthropic to Anthropic is forwarded as it came: fields the gateway does not know survive", async () => {
  const res = await anthropicChat("anthropic", { metadata: { user_id: "u-1" }, future_field: { keep: true } });
  assert.equal(res.status, 200, res.text);
  const last = await mock.last(`${prefix("anthropic")}v1/messages`);
  const sent = typeof last.body === "string" ? JSON.parse(last.body) : last.body;
  assert.deepEqual(sent.future_field, { keep: true });
  assert.equal(sent.model, "mock-anthropic");
});

test("an OpenAI image part reaches every provider", async () => {
  const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
  for (const family of Object.keys(FAMILIES)) {
    const res = await send("/v1/chat/completions", {
      model: `to-${family}`,
      messages: [
        { role: "user", content: [{ type: "text", text: "what is this" }, { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } }] },
      ],
    });
    assert.equal(res.status, 200, `${family}: ${res.text}`);
    assert.equal(JSON.parse(res.text).choices[0].message.content, "Mock reply to: what is this [images: 1]", family);
  }
});

describe("embeddings", () => {
  for (const family of ["openai", "gemini", "cohere"]) {
    test(`to ${family}`, async () => {
      const res = await send("/v1/embeddings", { model: `to-${family}`, input: ["one", "two words"] });
      assert.equal(res.status, 200, res.text);
      const body = JSON.parse(res.text);
      assert.equal(body.object, "list");
      assert.equal(body.data.length, 2);
      assert.equal(body.data[1].index, 1);
      assert.ok(body.data[0].embedding.length > 0 && body.data[0].embedding.every((x) => typeof x === "number"));
    });
  }
  test("to a provider without embeddings: a clear 400", async () => {
    const res = await send("/v1/embeddings", { model: "to-anthropic", input: "x" });
    assert.equal(res.status, 400, res.text);
    assert.match(JSON.parse(res.text).error.message, /no embeddings/);
  });
});
