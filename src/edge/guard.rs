//! Limits and circuit breakers for one request: the engine's
//! [`Effects::breaker_admits`], [`Effects::quota`] and [`Effects::report`]
//! on the Durable Objects, and the route-level admission before it runs.
//!
//! - Route and gateway-key limits are taken before the engine runs
//!   ([`Guard::admit_route`]), provider and provider-key limits before each
//!   try ([`Guard::quota`]); a take that another object refused is given
//!   back. Tokens reserved with the estimate are settled after the answer
//!   (through `ctx.wait_until`, never delaying the client): the real usage
//!   of a JSON answer, the estimate kept for a stream, given back for a
//!   failed try. A busy counter of requests is admitted from a lease
//!   ([`crate::limits::lease`]) without a round trip.
//! - Breakers are asked through the isolate's cache
//!   ([`crate::breaker::cache`]); outcomes are reported as they happen
//!   (a stream's when its relay ends, [`crate::breaker::stream`]),
//!   through `ctx.wait_until`, and the object's answer refreshes the cache.
//! - A Durable Object that does not answer within `OBJECT_TIMEOUT_MS` is
//!   passed: breakers and limiters both fail open, with one log line
//!   (`breaker_unreachable`, `limiter_unreachable`). A limiter outage must
//!   not take the gateway down; the upstream's own limits still apply.

use super::objects;
use crate::breaker::cache::{Before, Isolate};
use crate::breaker::object::{target_key, Message, Snapshot};
use crate::breaker::stream::StreamEnd;
use crate::breaker::{self, directory, state::Admission};
use crate::call::Inbound;
use crate::config::Settings;
use crate::engine::{Class, Quota, Report, Try};
use crate::error::{Fault, GatewayError};
use crate::limits::headers::{duration, rate_headers};
use crate::limits::object::{counts_requests, Change, Level, Message as LimiterMessage, Verdict};
use crate::limits::lease::{Leases, LEASE_ASK};
use crate::limits::{self, Check};
use crate::plan::{ModelRef, Route, RoutingPlan, Step, TargetLoad};
use futures::channel::oneshot;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use worker::{Context, Env};

thread_local! {
    // What this isolate knows of its targets (plain state, never borrowed across an await).
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
    // Requests leased from busy limiter objects.
    static LEASES: RefCell<Leases> = RefCell::new(Leases::default());
}

fn with_isolate<R>(f: impl FnOnce(&mut Isolate) -> R) -> R {
    ISOLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let isolate = cell.get_or_insert_with(|| {
            let mut bytes = [0u8; 8];
            let _ = super::random_bytes(&mut bytes);
            Isolate::new(u64::from_le_bytes(bytes))
        });
        f(isolate)
    })
}

/// The target keys this isolate has used (for the status endpoint).
pub fn known_targets() -> Vec<String> {
    with_isolate(|i| i.keys())
}

/// A deployment whose plan declares limits or breakers must bind their
/// objects: a missing binding is a 500 naming it (never silently unlimited).
pub fn check_bindings(env: &Env, plan: &RoutingPlan, route: &Route) -> Result<(), GatewayError> {
    let chain_limits = plan.providers.iter().any(|p| !p.limits.is_empty());
    if (!route.limits.is_empty() || chain_limits) && !objects::bound(env, limits::BINDING) {
        return Err(unbound(limits::BINDING, "RateLimiter", "limits"));
    }
    let tracked = plan.policies.iter().any(|p| p.breaker.is_some()) || !crate::plan::balanced_candidates(&route.targets).is_empty();
    if tracked && !objects::bound(env, breaker::BINDING) {
        return Err(unbound(breaker::BINDING, "CircuitBreaker", "breakers or balanced splits"));
    }
    Ok(())
}

pub fn unbound(binding: &str, class: &str, what: &str) -> GatewayError {
    GatewayError::new(
        Fault::Misconfigured,
        format!(
            "The gateway is misconfigured: the routing plan has {what} but the Durable Object binding {binding} (class {class}) is not set (see wrangler.toml)."
        ),
    )
}

