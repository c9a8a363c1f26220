//! Route selection: which route of a plan serves a request, and which steps
//! its target tree expands to.
//!
//! A [`Router`] is built once per plan (it compiles every `matches` pattern
//! with regex-lite) and is then immutable. [`Router::select`] evaluates the
//! routes' conditions in order against the request's [`Facts`] and returns
//! the first route that holds; [`Router::explain`] says, route by route, why
//! each one did or did not. [`pick_chain`] flattens a route's target tree
//! into the ordered steps to try, picking one branch of every split.
//!
//! Semantics: a missing field is `null`; `==`/`!=` compare values of the
//! same type (numbers as `f64`, text, booleans, null) and values of
//! different types are unequal; `<`, `<=`, `>`, `>=` hold only between
//! numbers; `in` is "equals any"; `contains` is a substring test on text and
//! membership on `key.tags`; `matches` applies to text only. Header names are
//! case-insensitive. The common `model == …` / `model in […]` cases allocate
//! nothing.

mod index;

use super::{Balanced, BalanceMode, CompareOp, Condition, Field, Node, Route, RoutingPlan, Step, Value};
use index::ModelIndex;
use regex_lite::Regex;
use serde_json::{Map, Value as Json};
use std::borrow::Cow;

/// The request header carrying a JSON object for `metadata("…")` conditions.
pub const METADATA_HEADER: &str = "x-switchyard-metadata";

/// The gateway key a request authenticated with.
#[derive(Clone, Copy)]
pub struct KeyFacts<'a> {
    pub name: &'a str,
    pub tags: &'a [String],
}

/// Everything a condition can look at in a request.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    /// The model the client asked for.
    pub model: &'a str,
    /// `chat`, `messages` or `embeddings`.
    pub endpoint: &'a str,
    pub key: KeyFacts<'a>,
    /// Request header by lower-case name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The `x-switchyard-metadata` object ([`parse_metadata`]); `None` when
    /// absent or invalid.
    pub metadata: Option<&'a Map<String, Json>>,
    /// The request body's top-level object; `None` when not parsed.
    pub params: Option<&'a Map<String, Json>>,
}

/// The `x-switchyard-metadata` header as a JSON object; anything that is
/// not a JSON object counts as absent.
pub fn parse_metadata(header: Option<&str>) -> Option<Map<String, Json>> {
    match serde_json::from_slice(header?.as_bytes()) {
        Ok(Json::Object(map)) => Some(map),
        _ => None,
    }
}

/// A plan ready to route requests.
#[derive(Debug)]
pub struct Router {
    plan: RoutingPlan,
    /// Every `matches` pattern of the plan, compiled.
    regexes: Vec<(String, Regex)>,
    uses_params: bool,
    uses_metadata: bool,
    /// Which routes can hold for a model ([`index`]).
    index: ModelIndex,
}

impl Router {
    /// Compiles every `matches` pattern and lower-cases header names.
    /// Fails (naming the route) on a pattern regex-lite refuses or a step
    /// whose provider index is outside the plan.
    pub fn new(mut plan: RoutingPlan) -> Result<Router, String> {
        let mut routes = std::mem::take(&mut plan.routes);
        let mut router = Router {
            plan,
            regexes: Vec::new(),
            uses_params: false,
            uses_metadata: false,
            index: ModelIndex::default(),
        };
        for route in &mut routes {
            if let Some(condition) = &mut route.when {
                router
                    .prepare(condition)
                    .map_err(|e| format!("route `{}`: {e}", route.name))?;
            }
            check_providers(&route.targets, router.plan.providers.len())
                .map_err(|e| format!("route `{}`: {e}", route.name))?;
        }
        router.index = ModelIndex::new(&routes);
        router.plan.routes = routes;
        Ok(router)
    }

    fn prepare(&mut self, condition: &mut Condition) -> Result<(), String> {
        match condition {
            Condition::All(items) | Condition::Any(items) => {
                items.iter_mut().try_for_each(|c| self.prepare(c))
            }
            Condition::Not(inner) => self.prepare(inner),
            Condition::Compare { field, .. }
            | Condition::In { field, .. }
            | Condition::Contains { field, .. } => {
                self.note(field);
                Ok(())
            }
            Condition::Matches { field, pattern } => {
                self.note(field);
                if !self.regexes.iter().any(|(p, _)| p == pattern) {
                    let regex = Regex::new(pattern)
                        .map_err(|e| format!("invalid regular expression /{pattern}/: {e}"))?;
                    self.regexes.push((pattern.clone(), regex));
                }
                Ok(())
            }
        }
    }

