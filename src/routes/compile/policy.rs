//! Policies: the built-in default, named policies with `use` inheritance
//! (cycles caught), inline `with { … }` overrides, and the checks on the
//! result (attempts ≥ 1, positive durations, per-attempt timeout within the
//! total deadline, a sound backoff and breaker).

use super::values::{self, Sink};
use crate::plan::{Backoff, BackoffShape, Breaker, Jitter, Outcome, Policy, Trip};
use crate::routes::ast::{
    BackoffExpr, Block, BreakerItem, Ident, OutcomeExpr, PolicyStmt, TimeoutItem,
};
use crate::routes::diag::{did_you_mean, Diagnostic};
use crate::routes::source::{Span, Spanned};
use std::collections::{HashMap, HashSet};

/// The policy every step has unless route files say otherwise
/// (docs/routes.md lists it).
pub fn builtin_default() -> Policy {
    Policy {
        attempts: 2,
        retry_on: vec![
            Outcome::Status(429),
            Outcome::Class5xx,
            Outcome::Timeout,
            Outcome::Connect,
            Outcome::Reset,
        ],
        fallback_on: vec![Outcome::ContextLength],
        backoff: Backoff {
            shape: BackoffShape::Exponential,
            base_ms: 200,
            cap_ms: 5_000,
            jitter: Jitter::Full,
        },
        retry_after_cap_ms: Some(30_000),
        attempt_timeout_ms: 30_000,
        first_byte_timeout_ms: None,
        total_timeout_ms: 120_000,
        breaker: None,
    }
}

/// The words a policy block understands, for "did you mean".
pub const KEYWORDS: [&str; 8] = [
    "use", "attempts", "retry", "fallback", "backoff", "retry_after", "timeout", "breaker",
];

const OUTCOME_CLASSES: [(&str, Outcome); 9] = [
    ("4xx", Outcome::Class4xx),
    ("5xx", Outcome::Class5xx),
    ("timeout", Outcome::Timeout),
    ("connect", Outcome::Connect),
    ("reset", Outcome::Reset),
    ("malformed", Outcome::Malformed),
    ("truncated", Outcome::Truncated),
    ("context_length", Outcome::ContextLength),
    ("content_policy", Outcome::ContentPolicy),
];

/// A policy under construction, with where its timeouts were last set.
#[derive(Debug, Clone)]
pub struct Draft {
    pub policy: Policy,
    timeout_span: Option<Span>,
}

impl Draft {
    /// The built-in default policy.
    pub fn builtin() -> Draft {
        Draft::new(builtin_default())
    }

    fn new(policy: Policy) -> Draft {
        Draft {
            policy,
            timeout_span: None,
        }
    }
}

/// Named policies, resolved on demand and remembered (so each policy's
/// mistakes are reported once however often it is used).
pub struct Policies<'a> {
    decls: HashMap<&'a str, &'a Block<PolicyStmt>>,
    /// Policies that failed to parse: using them is not a second mistake.
    broken: HashSet<String>,
    resolved: HashMap<String, Option<Draft>>,
    visiting: Vec<String>,
}

impl<'a> Policies<'a> {
    pub fn new(decls: HashMap<&'a str, &'a Block<PolicyStmt>>, broken: HashSet<String>) -> Self {
        Policies {
            decls,
            broken,
            resolved: HashMap::new(),
            visiting: Vec::new(),
        }
    }

