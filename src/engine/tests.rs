//! The engine against a scripted fake world with a fake clock: every call
//! and every wait is recorded and asserted exactly.

use super::*;
use crate::plan::{
    Backoff, BackoffShape, Base, Branch, Jitter, ModelRef, Node, Outcome, ProviderKind, FORMAT,
};
use crate::breaker::state::{Phase, State as BreakerState};
use crate::plan::{Breaker, Trip};
use futures::executor::block_on;
use std::collections::{HashMap, VecDeque};

/// A scripted reply: what the upstream does and how long it takes.
#[derive(Clone)]
enum Reply {
    Status(u16, u64),
    RetryAfter(u16, u64, u64),
    Body(u16, &'static str),
    Fail(Transport, u64),
}

use Reply::*;

struct Fake {
    now: u64,
    script: VecDeque<Reply>,
    /// `provider/key` of every call, `sleep N` of every wait, in order.
    log: Vec<String>,
    timeouts: Vec<u64>,
    randoms: VecDeque<f64>,
    /// Real breaker state machines by provider name, on the fake clock.
    breakers: HashMap<String, (Breaker, BreakerState)>,
    /// Quota answers by `provider/key`.
    quotas: HashMap<String, Quota>,
    /// `provider/key verdict [probe]` of every report.
    reports: Vec<String>,
}

impl Fake {
    fn new(script: &[Reply]) -> Fake {
        Fake {
            now: 1_000,
            script: script.iter().cloned().collect(),
            log: vec![],
            timeouts: vec![],
            randoms: VecDeque::new(),
            breakers: HashMap::new(),
            quotas: HashMap::new(),
            reports: vec![],
        }
    }

    fn with_breaker(mut self, provider: &str, cfg: Breaker) -> Fake {
        self.breakers.insert(provider.into(), (cfg, BreakerState::default()));
        self
    }

    fn phase(&self, provider: &str) -> &Phase {
        &self.breakers[provider].1.phase
    }
}

fn who(t: &Try<'_>) -> String {
    format!("{}/{}", t.provider.name, t.key.map_or("-".into(), |k| k.to_string()))
}

impl Effects for Fake {
    type Body = &'static str;

    async fn send(&mut self, t: &Try<'_>) -> Sent<&'static str> {
        self.log.push(format!("{}/{}", t.provider.name, t.key.map_or("-".into(), |k| k.to_string())));
        self.timeouts.push(t.timeout_ms);
        let reply = self.script.pop_front().expect("the script ran out: an unexpected call");
        let (took, sent) = match reply {
            Status(s, took) => (took, Sent::Answer { status: s, retry_after_ms: None, error: (s >= 400).then(|| "{}".to_string()), body: "ok" }),
            RetryAfter(s, after, took) => (took, Sent::Answer { status: s, retry_after_ms: Some(after), error: Some("{}".into()), body: "" }),
            Body(s, text) => (10, Sent::Answer { status: s, retry_after_ms: None, error: Some(text.into()), body: "" }),
            Fail(t, took) => (took, Sent::Failed(t)),
        };
        self.now += took.min(t.timeout_ms);
        sent
    }

    async fn sleep(&mut self, ms: u64) {
        self.log.push(format!("sleep {ms}"));
        self.now += ms;
    }

    fn now_ms(&self) -> u64 {
        self.now
    }

    fn random(&mut self) -> f64 {
        self.randoms.pop_front().unwrap_or(1.0 - f64::EPSILON)
    }

    async fn breaker_admits(&mut self, t: &Try<'_>) -> Admission {
        let now = self.now;
        match self.breakers.get_mut(&t.provider.name) {
            Some((cfg, state)) => state.admit(cfg, now),
            None => Admission::Admit,
        }
    }

    async fn quota(&mut self, t: &Try<'_>) -> Quota {
        self.quotas.get(&who(t)).copied().unwrap_or(Quota::Within)
    }

    fn report(&mut self, t: &Try<'_>, r: &Report) {
        self.reports.push(format!("{} {:?}{}", who(t), r.verdict, if r.probe { " probe" } else { "" }));
        let now = self.now;
        if let Some((cfg, state)) = self.breakers.get_mut(&t.provider.name) {
            state.record(cfg, r.verdict, r.probe, now);
        }
    }
}

fn policy(attempts: u32) -> Policy {
    Policy {
        attempts,
        retry_on: vec![Outcome::Status(429), Outcome::Class5xx, Outcome::Timeout, Outcome::Connect],
        fallback_on: vec![Outcome::ContextLength],
        backoff: Backoff { shape: BackoffShape::Exponential, base_ms: 100, cap_ms: 1_000, jitter: Jitter::None },
        retry_after_cap_ms: Some(5_000),
        attempt_timeout_ms: 2_000,
        first_byte_timeout_ms: None,
        total_timeout_ms: 10_000,
        breaker: None,
    }
}

fn provider(name: &str, keys: usize) -> Provider {
    Provider {
        name: name.into(),
        kind: ProviderKind::OpenaiCompatible,
        base: Base::Url(format!("http://{name}/v1")),
        keys: (0..keys).map(|k| format!("{}_KEY_{k}", name.to_uppercase())).collect(),
        headers: vec![],
        limits: vec![],
        aliases: vec![],
        prices: vec![],
        api_version: None,
        region: None,
    }
}

fn step(provider: usize, policy: usize) -> Step {
    Step { provider, model: ModelRef::Fixed("m".into()), policy }
}

/// Providers `a` (2 keys), `b` (1 key), `c` (no key); policies[0] = 3 attempts.
fn plan(policies: Vec<Policy>) -> RoutingPlan {
    RoutingPlan {
        format: FORMAT,
        hash: "t".into(),
        sources: vec![],
        subrequest_cap: 50,
        providers: vec![provider("a", 2), provider("b", 1), provider("c", 0)],
        policies,
        routes: vec![],
        models: vec![],
    }
}

fn go(plan: &RoutingPlan, steps: &[Step], fake: &mut Fake) -> Result<Done<&'static str>, Failed> {
    let chain: Vec<&Step> = steps.iter().collect();
    block_on(run(plan, &chain, fake))
}

#[test]
fn a_429_then_200_on_the_same_single_key() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[Status(429, 5), Status(200, 5)]);
    let done = go(&p, &[step(1, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "sleep 100", "b/0"]);
    assert_eq!(done.attempts.len(), 2);
    assert_eq!(done.attempts[1].waited_ms, 100);
}