    fn note(&mut self, field: &mut Field) {
        match field {
            Field::Header(name) => name.make_ascii_lowercase(),
            Field::Param(_) => self.uses_params = true,
            Field::Metadata(_) => self.uses_metadata = true,
            _ => {}
        }
    }

    pub fn plan(&self) -> &RoutingPlan {
        &self.plan
    }

    /// Whether some condition looks at the request body (`param(…)`): the
    /// caller parses the body into [`Facts::params`] only then.
    pub fn uses_params(&self) -> bool {
        self.uses_params
    }

    /// Whether some condition looks at `metadata(…)`.
    pub fn uses_metadata(&self) -> bool {
        self.uses_metadata
    }

    /// The first route whose condition holds (the default route holds
    /// always). Only the routes the model index names are evaluated.
    pub fn select(&self, facts: &Facts<'_>) -> Option<&Route> {
        let routes = &self.plan.routes;
        let i = self.index.find(facts.model, |i| {
            routes[i]
                .when
                .as_ref()
                .is_none_or(|condition| self.holds(condition, facts))
        })?;
        routes.get(i)
    }

    /// For every route in order: its name, whether its condition holds, and
    /// why. The route [`Router::select`] picks is the first with `true`.
    pub fn explain(&self, facts: &Facts<'_>) -> Vec<(&str, bool, String)> {
        crate::seq::map(&self.plan.routes, |_, route| match &route.when {
            None => (
                route.name.as_str(),
                true,
                "default route: no condition".to_string(),
            ),
            Some(condition) => {
                let (held, reason) = self.explain_condition(condition, facts);
                (route.name.as_str(), held, reason)
            }
        })
    }

    fn holds(&self, condition: &Condition, facts: &Facts<'_>) -> bool {
        match condition {
            Condition::All(items) => items.iter().all(|c| self.holds(c, facts)),
            Condition::Any(items) => items.iter().any(|c| self.holds(c, facts)),
            Condition::Not(inner) => !self.holds(inner, facts),
            Condition::Compare { field, op, value } => compare(&lookup(field, facts), *op, value),
            Condition::In { field, values } => {
                let got = lookup(field, facts);
                values.iter().any(|v| equals(&got, v))
            }
            Condition::Contains { field, value } => match lookup(field, facts) {
                Got::Text(text) => text.contains(value.as_str()),
                Got::Tags(tags) => tags.iter().any(|t| t == value),
                _ => false,
            },
            Condition::Matches { field, pattern } => match lookup(field, facts) {
                Got::Text(text) => self
                    .regexes
                    .iter()
                    .find(|(p, _)| p == pattern)
                    .is_some_and(|(_, re)| re.is_match(&text)),
                _ => false,
            },
        }
    }

    fn explain_condition(&self, condition: &Condition, facts: &Facts<'_>) -> (bool, String) {
        match condition {
            Condition::All(items) => {
                for item in items {
                    let (held, reason) = self.explain_condition(item, facts);
                    if !held {
                        return (false, reason);
                    }
                }
                (true, format!("all {} conditions hold", items.len()))
            }
            Condition::Any(items) => {
                let mut reasons = Vec::new();
                for item in items {
                    let (held, reason) = self.explain_condition(item, facts);
                    if held {
                        return (true, reason);
                    }
                    reasons.push(reason);
                }
                (false, format!("none holds: {}", reasons.join("; ")))
            }
            Condition::Not(inner) => {
                let (held, reason) = self.explain_condition(inner, facts);
                (!held, format!("not ({reason})"))
            }
            leaf => {
                let held = self.holds(leaf, facts);
                let field = match leaf {
                    Condition::Compare { field, .. }
                    | Condition::In { field, .. }
                    | Condition::Contains { field, .. }
                    | Condition::Matches { field, .. } => field,
                    _ => unreachable!("combinators are handled above"),
                };
                let verdict = if held { "holds" } else { "fails" };
                (
                    held,
                    format!(
                        "{} {verdict}: {} is {}",
                        describe(leaf),
                        field,
                        lookup(field, facts)
                    ),
                )
            }
        }
    }
}

