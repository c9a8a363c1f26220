//! The execution engine: one place that owns retries, backoff, key
//! rotation, fallback and deadlines, so no caller ever writes that loop.
//!
//! [`run`] walks the steps the route's target tree expanded to
//! ([`crate::plan::pick_chain`]) and talks to the world only through
//! [`Effects`] (send a try, sleep, read the clock, draw a random number):
//! the Worker implements it with `fetch`, timers and `Date`; tests with a
//! scripted fake and a fake clock. The rules, per step:
//!
//! - a try that succeeds ends the run;
//! - 401 / 403 / 429 on one key moves to the provider's next key without
//!   spending an attempt (once per extra key, so a step makes at most
//!   `attempts + keys - 1` calls, the bound the compiler checks against the
//!   subrequest cap); after that, 429 is retried like any retryable outcome
//!   (on the next key round the list) and 401 / 403 move to the next target;
//! - an outcome the policy's `retry on` names is tried again after the
//!   backoff (or the upstream's `Retry-After`, when the policy honours it
//!   and it is within the cap; a longer one, or a wait that would use up
//!   the deadline, moves to the next target at once) while attempts remain,
//!   then the run moves to the next target;
//! - an outcome `fallback on` names moves to the next target at once;
//! - anything else (400, 404, 422, a context-length error nobody routes
//!   on…) is the client's answer, returned at once;
//! - the first step's total deadline bounds the whole run (no try starts,
//!   and no wait runs, past it: 504 with the attempt trail), each try's
//!   timeout is cut to what is left, and the plan's subrequest cap bounds
//!   the number of tries.
//!
//! Before each try the target's circuit breaker is asked
//! ([`Effects::breaker_admits`]): an open breaker skips the target (the
//! trail says so, no call is made) and the run moves on to the next one.
//! Then the provider's quotas ([`Effects::quota`]): a provider key over
//! its own quota makes way for the provider's next key (each key at most
//! once per step), like a 429 but without calling upstream; a provider
//! over its quota is skipped. Every try's outcome is reported back
//! ([`Effects::report`]) as it happens. When every target was skipped, the
//! client gets a 503 (some breaker open) or a 429 (only quotas), with the
//! trail and a `Retry-After` for the soonest target to come back.

pub mod backoff;
pub mod classify;
pub mod trail;

#[cfg(test)]
mod tests;

use crate::error::{Fault, GatewayError};
use crate::plan::{Policy, Provider, RoutingPlan, Step};
pub use crate::breaker::state::{Admission, Verdict};
pub use classify::{Class, Transport};
pub use trail::{Attempt, Skip};

/// One try as the effects see it.
#[derive(Debug, Clone, Copy)]
pub struct Try<'a> {
    /// Index of the step in the chain.
    pub index: usize,
    pub step: &'a Step,
    pub provider: &'a Provider,
    pub policy: &'a Policy,
    /// Which of the provider's keys; `None` when it has none.
    pub key: Option<usize>,
    /// Time allowed for this try (the attempt timeout, cut to the deadline).
    pub timeout_ms: u64,
}

/// What a try produced.
#[derive(Debug)]
pub enum Sent<B> {
    /// An HTTP answer. For an error status, `error` holds the start of its
    /// body (for classification and for the client); `body` is what a
    /// success relays.
    Answer {
        status: u16,
        retry_after_ms: Option<u64>,
        error: Option<String>,
        body: B,
    },
    /// No usable answer.
    Failed(Transport),
    /// The try could not even be made (a deployment mistake such as a
    /// missing secret): the run stops with this error.
    Broken(GatewayError),
}

/// What a provider's quotas say about one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Within,
    /// This provider key has used up its own quota; another key may not have.
    KeyOver { retry_in_ms: u64 },
    /// The provider as a whole has.
    ProviderOver { retry_in_ms: u64 },
}

/// How one try went, for the breaker and the quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// `None`: the call was not made after all (a probe given back).
    pub class: Option<Class>,
    /// What it says about the target's health.
    pub verdict: Verdict,
    /// It was admitted as a half-open breaker's probe.
    pub probe: bool,
    pub duration_ms: u64,
}

/// What a class says about a target's health: 5xx and failures to answer
/// count against it, a 429 says nothing, any other answer shows it is up.
pub fn verdict_of(class: Class) -> Verdict {
    match class {
        Class::Retryable(_) | Class::Failed(_) => Verdict::Failure,
        Class::RateLimited => Verdict::Neutral,
        _ => Verdict::Success,
    }
}