#[test]
fn a_429_on_key_1_moves_to_key_2_at_once_without_spending_an_attempt() {
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[Status(429, 5), Status(200, 5)]);
    let done = go(&p, &[step(0, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["a/0", "a/1"]);
    assert_eq!(done.attempts.iter().map(|a| a.key).collect::<Vec<_>>(), [Some(0), Some(1)]);
}

#[test]
fn a_refused_key_rotates_then_falls_back_when_none_is_left() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[Status(401, 5), Status(403, 5), Status(200, 5)]);
    let done = go(&p, &[step(0, 0), step(1, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["a/0", "a/1", "b/0"]);
    assert_eq!(done.step, 1);
}

#[test]
fn three_500s_then_the_fallback_succeeds() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[Status(500, 5), Status(502, 5), Status(503, 5), Status(200, 5)]);
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "sleep 100", "b/0", "sleep 200", "b/0", "c/-"]);
    assert_eq!(done.step, 1);
    let outcomes: Vec<&str> = done.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["500", "502", "503", "ok"]);
}

#[test]
fn a_timeout_then_the_next_target() {
    let mut once = policy(1);
    once.attempt_timeout_ms = 300;
    let p = plan(vec![once]);
    let mut fake = Fake::new(&[Fail(Transport::Timeout, 300), Status(200, 5)]);
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "c/-"]);
    assert_eq!(fake.timeouts, [300, 300]);
}

#[test]
fn a_400_returns_at_once_with_no_fallback() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[Body(400, r#"{"error":{"message":"messages is required"}}"#)]);
    let failed = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap_err();
    assert_eq!(fake.log, ["b/0"]);
    assert_eq!(failed.error.status(), 400);
    assert_eq!(failed.error.message, "messages is required");
}

#[test]
fn a_context_length_error_falls_back_when_the_policy_says_so() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[Body(400, r#"{"error":{"code":"context_length_exceeded","message":"too long"}}"#), Status(200, 5)]);
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "c/-"]);
    assert_eq!(done.attempts[0].outcome, "context_length");
}

