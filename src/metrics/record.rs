//! One request as the metrics see it: the facts of its final response
//! (status, `x-switchyard-*` headers, error kind, attempt trail) and what
//! the edge knew (gateway key *name*, latency), and the outcome they imply.
//! Never a key, never a prompt: labels are names the plan or the key ring
//! gave, and a model name a client sent is cut short and cleaned.

use crate::engine::trail::Attempt;

/// Response headers the recorder reads (set by the edge and, for tokens
/// and cost, by usage accounting when it is there).
pub mod header {
    pub const ROUTE: &str = "x-switchyard-route";
    pub const TARGET: &str = "x-switchyard-target";
    pub const ATTEMPTS: &str = "x-switchyard-attempts";
    pub const CACHE: &str = "x-switchyard-cache";
    pub const TOKENS_IN: &str = "x-switchyard-tokens-in";
    pub const TOKENS_OUT: &str = "x-switchyard-tokens-out";
    pub const COST_USD: &str = "x-switchyard-cost-usd";
}

/// The longest label kept (characters).
pub const MAX_LABEL: usize = 80;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by the first target on its first try.
    Success,
    /// Answered by the first target after more than one try.
    Retried,
    /// Answered by a later target (the first failed, was skipped or over quota).
    Fallback,
    /// Answered from the response cache.
    CacheHit,
    /// Refused by a route or gateway-key limit (429, no upstream call).
    Limited,
    /// Every target was skipped for an open breaker.
    BreakerOpen,
    /// Any other error; its class is the error's kind.
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Success,
        Outcome::Retried,
        Outcome::Fallback,
        Outcome::CacheHit,
        Outcome::Limited,
        Outcome::BreakerOpen,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Retried => "retried",
            Outcome::Fallback => "fallback",
            Outcome::CacheHit => "cache_hit",
            Outcome::Limited => "limited",
            Outcome::BreakerOpen => "breaker_open",
            Outcome::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// Whether the client got an error (limits excepted: they are the plan working).
    pub fn is_error(self) -> bool {
        matches!(self, Outcome::Error | Outcome::BreakerOpen)
    }

    /// The outcome of a response with `status`, the cache's verdict, the
    /// error's kind and the attempt trail.
    pub fn classify(status: u16, cache: Option<&str>, error: Option<&str>, trail: &[Attempt]) -> Outcome {
        if status < 400 {
            if cache.is_some_and(|c| c.eq_ignore_ascii_case("hit")) {
                return Outcome::CacheHit;
            }
            let first = trail.first().map(|a| (&a.provider, &a.model));
            let last = trail.last().map(|a| (&a.provider, &a.model));
            if first != last {
                return Outcome::Fallback;
            }
            return if trail.iter().filter(|a| a.was_sent()).count() > 1 { Outcome::Retried } else { Outcome::Success };
        }
        if error == Some("rate_limited") && trail.is_empty() {
            return Outcome::Limited;
        }
        if !trail.is_empty() && trail.iter().all(|a| a.reason == Some("breaker_open")) {
            return Outcome::BreakerOpen;
        }
        Outcome::Error
    }
}

/// One try of a request's trail, for its target's health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Try {
    /// `provider:model`.
    pub target: String,
    /// The provider answered well.
    pub ok: bool,
    /// A call was made (not skipped for a breaker or a quota).
    pub sent: bool,
}

impl Try {
    /// The try of one trail entry.
    pub fn of(a: &Attempt) -> Try {
        Try { target: label(&a.target()), ok: a.outcome == "ok", sent: a.was_sent() }
    }
}

/// One request's facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub at_ms: u64,
    pub request_id: String,
    pub route: String,
    pub target: String,
    /// The gateway key's name (never the key).
    pub key: String,
    pub status: u16,
    pub outcome: Option<Outcome>,
    /// The error's kind (`upstream_timeout`, …); empty on success.
    pub error: String,
    /// Until the response (for a stream: its headers and first chunk).
    pub latency_ms: u64,
    pub attempts: u32,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    /// Cost in billionths of a dollar.
    pub cost_nano: Option<u64>,
    /// The cache's verdict (`HIT`, `MISS`, …), when the route caches.
    pub cache: Option<String>,
    /// The attempt trail as JSON (`[]` when there was none).
    pub trail: String,
    /// The same trail, one [`Try`] per entry.
    pub tries: Vec<Try>,
    /// Whether the answer is a relayed stream.
    pub stream: bool,
}