/// Every step of a tree names a provider of the plan.
fn check_providers(node: &Node, providers: usize) -> Result<(), String> {
    match node {
        Node::Step(step) if step.provider >= providers => Err(format!(
            "a step names provider #{}, but the plan has {providers}",
            step.provider
        )),
        Node::Step(_) => Ok(()),
        Node::Chain(nodes) => nodes.iter().try_for_each(|n| check_providers(n, providers)),
        Node::Split(branches) => branches
            .iter()
            .try_for_each(|b| check_providers(&b.node, providers)),
        Node::Balanced(b) => b.branches.iter().try_for_each(|n| check_providers(n, providers)),
    }
}

/// The ordered steps to try for a target tree: chains concatenate, and of
/// each split one branch is picked by weight with `random` (in `[0, 1)`).
/// A balanced split, with nothing known of its targets' load, picks at
/// random (see [`pick_chain_by_load`]).
pub fn pick_chain<'p>(node: &'p Node, random: &mut impl FnMut() -> f64) -> Vec<&'p Step> {
    pick_chain_by_load(node, random, &mut |_| TargetLoad::default())
}

/// What a balanced split knows of a target.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TargetLoad {
    /// Tries in flight on it, over every isolate.
    pub in_flight: u32,
    /// Moving average of its successful tries; `None`: not measured yet.
    pub latency_ms: Option<f64>,
}

/// [`pick_chain`], with `load` telling a balanced split about the first
/// target of each of its branches.
pub fn pick_chain_by_load<'p>(
    node: &'p Node,
    random: &mut impl FnMut() -> f64,
    load: &mut dyn FnMut(&Step) -> TargetLoad,
) -> Vec<&'p Step> {
    let mut steps = Vec::new();
    collect(node, random, load, &mut steps);
    steps
}

/// The first target of every branch of every balanced split in the tree:
/// what [`pick_chain_by_load`] will ask `load` about.
pub fn balanced_candidates(node: &Node) -> Vec<&Step> {
    let mut out = Vec::new();
    fn walk<'p>(node: &'p Node, out: &mut Vec<&'p Step>) {
        match node {
            Node::Step(_) => {}
            Node::Chain(nodes) => nodes.iter().for_each(|n| walk(n, out)),
            Node::Split(branches) => branches.iter().for_each(|b| walk(&b.node, out)),
            Node::Balanced(b) => {
                for n in &b.branches {
                    if let Some(step) = first_step(n) {
                        out.push(step);
                    }
                    walk(n, out);
                }
            }
        }
    }
    walk(node, &mut out);
    out
}

/// The first target a tree would try (the first branch of every split).
pub fn first_step(node: &Node) -> Option<&Step> {
    match node {
        Node::Step(step) => Some(step),
        Node::Chain(nodes) => nodes.first().and_then(first_step),
        Node::Split(branches) => branches.first().and_then(|b| first_step(&b.node)),
        Node::Balanced(b) => b.branches.first().and_then(first_step),
    }
}

fn collect<'p>(
    node: &'p Node,
    random: &mut impl FnMut() -> f64,
    load: &mut dyn FnMut(&Step) -> TargetLoad,
    out: &mut Vec<&'p Step>,
) {
    match node {
        Node::Step(step) => out.push(step),
        Node::Chain(nodes) => nodes.iter().for_each(|n| collect(n, random, load, out)),
        Node::Split(branches) => {
            let total: f64 = branches.iter().map(|b| b.weight.max(0.0)).sum();
            let mut point = random() * total;
            let picked = branches
                .iter()
                .find(|b| {
                    point -= b.weight.max(0.0);
                    point < 0.0
                })
                .or(branches.last());
            if let Some(branch) = picked {
                collect(&branch.node, random, load, out);
            }
        }
        Node::Balanced(b) => {
            if let Some(picked) = pick_balanced(b, random, load) {
                collect(picked, random, load, out);
            }
        }
    }
}