/// A route-level refusal: the 429 and what its headers say.
pub struct Refused {
    pub error: GatewayError,
    pub retry_after_ms: Option<u64>,
    pub levels: Vec<Level>,
}

/// A provider take that passed, kept until its try reports.
struct Reserved {
    step: *const Step,
    key: Option<usize>,
    checks: Vec<Check>,
    levels: Vec<Level>,
}

/// One request's limits and breakers.
pub struct Guard<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub settings: &'a Settings,
    pub plan: &'a RoutingPlan,
    pub inbound: &'a Inbound<'a>,
    /// Test clock offset for the objects (0 unless `SWITCHYARD_TEST_CLOCK`).
    pub offset_ms: i64,
    /// Steps a balanced split compares: counted even without a breaker.
    candidates: Vec<*const Step>,
    tokens: Option<u64>,
    reserved: Vec<Reserved>,
    /// The route's takes, settled after the run.
    route_checks: Vec<Check>,
    /// Every bucket the request went through, for the rate-limit headers.
    pub levels: Vec<Level>,
    /// Tokens the last successful JSON answer says it used.
    pub usage: Cell<Option<u64>>,
    /// The last try succeeded.
    succeeded: bool,
    /// Set by a try whose answer is a stream: how its relay ended.
    pub stream_end: RefCell<Option<oneshot::Receiver<StreamEnd>>>,
}

impl<'a> Guard<'a> {
    pub fn new(
        env: &'a Env,
        ctx: &'a Context,
        settings: &'a Settings,
        plan: &'a RoutingPlan,
        inbound: &'a Inbound<'a>,
        offset_ms: i64,
    ) -> Self {
        Guard {
            env,
            ctx,
            settings,
            plan,
            inbound,
            offset_ms,
            candidates: Vec::new(),
            tokens: None,
            reserved: Vec::new(),
            route_checks: Vec::new(),
            levels: Vec::new(),
            usage: Cell::new(None),
            succeeded: false,
            stream_end: RefCell::new(None),
        }
    }

    fn now(&self) -> u64 {
        super::now_ms().saturating_add_signed(self.offset_ms)
    }

    fn tokens(&mut self) -> u64 {
        *self.tokens.get_or_insert_with(|| limits::estimate_tokens(self.inbound.body))
    }

    /// The model a step sends.
    fn model<'s>(&'s self, step: &'s Step) -> &'s str {
        match &step.model {
            ModelRef::Fixed(m) => m,
            ModelRef::Request => self.inbound.model,
        }
    }

    /// The object key of a try's target, when it has one (a breaker, or a
    /// place in a balanced split).
    fn target(&self, t: &Try<'_>) -> Option<String> {
        let tracked = t.policy.breaker.is_some() || self.candidates.contains(&(t.step as *const Step));
        if !tracked {
            return None;
        }
        let key = target_key(&t.provider.name, self.model(t.step));
        match (t.policy.breaker.is_some_and(|b| b.per_key), t.key.and_then(|k| t.provider.keys.get(k))) {
            (true, Some(secret)) => Some(format!("{key}|key:{secret}")),
            _ => Some(key),
        }
    }

    // ---------------------------------------------------------------- limits

    /// Takes the route's and the gateway key's limits.
    pub async fn admit_route(&mut self, route: &Route, gateway_key: &str) -> Result<(), Refused> {
        let tokens = if limits::counts_tokens(&route.limits) { self.tokens() } else { 0 };
        let checks = limits::route_checks(route, gateway_key, tokens);
        if checks.is_empty() {
            return Ok(());
        }
        let verdicts = self.take_all(&checks).await;
        let refused = checks.iter().zip(&verdicts).find(|(_, v)| v.as_ref().is_some_and(|v| !v.admitted));
        if let Some((check, Some(verdict))) = refused {
            self.give_back(&checks, &verdicts);
            let levels = all_levels(&verdicts);
            return Err(Refused {
                error: refusal(check, verdict),
                retry_after_ms: (verdict.retry_after_ms > 0).then_some(verdict.retry_after_ms),
                levels,
            });
        }
        self.levels.append(&mut all_levels(&verdicts));
        self.route_checks = checks;
        Ok(())
    }

