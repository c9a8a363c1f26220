//! The engine against a scripted fake world with a fake clock: every call
//! and every wait is recorded and asserted exactly.

use super::*;
use crate::plan::{
    Backoff, BackoffShape, Base, Branch, Jitter, ModelRef, Node, Outcome, ProviderKind, FORMAT,
};
use futures::executor::block_on;
use std::collections::VecDeque;

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
}

impl Fake {
    fn new(script: &[Reply]) -> Fake {
        Fake { now: 1_000, script: script.iter().cloned().collect(), log: vec![], timeouts: vec![], randoms: VecDeque::new() }
    }
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
