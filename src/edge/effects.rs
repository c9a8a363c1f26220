//! The execution engine's [`Effects`] on the Workers runtime: a try is a
//! real `fetch` ([`super::proxy::attempt`]), a wait is a runtime timer, the
//! clock is `Date.now()`, randomness comes from the runtime's
//! `crypto.getRandomValues` ([`super::random_bytes`]).

use super::guard::Guard;
use super::proxy;
use super::spend::Spend;
use crate::call::{self, Inbound};
use crate::engine::{Admission, Effects, Quota, Report, Sent, Try};
use crate::plan::RoutingPlan;
use std::time::Duration;
use web_sys::Response;
use worker::{Delay, Env};

/// One request's view of the world.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub plan: &'a RoutingPlan,
    /// The client's request.
    pub inbound: &'a Inbound<'a>,
    pub request_id: &'a str,
    /// `UPSTREAM_TIMEOUT_MS`: no try waits longer, whatever the policy says.
    pub timeout_cap_ms: u64,
    /// Limits and breakers.
    pub guard: Guard<'a>,
    /// Usage, cost and budget.
    pub spend: &'a Spend,
}

impl Effects for Edge<'_> {
    type Body = Response;

    async fn send(&mut self, t: &Try<'_>) -> Sent<Response> {
        // Vars and secrets are both strings in `env`.
        let var = |name: &str| super::text_binding(self.env, name);
        let secret = var;
        let now_ms = self.now_ms();
        let call = match call::prepare(self.plan, t.step, t.key, self.inbound, now_ms, &var, &secret) {
            Ok(call) => call,
            Err(error) => return Sent::Broken(error),
        };
        let limits = proxy::Limits {
            timeout_ms: t.timeout_ms,
            first_byte_ms: t.policy.first_byte_timeout_ms,
            // Silence inside a started stream: the step's attempt timeout
            // (not what is left of the deadline, which a long answer outlives).
            idle_ms: t.policy.attempt_timeout_ms.min(self.timeout_cap_ms),
        };
        self.guard.started(t);
        let usage = self.guard.wants_usage(t).then_some(&self.guard.usage);
        self.spend.rates.set(crate::usage::price::rates(&t.provider.prices, &call.model));
        proxy::attempt(&call, limits, self.inbound, self.request_id, usage, self.spend, &self.guard.stream_end).await
    }

    async fn sleep(&mut self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        super::now_ms()
    }

    /// From the runtime's CSPRNG (`crypto.getRandomValues`): 53 random bits.
    fn random(&mut self) -> f64 {
        let mut bytes = [0u8; 8];
        if !super::random_bytes(&mut bytes) {
            return js_sys::Math::random();
        }
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn max_timeout_ms(&self) -> u64 {
        self.timeout_cap_ms
    }

    async fn breaker_admits(&mut self, t: &Try<'_>) -> Admission {
        self.guard.breaker_admits(t).await
    }

    async fn quota(&mut self, t: &Try<'_>) -> Quota {
        self.guard.quota(t).await
    }

    fn report(&mut self, t: &Try<'_>, report: &Report) {
        self.guard.report(t, report);
    }
}