    /// Sends a take to every check's object at once (or admits from this
    /// isolate's lease on it, see [`crate::limits::lease`]); `None` where an
    /// object did not answer (failing open).
    async fn take_all(&self, checks: &[Check]) -> Vec<Option<Verdict>> {
        let now = self.now();
        let leased = |levels| Verdict { admitted: true, too_large: false, retry_after_ms: 0, levels, leased: 0 };
        // What this isolate's leases admit, for every check first.
        let local: Vec<Option<Vec<Level>>> = crate::seq::map(checks, |_, c| {
            let local = if c.leasable() { LEASES.with(|l| l.borrow_mut().admit(&c.key, now)) } else { None };
            if local.as_ref().is_some_and(|a| a.refill) {
                self.top_up(c);
            }
            local.map(|a| a.levels)
        });
        // The common case of a busy key: no object to ask, no future to run.
        if local.iter().all(Option::is_some) {
            return crate::seq::keep(local, |levels| Some(levels.map(leased)));
        }
        let calls = checks.iter().zip(local).map(|(c, local)| {
            let (lease, give_back) = if c.leasable() && local.is_none() {
                (LEASE_ASK, LEASES.with(|l| l.borrow_mut().unused(&c.key, now)))
            } else {
                (0, 0)
            };
            let message = LimiterMessage::Take { needs: c.needs.clone(), lease, give_back };
            async move {
                if let Some(levels) = local {
                    return Some(leased(levels));
                }
                let answer = objects::call::<_, Verdict>(
                    self.env,
                    limits::BINDING,
                    &c.key,
                    &message,
                    self.settings.object_timeout_ms,
                    self.offset_ms,
                )
                .await;
                match answer {
                    Ok(verdict) => {
                        let cap = c.needs.iter().map(|n| limits::object::max_lease(n.limit)).min().unwrap_or(0);
                        LEASES.with(|l| l.borrow_mut().granted(&c.key, verdict.leased, cap, verdict.levels.clone(), now));
                        Some(verdict)
                    }
                    Err(reason) => {
                        worker::console_error!(
                            "{{\"event\":\"limiter_unreachable\",\"object\":{:?},\"reason\":{reason:?}}}",
                            c.key
                        );
                        None
                    }
                }
            }
        });
        super::join::all(calls).await
    }

    /// Asks `check`'s object for more requests for this isolate's lease, in
    /// the background (a take of nothing, with a lease).
    fn top_up(&self, check: &Check) {
        let env = self.env.clone();
        let (timeout, offset, key) = (self.settings.object_timeout_ms, self.offset_ms, check.key.clone());
        let needs = crate::seq::map(&check.needs, |_, n| limits::object::Need { cost: 0, ..*n });
        let cap = needs.iter().map(|n| limits::object::max_lease(n.limit)).min().unwrap_or(0);
        super::after_response(self.ctx, Box::pin(async move {
            let message = LimiterMessage::Take { needs, lease: LEASE_ASK, give_back: 0 };
            match objects::call::<_, Verdict>(&env, limits::BINDING, &key, &message, timeout, offset).await {
                Ok(v) => {
                    let now = super::now_ms().saturating_add_signed(offset);
                    LEASES.with(|l| {
                        let mut l = l.borrow_mut();
                        if v.leased == 0 {
                            l.refill_failed(&key);
                        }
                        l.granted(&key, v.leased, cap, v.levels, now);
                    });
                }
                Err(_) => LEASES.with(|l| l.borrow_mut().refill_failed(&key)),
            }
        }));
    }

    /// Gives back what the admitted ones of `checks` took (another refused).
    fn give_back(&self, checks: &[Check], verdicts: &[Option<Verdict>]) {
        for (c, v) in checks.iter().zip(verdicts) {
            if v.as_ref().is_some_and(|v| v.admitted) {
                let needs = crate::seq::map(&c.needs, |_, n| Change { unit: n.unit, limit: n.limit, delta: -(n.cost as i64) });
                self.adjust(c.key.clone(), needs);
            }
        }
    }

