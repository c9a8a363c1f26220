//! Canonical answers written as OpenAI writes them: a `chat.completion`
//! object, and `chat.completion.chunk` SSE events ending in `data: [DONE]`.
//! Written by hand (`crate::json_out`); the derived `Serialize` of each
//! shape is kept for the tests, which compare the two texts.

#[cfg(test)]
use serde::Serialize;

use crate::canonical::{ChatResponse, StreamEvent, ToolCall, Usage};
use crate::error::{Fault, GatewayError};
use crate::json_out::{array, key, null, quote, text_or_null, uint};

#[cfg_attr(test, derive(Serialize))]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<CompletionChoice<'a>>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    usage: Option<UsageOut>,
}

#[cfg_attr(test, derive(Serialize))]
struct CompletionChoice<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: (),
    finish_reason: Option<&'a str>,
}

#[cfg_attr(test, derive(Serialize))]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: (),
    #[cfg_attr(test, serde(skip_serializing_if = "Vec::is_empty"))]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[cfg_attr(test, derive(Serialize))]
struct ToolCallOut<'a> {
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    index: Option<u32>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    id: Option<&'a str>,
    #[cfg_attr(test, serde(rename = "type", skip_serializing_if = "Option::is_none"))]
    kind: Option<&'static str>,
    function: FunctionOut<'a>,
}

#[cfg_attr(test, derive(Serialize))]
struct FunctionOut<'a> {
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[cfg_attr(test, derive(Serialize, Clone))]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    prompt_tokens_details: Option<Cached>,
}

#[cfg_attr(test, derive(Serialize, Clone))]
struct Cached {
    cached_tokens: u64,
}

fn usage_out(u: &Usage) -> UsageOut {
    UsageOut {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.total(),
        prompt_tokens_details: u
            .cached_input_tokens
            .map(|cached_tokens| Cached { cached_tokens }),
    }
}

fn call_out(c: &ToolCall) -> ToolCallOut<'_> {
    ToolCallOut {
        index: None,
        id: Some(&c.id),
        kind: Some("function"),
        function: FunctionOut {
            name: Some(&c.name),
            arguments: &c.arguments,
        },
    }
}

/// A complete answer as a `chat.completion` object.
pub fn encode_response(response: &ChatResponse) -> String {
    let completion = Completion {
        id: &response.id,
        object: "chat.completion",
        created: response.created,
        model: &response.model,
        choices: crate::seq::map(&response.choices, |_, c| CompletionChoice {
            index: c.index,
            message: MessageOut {
                role: "assistant",
                content: c.text.as_deref(),
                refusal: (),
                tool_calls: crate::seq::map(&c.tool_calls, |_, x| call_out(x)),
            },
            logprobs: (),
            finish_reason: c.finish_reason.as_ref().map(|r| r.openai()),
        }),
        usage: response.usage.as_ref().map(usage_out),
    };
    let mut out = String::with_capacity(256);
    completion.write(&mut out);
    out
}

#[cfg_attr(test, derive(Serialize))]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    /// Only when the client asked for usage: `null` but in the last chunk.
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    usage: Option<Option<UsageOut>>,
}

#[cfg_attr(test, derive(Serialize))]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'a str>,
}

#[derive(Default)]
#[cfg_attr(test, derive(Serialize))]
struct Delta<'a> {
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    role: Option<&'static str>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    content: Option<&'a str>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    refusal: Option<()>,
    #[cfg_attr(test, serde(skip_serializing_if = "Vec::is_empty"))]
    tool_calls: Vec<ToolCallOut<'a>>,
}

impl Completion<'_> {
    fn write(&self, out: &mut String) {
        head(out, self.id, self.object, self.created, self.model);
        array(out, &self.choices, |out, c| {
            choice(out, c.index, "message", |out| c.message.write(out), &c.logprobs, c.finish_reason);
        });
        if let Some(usage) = &self.usage {
            key(out, "usage", false);
            usage.write(out);
        }
        out.push('}');
    }
}

/// `{"id":…,"object":…,"created":…,"model":…,"choices":` (the object left open).
fn head(out: &mut String, id: &str, object: &str, created: u64, model: &str) {
    out.push('{');
    key(out, "id", true);
    quote(out, id);
    key(out, "object", false);
    quote(out, object);
    key(out, "created", false);
    uint(out, created);
    key(out, "model", false);
    quote(out, model);
    key(out, "choices", false);
}

/// One choice: `{"index":…,NAME:…,"logprobs":null,"finish_reason":…}`.
fn choice(out: &mut String, index: u32, name: &str, inner: impl FnOnce(&mut String), logprobs: &(), finish_reason: Option<&str>) {
    out.push('{');
    key(out, "index", true);
    uint(out, index.into());
    key(out, name, false);
    inner(out);
    key(out, "logprobs", false);
    null(out, logprobs);
    key(out, "finish_reason", false);
    text_or_null(out, finish_reason);
    out.push('}');
}

