// End to end with the official SDKs: the `openai` and `@anthropic-ai/sdk`
// npm packages, unchanged, pointed at the gateway with a gateway key. What
// they parse (messages, streams, tool calls, usage) and what they raise
// (API errors, a stream cut mid-way) is what real applications see.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { compileRoutes, hashKey, startGateway, startMock } from "../support/harness.mjs";

const GATEWAY_KEY = "sy-sdk-key-0123456789abcdef";
const SECRETS = { OPENAI_KEY: "sk-sdk-SECRET-openai", ANTHROPIC_KEY: "sk-ant-sdk-SECRET", GEMINI_KEY: "AIza-sdk-SECRET" };

let mock;
let gw;
let openai;
let anthropic;

before(async () => {
  mock = await startMock();
  const id = randomUUID();
  gw = await startGateway({
    bindings: {
      GATEWAY_KEYS: hashKey(GATEWAY_KEY),
      UPSTREAM_BASE_URL: `${mock.url}/unused/v1`,
      O_URL: `${mock.url}/t/${id}/o/v1`,
      A_URL: `${mock.url}/t/${id}/a/v1`,
      G_URL: `${mock.url}/t/${id}/g/v1beta`,
      O429_URL: `${mock.url}/t/${id}/o429/status=429/v1`,
      A429_URL: `${mock.url}/t/${id}/a429/status=429/v1`,
      G429_URL: `${mock.url}/t/${id}/g429/status=429/v1beta`,
      OCUT_URL: `${mock.url}/t/${id}/ocut/fault=cut/cut_after=2/chunks=6/v1`,
      ACUT_URL: `${mock.url}/t/${id}/acut/fault=cut/cut_after=2/chunks=6/v1`,
      GCUT_URL: `${mock.url}/t/${id}/gcut/fault=cut/cut_after=2/chunks=6/v1beta`,
      ...SECRETS,
    },
    routes: compileRoutes(`
provider o { kind openai-compatible  base env O_URL  keys [secret OPENAI_KEY] }
provider a { kind anthropic  base env A_URL  keys [secret ANTHROPIC_KEY] }
provider g { kind gemini  base env G_URL  keys [secret GEMINI_KEY] }
provider o429 { kind openai-compatible  base env O429_URL  keys [secret OPENAI_KEY] }
provider a429 { kind anthropic  base env A429_URL  keys [secret ANTHROPIC_KEY] }
provider g429 { kind gemini  base env G429_URL  keys [secret GEMINI_KEY] }
provider ocut { kind openai-compatible  base env OCUT_URL  keys [secret OPENAI_KEY] }
provider acut { kind anthropic  base env ACUT_URL  keys [secret ANTHROPIC_KEY] }
provider gcut { kind gemini  base env GCUT_URL  keys [secret GEMINI_KEY] }
policy once { attempts 1 }
route to-openai { when model == "to-openai"  try o:mock-o with once }
route to-anthropic { when model == "to-anthropic"  try a:claude-mock with once }
route to-gemini { when model == "to-gemini"  try g:gemini-mock with once }
route to-openai-429 { when model == "to-openai-429"  try o429:mock-o with once }
route to-anthropic-429 { when model == "to-anthropic-429"  try a429:claude-mock with once }
route to-gemini-429 { when model == "to-gemini-429"  try g429:gemini-mock with once }
route to-openai-cut { when model == "to-openai-cut"  try ocut:mock-o with once }
route to-anthropic-cut { when model == "to-anthropic-cut"  try acut:claude-mock with once }
route to-gemini-cut { when model == "to-gemini-cut"  try gcut:gemini-mock with once }
`),
  });
  // The SDKs' own HTTP goes through the gateway in workerd.
  const viaGateway = (url, init) => gw.fetch(String(url), init);
  openai = new OpenAI({ apiKey: GATEWAY_KEY, baseURL: "http://gateway.test/v1", fetch: viaGateway, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: GATEWAY_KEY, baseURL: "http://gateway.test", fetch: viaGateway, maxRetries: 0 });
});
after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const TOOL_OPENAI = {
  type: "function",
  function: { name: "lookup", description: "Look it up", parameters: { type: "object", properties: { input: { type: "string" } } } },
};
const TOOL_ANTHROPIC = { name: "lookup", description: "Look it up", input_schema: { type: "object", properties: { input: { type: "string" } } } };