#[test]
fn retry_after_is_honoured_and_a_longer_one_than_the_cap_moves_on() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[RetryAfter(429, 2_000, 5), Status(200, 5)]);
    go(&p, &[step(1, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "sleep 2000", "b/0"]);

    let mut fake = Fake::new(&[RetryAfter(503, 60_000, 5), Status(200, 5)]);
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "c/-"], "a 60 s Retry-After is over the 5 s cap");
}

#[test]
fn the_deadline_cuts_a_long_chain_with_a_504_and_the_trail() {
    let mut slow = policy(2);
    slow.total_timeout_ms = 5_000;
    let p = plan(vec![slow]);
    let script: Vec<Reply> = (0..20).map(|_| Fail(Transport::Timeout, 2_000)).collect();
    let mut fake = Fake::new(&script);
    let failed = go(&p, &[step(1, 0), step(2, 0), step(1, 0), step(2, 0)], &mut fake).unwrap_err();
    assert_eq!(failed.error.status(), 504);
    assert!(failed.error.message.contains("total deadline of 5s"), "{}", failed.error.message);
    // 2 s, wait 100 ms, 2 s, then only 900 ms are left for the next try.
    assert_eq!(fake.timeouts, [2_000, 2_000, 900]);
    assert_eq!(failed.attempts.len(), 3);
}

#[test]
fn the_subrequest_cap_bounds_the_tries() {
    let mut p = plan(vec![policy(10)]);
    p.subrequest_cap = 4;
    let script: Vec<Reply> = (0..10).map(|_| Status(500, 1)).collect();
    let mut fake = Fake::new(&script);
    let failed = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap_err();
    assert_eq!(failed.attempts.len(), 4);
    assert_eq!(failed.error.status(), 500);
    assert!(failed.error.message.contains("cap of 4"));
}

#[test]
fn everything_failing_reports_the_last_failure() {
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[Status(500, 1), Fail(Transport::Connect, 1)]);
    let failed = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap_err();
    assert_eq!(failed.error.status(), 502);
    assert_eq!(failed.attempts.iter().map(|a| a.target()).collect::<Vec<_>>(), ["b:m", "c:m"]);
}

#[test]
fn full_jitter_draws_from_the_random_source() {
    let mut jittered = policy(2);
    jittered.backoff.jitter = Jitter::Full;
    let p = plan(vec![jittered]);
    let mut fake = Fake::new(&[Status(500, 1), Status(200, 1)]);
    fake.randoms.push_back(0.5);
    go(&p, &[step(1, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "sleep 50", "b/0"]);
}

#[test]
fn a_split_70_30_over_10000_seeded_draws_is_within_2_percent() {
    let node = Node::Split(vec![
        Branch { weight: 70.0, node: Node::Step(step(0, 0)) },
        Branch { weight: 30.0, node: Node::Step(step(1, 0)) },
    ]);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let firsts = (0..10_000).filter(|_| crate::plan::pick_chain(&node, &mut random)[0].provider == 0).count();
    assert!((6_800..=7_200).contains(&firsts), "{firsts} of 10,000 picked the 70% branch");
}

#[test]
fn keys_rotate_for_free_once_each_then_retries_spend_attempts() {
    let p = plan(vec![policy(2)]);
    let script: Vec<Reply> = (0..10).map(|_| Status(429, 1)).collect();
    let mut fake = Fake::new(&script);
    let failed = go(&p, &[step(0, 0)], &mut fake).unwrap_err();
    // attempts 2 + 2 keys - 1 = 3 calls at most.
    assert_eq!(fake.log, ["a/0", "a/1", "sleep 100", "a/0"]);
    assert_eq!(failed.error.status(), 429);
}

#[test]
fn a_stream_that_misses_its_first_byte_falls_back_like_any_timeout() {
    // The edge reports a stream that did not start in time as
    // `FirstByteTimeout`; one that started is a success, and what happens
    // to it later is the relay's (a terminal error event), never a retry.
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[Fail(Transport::FirstByteTimeout, 300), Status(200, 5)]);
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "c/-"]);
    assert_eq!(done.attempts[0].outcome, "first_byte_timeout");
}

#[test]
fn a_wait_that_would_use_up_the_deadline_moves_on_at_once() {
    let mut tight = policy(3);
    tight.total_timeout_ms = 1_000;
    tight.backoff = Backoff { shape: BackoffShape::Constant, base_ms: 900, cap_ms: 900, jitter: Jitter::None };
    let p = plan(vec![tight]);
    let mut fake = Fake::new(&[Status(500, 200), Status(200, 5)]);
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0", "c/-"], "no 900 ms wait with 800 ms left");
    assert_eq!(done.step, 1);
}