impl MessageOut<'_> {
    fn write(&self, out: &mut String) {
        out.push('{');
        key(out, "role", true);
        quote(out, self.role);
        key(out, "content", false);
        text_or_null(out, self.content);
        key(out, "refusal", false);
        null(out, &self.refusal);
        write_calls(out, &self.tool_calls, false);
        out.push('}');
    }
}

/// `,"tool_calls":[…]` (`first`: without the comma), unless there are none.
fn write_calls(out: &mut String, calls: &[ToolCallOut], first: bool) {
    if calls.is_empty() {
        return;
    }
    key(out, "tool_calls", first);
    array(out, calls, |out, c| {
        out.push('{');
        let mut first = true;
        if let Some(index) = c.index {
            key(out, "index", first);
            uint(out, index.into());
            first = false;
        }
        if let Some(id) = c.id {
            key(out, "id", first);
            quote(out, id);
            first = false;
        }
        if let Some(kind) = c.kind {
            key(out, "type", first);
            quote(out, kind);
            first = false;
        }
        key(out, "function", first);
        out.push('{');
        let mut first = true;
        if let Some(name) = c.function.name {
            key(out, "name", true);
            quote(out, name);
            first = false;
        }
        key(out, "arguments", first);
        quote(out, c.function.arguments);
        out.push_str("}}");
    });
}

impl UsageOut {
    fn write(&self, out: &mut String) {
        out.push('{');
        key(out, "prompt_tokens", true);
        uint(out, self.prompt_tokens);
        key(out, "completion_tokens", false);
        uint(out, self.completion_tokens);
        key(out, "total_tokens", false);
        uint(out, self.total_tokens);
        if let Some(cached) = &self.prompt_tokens_details {
            key(out, "prompt_tokens_details", false);
            out.push('{');
            key(out, "cached_tokens", true);
            uint(out, cached.cached_tokens);
            out.push('}');
        }
        out.push('}');
    }
}

impl Chunk<'_> {
    fn write(&self, out: &mut String) {
        head(out, self.id, self.object, self.created, self.model);
        array(out, &self.choices, |out, c| {
            choice(out, c.index, "delta", |out| c.delta.write(out), &c.logprobs, c.finish_reason);
        });
        if let Some(usage) = &self.usage {
            key(out, "usage", false);
            match usage {
                Some(usage) => usage.write(out),
                None => out.push_str("null"),
            }
        }
        out.push('}');
    }
}

impl Delta<'_> {
    fn write(&self, out: &mut String) {
        out.push('{');
        let mut first = true;
        if let Some(role) = self.role {
            key(out, "role", true);
            quote(out, role);
            first = false;
        }
        if let Some(content) = self.content {
            key(out, "content", first);
            quote(out, content);
            first = false;
        }
        if self.refusal.is_some() {
            key(out, "refusal", first);
            out.push_str("null");
            first = false;
        }
        write_calls(out, &self.tool_calls, first);
        out.push('}');
    }
}

/// Canonical stream events → `chat.completion.chunk` SSE events.
#[derive(Debug, Default)]
pub struct Encoder {
    include_usage: bool,
    created: u64,
    id: String,
    model: String,
    /// Choices whose role delta went out.
    opened: Vec<u32>,
    usage: Option<Usage>,
    /// An error event went out: no `[DONE]` may follow it.
    failed: bool,
}

impl Encoder {
    /// `include_usage`: the client asked for `stream_options.include_usage`.
    pub fn new(include_usage: bool) -> Self {
        Self::with_created(include_usage, 0)
    }

    /// The same, with the chunks' `created` (Unix seconds).
    pub fn with_created(include_usage: bool, created: u64) -> Self {
        Encoder {
            include_usage,
            created,
            ..Encoder::default()
        }
    }

    pub fn encode(&mut self, event: &StreamEvent, out: &mut String) {
        if self.failed {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.open(0, out);
            }
            StreamEvent::Text { choice, text } => {
                self.open(*choice, out);
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                self.chunk(*choice, delta, None, out);
            }
            StreamEvent::ToolCallStart {
                choice,
                index,
                id,
                name,
            } => {
                self.open(*choice, out);
                let call = ToolCallOut {
                    index: Some(*index),
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionOut {
                        name: Some(name),
                        arguments: "",
                    },
                };
                self.chunk(
                    *choice,
                    Delta {
                        tool_calls: vec![call],
                        ..Delta::default()
                    },
                    None,
                    out,
                );
            }
            StreamEvent::ToolCallArguments {
                choice,
                index,
                arguments,
            } => {
                self.open(*choice, out);
                let call = ToolCallOut {
                    index: Some(*index),
                    id: None,
                    kind: None,
                    function: FunctionOut {
                        name: None,
                        arguments,
                    },
                };
                self.chunk(
                    *choice,
                    Delta {
                        tool_calls: vec![call],
                        ..Delta::default()
                    },
                    None,
                    out,
                );
            }
            StreamEvent::Finish { choice, reason } => {
                self.open(*choice, out);
                self.chunk(*choice, Delta::default(), Some(reason.openai()), out);
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Error { message } => {
                self.failed = true;
                let error = GatewayError::new(Fault::UpstreamStatus(502), message.clone());
                out.push_str(&format!("data: {}\n\n", error.openai_body()));
            }
            StreamEvent::Done => {
                if self.include_usage {
                    if let Some(usage) = self.usage {
                        self.write(Vec::new(), Some(Some(usage_out(&usage))), out);
                    }
                }
                out.push_str("data: [DONE]\n\n");
            }
        }
    }

