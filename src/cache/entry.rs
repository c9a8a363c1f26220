//! A cache entry: what KV stores under a key.
//!
//! Versioned JSON, written in this exact field order:
//! `{"v":1,"stored_at_ms":…,"ttl_ms":…,"answer":{…}}`. The answer is the
//! canonical one (id, model, created, per choice its text, tool calls and
//! finish reason, usage) written as an OpenAI `chat.completion` object by
//! the code that already writes and reads those (so the Worker carries no
//! second serializer); a finish on a stop sequence keeps the sequence
//! (`"finish_reason":"stop_sequence:<seq>"`, mapped back when read). Any
//! dialect replays it, as JSON or as a stream. An entry of another `v` is
//! not read (a miss, overwritten by the next answer); every later format
//! must keep reading this one.
//!
//! Freshness is the Worker's business, from the entry's own `stored_at_ms`
//! ([`Entry::fresh`]); KV's `expirationTtl` (at least 60 s) only collects
//! the garbage ([`kv_expiration_ttl_s`]).

use crate::canonical::{ChatResponse, FinishReason};
use crate::dialect::openai::encode_response;
use crate::provider::openai::chat_response;

/// The entry format this build writes and reads.
pub const ENTRY_FORMAT: u32 = 1;
/// KV's largest value (25 MiB): a larger entry is skipped, never an error.
pub const MAX_ENTRY_BYTES: usize = 25 * 1024 * 1024;
/// KV's smallest `expirationTtl`.
pub const KV_MIN_TTL_S: u64 = 60;
const STOP_SEQUENCE: &str = "stop_sequence";

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Unix ms when the answer was stored (the Worker's clock).
    pub stored_at_ms: u64,
    /// The route's lifetime when it was stored.
    pub ttl_ms: u64,
    pub answer: ChatResponse,
}

impl Entry {
    pub fn new(answer: ChatResponse, stored_at_ms: u64, ttl_ms: u64) -> Entry {
        Entry { stored_at_ms, ttl_ms, answer }
    }

    /// Reads an entry; `None` for text that is not one this build reads.
    pub fn parse(text: &str) -> Option<Entry> {
        let rest = text.strip_prefix(&format!("{{\"v\":{ENTRY_FORMAT},\"stored_at_ms\":"))?;
        let (stored_at_ms, rest) = rest.split_once(",\"ttl_ms\":")?;
        let (ttl_ms, rest) = rest.split_once(",\"answer\":")?;
        let mut answer = chat_response(rest.strip_suffix('}')?.as_bytes()).ok()?;
        for choice in &mut answer.choices {
            if let Some(FinishReason::Other(other)) = &choice.finish_reason {
                let seq = match other.strip_prefix(STOP_SEQUENCE) {
                    Some("") => None,
                    Some(rest) => match rest.strip_prefix(':') {
                        Some(seq) => Some(seq.to_string()),
                        None => continue,
                    },
                    None => continue,
                };
                choice.finish_reason = Some(FinishReason::StopSequence(seq));
            }
        }
        Some(Entry { stored_at_ms: stored_at_ms.parse().ok()?, ttl_ms: ttl_ms.parse().ok()?, answer })
    }

    pub fn to_json(&self) -> String {
        let stops = self.answer.choices.iter().any(|c| matches!(c.finish_reason, Some(FinishReason::StopSequence(_))));
        let answer = if stops {
            let mut answer = self.answer.clone();
            for choice in &mut answer.choices {
                if let Some(FinishReason::StopSequence(seq)) = &choice.finish_reason {
                    let word = seq.as_ref().map_or_else(|| STOP_SEQUENCE.to_string(), |s| format!("{STOP_SEQUENCE}:{s}"));
                    choice.finish_reason = Some(FinishReason::Other(word));
                }
            }
            encode_response(&answer)
        } else {
            encode_response(&self.answer)
        };
        format!(
            "{{\"v\":{ENTRY_FORMAT},\"stored_at_ms\":{},\"ttl_ms\":{},\"answer\":{answer}}}",
            self.stored_at_ms, self.ttl_ms
        )
    }