    /// Sends corrections to a limiter object after the response.
    fn adjust(&self, key: String, needs: Vec<Change>) {
        if needs.iter().all(|c| c.delta == 0) {
            return;
        }
        let env = self.env.clone();
        let (timeout, offset) = (self.settings.object_timeout_ms, self.offset_ms);
        super::after_response(self.ctx, Box::pin(async move {
            let message = LimiterMessage::Adjust { needs };
            if let Err(reason) = objects::call::<_, Verdict>(&env, limits::BINDING, &key, &message, timeout, offset).await {
                worker::console_error!("{{\"event\":\"limiter_unreachable\",\"object\":{key:?},\"reason\":{reason:?}}}");
            }
        }));
    }

    /// Settles the token reservations of `checks`: `delta` tokens more than reserved.
    fn settle(&self, checks: &[Check], delta: i64) {
        if delta == 0 {
            return;
        }
        for c in checks.iter().filter(|c| c.reserves_tokens()) {
            let needs = crate::seq::keep(c.token_needs(), |n| Some(Change { unit: n.unit, limit: n.limit, delta }));
            self.adjust(c.key.clone(), needs);
        }
    }

    /// Tokens the answer used beyond the estimate (for a success), or the
    /// whole estimate given back (for a failure).
    fn token_delta(&self, success: bool) -> i64 {
        let Some(estimate) = self.tokens else { return 0 };
        match (success, self.usage.get()) {
            (true, Some(used)) => used as i64 - estimate as i64,
            (true, None) => 0,
            (false, _) => -(estimate as i64),
        }
    }

    /// After the run: the route's token reservations settled.
    pub fn finish(&mut self) {
        let checks = std::mem::take(&mut self.route_checks);
        self.settle(&checks, self.token_delta(self.succeeded));
    }

    /// The provider's and its key's limits for one try.
    pub async fn quota(&mut self, t: &Try<'_>) -> Quota {
        if t.provider.limits.is_empty() {
            return Quota::Within;
        }
        let tokens = if limits::counts_tokens(&t.provider.limits) { self.tokens() } else { 0 };
        let checks = limits::provider_checks(t.provider, t.key, tokens);
        let verdicts = self.take_all(&checks).await;
        let refusing: Vec<(&Check, &Verdict)> =
            crate::seq::keep(checks.iter().zip(&verdicts), |(c, v)| v.as_ref().filter(|v| !v.admitted).map(|v| (c, v)));
        if refusing.is_empty() {
            let levels = all_levels(&verdicts);
            self.reserved.push(Reserved { step: t.step, key: t.key, checks, levels });
            return Quota::Within;
        }
        self.give_back(&checks, &verdicts);
        let retry_in_ms = refusing.iter().map(|(_, v)| v.retry_after_ms).max().unwrap_or(0);
        // Only the key's own counter refused: another key may still have room.
        if refusing.iter().all(|(c, _)| c.key.contains("|key:")) {
            Quota::KeyOver { retry_in_ms }
        } else {
            Quota::ProviderOver { retry_in_ms }
        }
    }

    // --------------------------------------------------------------- breakers

