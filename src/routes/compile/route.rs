//! Routes: condition, policy, cache, limits and the target tree, with each
//! step's effective policy resolved.

use super::condition::condition;
use super::limits::limits;
use super::policy::{unknown_statement, Draft, Policies};
use super::values::{self, Sink};
use crate::plan::{Balanced, Branch, Cache, Condition, LimitScope, ModelRef, Node, Policy, Provider, Route, Step};
use crate::routes::ast::{Block, CacheExpr, ModelExpr, RouteStmt, Target};
use crate::routes::diag::{did_you_mean, Diagnostic};
use crate::routes::source::{Span, Spanned};
use std::collections::HashSet;

pub const KEYWORDS: [&str; 6] = ["when", "use", "cache", "limit", "try", "split"];

/// Deepest nesting of `( … )` in a target tree.
const MAX_DEPTH: usize = 32;

/// What the route pass needs from the others.
pub struct Context<'a, 'p> {
    pub providers: &'a [Provider],
    /// The plan's policy table, filled as steps are compiled.
    pub table: &'a mut Vec<Policy>,
    /// Providers that failed to parse: using them is not a second mistake.
    pub broken_providers: &'a HashSet<String>,
    pub policies: &'a mut Policies<'p>,
    /// Marks providers that some route uses.
    pub used: &'a mut [bool],
}

/// A compiled route and the spans later checks point at.
pub struct Compiled {
    pub route: Route,
    pub when_span: Option<Span>,
    pub targets_span: Span,
}

pub fn route(block: &Block<RouteStmt>, location: String, cx: &mut Context, sink: &mut Sink) -> Option<Compiled> {
    let mut ok = true;
    let mut when: Option<(Option<Condition>, Span)> = None;
    let mut cache = None;
    let mut route_limits = Vec::new();
    let mut policy_name = None;
    let mut targets: Option<&Spanned<Target>> = None;
    let first_of = |word: &str, first: Option<Span>, span: Span, sink: &mut Sink| -> bool {
        if let Some(first) = first {
            sink.push(
                Diagnostic::error(span, format!("route `{}` has a second `{word}`", block.name.node))
                    .related(first, "the first one")
                    .hint(match word {
                        "when" => "combine conditions with `and` / `or`".to_string(),
                        "try" => "chain more targets with `else`, or nest a split in parentheses".to_string(),
                        _ => "keep one of them".to_string(),
                    }),
            );
            false
        } else {
            true
        }
    };
    let mut cache_span = None;
    let mut use_span = None;
    for stmt in &block.stmts {
        match &stmt.node {
            RouteStmt::When(c) => {
                if first_of("when", when.as_ref().map(|w| w.1), stmt.span, sink) {
                    let compiled = condition(c, sink);
                    ok &= compiled.is_some();
                    when = Some((compiled, c.span));
                }
            }
            RouteStmt::Use(name) => {
                if first_of("use", use_span, stmt.span, sink) {
                    use_span = Some(stmt.span);
                    policy_name = Some(name);
                }
            }
            RouteStmt::Cache(c) => {
                if first_of("cache", cache_span, stmt.span, sink) {
                    cache_span = Some(stmt.span);
                    cache = match c {
                        CacheExpr::Off => None,
                        CacheExpr::Ttl { ttl, sampled } => values::duration(ttl, "the cache lifetime", sink)
                            .map(|ttl_ms| Cache { ttl_ms, sampled: *sampled }),
                    };
                }
            }
            RouteStmt::Limit(l) => route_limits.extend(limits(
                l,
                LimitScope::GatewayKey,
                &[("key", LimitScope::GatewayKey), ("route", LimitScope::Route)],
                sink,
            )),
            RouteStmt::Targets(t) => {
                if first_of("try", targets.map(|t| t.span), t.span, sink) {
                    targets = Some(t);
                }
            }
            RouteStmt::Unknown(u) => sink.push(unknown_statement(&u.keyword, "a route", &KEYWORDS)),
        }
    }
    let base = match policy_name {
        Some(name) => cx.policies.named(name, sink),
        None => cx.policies.named(&Spanned::new("default".into(), block.name.span), sink),
    };
    let Some(targets) = targets else {
        sink.push(
            Diagnostic::error(block.name.span, format!("route `{}` has no targets", block.name.node))
                .hint("add where it goes, e.g. `try openai:gpt-4o`"),
        );
        return None;
    };
    // A broken policy is reported already; the targets are still checked
    // (under the built-in default) so their own mistakes show too.
    ok &= base.is_some();
    let base = base.unwrap_or_else(Draft::builtin);
    let node = target(targets, &base, cx, sink, 0)?;
    if !ok {
        return None;
    }
    Some(Compiled {
        route: Route {
            name: block.name.node.clone(),
            when: when.as_ref().and_then(|w| w.0.clone()),
            cache,
            limits: route_limits,
            targets: node,
            source: location,
        },
        when_span: when.map(|w| w.1),
        targets_span: targets.span,
    })
}