    /// Milliseconds since it was stored (0 if the clock is behind).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms)
    }

    /// Whether it may still be served on a route whose lifetime is `ttl_ms`
    /// (the route's, which for one plan is the entry's own).
    pub fn fresh(&self, now_ms: u64, ttl_ms: u64) -> bool {
        self.age_ms(now_ms) < ttl_ms.min(self.ttl_ms)
    }

    /// `age`: whole seconds since it was stored.
    pub fn age_s(&self, now_ms: u64) -> u64 {
        self.age_ms(now_ms) / 1000
    }
}

/// KV's `expirationTtl` for an entry of lifetime `ttl_ms`: garbage
/// collection only, never sooner than KV allows.
pub fn kv_expiration_ttl_s(ttl_ms: u64) -> u64 {
    ttl_ms.div_ceil(1000).max(KV_MIN_TTL_S)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::canonical::{Choice, ToolCall, Usage};

    pub(crate) fn sample() -> ChatResponse {
        ChatResponse {
            id: "chatcmpl-1".into(),
            model: "gpt-x".into(),
            created: 1_700_000_000,
            choices: vec![
                Choice { index: 0, text: Some("Hello \"there\"".into()), tool_calls: vec![], finish_reason: Some(FinishReason::Stop) },
                Choice {
                    index: 1,
                    text: None,
                    tool_calls: vec![ToolCall { id: "call_1".into(), name: "f".into(), arguments: "{\"a\":1}".into() }],
                    finish_reason: Some(FinishReason::ToolCalls),
                },
            ],
            usage: Some(Usage { input_tokens: 5, output_tokens: 7, cached_input_tokens: Some(2) }),
        }
    }

    #[test]
    fn an_entry_round_trips_through_its_json() {
        let entry = Entry::new(sample(), 1_000, 60_000);
        let text = entry.to_json();
        assert!(text.starts_with(r#"{"v":1,"stored_at_ms":1000,"ttl_ms":60000,"answer":{"#), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).expect("an entry is JSON");
        assert_eq!(json["answer"]["choices"][0]["message"]["content"], "Hello \"there\"");
        assert_eq!(Entry::parse(&text), Some(entry));
    }

    #[test]
    fn every_finish_reason_survives() {
        for reason in [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
            FinishReason::StopSequence(Some("END:x".into())),
            FinishReason::StopSequence(None),
            FinishReason::Other("recitation".into()),
            FinishReason::Other("stop_sequenceish".into()),
        ] {
            let mut answer = sample();
            answer.choices[0].finish_reason = Some(reason.clone());
            let back = Entry::parse(&Entry::new(answer, 0, 1).to_json()).unwrap().answer;
            assert_eq!(back.choices[0].finish_reason, Some(reason));
        }
    }

    #[test]
    fn other_formats_and_garbage_are_not_read() {
        let text = Entry::new(sample(), 0, 1).to_json().replacen("\"v\":1", "\"v\":2", 1);
        assert_eq!(Entry::parse(&text), None);
        assert_eq!(Entry::parse("not json"), None);
        assert_eq!(Entry::parse(r#"{"v":1}"#), None);
        assert_eq!(Entry::parse(r#"{"v":1,"stored_at_ms":x,"ttl_ms":1,"answer":{"choices":[]}}"#), None);
        assert_eq!(Entry::parse(r#"{"v":1,"stored_at_ms":1,"ttl_ms":1,"answer":{"no":"choices"}}"#), None);
    }

    #[test]
    fn freshness_is_counted_from_stored_at() {
        let entry = Entry::new(sample(), 10_000, 3_600_000);
        assert!(entry.fresh(10_000, 3_600_000));
        assert!(entry.fresh(3_609_999, 3_600_000));
        assert!(!entry.fresh(3_610_000, 3_600_000));
        // A route whose lifetime was shortened serves it no longer than that.
        assert!(!entry.fresh(20_000, 5_000));
        // A clock behind the writer's: age 0, fresh.
        assert!(entry.fresh(9_000, 3_600_000));
        assert_eq!(entry.age_s(12_999), 2);
    }

    #[test]
    fn kv_expiry_is_never_under_a_minute() {
        assert_eq!(kv_expiration_ttl_s(1), 60);
        assert_eq!(kv_expiration_ttl_s(60_000), 60);
        assert_eq!(kv_expiration_ttl_s(3_600_000), 3_600);
        assert_eq!(kv_expiration_ttl_s(90_500), 91);
    }
}