    /// Marks the steps a balanced split will compare and returns their loads.
    pub async fn loads(&mut self, candidates: Vec<&Step>) -> Vec<(*const Step, TargetLoad)> {
        self.candidates = crate::seq::map(&candidates, |_, s| *s as *const Step);
        let (ttl, now) = (self.settings.breaker_cache_ms, self.now());
        let mut out = Vec::new();
        let mut ask = Vec::new();
        for step in candidates {
            let key = target_key(&self.plan.provider(step).name, self.model(step));
            match with_isolate(|i| i.load(&key, ttl, now)) {
                Some((in_flight, latency_ms)) => {
                    out.push((step as *const Step, TargetLoad { in_flight, latency_ms }));
                }
                None => ask.push((step as *const Step, key)),
            }
        }
        let (env, timeout, offset) = (self.env, self.settings.object_timeout_ms, self.offset_ms);
        let calls = ask.iter().map(|(_, key)| {
            let message = with_isolate(|i| i.peek(key, None));
            async move {
                let answer = objects::call::<_, Snapshot>(env, breaker::BINDING, key, &message, timeout, offset).await;
                (key, message, answer)
            }
        });
        for ((step, _), (key, message, answer)) in ask.iter().zip(super::join::all(calls).await) {
            match answer {
                Ok(snap) => {
                    let load = TargetLoad { in_flight: snap.in_flight, latency_ms: snap.latency_ms };
                    with_isolate(|i| i.answered(key, snap, now));
                    out.push((*step, load));
                }
                Err(reason) => {
                    with_isolate(|i| i.unanswered(key, &message));
                    worker::console_error!("{{\"event\":\"breaker_unreachable\",\"object\":{key:?},\"reason\":{reason:?}}}");
                }
            }
        }
        out
    }

    pub async fn breaker_admits(&mut self, t: &Try<'_>) -> Admission {
        let Some(key) = self.target(t) else { return Admission::Admit };
        let (ttl, now) = (self.settings.breaker_cache_ms, self.now());
        let message = match with_isolate(|i| i.before(&key, t.policy.breaker.as_ref(), ttl, now)) {
            Before::Go(admission) => return admission,
            Before::Ask(message) => message,
        };
        let answer = objects::call::<_, Snapshot>(
            self.env,
            breaker::BINDING,
            &key,
            &message,
            self.settings.object_timeout_ms,
            self.offset_ms,
        )
        .await;
        match answer {
            Ok(snap) => with_isolate(|i| i.answered(&key, snap, self.now())),
            Err(reason) => {
                with_isolate(|i| i.unanswered(&key, &message));
                worker::console_error!("{{\"event\":\"breaker_unreachable\",\"object\":{key:?},\"reason\":{reason:?}}}");
                Admission::Admit
            }
        }
    }

    /// Whether a try's answer should be read for its token usage (some
    /// token reservation waits for it).
    pub fn wants_usage(&self, t: &Try<'_>) -> bool {
        self.route_checks.iter().any(Check::reserves_tokens) || limits::counts_tokens(&t.provider.limits)
    }

    /// A try is being sent.
    pub fn started(&mut self, t: &Try<'_>) {
        self.usage.set(None);
        let Some(key) = self.target(t) else { return };
        with_isolate(|i| i.started(&key));
        // The plan cannot name a `{model}` target: the directory lists it for the status.
        if matches!(t.step.model, ModelRef::Request) && with_isolate(|i| i.register(&key)) {
            self.register(key.clone());
        }
        let candidate = self.candidates.contains(&(t.step as *const Step));
        if candidate && self.settings.breaker_cache_ms == 0 {
            let message = with_isolate(|i| i.start_message(&key, t.policy.breaker.as_ref()));
            self.send_report(key, message);
        }
    }

    /// Adds `key` to the directory of targets after the response.
    fn register(&self, key: String) {
        let env = self.env.clone();
        let (timeout, offset) = (self.settings.object_timeout_ms, self.offset_ms);
        super::after_response(self.ctx, Box::pin(async move {
            let message = directory::Names::register(vec![key.clone()]);
            let sent = objects::call_at::<_, directory::Listing>(
                &env,
                breaker::BINDING,
                directory::NAME,
                directory::PATH,
                &message,
                timeout,
                offset,
            )
            .await;
            if let Err(reason) = sent {
                with_isolate(|i| i.unregistered(&key));
                worker::console_error!("{{\"event\":\"breaker_unreachable\",\"object\":{:?},\"reason\":{reason:?}}}", directory::NAME);
            }
        }));
    }

    /// Sends a report to a target object after the response; its answer
    /// refreshes this isolate's cache.
    fn send_report(&self, key: String, message: Message) {
        self.send_report_once(key, Box::pin(async move { Some(message) }));
    }