fn target(t: &Spanned<Target>, base: &Draft, cx: &mut Context, sink: &mut Sink, depth: usize) -> Option<Node> {
    if depth > MAX_DEPTH {
        sink.push(Diagnostic::error(t.span, "targets are nested too deeply").hint("flatten the chain"));
        return None;
    }
    match &t.node {
        Target::Step(step) => {
            let index = match cx.providers.iter().position(|p| p.name == step.provider.node) {
                Some(i) => i,
                None if cx.broken_providers.contains(&step.provider.node) => return None,
                None => {
                    sink.push(
                        Diagnostic::error(step.provider.span, format!("unknown provider `{}`", step.provider.node))
                            .label("no provider has this name")
                            .maybe_hint(did_you_mean(&step.provider.node, cx.providers.iter().map(|p| p.name.as_str()))),
                    );
                    return None;
                }
            };
            cx.used[index] = true;
            let provider = &cx.providers[index];
            let model = match &step.model.node {
                ModelExpr::Request => ModelRef::Request,
                ModelExpr::Named(m) => match provider.aliases.iter().find(|(a, _)| a == m) {
                    Some((_, real)) => ModelRef::Fixed(real.clone()),
                    None => ModelRef::Fixed(m.clone()),
                },
            };
            if matches!(&model, ModelRef::Fixed(m) if m.trim().is_empty()) {
                sink.push(Diagnostic::error(step.model.span, "the model name is empty"));
                return None;
            }
            let draft = match &step.with {
                None => base.clone(),
                Some(with) => {
                    let start = match &with.policy {
                        Some(name) => cx.policies.named(name, sink)?,
                        None => base.clone(),
                    };
                    cx.policies.inline(start, &with.inline, with.span, sink)
                }
            };
            let policy = intern(cx.table, draft.policy);
            Some(Node::Step(Step { provider: index, model, policy }))
        }
        Target::Chain(items) => {
            if items.is_empty() {
                sink.push(Diagnostic::error(t.span, "this chain has no targets").hint("name at least one `provider:model`"));
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match target(item, base, cx, sink, depth + 1) {
                    Some(Node::Chain(inner)) => out.extend(inner),
                    Some(node) => out.push(node),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Some(if out.len() == 1 { out.pop()? } else { Node::Chain(out) })
        }
        Target::Split(branches) => {
            if branches.is_empty() {
                sink.push(Diagnostic::error(t.span, "this split has no branches"));
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            let mut sum = 0.0;
            for (weight, node) in branches {
                if !weight.node.is_finite() || weight.node <= 0.0 {
                    sink.push(
                        Diagnostic::error(weight.span, format!("a split weight must be more than 0% (this is {}%)", weight.node))
                            .label("never picked")
                            .hint("remove the branch, or give it a positive weight"),
                    );
                    ok = false;
                } else {
                    sum += weight.node;
                }
                match target(node, base, cx, sink, depth + 1) {
                    Some(n) => out.push(Branch { weight: weight.node, node: n }),
                    None => ok = false,
                }
            }
            if ok && (sum - 100.0).abs() > 1e-6 {
                sink.push(
                    Diagnostic::error(t.span, format!("the split's weights add up to {}%, not 100%", round(sum)))
                        .hint("make the percentages add up to 100 so each one means what it says"),
                );
                ok = false;
            }
            ok.then_some(Node::Split(out))
        }
        Target::Balanced(mode, branches) => {
            if branches.len() < 2 {
                sink.push(
                    Diagnostic::error(t.span, format!("a `{}` split needs at least two branches to choose from", mode.node.name()))
                        .hint("add another target after a comma, or write the target with `try`"),
                );
                return None;
            }
            let mut out = Vec::new();
            let mut ok = true;
            for node in branches {
                match target(node, base, cx, sink, depth + 1) {
                    Some(n) => out.push(n),
                    None => ok = false,
                }
            }
            ok.then_some(Node::Balanced(Balanced { mode: mode.node, branches: out }))
        }
    }
}

/// The index of `policy` in the table, added if new (the table holds a
/// handful of distinct policies, so a scan is cheap).
fn intern(table: &mut Vec<Policy>, policy: Policy) -> usize {
    match table.iter().position(|p| *p == policy) {
        Some(i) => i,
        None => {
            table.push(policy);
            table.len() - 1
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The most upstream calls a target tree can make: a step makes at most
/// `attempts + keys - 1` (a refused key moves to the next key without
/// spending an attempt), a chain the sum, a split its largest branch.
pub fn max_calls(node: &Node, providers: &[Provider], policies: &[Policy]) -> u64 {
    match node {
        Node::Step(s) => {
            let keys = providers[s.provider].keys.len().max(1) as u64;
            policies[s.policy].attempts as u64 + keys - 1
        }
        Node::Chain(items) => items.iter().map(|n| max_calls(n, providers, policies)).sum(),
        Node::Split(branches) => {
            branches.iter().map(|b| max_calls(&b.node, providers, policies)).max().unwrap_or(0)
        }
        Node::Balanced(b) => b.branches.iter().map(|n| max_calls(n, providers, policies)).max().unwrap_or(0),
    }
}