    fn open(&mut self, choice: u32, out: &mut String) {
        if !self.opened.contains(&choice) {
            self.opened.push(choice);
            let delta = Delta {
                role: Some("assistant"),
                content: Some(""),
                refusal: Some(()),
                ..Delta::default()
            };
            self.chunk(choice, delta, None, out);
        }
    }

    fn chunk(&self, choice: u32, delta: Delta, finish_reason: Option<&str>, out: &mut String) {
        let choices = vec![ChunkChoice {
            index: choice,
            delta,
            logprobs: (),
            finish_reason,
        }];
        self.write(choices, self.include_usage.then_some(None), out);
    }

    fn write(&self, choices: Vec<ChunkChoice>, usage: Option<Option<UsageOut>>, out: &mut String) {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        out.push_str("data: ");
        chunk.write(out);
        out.push_str("\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(index: Option<u32>, id: Option<&'a str>, name: Option<&'a str>, arguments: &'a str) -> ToolCallOut<'a> {
        ToolCallOut { index, id, kind: id.map(|_| "function"), function: FunctionOut { name, arguments } }
    }

    fn usages() -> Vec<Option<UsageOut>> {
        vec![
            None,
            Some(UsageOut { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_tokens_details: None }),
            Some(UsageOut { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3, prompt_tokens_details: Some(Cached { cached_tokens: 2 }) }),
        ]
    }

    #[test]
    fn completions_are_written_as_the_derive_writes_them() {
        for usage in usages() {
            for choices in [0, 1, 2] {
                let make = |i: u32| CompletionChoice {
                    index: i,
                    message: MessageOut {
                        role: "assistant",
                        content: if i == 0 { Some("hé \"quoted\"\n\u{1}") } else { None },
                        refusal: (),
                        tool_calls: if i == 0 {
                            vec![]
                        } else {
                            vec![call(None, Some("call_1"), Some("get"), "{\"a\":1}"), call(Some(1), None, None, "")]
                        },
                    },
                    logprobs: (),
                    finish_reason: if i == 0 { Some("stop") } else { None },
                };
                let completion = Completion {
                    id: "chatcmpl-1",
                    object: "chat.completion",
                    created: 1_700_000_000,
                    model: "m\\odel",
                    choices: (0..choices).map(make).collect(),
                    usage: usage.clone(),
                };
                let mut out = String::new();
                completion.write(&mut out);
                assert_eq!(out, serde_json::to_string(&completion).unwrap());
            }
        }
    }

    #[test]
    fn chunks_are_written_as_the_derive_writes_them() {
        let deltas = || {
            vec![
                Delta::default(),
                Delta { role: Some("assistant"), content: Some(""), refusal: Some(()), ..Delta::default() },
                Delta { content: Some("\"x\"\t"), ..Delta::default() },
                Delta { tool_calls: vec![call(Some(0), Some("c\"1"), Some("f"), "")], ..Delta::default() },
                Delta { tool_calls: vec![call(Some(2), None, None, "{\"q\":")], ..Delta::default() },
                Delta { role: Some("assistant"), tool_calls: vec![call(None, None, Some("n"), "a")], ..Delta::default() },
            ]
        };
        let mut wrapped: Vec<Option<Option<UsageOut>>> = vec![None];
        wrapped.extend(usages().into_iter().map(Some));
        for usage in &wrapped {
            for finish_reason in [None, Some("length")] {
                for delta in deltas() {
                    let chunk = Chunk {
                        id: "id\u{7f}",
                        object: "chat.completion.chunk",
                        created: 0,
                        model: "m",
                        choices: vec![ChunkChoice { index: 3, delta, logprobs: (), finish_reason }],
                        usage: usage.clone(),
                    };
                    let mut out = String::new();
                    chunk.write(&mut out);
                    assert_eq!(out, serde_json::to_string(&chunk).unwrap());
                }
            }
        }
        let empty = Chunk { id: "", object: "chat.completion.chunk", created: 9, model: "", choices: vec![], usage: Some(None) };
        let mut out = String::new();
        empty.write(&mut out);
        assert_eq!(out, serde_json::to_string(&empty).unwrap());
    }
}