/// The outside world.
#[allow(async_fn_in_trait)] // single-threaded (Workers, tests): no Send bound wanted
pub trait Effects {
    /// What a successful try hands back to be relayed.
    type Body;
    async fn send(&mut self, t: &Try<'_>) -> Sent<Self::Body>;
    async fn sleep(&mut self, ms: u64);
    fn now_ms(&self) -> u64;
    /// Uniform in `[0, 1)`.
    fn random(&mut self) -> f64;
    /// An outer bound on every try's timeout (a deployment setting).
    fn max_timeout_ms(&self) -> u64 {
        u64::MAX
    }
    /// The target's circuit breaker, asked before each try.
    async fn breaker_admits(&mut self, _t: &Try<'_>) -> Admission {
        Admission::Admit
    }
    /// The provider's quotas, asked before each try the breaker admitted.
    async fn quota(&mut self, _t: &Try<'_>) -> Quota {
        Quota::Within
    }
    /// How a try went (or that an admitted probe was not sent), at once.
    fn report(&mut self, _t: &Try<'_>, _report: &Report) {}
}

/// A run that ended in a success.
#[derive(Debug)]
pub struct Done<B> {
    pub body: B,
    pub status: u16,
    /// Index of the step that answered.
    pub step: usize,
    pub attempts: Vec<Attempt>,
}

/// A run that ended without one: the error for the client and the trail.
#[derive(Debug)]
pub struct Failed {
    pub error: GatewayError,
    pub attempts: Vec<Attempt>,
    /// The last upstream's `Retry-After`, for the client.
    pub retry_after_ms: Option<u64>,
}

/// What to do after a try.
enum Next {
    /// The same step again with this key, after this wait; `spends` says
    /// whether it uses up an attempt.
    Again { key: Option<usize>, wait_ms: u64, spends: bool },
    /// On to the next step of the chain.
    Fallback,
    /// Stop: the client gets this answer.
    Stop,
}

/// Runs a chain of steps. `chain` must not be empty.
pub async fn run<E: Effects>(plan: &RoutingPlan, chain: &[&Step], fx: &mut E) -> Result<Done<E::Body>, Failed> {
    let started = fx.now_ms();
    let total_ms = chain.first().map_or(0, |s| plan.policy(s).total_timeout_ms);
    let deadline = started.saturating_add(total_ms);
    let cap = plan.subrequest_cap.max(1) as usize;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut last: Option<Last> = None;
    // Calls made (skipped targets make none).
    let mut calls = 0usize;
    let mut skips = Skips::default();

    for (index, step) in chain.iter().enumerate() {
        let provider = plan.provider(step);
        let policy = plan.policy(step);
        let keys = provider.keys.len();
        let mut key = (keys > 0).then_some(0);
        // Moving to another key is free once per extra key, so a step makes
        // at most `attempts + keys - 1` calls (what the compiler checks).
        let mut free_rotations = keys.saturating_sub(1);
        let mut spent = 0u32;
        let mut waited = 0u64;
        // Keys found over their own quota in this step.
        let mut over = vec![false; keys.max(1)];
        loop {
            if calls >= cap {
                return Err(stop_cap(cap, attempts, last));
            }
            let now = fx.now_ms();
            if now >= deadline {
                return Err(stop_deadline(total_ms, attempts));
            }
            let timeout_ms = policy.attempt_timeout_ms.min(deadline - now).min(fx.max_timeout_ms());
            let t = Try { index, step, provider, policy, key, timeout_ms };
            let admission = fx.breaker_admits(&t).await;
            if let Admission::Open { retry_in_ms } = admission {
                attempts.push(Attempt::skipped(plan, step, key, Skip::BreakerOpen));
                skips.note(Skip::BreakerOpen, retry_in_ms, &attempts);
                // A breaker per key: the provider's other keys may be closed.
                if policy.breaker.is_some_and(|b| b.per_key) {
                    if let Some(next) = next_open_key(key, keys, &mut over) {
                        key = Some(next);
                        continue;
                    }
                }
                break;
            }
            let probe = admission == Admission::Probe;
            let (skip, retry_in_ms) = match fx.quota(&t).await {
                Quota::Within => (None, 0),
                Quota::KeyOver { retry_in_ms } => (Some(Skip::KeyOverQuota), retry_in_ms),
                Quota::ProviderOver { retry_in_ms } => (Some(Skip::ProviderOverQuota), retry_in_ms),
            };
            if let Some(skip) = skip {
                if probe {
                    // The probe was not sent: its slot goes back.
                    fx.report(&t, &Report { class: None, verdict: Verdict::Neutral, probe, duration_ms: 0 });
                }
                attempts.push(Attempt::skipped(plan, step, key, skip));
                skips.note(skip, retry_in_ms, &attempts);
                if skip == Skip::KeyOverQuota {
                    if let Some(next) = next_open_key(key, keys, &mut over) {
                        key = Some(next);
                        continue;
                    }
                }
                break;
            }
            let sent = fx.send(&t).await;
            calls += 1;
            let took = fx.now_ms().saturating_sub(now);
            let (class, retry_after, error, body) = match sent {
                Sent::Answer { status, retry_after_ms, error, body } => {
                    (classify::answer(status, error.as_deref()), retry_after_ms, error, Some((status, body)))
                }
                Sent::Failed(transport) => (Class::Failed(transport), None, None, None),
                Sent::Broken(error) => return Err(Failed { error, attempts, retry_after_ms: None }),
            };
            let status = body.as_ref().map(|(status, _)| *status);
            fx.report(&t, &Report { class: Some(class), verdict: verdict_of(class), probe, duration_ms: took });
            attempts.push(Attempt::new(plan, step, key, class, status, took, waited));
            if class == Class::Success {
                let (status, body) = body.expect("a success is an answer");
                return Ok(Done { body, status, step: index, attempts });
            }
            last = Some(Last { class, error, retry_after_ms: retry_after, timeout_ms: t.timeout_ms });
            spent += 1;
            let next = decide(class, policy, key, keys, free_rotations > 0, spent, retry_after, fx);
            match next {
                Next::Again { key: k, wait_ms, spends } => {
                    if !spends {
                        spent -= 1;
                        free_rotations -= 1;
                    }
                    if wait_ms > 0 {
                        if fx.now_ms().saturating_add(wait_ms) >= deadline {
                            // Waiting would use up the deadline: the next
                            // target, if any, is tried now instead.
                            break;
                        }
                        fx.sleep(wait_ms).await;
                    }
                    waited = wait_ms;
                    key = k;
                }
                Next::Fallback => break,
                Next::Stop => return Err(client_answer(last, attempts)),
            }
        }
    }
    if last.is_none() && skips.any() {
        return Err(skips.into_failed(attempts));
    }
    Err(client_answer(last, attempts))
}

/// Marks `key` as unusable in this step and returns the next key round
/// the list that is not (each key is skipped at most once per step).
fn next_open_key(key: Option<usize>, keys: usize, over: &mut [bool]) -> Option<usize> {
    let k = key?;
    over[k] = true;
    (1..keys).map(|i| (k + i) % keys).find(|&i| !over[i])
}

/// The targets skipped without a call, for the answer when nothing was tried.
#[derive(Debug, Default)]
struct Skips {
    /// `provider:model` of each, with why, in order.
    targets: Vec<(String, Skip)>,
    /// The soonest a skipped target may take calls again.
    soonest_ms: Option<u64>,
}

impl Skips {
    fn note(&mut self, skip: Skip, retry_in_ms: u64, attempts: &[Attempt]) {
        if let Some(a) = attempts.last() {
            self.targets.push((a.target(), skip));
        }
        if retry_in_ms > 0 {
            self.soonest_ms = Some(self.soonest_ms.map_or(retry_in_ms, |s| s.min(retry_in_ms)));
        }
    }

    fn any(&self) -> bool {
        !self.targets.is_empty()
    }

    /// 503 when a breaker is open among them (the targets are down), else
    /// 429 (they are up but over their quotas).
    fn into_failed(self, attempts: Vec<Attempt>) -> Failed {
        let named = |open: bool| crate::seq::keep(&self.targets, |(t, s)| ((*s == Skip::BreakerOpen) == open).then_some(t.as_str()));
        let (breakers, quotas): (Vec<&str>, Vec<&str>) = (named(true), named(false));
        let list = |v: &[&str]| {
            let mut names: Vec<String> = v.iter().map(|t| format!("`{t}`")).collect();
            names.dedup();
            names.join(", ")
        };
        let after = self.soonest_ms.map(|ms| format!(" Try again in {}.", trail::show_ms(ms))).unwrap_or_default();
        let error = if breakers.is_empty() {
            GatewayError::new(
                Fault::RateLimited,
                format!("Every target of this route is over its provider's quota ({}).{after}", list(&quotas)),
            )
        } else {
            let also = if quotas.is_empty() { String::new() } else { format!("; over quota: {}", list(&quotas)) };
            GatewayError::new(
                Fault::Unavailable,
                format!(
                    "No target of this route is available: circuit breaker open for {}{also}.{after}",
                    list(&breakers)
                ),
            )
        };
        Failed { error, attempts, retry_after_ms: self.soonest_ms }
    }
}

/// The rules of the module doc, for one try's class.
#[allow(clippy::too_many_arguments)] // the facts of one decision, named
fn decide<E: Effects>(
    class: Class,
    policy: &Policy,
    key: Option<usize>,
    keys: usize,
    may_rotate: bool,
    spent: u32,
    retry_after_ms: Option<u64>,
    fx: &mut E,
) -> Next {
    // The provider's next key, round the list.
    let next_key = key.map(|k| (k + 1) % keys.max(1));
    let refused = matches!(class, Class::KeyRefused(_) | Class::RateLimited);
    if refused && keys > 1 && may_rotate {
        return Next::Again { key: next_key, wait_ms: 0, spends: false };
    }
    if let Class::KeyRefused(_) = class {
        return Next::Fallback;
    }
    if class.named_by(&policy.retry_on) {
        if spent >= policy.attempts {
            return Next::Fallback;
        }
        let backoff = backoff::delay_ms(&policy.backoff, spent, fx.random());
        let wait = match (retry_after_ms, policy.retry_after_cap_ms) {
            (Some(asked), Some(cap)) if asked > cap => return Next::Fallback,
            (Some(asked), Some(_)) => asked.max(backoff),
            _ => backoff,
        };
        // A rate-limited key makes way for the next one (round the list);
        // otherwise the key that answered is kept.
        let key = if class == Class::RateLimited { next_key } else { key };
        return Next::Again { key, wait_ms: wait, spends: true };
    }
    if class.named_by(&policy.fallback_on) {
        return Next::Fallback;
    }
    match class {
        // Nothing routes on these: the provider's failure, try elsewhere.
        Class::Retryable(_) | Class::RateLimited | Class::Failed(_) => Next::Fallback,
        _ => Next::Stop,
    }
}

/// The last failed try, for the client's error.
struct Last {
    class: Class,
    error: Option<String>,
    retry_after_ms: Option<u64>,
    timeout_ms: u64,
}

fn error_of(last: &Last) -> GatewayError {
    match last.class {
        Class::Failed(t) => {
            let within = format!("within {} ms", last.timeout_ms);
            let (fault, what) = match t {
                Transport::Timeout => (Fault::UpstreamTimeout, format!("did not answer {within}")),
                Transport::FirstByteTimeout => (Fault::UpstreamTimeout, format!("did not start streaming {within}")),
                Transport::Connect => (Fault::UpstreamUnreachable, "could not be reached".into()),
                Transport::Reset => (Fault::UpstreamUnreachable, "broke the connection".into()),
                Transport::Malformed => (Fault::UpstreamMalformed, "sent an answer that is not valid JSON".into()),
                Transport::Truncated => (Fault::UpstreamIncomplete, "sent an answer that was cut off".into()),
            };
            GatewayError::new(fault, format!("The upstream provider {what}."))
        }
        other => {
            let status = other.status().unwrap_or(502);
            let message = last
                .error
                .as_deref()
                .and_then(upstream_message)
                .unwrap_or_else(|| format!("The upstream provider answered {status}."));
            GatewayError::new(Fault::UpstreamStatus(status), message)
        }
    }
}

/// The `error.message` of an OpenAI- or Anthropic-shaped error body.
fn upstream_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body.as_bytes()).ok()?;
    v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string)
}

/// The client gets the last failure as it was.
fn client_answer(last: Option<Last>, attempts: Vec<Attempt>) -> Failed {
    match last {
        Some(last) => Failed { error: error_of(&last), attempts, retry_after_ms: last.retry_after_ms },
        None => Failed {
            error: GatewayError::new(Fault::Internal, "The route has no target to try."),
            attempts,
            retry_after_ms: None,
        },
    }
}

fn stop_deadline(total_ms: u64, attempts: Vec<Attempt>) -> Failed {
    let error = GatewayError::new(
        Fault::UpstreamTimeout,
        format!(
            "The total deadline of {} passed after {} attempt{}.",
            trail::show_ms(total_ms),
            attempts.len(),
            if attempts.len() == 1 { "" } else { "s" }
        ),
    );
    Failed { error, attempts, retry_after_ms: None }
}

fn stop_cap(cap: usize, attempts: Vec<Attempt>, last: Option<Last>) -> Failed {
    let mut failed = client_answer(last, attempts);
    failed.error.message = format!("{} (stopped at the cap of {cap} upstream calls)", failed.error.message);
    failed
}