for (const model of ["to-openai", "to-anthropic", "to-gemini"]) {
  describe(`${model}`, () => {
    test("OpenAI SDK: create, stream, tool call", async () => {
      const done = await openai.chat.completions.create({ model, messages: [{ role: "user", content: "hi sdk" }] });
      assert.equal(done.choices[0].message.content, "Mock reply to: hi sdk");
      assert.equal(done.usage.total_tokens, done.usage.prompt_tokens + done.usage.completion_tokens);

      const stream = await openai.chat.completions.create({
        model,
        messages: [{ role: "user", content: "hi stream" }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let usage = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? "";
        usage = chunk.usage ?? usage;
      }
      assert.equal(text, "Mock reply to: hi stream");
      assert.ok(usage?.completion_tokens > 0);

      const tool = await openai.chat.completions.create({
        model,
        messages: [{ role: "user", content: "call the tool" }],
        tools: [TOOL_OPENAI],
      });
      const call = tool.choices[0].message.tool_calls[0];
      assert.equal(call.function.name, "lookup");
      assert.deepEqual(JSON.parse(call.function.arguments), { input: "call the tool" });
    });

    test("Anthropic SDK: create, stream, tool use", async () => {
      const msg = await anthropic.messages.create({ model, max_tokens: 64, messages: [{ role: "user", content: "hi sdk" }] });
      assert.equal(msg.content[0].type, "text");
      assert.equal(msg.content[0].text, "Mock reply to: hi sdk");
      assert.equal(msg.stop_reason, "end_turn");

      const stream = anthropic.messages.stream({ model, max_tokens: 64, messages: [{ role: "user", content: "hi stream" }] });
      let text = "";
      stream.on("text", (t) => {
        text += t;
      });
      const final = await stream.finalMessage();
      assert.equal(text, "Mock reply to: hi stream");
      assert.equal(final.content[0].text, "Mock reply to: hi stream");
      assert.ok(final.usage.output_tokens > 0);

      const tool = await anthropic.messages.create({
        model,
        max_tokens: 64,
        messages: [{ role: "user", content: "call the tool" }],
        tools: [TOOL_ANTHROPIC],
      });
      assert.equal(tool.stop_reason, "tool_use");
      const use = tool.content.find((b) => b.type === "tool_use");
      assert.equal(use.name, "lookup");
      assert.deepEqual(use.input, { input: "call the tool" });
    });

    test("both SDKs raise the provider's error with its status", async () => {
      const limited = `${model}-429`;
      await assert.rejects(
        openai.chat.completions.create({ model: limited, messages: [{ role: "user", content: "x" }] }),
        (e) => e instanceof OpenAI.APIError && e.status === 429,
      );
      await assert.rejects(
        anthropic.messages.create({ model: limited, max_tokens: 8, messages: [{ role: "user", content: "x" }] }),
        (e) => e instanceof Anthropic.APIError && e.status === 429 && e.error?.type === "error",
      );
    });

    test("both SDKs raise on a stream cut mid-way instead of returning it as complete", async () => {
      const cut = `${model}-cut`;
      await assert.rejects(async () => {
        const stream = await openai.chat.completions.create({
          model: cut,
          messages: [{ role: "user", content: "cut me please now" }],
          stream: true,
        });
        for await (const _ of stream) {
          // drain
        }
      });
      await assert.rejects(async () => {
        const stream = anthropic.messages.stream({
          model: cut,
          max_tokens: 64,
          messages: [{ role: "user", content: "cut me please now" }],
        });
        await stream.finalMessage();
      });
    });
  });
}

test("the gateway key never reaches a provider", async () => {
  const { by_path } = await mock.calls();
  const paths = Object.keys(by_path);
  assert.ok(paths.length >= 3, "every provider was called");
  for (const path of paths) {
    const last = await mock.last(path);
    const seen = JSON.stringify(last);
    assert.ok(!seen.includes(GATEWAY_KEY), `${path}: ${seen}`);
  }
});
