//! The attempt trail: every try of a run, for the error body, the response
//! headers and the logs. Names and numbers only, never a secret: keys
//! appear as their index in the provider's list.

use super::classify::Class;
use crate::plan::{ModelRef, RoutingPlan, Step};

/// One try.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Attempt {
    pub provider: String,
    /// The model asked of the provider (`{model}` when passed through).
    pub model: String,
    /// Index of the provider key used (`null` when the provider has none).
    pub key: Option<usize>,
    /// `ok`, a status such as `429`, or `timeout`, `connect`, …
    pub outcome: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// The wait before this try.
    pub waited_ms: u64,
    /// Why a target was skipped without a call (`outcome` is then `skipped`).
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub reason: Option<&'static str>,
}

/// Why a try was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The target's circuit breaker is open (or half-open with every probe out).
    BreakerOpen,
    /// The provider key has used up its own quota.
    KeyOverQuota,
    /// The provider has used up its quota.
    ProviderOverQuota,
}

impl Skip {
    /// The trail's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::BreakerOpen => "breaker_open",
            Skip::KeyOverQuota => "key_over_quota",
            Skip::ProviderOverQuota => "provider_over_quota",
        }
    }
}

impl Attempt {
    pub fn new(
        plan: &RoutingPlan,
        step: &Step,
        key: Option<usize>,
        class: Class,
        status: Option<u16>,
        duration_ms: u64,
        waited_ms: u64,
    ) -> Self {
        Attempt {
            provider: plan.provider(step).name.clone(),
            model: model_of(step),
            key,
            outcome: class.label(),
            status,
            duration_ms,
            waited_ms,
            reason: None,
        }
    }

    /// A target skipped without a call.
    pub fn skipped(plan: &RoutingPlan, step: &Step, key: Option<usize>, skip: Skip) -> Self {
        Attempt {
            provider: plan.provider(step).name.clone(),
            model: model_of(step),
            key,
            outcome: "skipped".into(),
            status: None,
            duration_ms: 0,
            waited_ms: 0,
            reason: Some(skip.reason()),
        }
    }

    /// Whether a call was made.
    pub fn was_sent(&self) -> bool {
        self.reason.is_none()
    }

    /// `provider:model`.
    pub fn target(&self) -> String {
        format!("{}:{}", self.provider, self.model)
    }
}

fn model_of(step: &Step) -> String {
    match &step.model {
        ModelRef::Fixed(m) => m.clone(),
        ModelRef::Request => "{model}".into(),
    }
}

/// The trail as a JSON array, as its derived `Serialize` writes it
/// (written by hand: it goes into every request's log line and into
/// error bodies).
pub fn to_json(trail: &[Attempt]) -> String {
    let mut out = String::with_capacity(8 + trail.len() * 128);
    write(&mut out, trail);
    out
}

/// Appends the trail as a JSON array.
pub fn write(out: &mut String, trail: &[Attempt]) {
    use crate::json_out::{array, key, number, quote, uint};
    array(out, trail, |out, a| {
        out.push('{');
        key(out, "provider", true);
        quote(out, &a.provider);
        key(out, "model", false);
        quote(out, &a.model);
        key(out, "key", false);
        number(out, a.key.map(|k| k as u64));
        key(out, "outcome", false);
        quote(out, &a.outcome);
        key(out, "status", false);
        number(out, a.status.map(u64::from));
        key(out, "duration_ms", false);
        uint(out, a.duration_ms);
        key(out, "waited_ms", false);
        uint(out, a.waited_ms);
        if let Some(reason) = a.reason {
            key(out, "reason", false);
            quote(out, reason);
        }
        out.push('}');
    });
}

/// `1500` → `1.5s`.
pub fn show_ms(ms: u64) -> String {
    if ms >= 1000 {
        format!("{}s", crate::limits::headers::seconds(ms))
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_json_is_serdes() {
        let sent = Attempt {
            provider: "open\"ai".into(),
            model: "gpt-4o\n".into(),
            key: Some(2),
            outcome: "429".into(),
            status: Some(429),
            duration_ms: 12,
            waited_ms: 500,
            reason: None,
        };
        let skipped = Attempt { key: None, status: None, outcome: "skipped".into(), reason: Some("breaker_open"), ..sent.clone() };
        for trail in [vec![], vec![sent.clone()], vec![sent, skipped]] {
            assert_eq!(to_json(&trail), serde_json::to_string(&trail).unwrap());
        }
    }
}