    /// Like [`Guard::send_report`], once `message` is known (`None`: nothing to send).
    fn send_report_once(&self, key: String, message: Pin<Box<dyn Future<Output = Option<Message>>>>) {
        let env = self.env.clone();
        let (timeout, offset) = (self.settings.object_timeout_ms, self.offset_ms);
        super::after_response(self.ctx, Box::pin(async move {
            let Some(message) = message.await else { return };
            match objects::call::<_, Snapshot>(&env, breaker::BINDING, &key, &message, timeout, offset).await {
                Ok(snap) => {
                    let now = super::now_ms().saturating_add_signed(offset);
                    with_isolate(|i| i.answered(&key, snap, now));
                }
                Err(reason) => {
                    with_isolate(|i| i.unanswered(&key, &message));
                    worker::console_error!("{{\"event\":\"breaker_unreachable\",\"object\":{key:?},\"reason\":{reason:?}}}");
                }
            }
        }));
    }

    pub fn report(&mut self, t: &Try<'_>, r: &Report) {
        let success = r.class == Some(Class::Success);
        self.succeeded = success;
        // A stream's breaker hears how the stream ended, not how it started.
        let ended = self.stream_end.take().filter(|_| success);
        if let Some(key) = self.target(t) {
            if r.class.is_none() {
                // Never started: keep the in-flight count straight.
                with_isolate(|i| i.started(&key));
            }
            let (ttl, now) = (self.settings.breaker_cache_ms, self.now());
            let latency = success.then_some(r.duration_ms);
            let cfg = t.policy.breaker;
            if let Some(ended) = ended {
                let (probe, offset, k) = (r.probe, self.offset_ms, key.clone());
                self.send_report_once(key, Box::pin(async move {
                    let verdict = crate::breaker::stream::verdict(ended.await.ok());
                    let latency = latency.filter(|_| verdict == breaker::state::Verdict::Success);
                    let now = worker::Date::now().as_millis().saturating_add_signed(offset);
                    with_isolate(|i| i.finished(&k, cfg.as_ref(), verdict, probe, latency, ttl, now))
                }));
            } else if let Some(message) = with_isolate(|i| i.finished(&key, cfg.as_ref(), r.verdict, r.probe, latency, ttl, now)) {
                self.send_report(key, message);
            }
        }
        let step = t.step as *const Step;
        if let Some(pos) = self.reserved.iter().position(|r| r.step == step && r.key == t.key) {
            let reserved = self.reserved.swap_remove(pos);
            self.settle(&reserved.checks, self.token_delta(success));
            if success {
                self.levels.extend(reserved.levels);
            }
        }
    }

    /// The `x-ratelimit-*` headers for the buckets this request went through.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        rate_headers(&self.levels)
    }
}

/// The levels every answered check reported, in order.
fn all_levels(verdicts: &[Option<Verdict>]) -> Vec<Level> {
    let mut levels = Vec::new();
    for v in verdicts.iter().flatten() {
        levels.extend_from_slice(&v.levels);
    }
    levels
}

/// The 429 for a route-level refusal.
fn refusal(check: &Check, verdict: &Verdict) -> GatewayError {
    let refused = check
        .needs
        .iter()
        .zip(&verdict.levels)
        .find(|(n, l)| l.remaining < n.cost)
        .or_else(|| check.needs.iter().zip(&verdict.levels).next());
    let (what, unit, limit, cost) = match refused {
        Some((n, l)) => (limits::unit_words(n.unit), n.unit, l.limit, n.cost),
        None => ("requests", crate::plan::LimitUnit::RequestsPerMinute, 0, 0),
    };
    let message = if verdict.too_large {
        format!(
            "This request needs about {cost} tokens, more than the limit of {limit} {what} of {}: it can never pass.",
            check.what
        )
    } else {
        let kind = if counts_requests(unit) { "Rate limit" } else { "Token limit" };
        format!(
            "{kind} reached for {}: {limit} {what}. Try again in {}.",
            check.what,
            duration(verdict.retry_after_ms)
        )
    };
    GatewayError::new(Fault::RateLimited, message)
}
