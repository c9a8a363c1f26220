//! A stored answer written for the client that asked: JSON through the
//! dialect's [`crate::dialect::Dialect::encode_response`], or a stream
//! through its [`crate::dialect::Dialect::stream_encoder`] — the same event
//! shape a live stream has (OpenAI `chat.completion.chunk`s ending in
//! `data: [DONE]`, Anthropic `message_start` … `message_stop`), in fewer
//! chunks. An entry recorded from a stream replays as JSON and the other
//! way round.

use crate::canonical::{ChatResponse, StreamEvent};
use crate::dialect::Dialect;

/// The answer as the dialect's JSON body.
pub fn json(dialect: Dialect, answer: &ChatResponse) -> String {
    dialect.encode_response(answer)
}

/// The answer as canonical stream events: the start, the usage (so that an
/// Anthropic `message_start` carries the prompt tokens, as Anthropic's own
/// does), each choice's text and tool calls and its finish, the end.
pub fn events(answer: &ChatResponse) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start { id: answer.id.clone(), model: answer.model.clone() }];
    if let Some(usage) = answer.usage {
        events.push(StreamEvent::Usage(usage));
    }
    for c in &answer.choices {
        if let Some(text) = c.text.as_deref().filter(|t| !t.is_empty()) {
            events.push(StreamEvent::Text { choice: c.index, text: text.to_string() });
        }
        for (i, call) in c.tool_calls.iter().enumerate() {
            let index = i as u32;
            events.push(StreamEvent::ToolCallStart { choice: c.index, index, id: call.id.clone(), name: call.name.clone() });
            if !call.arguments.is_empty() {
                events.push(StreamEvent::ToolCallArguments { choice: c.index, index, arguments: call.arguments.clone() });
            }
        }
        if let Some(reason) = &c.finish_reason {
            events.push(StreamEvent::Finish { choice: c.index, reason: reason.clone() });
        }
    }
    events.push(StreamEvent::Done);
    events
}

/// The answer as the dialect's SSE body; `include_usage`: the client asked
/// for usage on its stream (OpenAI `stream_options.include_usage`).
pub fn sse(dialect: Dialect, include_usage: bool, answer: &ChatResponse) -> String {
    let mut encoder = dialect.stream_encoder(include_usage, answer.created);
    let mut out = String::new();
    for event in events(answer) {
        encoder.encode(&event, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::tests::sample;
    use serde_json::Value;

    fn data(sse: &str) -> Vec<Value> {
        sse.split("\n\n")
            .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn openai_replay_has_the_chunk_shape_and_the_content() {
        let sse = sse(Dialect::OpenAi, true, &sample());
        assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");
        let chunks = data(&sse);
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == "chatcmpl-1"));
        assert!(chunks.iter().all(|c| c["created"] == 1_700_000_000));
        let text: String = chunks
            .iter()
            .filter(|c| c["choices"][0]["index"] == 0)
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello \"there\"");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["usage"]["completion_tokens"], 7);
        let without = data(&super::sse(Dialect::OpenAi, false, &sample()));
        assert!(without.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn anthropic_replay_has_the_message_events() {
        let sse = sse(Dialect::Anthropic, true, &sample());
        let names: Vec<&str> = sse.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(names.last(), Some(&"message_stop"));
        assert!(names.contains(&"content_block_delta") && names.contains(&"message_delta"));
        let start = &data(&sse)[0];
        // Anthropic counts cached prompt tokens apart: 5 in all, 2 of them cached.
        assert_eq!(start["message"]["usage"]["input_tokens"], 3);
    }

    #[test]
    fn json_replay_is_the_dialects_body() {
        let body: Value = serde_json::from_str(&json(Dialect::OpenAi, &sample())).unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "Hello \"there\"");
        assert_eq!(body["choices"][1]["message"]["tool_calls"][0]["function"]["name"], "f");
        let body: Value = serde_json::from_str(&json(Dialect::Anthropic, &sample())).unwrap();
        assert_eq!(body["content"][0]["text"], "Hello \"there\"");
    }
}
