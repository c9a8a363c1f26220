//! Canonical answers written as OpenAI writes them: a `chat.completion`
//! object, and `chat.completion.chunk` SSE events ending in `data: [DONE]`.


use serde::Serialize;

use crate::canonical::{ChatResponse, StreamEvent, ToolCall, Usage};
use crate::error::{Fault, GatewayError};

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<CompletionChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: (),
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: (),
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<Cached>,
}

#[derive(Serialize)]
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
    serde_json::to_string(&completion).unwrap_or_default()
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    /// Only when the client asked for usage: `null` but in the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageOut>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
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
        out.push_str(&serde_json::to_string(&chunk).unwrap_or_default());
        out.push_str("\n\n");
    }
}