fn two_failures_cooldown_1s() -> Breaker {
    Breaker { trip: Trip::Failures { count: 2, window_ms: 60_000 }, cooldown_ms: 1_000, probes: 1, per_key: false }
}

#[test]
fn an_open_target_is_skipped_with_the_reason_in_the_trail() {
    let p = plan(vec![policy(2)]);
    let mut fake = Fake::new(&[Status(500, 5), Status(500, 5), Status(200, 5), Status(200, 5)])
        .with_breaker("b", two_failures_cooldown_1s());
    // Two 500s trip b's breaker; the fallback answers.
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert!(matches!(fake.phase("b"), Phase::Open { .. }));
    assert_eq!(fake.reports, ["b/0 Failure", "b/0 Failure", "c/- Success"]);
    // The next request does not call b at all.
    fake.log.clear();
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["c/-"]);
    assert_eq!(done.attempts[0].outcome, "skipped");
    assert_eq!(done.attempts[0].reason, Some("breaker_open"));
    assert_eq!(done.attempts[0].target(), "b:m");
    let trail = serde_json::to_value(&done.attempts).unwrap();
    assert_eq!(trail[0]["reason"], "breaker_open");
    assert!(trail[1].get("reason").is_none(), "a try that was made has no reason");
}

#[test]
fn after_the_cooldown_one_probe_goes_and_its_success_closes_the_breaker() {
    let p = plan(vec![policy(2)]);
    let mut fake = Fake::new(&[Status(500, 5), Status(500, 5), Status(200, 5), Status(200, 5), Status(200, 5)])
        .with_breaker("b", two_failures_cooldown_1s());
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    fake.now += 1_000;
    fake.log.clear();
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0"], "the probe answered");
    assert_eq!(done.step, 0);
    assert_eq!(fake.reports.last().unwrap(), "b/0 Success probe");
    assert_eq!(fake.phase("b"), &Phase::Closed);
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.reports.last().unwrap(), "b/0 Success", "closed again: no probe");
}

#[test]
fn a_failed_probe_opens_the_breaker_again_and_is_not_retried() {
    let p = plan(vec![policy(3)]);
    let mut fake = Fake::new(&[Status(500, 5), Status(500, 5), Status(200, 5), Status(503, 5), Status(200, 5)])
        .with_breaker("b", two_failures_cooldown_1s());
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    fake.now += 1_000;
    fake.log.clear();
    let done = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    // The probe failed; the retry finds the breaker open again and moves on.
    assert_eq!(fake.log, ["b/0", "sleep 100", "c/-"]);
    let outcomes: Vec<&str> = done.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["503", "skipped", "ok"]);
    assert!(matches!(fake.phase("b"), Phase::Open { .. }));
}

#[test]
fn every_target_open_is_a_503_with_the_trail_and_retry_after() {
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[]).with_breaker("b", two_failures_cooldown_1s()).with_breaker("c", two_failures_cooldown_1s());
    for name in ["b", "c"] {
        let (cfg, state) = fake.breakers.get_mut(name).unwrap();
        state.record(cfg, Verdict::Failure, false, 1_000);
        state.record(cfg, Verdict::Failure, false, 1_000);
    }
    fake.now = 1_400;
    let failed = go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap_err();
    assert!(fake.log.is_empty(), "no call was made");
    assert_eq!(failed.error.status(), 503);
    assert_eq!(failed.error.kind(), "targets_unavailable");
    assert!(failed.error.message.contains("circuit breaker open for `b:m`, `c:m`"), "{}", failed.error.message);
    assert_eq!(failed.retry_after_ms, Some(600));
    assert_eq!(failed.attempts.iter().map(|a| a.reason).collect::<Vec<_>>(), [Some("breaker_open"); 2]);
}

