//! `GET /v1/switchyard/status` (admin gateway keys only): every limiter's
//! fill levels, every target's breaker state, tries in flight and latency.
//!
//! Which objects exist is derived from the plan: a route's limits per
//! route and per gateway key (every key of `GATEWAY_KEYS`), a provider's
//! per provider and per provider key, and every target with a breaker or
//! in a balanced split. A `provider:{model}` target has one object per
//! model clients asked for: those come from the directory of targets
//! ([`crate::breaker::directory`], where every isolate registers the ones
//! it used) and this isolate's own memory, so an instance that served
//! nothing still reports a target another one tripped. At most
//! [`MAX_OBJECTS`] objects are asked, all at once, each within
//! `OBJECT_TIMEOUT_MS`; one that does not answer is reported with its
//! error, the others still are.

use super::{guard, objects};
use crate::breaker::directory;
use crate::breaker::object::{target_key, Message as TargetMessage, Op, Snapshot, Tally};
use crate::breaker::{self};
use crate::config::Settings;
use crate::limits::object::{Message as LimiterMessage, Verdict};
use crate::limits::{self};
use crate::plan::{balanced_candidates, Breaker, LimitScope, ModelRef, Node, RoutingPlan, Step};
use crate::status_doc;
use worker::Env;

/// The most objects one status request asks.
pub const MAX_OBJECTS: usize = 200;

fn steps<'p>(node: &'p Node, out: &mut Vec<&'p Step>) {
    match node {
        Node::Step(s) => out.push(s),
        Node::Chain(items) => items.iter().for_each(|n| steps(n, out)),
        Node::Split(branches) => branches.iter().for_each(|b| steps(&b.node, out)),
        Node::Balanced(b) => b.branches.iter().for_each(|n| steps(n, out)),
    }
}

/// The limiter object names the plan implies.
fn limiter_keys(plan: &RoutingPlan, settings: &Settings) -> Vec<String> {
    let mut keys = Vec::new();
    for route in &plan.routes {
        if route.limits.iter().any(|l| l.scope == LimitScope::Route) {
            keys.push(format!("route:{}", route.name));
        }
        if route.limits.iter().any(|l| l.scope == LimitScope::GatewayKey) {
            keys.extend(settings.gateway_keys.names().map(|k| format!("route:{}|key:{k}", route.name)));
        }
    }
    for p in &plan.providers {
        if p.limits.iter().any(|l| l.scope == LimitScope::Provider) {
            keys.push(format!("provider:{}", p.name));
        }
        if p.limits.iter().any(|l| l.scope == LimitScope::ProviderKey) {
            keys.extend(p.keys.iter().map(|k| format!("provider:{}|key:{k}", p.name)));
        }
    }
    keys.dedup();
    keys
}

/// The tracked steps of `plan` (with a breaker, or in a balanced split),
/// with their breakers.
fn tracked(plan: &RoutingPlan) -> Vec<(&Step, Option<Breaker>)> {
    let mut out = Vec::new();
    for route in &plan.routes {
        let balanced = balanced_candidates(&route.targets);
        let mut all = Vec::new();
        steps(&route.targets, &mut all);
        for step in all {
            let cfg = plan.policy(step).breaker;
            if cfg.is_some() || balanced.iter().any(|b| std::ptr::eq(*b, step)) {
                out.push((step, cfg));
            }
        }
    }
    out
}

/// The target objects the plan implies, with their breakers; `known`:
/// the targets of `{model}` steps used so far.
fn targets(plan: &RoutingPlan, known: &[String]) -> Vec<(String, Option<Breaker>)> {
    let mut out: Vec<(String, Option<Breaker>)> = Vec::new();
    let mut add = |key: String, cfg: Option<Breaker>| {
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, cfg));
        }
    };
    for (step, cfg) in tracked(plan) {
        let provider = plan.provider(step);
        match &step.model {
            ModelRef::Fixed(m) if cfg.is_some_and(|b| b.per_key) && !provider.keys.is_empty() => {
                for secret in &provider.keys {
                    add(format!("{}|key:{secret}", target_key(&provider.name, m)), cfg);
                }
            }
            ModelRef::Fixed(m) => add(target_key(&provider.name, m), cfg),
            ModelRef::Request => {
                let prefix = format!("{}:", provider.name);
                for k in known.iter().filter(|k| k.starts_with(&prefix)) {
                    add(k.clone(), cfg);
                }
            }
        }
    }
    out
}

/// The targets of `{model}` steps any isolate has used: the directory's
/// list and this isolate's own. `Err`: the directory did not answer (this
/// isolate's own are still given).
async fn known_targets(env: &Env, plan: &RoutingPlan, timeout: u64, offset_ms: i64) -> (Vec<String>, Option<String>) {
    let mut known = guard::known_targets();
    if !tracked(plan).iter().any(|(s, _)| matches!(s.model, ModelRef::Request)) || !objects::bound(env, breaker::BINDING) {
        return (known, None);
    }
    let asked = objects::call_at::<_, directory::Listing>(
        env,
        breaker::BINDING,
        directory::NAME,
        directory::PATH,
        &directory::Message::default(),
        timeout,
        offset_ms,
    )
    .await;
    match asked {
        Ok(listing) => {
            for key in listing.keys {
                if !known.contains(&key) {
                    known.push(key);
                }
            }
            known.sort();
            (known, None)
        }
        Err(reason) => (known, Some(reason)),
    }
}

/// The status document.
pub async fn body(env: &Env, settings: &Settings, plan: &RoutingPlan, offset_ms: i64) -> String {
    let timeout = settings.object_timeout_ms;
    let (known, directory_error) = known_targets(env, plan, timeout, offset_ms).await;
    let mut limiter_names = limiter_keys(plan, settings);
    let mut target_list = targets(plan, &known);
    let truncated = limiter_names.len() + target_list.len() > MAX_OBJECTS;
    limiter_names.truncate(MAX_OBJECTS);
    target_list.truncate(MAX_OBJECTS - limiter_names.len());

    let limiter_calls = limiter_names.iter().map(|key| async move {
        let answer = if objects::bound(env, limits::BINDING) {
            objects::call::<_, Verdict>(env, limits::BINDING, key, &LimiterMessage::Peek, timeout, offset_ms).await
        } else {
            Err(format!("{} is not bound", limits::BINDING))
        };
        status_doc::limiter(key, &answer)
    });
    let target_calls = target_list.iter().map(|(key, cfg)| async move {
        let message = TargetMessage { op: Op::Peek, breaker: *cfg, isolate: 0, in_flight: 0, tally: Tally::default(), probe: None };
        let answer = if objects::bound(env, breaker::BINDING) {
            objects::call::<_, Snapshot>(env, breaker::BINDING, key, &message, timeout, offset_ms).await
        } else {
            Err(format!("{} is not bound", breaker::BINDING))
        };
        status_doc::target(key, cfg.is_some(), &answer)
    });
    let (limiters, targets) = futures::future::join(super::join::all(limiter_calls), super::join::all(target_calls)).await;
    let header = status_doc::Header {
        plan: &plan.hash,
        breaker_cache_ms: settings.breaker_cache_ms,
        truncated,
        directory_error: directory_error.as_deref(),
    };
    status_doc::document(&header, &limiters, &targets)
}
