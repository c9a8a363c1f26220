//! A cache entry: what KV stores under a key.
//!
//! Versioned JSON: `{"v":1,"stored_at_ms":…,"ttl_ms":…,"answer":{…}}`. The
//! answer is the canonical one (id, model, created, per choice its text,
//! tool calls and finish reason, usage), so any dialect replays it, as JSON
//! or as a stream. A newer `v` than [`ENTRY_FORMAT`] is not read (a miss,
//! overwritten by the next answer); every later format must keep reading
//! this one.
//!
//! Freshness is the Worker's business, from the entry's own `stored_at_ms`
//! ([`Entry::fresh`]); KV's `expirationTtl` (at least 60 s) only collects
//! the garbage ([`kv_expiration_ttl_s`]).

use crate::canonical::{ChatResponse, Choice, FinishReason, ToolCall, Usage};
use serde::{Deserialize, Serialize};

/// The entry format this build writes and reads.
pub const ENTRY_FORMAT: u32 = 1;
/// KV's largest value (25 MiB): a larger entry is skipped, never an error.
pub const MAX_ENTRY_BYTES: usize = 25 * 1024 * 1024;
/// KV's smallest `expirationTtl`.
pub const KV_MIN_TTL_S: u64 = 60;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// [`ENTRY_FORMAT`] when written.
    pub v: u32,
    /// Unix ms when the answer was stored (the Worker's clock).
    pub stored_at_ms: u64,
    /// The route's lifetime when it was stored.
    pub ttl_ms: u64,
    pub answer: Answer,
}

/// The canonical answer, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub id: String,
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    pub choices: Vec<StoredChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<StoredUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChoice {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<StoredCall>,
    /// `stop`, `length`, `tool_calls`, `content_filter`, `stop_sequence`, or
    /// the provider's own word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<String>,
    /// The stop sequence that matched (`finish` = `stop_sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUsage {
    pub input: u64,
    pub output: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<u64>,
}

impl Entry {
    /// A new entry for `answer`.
    pub fn new(answer: &ChatResponse, stored_at_ms: u64, ttl_ms: u64) -> Entry {
        Entry { v: ENTRY_FORMAT, stored_at_ms, ttl_ms, answer: Answer::from(answer) }
    }

    /// Reads an entry; `None` for text that is not one this build reads.
    pub fn parse(text: &str) -> Option<Entry> {
        let entry: Entry = serde_json::from_str(text).ok()?;
        (entry.v == ENTRY_FORMAT).then_some(entry)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
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

    pub fn response(&self) -> ChatResponse {
        self.answer.response()
    }
}

/// KV's `expirationTtl` for an entry of lifetime `ttl_ms`: garbage
/// collection only, never sooner than KV allows.
pub fn kv_expiration_ttl_s(ttl_ms: u64) -> u64 {
    ttl_ms.div_ceil(1000).max(KV_MIN_TTL_S)
}

impl From<&ChatResponse> for Answer {
    fn from(r: &ChatResponse) -> Answer {
        Answer {
            id: r.id.clone(),
            model: r.model.clone(),
            created: r.created,
            choices: r
                .choices
                .iter()
                .map(|c| {
                    let (finish, stop_sequence) = match &c.finish_reason {
                        None => (None, None),
                        Some(FinishReason::StopSequence(seq)) => (Some("stop_sequence".into()), seq.clone()),
                        Some(FinishReason::Other(other)) => (Some(other.clone()), None),
                        Some(reason) => (Some(reason.openai().to_string()), None),
                    };
                    StoredChoice {
                        index: c.index,
                        text: c.text.clone(),
                        tool_calls: c
                            .tool_calls
                            .iter()
                            .map(|t| StoredCall { id: t.id.clone(), name: t.name.clone(), arguments: t.arguments.clone() })
                            .collect(),
                        finish,
                        stop_sequence,
                    }
                })
                .collect(),
            usage: r.usage.map(|u| StoredUsage {
                input: u.input_tokens,
                output: u.output_tokens,
                cached: u.cached_input_tokens,
            }),
        }
    }
}

impl Answer {
    pub fn response(&self) -> ChatResponse {
        ChatResponse {
            id: self.id.clone(),
            model: self.model.clone(),
            created: self.created,
            choices: self
                .choices
                .iter()
                .map(|c| Choice {
                    index: c.index,
                    text: c.text.clone(),
                    tool_calls: c
                        .tool_calls
                        .iter()
                        .map(|t| ToolCall { id: t.id.clone(), name: t.name.clone(), arguments: t.arguments.clone() })
                        .collect(),
                    finish_reason: c.finish.as_deref().map(|f| match f {
                        "stop" => FinishReason::Stop,
                        "length" => FinishReason::Length,
                        "tool_calls" => FinishReason::ToolCalls,
                        "content_filter" => FinishReason::ContentFilter,
                        "stop_sequence" => FinishReason::StopSequence(c.stop_sequence.clone()),
                        other => FinishReason::Other(other.to_string()),
                    }),
                })
                .collect(),
            usage: self.usage.map(|u| Usage {
                input_tokens: u.input,
                output_tokens: u.output,
                cached_input_tokens: u.cached,
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
        let entry = Entry::new(&sample(), 1_000, 60_000);
        let text = entry.to_json();
        assert!(text.starts_with(r#"{"v":1,"stored_at_ms":1000,"ttl_ms":60000,"answer":{"#), "{text}");
        let back = Entry::parse(&text).unwrap();
        assert_eq!(back, entry);
        assert_eq!(back.response(), sample());
    }

    #[test]
    fn every_finish_reason_survives() {
        for reason in [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
            FinishReason::StopSequence(Some("END".into())),
            FinishReason::StopSequence(None),
            FinishReason::Other("recitation".into()),
        ] {
            let mut answer = sample();
            answer.choices[0].finish_reason = Some(reason.clone());
            let back = Entry::parse(&Entry::new(&answer, 0, 1).to_json()).unwrap().response();
            assert_eq!(back.choices[0].finish_reason, Some(reason));
        }
    }

    #[test]
    fn other_formats_and_garbage_are_not_read() {
        let text = Entry::new(&sample(), 0, 1).to_json().replacen("\"v\":1", "\"v\":2", 1);
        assert_eq!(Entry::parse(&text), None);
        assert_eq!(Entry::parse("not json"), None);
        assert_eq!(Entry::parse(r#"{"v":1}"#), None);
    }

    #[test]
    fn freshness_is_counted_from_stored_at() {
        let entry = Entry::new(&sample(), 10_000, 3_600_000);
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