    /// Resolves every declared policy, so unused ones are checked too.
    pub fn resolve_all(&mut self, sink: &mut Sink) {
        let mut names: Vec<(&'a str, Span)> =
            self.decls.iter().map(|(n, b)| (*n, b.name.span)).collect();
        names.sort_by_key(|(_, span)| (span.file, span.start));
        for (name, span) in names {
            self.named(&Spanned::new(name.to_string(), span), sink);
        }
    }

    /// The effective policy of a name (`None` after reporting a problem).
    pub fn named(&mut self, name: &Ident, sink: &mut Sink) -> Option<Draft> {
        if let Some(done) = self.resolved.get(&name.node) {
            return done.clone();
        }
        let Some(block) = self.decls.get(name.node.as_str()).copied() else {
            if name.node == "default" {
                return Some(Draft::new(builtin_default()));
            }
            if self.broken.contains(&name.node) {
                return None;
            }
            let mut known: Vec<&str> = self.decls.keys().copied().collect();
            known.push("default");
            sink.push(
                Diagnostic::error(name.span, format!("unknown policy `{}`", name.node))
                    .label("no policy has this name")
                    .maybe_hint(did_you_mean(&name.node, known)),
            );
            return None;
        };
        if self.visiting.contains(&name.node) {
            let cycle = self.visiting.join(" → ");
            sink.push(
                Diagnostic::error(
                    name.span,
                    format!("policy `{}` uses itself: {cycle} → {}", name.node, name.node),
                )
                .label("this `use` closes the cycle")
                .hint("a policy can only build on policies that do not come back to it"),
            );
            return None;
        }
        self.visiting.push(name.node.clone());
        let base = if name.node == "default" {
            Draft::new(builtin_default())
        } else {
            self.named(&Spanned::new("default".into(), block.name.span), sink)
                .unwrap_or_else(|| Draft::new(builtin_default()))
        };
        let before = errors(sink);
        let draft = self.apply(base, &block.stmts, sink);
        self.visiting.pop();
        // A statement that was refused leaves a default in its place: the
        // combined checks would then judge values nobody wrote.
        if errors(sink) == before {
            check(&draft, block.name.span, sink);
        }
        self.resolved.insert(name.node.clone(), Some(draft.clone()));
        Some(draft)
    }

    /// `base` with `stmts` applied in order.
    pub fn apply(&mut self, base: Draft, stmts: &[Spanned<PolicyStmt>], sink: &mut Sink) -> Draft {
        let mut d = base;
        for stmt in stmts {
            apply_one(self, &mut d, stmt, sink);
        }
        d
    }

    /// An inline `with NAME { … }` / `with { … }`: checked like a policy.
    pub fn inline(
        &mut self,
        base: Draft,
        stmts: &[Spanned<PolicyStmt>],
        anchor: Span,
        sink: &mut Sink,
    ) -> Draft {
        let before = errors(sink);
        let draft = self.apply(base, stmts, sink);
        if !stmts.is_empty() && errors(sink) == before {
            check(&draft, anchor, sink);
        }
        draft
    }
}

fn apply_one(policies: &mut Policies, d: &mut Draft, stmt: &Spanned<PolicyStmt>, sink: &mut Sink) {
    let p = &mut d.policy;
    match &stmt.node {
        PolicyStmt::Use(name) => {
            if let Some(other) = policies.named(name, sink) {
                *d = other;
            }
        }
        PolicyStmt::Attempts(n) => {
            if let Some(n) = values::whole(n, "the number of attempts", 1, sink) {
                p.attempts = n as u32;
            }
        }
        PolicyStmt::RetryOn(list) => p.retry_on = outcomes(list, sink),
        PolicyStmt::FallbackOn(list) => p.fallback_on = outcomes(list, sink),
        PolicyStmt::Backoff(b) => {
            if let Some(b) = backoff(b, sink) {
                p.backoff = b;
            }
        }
        PolicyStmt::RetryAfter(cap) => {
            p.retry_after_cap_ms = match cap {
                None => None,
                Some(cap) => values::duration(cap, "the Retry-After cap", sink).or(p.retry_after_cap_ms),
            }
        }
        PolicyStmt::Timeout(items) => {
            for item in items {
                match &item.node {
                    TimeoutItem::PerAttempt(t) => {
                        if let Some(ms) = values::duration(t, "the per-attempt timeout", sink) {
                            p.attempt_timeout_ms = ms;
                        }
                    }
                    TimeoutItem::FirstByte(t) => {
                        if let Some(ms) = values::duration(t, "the first-byte timeout", sink) {
                            p.first_byte_timeout_ms = Some(ms);
                        }
                    }
                    TimeoutItem::Total(t) => {
                        if let Some(ms) = values::duration(t, "the total deadline", sink) {
                            p.total_timeout_ms = ms;
                        }
                    }
                }
            }
            d.timeout_span = Some(stmt.span);
        }
        PolicyStmt::Breaker(items) => {
            if let Some(b) = breaker(items, stmt.span, sink) {
                p.breaker = b;
            }
        }
        PolicyStmt::Unknown(u) => sink.push(unknown_statement(&u.keyword, "a policy", &KEYWORDS)),
    }
}

fn errors(sink: &Sink) -> usize {
    sink.iter().filter(|d| d.is_error()).count()
}

/// "unknown statement" with the closest keyword of the block.
pub fn unknown_statement(keyword: &Ident, block: &str, keywords: &[&str]) -> Diagnostic {
    if keyword.node == "else" {
        return Diagnostic::error(keyword.span, "`else` needs a target after it")
            .label("nothing to fall back to")
            .hint("write the next target, e.g. `else openai:gpt-4o-mini`, or remove `else`");
    }
    let hint = did_you_mean(&keyword.node, keywords.iter().copied()).unwrap_or_else(|| {
        format!("{block} takes: {}", keywords.join(", "))
    });
    Diagnostic::error(
        keyword.span,
        format!("`{}` is not a statement of {block}", keyword.node),
    )
    .label("unknown statement")
    .hint(hint)
}

/// Checks that hold for any complete policy.
fn check(d: &Draft, anchor: Span, sink: &mut Sink) {
    let p = &d.policy;
    if p.attempt_timeout_ms > p.total_timeout_ms {
        sink.push(
            Diagnostic::error(
                d.timeout_span.unwrap_or(anchor),
                format!(
                    "the per-attempt timeout ({}) is longer than the total deadline ({})",
                    show_ms(p.attempt_timeout_ms),
                    show_ms(p.total_timeout_ms)
                ),
            )
            .label("an attempt could never use its full timeout")
            .hint("make the total deadline at least as long as one attempt"),
        );
    }
    if let Some(fb) = p.first_byte_timeout_ms {
        if fb > p.total_timeout_ms {
            sink.push(
                Diagnostic::error(
                    d.timeout_span.unwrap_or(anchor),
                    format!(
                        "the first-byte timeout ({}) is longer than the total deadline ({})",
                        show_ms(fb),
                        show_ms(p.total_timeout_ms)
                    ),
                )
                .hint("make the total deadline at least as long as the first-byte timeout"),
            );
        }
    }
}

/// A duration in route-file syntax: `1500` → `1.5s`, `60000` → `1m`.
pub fn show_ms(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms >= 1000 {
        format!("{}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

fn outcomes(list: &[Spanned<OutcomeExpr>], sink: &mut Sink) -> Vec<Outcome> {
    let mut out = Vec::new();
    for item in list {
        let outcome = match &item.node {
            OutcomeExpr::Status(n) => {
                if n.fract() == 0.0 && (100.0..=599.0).contains(n) {
                    Some(Outcome::Status(*n as u16))
                } else {
                    sink.push(
                        Diagnostic::error(item.span, format!("`{n}` is not an HTTP status code"))
                            .hint("status codes are whole numbers from 100 to 599, e.g. `429` or `503`"),
                    );
                    None
                }
            }
            OutcomeExpr::Class(word) => match OUTCOME_CLASSES.iter().find(|(w, _)| w == word) {
                Some((_, o)) => Some(*o),
                None => {
                    let names = OUTCOME_CLASSES.iter().map(|(w, _)| *w);
                    sink.push(
                        Diagnostic::error(item.span, format!("`{word}` is not an outcome"))
                            .label("unknown outcome")
                            .hint(did_you_mean(word, names).unwrap_or_else(|| {
                                "outcomes are status codes (`429`), `4xx`, `5xx`, `timeout`, `connect`, `reset`, `malformed`, `truncated`, `context_length`, `content_policy`".into()
                            })),
                    );
                    None
                }
            },
        };
        if let Some(o) = outcome {
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }
    out
}

fn backoff(b: &BackoffExpr, sink: &mut Sink) -> Option<Backoff> {
    let shape = match b.shape.node.as_str() {
        "constant" => BackoffShape::Constant,
        "linear" => BackoffShape::Linear,
        "exponential" => BackoffShape::Exponential,
        other => {
            sink.push(
                Diagnostic::error(b.shape.span, format!("`{other}` is not a backoff shape"))
                    .hint(
                        did_you_mean(other, ["constant", "linear", "exponential"])
                            .unwrap_or_else(|| "use `constant`, `linear` or `exponential`".into()),
                    ),
            );
            return None;
        }
    };
    let base = values::duration(&b.base, "the backoff delay", sink);
    let cap = match (&b.cap, shape) {
        (Some(cap), BackoffShape::Constant) => {
            sink.push(
                Diagnostic::error(cap.span, "a constant backoff has no cap")
                    .hint(format!("write `backoff constant {}`", show_ms(base.unwrap_or(1)))),
            );
            None
        }
        (None, BackoffShape::Constant) => base,
        (Some(cap), _) => values::duration(cap, "the backoff cap", sink),
        (None, _) => {
            sink.push(
                Diagnostic::error(b.base.span, format!("a {} backoff needs a cap", b.shape.node))
                    .hint(format!(
                        "write the base and the cap: `backoff {} {}..8s`",
                        b.shape.node,
                        show_ms(base.unwrap_or(250))
                    )),
            );
            None
        }
    };
    let jitter = match b.jitter.as_ref().map(|j| j.node.as_str()) {
        None => Jitter::None,
        Some("" | "jitter" | "full") => Jitter::Full,
        Some("equal") => Jitter::Equal,
        Some("none") => Jitter::None,
        Some(other) => {
            let span = b.jitter.as_ref().map(|j| j.span).unwrap_or(b.shape.span);
            sink.push(
                Diagnostic::error(span, format!("`{other}` is not a kind of jitter"))
                    .hint(did_you_mean(other, ["full", "equal", "none"])
                        .unwrap_or_else(|| "use `jitter full`, `jitter equal` or `jitter none`".into())),
            );
            return None;
        }
    };
    let (base, cap) = (base?, cap?);
    if cap < base {
        let span = b.cap.as_ref().map(|c| c.span).unwrap_or(b.base.span);
        sink.push(
            Diagnostic::error(
                span,
                format!("the backoff cap ({}) is shorter than its base ({})", show_ms(cap), show_ms(base)),
            )
            .hint("write the base first, then the cap: `250ms..8s`"),
        );
        return None;
    }
    Some(Backoff {
        shape,
        base_ms: base,
        cap_ms: cap,
        jitter,
    })
}

/// `Some(None)` for `breaker off`.
fn breaker(items: &[Spanned<BreakerItem>], span: Span, sink: &mut Sink) -> Option<Option<Breaker>> {
    let mut trip: Option<(Trip, Span)> = None;
    let mut cooldown_ms = 30_000;
    let mut probes = 1;
    let mut per_key = false;
    let mut ok = true;
    for item in items {
        let found = match &item.node {
            BreakerItem::Off => {
                if items.len() > 1 {
                    sink.push(
                        Diagnostic::error(item.span, "`breaker off` cannot have other settings")
                            .hint("write `breaker off` alone, or drop `off`"),
                    );
                    return None;
                }
                return Some(None);
            }
            BreakerItem::Failures { count, window } => {
                let count = values::whole(count, "the failure count", 1, sink);
                let window = values::duration(window, "the breaker window", sink);
                match (count, window) {
                    (Some(count), Some(window_ms)) => Some(Trip::Failures {
                        count: count as u32,
                        window_ms,
                    }),
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
            BreakerItem::Rate {
                percent,
                window,
                min_requests,
            } => {
                let percent = values::percent(percent, "the failure rate", sink);
                let window = values::duration(window, "the breaker window", sink);
                let min = match min_requests {
                    Some(m) => values::whole(m, "the minimum number of requests", 1, sink),
                    None => Some(10),
                };
                match (percent, window, min) {
                    (Some(percent), Some(window_ms), Some(min)) => Some(Trip::FailureRate {
                        percent,
                        window_ms,
                        min_requests: min as u32,
                    }),
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
            BreakerItem::Cooldown(d) => {
                match values::duration(d, "the breaker cool-down", sink) {
                    Some(ms) => cooldown_ms = ms,
                    None => ok = false,
                }
                None
            }
            BreakerItem::PerKey => {
                per_key = true;
                None
            }
            BreakerItem::Probes(n) => {
                match values::whole(n, "the number of probes", 1, sink) {
                    Some(n) => probes = n as u32,
                    None => ok = false,
                }
                None
            }
        };
        if let Some(t) = found {
            if let Some((_, first)) = trip {
                sink.push(
                    Diagnostic::error(item.span, "a breaker trips on one condition")
                        .related(first, "the first one is here")
                        .hint("keep either `N failures in D` or `P% failures in D`"),
                );
                ok = false;
            } else {
                trip = Some((t, item.span));
            }
        }
    }
    if !ok {
        return None;
    }
    match trip {
        Some((trip, _)) => Some(Some(Breaker {
            trip,
            cooldown_ms,
            probes,
            per_key,
        })),
        None => {
            sink.push(
                Diagnostic::error(span, "the breaker does not say when to open")
                    .hint("add `5 failures in 30s` or `50% failures in 60s min 20 requests`"),
            );
            None
        }
    }
}
