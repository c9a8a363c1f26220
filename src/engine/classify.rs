//! What an upstream answer or failure means, decided once, here.
//!
//! Every try ends in one [`Class`]; the engine's decisions (retry, next
//! key, next target, stop) read only the class and the policy. The special
//! classes (context length, content policy) are recognised from the error
//! bodies OpenAI-compatible providers and Anthropic send.

use crate::plan::Outcome;

/// A try that produced no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No answer (headers, or a whole JSON body) within the attempt timeout.
    Timeout,
    /// A stream's first byte did not come within its first-byte timeout.
    FirstByteTimeout,
    /// The connection could not be made.
    Connect,
    /// The connection broke during the answer.
    Reset,
    /// A 2xx answer whose body is not what it should be.
    Malformed,
    /// A 2xx answer that stopped before its end.
    Truncated,
}

/// What a try came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    /// 401 or 403: this provider key is refused.
    KeyRefused(u16),
    /// 429.
    RateLimited,
    /// The prompt does not fit the model.
    ContextLength(u16),
    /// The provider refused the content.
    ContentPolicy(u16),
    /// 5xx and other statuses worth another try (408, 409, 425).
    Retryable(u16),
    /// No answer.
    Failed(Transport),
    /// The request itself is wrong (400, 404, 422, other 4xx): the client's.
    Fatal(u16),
}

/// Classifies an HTTP answer; `error` is the (bounded) body of an error answer.
pub fn answer(status: u16, error: Option<&str>) -> Class {
    match status {
        200..=299 => Class::Success,
        401 | 403 => Class::KeyRefused(status),
        429 => Class::RateLimited,
        408 | 409 | 425 | 500..=599 => Class::Retryable(status),
        _ => {
            let text = error.unwrap_or("").to_ascii_lowercase();
            if CONTEXT_LENGTH.iter().any(|m| text.contains(m)) {
                Class::ContextLength(status)
            } else if CONTENT_POLICY.iter().any(|m| text.contains(m)) {
                Class::ContentPolicy(status)
            } else {
                Class::Fatal(status)
            }
        }
    }
}

/// Markers of "the prompt is too long" in provider error bodies.
const CONTEXT_LENGTH: [&str; 4] = [
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
];

/// Markers of a content-policy refusal.
const CONTENT_POLICY: [&str; 4] = [
    "content_policy_violation",
    "content_filter",
    "content management policy",
    "safety",
];

impl Class {
    /// The HTTP status, when there was an answer.
    pub fn status(self) -> Option<u16> {
        match self {
            Class::Success | Class::Failed(_) => None,
            Class::RateLimited => Some(429),
            Class::KeyRefused(s)
            | Class::ContextLength(s)
            | Class::ContentPolicy(s)
            | Class::Retryable(s)
            | Class::Fatal(s) => Some(s),
        }
    }

    /// Whether a policy's outcome list names this class.
    pub fn named_by(self, outcomes: &[Outcome]) -> bool {
        outcomes.iter().any(|o| self.is(*o))
    }

    fn is(self, o: Outcome) -> bool {
        let status = self.status();
        match o {
            Outcome::Status(s) => status == Some(s),
            Outcome::Class4xx => status.is_some_and(|s| (400..500).contains(&s)),
            Outcome::Class5xx => status.is_some_and(|s| (500..600).contains(&s)),
            Outcome::Timeout => matches!(
                self,
                Class::Failed(Transport::Timeout | Transport::FirstByteTimeout)
            ),
            Outcome::Connect => self == Class::Failed(Transport::Connect),
            Outcome::Reset => self == Class::Failed(Transport::Reset),
            Outcome::Malformed => self == Class::Failed(Transport::Malformed),
            Outcome::Truncated => self == Class::Failed(Transport::Truncated),
            Outcome::ContextLength => matches!(self, Class::ContextLength(_)),
            Outcome::ContentPolicy => matches!(self, Class::ContentPolicy(_)),
        }
    }

    /// A short name for the attempt trail: the status, or what happened.
    pub fn label(self) -> String {
        match self {
            Class::Success => "ok".into(),
            Class::Failed(t) => match t {
                Transport::Timeout => "timeout",
                Transport::FirstByteTimeout => "first_byte_timeout",
                Transport::Connect => "connect",
                Transport::Reset => "reset",
                Transport::Malformed => "malformed",
                Transport::Truncated => "truncated",
            }
            .into(),
            Class::ContextLength(_) => "context_length".into(),
            Class::ContentPolicy(_) => "content_policy".into(),
            other => other.status().map(|s| s.to_string()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_classes() {
        assert_eq!(answer(200, None), Class::Success);
        assert_eq!(answer(401, None), Class::KeyRefused(401));
        assert_eq!(answer(429, None), Class::RateLimited);
        assert_eq!(answer(503, None), Class::Retryable(503));
        assert_eq!(answer(400, Some("bad")), Class::Fatal(400));
        assert_eq!(answer(404, None), Class::Fatal(404));
        assert_eq!(answer(422, None), Class::Fatal(422));
    }

    #[test]
    fn special_classes_come_from_the_error_body() {
        let openai = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        assert_eq!(answer(400, Some(openai)), Class::ContextLength(400));
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        assert_eq!(answer(400, Some(anthropic)), Class::ContextLength(400));
        let azure = r#"{"error":{"code":"content_filter","message":"The response was filtered"}}"#;
        assert_eq!(answer(400, Some(azure)), Class::ContentPolicy(400));
    }

    #[test]
    fn policies_name_classes() {
        let retry = [Outcome::Status(429), Outcome::Class5xx, Outcome::Timeout];
        assert!(Class::RateLimited.named_by(&retry));
        assert!(Class::Retryable(502).named_by(&retry));
        assert!(Class::Failed(Transport::FirstByteTimeout).named_by(&retry));
        assert!(!Class::Failed(Transport::Connect).named_by(&retry));
        assert!(!Class::Fatal(400).named_by(&retry));
        assert!(Class::Fatal(404).named_by(&[Outcome::Class4xx]));
        assert!(Class::ContextLength(400).named_by(&[Outcome::ContextLength]));
    }
}