/// The branch with the least load (by the mode); ties broken at random.
fn pick_balanced<'p>(
    b: &'p Balanced,
    random: &mut impl FnMut() -> f64,
    load: &mut dyn FnMut(&Step) -> TargetLoad,
) -> Option<&'p Node> {
    let score = |l: TargetLoad| match b.mode {
        BalanceMode::LeastBusy => l.in_flight as f64,
        BalanceMode::LowestLatency => l.latency_ms.unwrap_or(0.0),
    };
    let scores: Vec<f64> = crate::seq::map(&b.branches, |_, n| first_step(n).map_or(f64::INFINITY, |s| score(load(s))));
    let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let tied: Vec<usize> = crate::seq::keep(0..scores.len(), |i| (scores[i] == best).then_some(i));
    let pick = match tied.len() {
        0 => return b.branches.first(),
        1 => tied[0],
        n => tied[((random() * n as f64) as usize).min(n - 1)],
    };
    b.branches.get(pick)
}

/// A field's value in one request.
#[derive(Debug)]
enum Got<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Text(Cow<'a, str>),
    Tags(&'a [String]),
    /// A JSON array or object: equal to no literal.
    Other,
}

impl std::fmt::Display for Got<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Got::Null => f.write_str("null"),
            Got::Bool(b) => write!(f, "{b}"),
            Got::Number(n) => write!(f, "{n}"),
            Got::Text(t) => write!(f, "{t:?}"),
            Got::Tags(tags) => write!(f, "{tags:?}"),
            Got::Other => f.write_str("a list or object"),
        }
    }
}

fn lookup<'a>(field: &Field, facts: &Facts<'a>) -> Got<'a> {
    match field {
        Field::Model => Got::Text(Cow::Borrowed(facts.model)),
        Field::Endpoint => Got::Text(Cow::Borrowed(facts.endpoint)),
        Field::KeyName => Got::Text(Cow::Borrowed(facts.key.name)),
        Field::KeyTags => Got::Tags(facts.key.tags),
        Field::Header(name) => match (facts.header)(name) {
            Some(value) => Got::Text(Cow::Owned(value)),
            None => Got::Null,
        },
        Field::Metadata(name) => json_field(facts.metadata, name),
        Field::Param(name) => json_field(facts.params, name),
    }
}

fn json_field<'a>(object: Option<&'a Map<String, Json>>, name: &str) -> Got<'a> {
    match object.and_then(|map| map.get(name)) {
        None | Some(Json::Null) => Got::Null,
        Some(Json::Bool(b)) => Got::Bool(*b),
        Some(Json::Number(n)) => n.as_f64().map_or(Got::Other, Got::Number),
        Some(Json::String(s)) => Got::Text(Cow::Borrowed(s)),
        Some(Json::Array(_) | Json::Object(_)) => Got::Other,
    }
}

fn equals(got: &Got<'_>, value: &Value) -> bool {
    match (got, value) {
        (Got::Null, Value::Null) => true,
        (Got::Bool(a), Value::Bool(b)) => a == b,
        (Got::Number(a), Value::Number(b)) => a == b,
        (Got::Text(a), Value::Text(b)) => a.as_ref() == b.as_str(),
        _ => false,
    }
}

fn compare(got: &Got<'_>, op: CompareOp, value: &Value) -> bool {
    match op {
        CompareOp::Eq => equals(got, value),
        CompareOp::Ne => !equals(got, value),
        _ => match (got, value) {
            (Got::Number(a), Value::Number(b)) => match op {
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
                CompareOp::Gt => a > b,
                _ => a >= b,
            },
            _ => false,
        },
    }
}

fn literal(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Text(t) => format!("{t:?}"),
    }
}

/// A leaf condition in route-file syntax.
fn describe(condition: &Condition) -> String {
    match condition {
        Condition::Compare { field, op, value } => {
            let op = match op {
                CompareOp::Eq => "==",
                CompareOp::Ne => "!=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
            };
            format!("{} {op} {}", field, literal(value))
        }
        Condition::In { field, values } => {
            let values: Vec<String> = crate::seq::map(values, |_, x| literal(x));
            format!("{} in [{}]", field, values.join(", "))
        }
        Condition::Contains { field, value } => {
            format!("{} contains {value:?}", field)
        }
        Condition::Matches { field, pattern } => {
            format!("{} matches /{pattern}/", field)
        }
        Condition::All(_) | Condition::Any(_) | Condition::Not(_) => "(…)".into(),
    }
}

#[cfg(test)]
mod tests;
