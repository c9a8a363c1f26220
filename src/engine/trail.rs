//! The attempt trail: every try of a run, for the error body, the response
//! headers and the logs. Names and numbers only, never a secret: keys
//! appear as their index in the provider's list.

use super::classify::Class;
use crate::plan::{ModelRef, RoutingPlan, Step};
use serde::Serialize;

/// One try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
            model: match &step.model {
                ModelRef::Fixed(m) => m.clone(),
                ModelRef::Request => "{model}".into(),
            },
            key,
            outcome: class.label(),
            status,
            duration_ms,
            waited_ms,
        }
    }

    /// `provider:model`.
    pub fn target(&self) -> String {
        format!("{}:{}", self.provider, self.model)
    }
}

/// `1500` → `1.5s`.
pub fn show_ms(ms: u64) -> String {
    if ms >= 1000 {
        format!("{}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}