#[test]
fn a_key_over_its_quota_makes_way_for_the_next_key_without_a_call() {
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[Status(200, 5)]);
    fake.quotas.insert("a/0".into(), Quota::KeyOver { retry_in_ms: 5_000 });
    let done = go(&p, &[step(0, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["a/1"]);
    assert_eq!(done.attempts[0].reason, Some("key_over_quota"));
    assert_eq!(done.attempts[1].key, Some(1));
}

#[test]
fn every_key_over_quota_falls_back_and_only_quotas_left_is_a_429() {
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[Status(200, 5)]);
    fake.quotas.insert("a/0".into(), Quota::KeyOver { retry_in_ms: 5_000 });
    fake.quotas.insert("a/1".into(), Quota::KeyOver { retry_in_ms: 2_000 });
    go(&p, &[step(0, 0), step(1, 0)], &mut fake).unwrap();
    assert_eq!(fake.log, ["b/0"]);

    fake.quotas.insert("b/0".into(), Quota::ProviderOver { retry_in_ms: 9_000 });
    fake.log.clear();
    let failed = go(&p, &[step(0, 0), step(1, 0)], &mut fake).unwrap_err();
    assert!(fake.log.is_empty());
    assert_eq!(failed.error.status(), 429);
    assert_eq!(failed.retry_after_ms, Some(2_000));
    let reasons: Vec<_> = failed.attempts.iter().map(|a| a.reason.unwrap()).collect();
    assert_eq!(reasons, ["key_over_quota", "key_over_quota", "provider_over_quota"]);
}

#[test]
fn a_probe_refused_by_a_quota_gives_its_slot_back() {
    let p = plan(vec![policy(1)]);
    let mut fake = Fake::new(&[Status(500, 5), Status(200, 5), Status(500, 5), Status(200, 5), Status(200, 5)])
        .with_breaker("b", two_failures_cooldown_1s());
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert!(matches!(fake.phase("b"), Phase::Open { .. }));
    fake.now += 1_000;
    fake.quotas.insert("b/0".into(), Quota::ProviderOver { retry_in_ms: 100 });
    go(&p, &[step(1, 0), step(2, 0)], &mut fake).unwrap();
    assert_eq!(fake.reports.last().unwrap(), "c/- Success");
    assert!(fake.reports.contains(&"b/0 Neutral probe".to_string()));
    assert_eq!(fake.phase("b"), &Phase::HalfOpen { probes: vec![] }, "the slot is free for the next probe");
}

#[test]
fn a_breaker_per_key_open_on_one_key_moves_to_the_next_key() {
    let p = plan(vec![policy(1)]);
    let mut cfg = two_failures_cooldown_1s();
    cfg.per_key = true;
    let mut fake = Fake::new(&[Status(200, 5)]).with_breaker("a", cfg);
    // The fake keys its breakers by provider; a per-key breaker open on key 0
    // is modelled by opening it and closing it again for key 1's question.
    let (c, state) = fake.breakers.get_mut("a").unwrap();
    state.record(c, Verdict::Failure, false, 1_000);
    state.record(c, Verdict::Failure, false, 1_000);
    let mut p2 = p.clone();
    p2.policies[0].breaker = Some(cfg);
    struct KeyOne<'f>(&'f mut Fake);
    impl Effects for KeyOne<'_> {
        type Body = &'static str;
        async fn send(&mut self, t: &Try<'_>) -> Sent<&'static str> {
            self.0.send(t).await
        }
        async fn sleep(&mut self, ms: u64) {
            self.0.sleep(ms).await
        }
        fn now_ms(&self) -> u64 {
            self.0.now
        }
        fn random(&mut self) -> f64 {
            0.5
        }
        async fn breaker_admits(&mut self, t: &Try<'_>) -> Admission {
            if t.key == Some(0) {
                self.0.breaker_admits(t).await
            } else {
                Admission::Admit
            }
        }
    }
    let chain = [&Step { provider: 0, model: ModelRef::Fixed("m".into()), policy: 0 }];
    let done = block_on(run(&p2, &chain, &mut KeyOne(&mut fake))).unwrap();
    assert_eq!(fake.log, ["a/1"]);
    assert_eq!(done.attempts[0].reason, Some("breaker_open"));
    assert_eq!(done.attempts[1].key, Some(1));
}

#[test]
fn verdicts_count_failures_against_the_target_only() {
    assert_eq!(verdict_of(Class::Retryable(503)), Verdict::Failure);
    assert_eq!(verdict_of(Class::Failed(Transport::Timeout)), Verdict::Failure);
    assert_eq!(verdict_of(Class::RateLimited), Verdict::Neutral);
    assert_eq!(verdict_of(Class::Fatal(400)), Verdict::Success);
    assert_eq!(verdict_of(Class::Success), Verdict::Success);
}
