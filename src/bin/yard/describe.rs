//! Plans back into words: a step's effective policy written in route-file
//! syntax, and a target tree as an indented outline, for `yard explain`.

use switchyard::routes::compile::show_ms;
use switchyard::plan::{
    Backoff, BackoffShape, BalanceMode, Breaker, Jitter, ModelRef, Node, Outcome, Policy, RoutingPlan, Step, Trip,
};

/// A duration as route files write it.
fn ms(ms: u64) -> String {
    show_ms(ms)
}

fn outcome(o: &Outcome) -> String {
    match o {
        Outcome::Status(s) => s.to_string(),
        Outcome::Class4xx => "4xx".into(),
        Outcome::Class5xx => "5xx".into(),
        Outcome::Timeout => "timeout".into(),
        Outcome::Connect => "connect".into(),
        Outcome::Reset => "reset".into(),
        Outcome::Malformed => "malformed".into(),
        Outcome::Truncated => "truncated".into(),
        Outcome::ContextLength => "context_length".into(),
        Outcome::ContentPolicy => "content_policy".into(),
    }
}

fn list(items: &[Outcome]) -> String {
    format!("[{}]", items.iter().map(outcome).collect::<Vec<_>>().join(", "))
}

fn backoff(b: &Backoff) -> String {
    let shape = match b.shape {
        BackoffShape::Constant => format!("constant {}", ms(b.base_ms)),
        BackoffShape::Linear => format!("linear {}..{}", ms(b.base_ms), ms(b.cap_ms)),
        BackoffShape::Exponential => format!("exponential {}..{}", ms(b.base_ms), ms(b.cap_ms)),
    };
    match b.jitter {
        Jitter::None => shape,
        Jitter::Full => format!("{shape} jitter full"),
        Jitter::Equal => format!("{shape} jitter equal"),
    }
}

fn breaker(b: &Option<Breaker>) -> String {
    match b {
        None => "off".into(),
        Some(b) => {
            let trip = match b.trip {
                Trip::Failures { count, window_ms } => format!("{count} failures in {}", ms(window_ms)),
                Trip::FailureRate { percent, window_ms, min_requests } => {
                    format!("{percent}% failures in {} min {min_requests} requests", ms(window_ms))
                }
            };
            let per_key = if b.per_key { ", per key" } else { "" };
            format!("{trip}, cooldown {}, probes {}{per_key}", ms(b.cooldown_ms), b.probes)
        }
    }
}

/// The policy as the statements that would produce it, one per line.
pub fn policy(p: &Policy) -> Vec<String> {
    let mut timeout = format!("{} per attempt", ms(p.attempt_timeout_ms));
    if let Some(fb) = p.first_byte_timeout_ms {
        timeout.push_str(&format!(", {} first byte", ms(fb)));
    }
    timeout.push_str(&format!(", {} total", ms(p.total_timeout_ms)));
    vec![
        format!("attempts {}", p.attempts),
        format!("retry on {}", list(&p.retry_on)),
        format!("fallback on {}", list(&p.fallback_on)),
        format!("backoff {}", backoff(&p.backoff)),
        match p.retry_after_cap_ms {
            Some(cap) => format!("retry_after up to {}", ms(cap)),
            None => "retry_after ignore".into(),
        },
        format!("timeout {timeout}"),
        format!("breaker {}", breaker(&p.breaker)),
    ]
}

/// `provider:model` of a step.
pub fn step_name(plan: &RoutingPlan, step: &Step) -> String {
    let provider = &plan.providers[step.provider].name;
    match &step.model {
        ModelRef::Fixed(m) => format!("{provider}:{m}"),
        ModelRef::Request => format!("{provider}:{{model}}"),
    }
}

/// `provider:model` with the model actually sent for a request for `model`.
pub fn step_for(plan: &RoutingPlan, step: &Step, model: &str) -> String {
    match &step.model {
        ModelRef::Fixed(_) => step_name(plan, step),
        ModelRef::Request => format!("{}:{model}", plan.providers[step.provider].name),
    }
}

/// The target tree as numbered, indented lines with each step's policy.
pub fn tree(plan: &RoutingPlan, node: &Node, request_model: &str) -> String {
    let mut out = String::new();
    let mut counter = 0;
    walk(plan, node, request_model, 1, &mut counter, &mut out);
    out
}

fn walk(plan: &RoutingPlan, node: &Node, model: &str, depth: usize, n: &mut usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match node {
        Node::Step(step) => {
            *n += 1;
            let sent = match &step.model {
                ModelRef::Request => format!("  (model `{model}` passed through)"),
                ModelRef::Fixed(_) => String::new(),
            };
            let keys = &plan.providers[step.provider].keys;
            let keys = if keys.is_empty() {
                "no key".to_string()
            } else {
                format!("keys {}", keys.join(" → "))
            };
            out.push_str(&format!("{pad}{}. {}{sent}  [{keys}]\n", n, step_name(plan, step)));
            for line in policy(plan.policy(step)) {
                out.push_str(&format!("{pad}     {line}\n"));
            }
        }
        Node::Chain(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&format!("{pad}else\n"));
                }
                walk(plan, item, model, depth, n, out);
            }
        }
        Node::Split(branches) => {
            out.push_str(&format!("{pad}split, one branch picked at random:\n"));
            for b in branches {
                out.push_str(&format!("{pad}  {}%:\n", b.weight));
                walk(plan, &b.node, model, depth + 2, n, out);
            }
        }
        Node::Balanced(b) => {
            let by = match b.mode {
                BalanceMode::LeastBusy => "the fewest tries in flight",
                BalanceMode::LowestLatency => "the lowest latency",
            };
            out.push_str(&format!("{pad}split {}, the branch whose first target has {by}:\n", b.mode.name()));
            for node in &b.branches {
                out.push_str(&format!("{pad}  -\n"));
                walk(plan, node, model, depth + 2, n, out);
            }
        }
    }
}