impl Record {
    pub fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::Error)
    }
}

/// A label value: control characters replaced, at most [`MAX_LABEL`] characters.
pub fn label(text: &str) -> String {
    // The common case: short and printable ASCII, kept as it is.
    if text.len() <= MAX_LABEL && text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    text.chars().take(MAX_LABEL).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A whole number header (`x-switchyard-tokens-in`).
pub fn count(value: Option<&str>) -> Option<u64> {
    value?.trim().parse().ok()
}

/// A dollar amount (`0.000123`) in billionths; `None` when absent, negative
/// or unreadable.
pub fn nano_usd(value: Option<&str>) -> Option<u64> {
    let text = value?.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        // Exponent notation and the like: through f64, rounded.
        let v = crate::decimal::parse_f64(text)?;
        return (v.is_finite() && v >= 0.0).then(|| (v * 1e9).round() as u64);
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut nanos = 0u64;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        nanos = nanos * 10 + u64::from(b - b'0');
    }
    whole.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Billionths of a dollar as a decimal (`0.000123`, `2`).
pub fn usd(nano: u64) -> String {
    let (whole, frac) = (nano / 1_000_000_000, nano % 1_000_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:09}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(provider: &str, outcome: &str, reason: Option<&'static str>) -> Attempt {
        Attempt {
            provider: provider.into(),
            model: "m".into(),
            key: None,
            outcome: outcome.into(),
            status: None,
            duration_ms: 1,
            waited_ms: 0,
            reason,
        }
    }

    #[test]
    fn outcomes_follow_the_trail() {
        let ok = attempt("a", "ok", None);
        assert_eq!(Outcome::classify(200, None, None, std::slice::from_ref(&ok)), Outcome::Success);
        assert_eq!(Outcome::classify(200, Some("MISS"), None, &[attempt("a", "500", None), ok.clone()]), Outcome::Retried);
        assert_eq!(Outcome::classify(200, None, None, &[attempt("a", "500", None), attempt("b", "ok", None)]), Outcome::Fallback);
        assert_eq!(
            Outcome::classify(200, None, None, &[attempt("a", "skipped", Some("breaker_open")), attempt("b", "ok", None)]),
            Outcome::Fallback
        );
        assert_eq!(Outcome::classify(200, Some("HIT"), None, &[]), Outcome::CacheHit);
        assert_eq!(Outcome::classify(429, None, Some("rate_limited"), &[]), Outcome::Limited);
        assert_eq!(
            Outcome::classify(503, None, Some("targets_unavailable"), &[attempt("a", "skipped", Some("breaker_open"))]),
            Outcome::BreakerOpen
        );
        assert_eq!(Outcome::classify(502, None, Some("upstream_status"), &[attempt("a", "500", None)]), Outcome::Error);
        assert_eq!(Outcome::classify(401, None, Some("invalid_key"), &[]), Outcome::Error);
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }

    #[test]
    fn dollars_are_read_exactly() {
        assert_eq!(nano_usd(Some("0.000123")), Some(123_000));
        assert_eq!(nano_usd(Some("2")), Some(2_000_000_000));
        assert_eq!(nano_usd(Some(" 1.5 ")), Some(1_500_000_000));
        assert_eq!(nano_usd(Some(".25")), Some(250_000_000));
        assert_eq!(nano_usd(Some("0.0000000014")), Some(1)); // beyond nanos: cut
        assert_eq!(nano_usd(Some("1.5e-6")), Some(1_500));
        assert_eq!(nano_usd(Some("-1")), None);
        assert_eq!(nano_usd(Some("abc")), None);
        assert_eq!(nano_usd(Some("")), None);
        assert_eq!(nano_usd(None), None);
        assert_eq!(usd(123_000), "0.000123");
        assert_eq!(usd(2_000_000_000), "2");
        assert_eq!(usd(0), "0");
        assert_eq!(count(Some("42")), Some(42));
        assert_eq!(count(Some("x")), None);
    }

    #[test]
    fn labels_are_cleaned_and_bounded() {
        assert_eq!(label("a\tb\nc"), "a b c");
        assert_eq!(label(&"x".repeat(500)).chars().count(), MAX_LABEL);
    }
}
