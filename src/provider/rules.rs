//! Per-model parameter rules: request fields some models refuse, declared
//! as data and applied just before a request leaves for an OpenAI-speaking
//! upstream.
//!
//! A [`Rule`] names model-id patterns and the [`Action`]s their requests
//! need. The same actions serve the provider presets' quirks (a kind that
//! calls `seed` something else). They are applied through [`Params`], which
//! both a canonical request's JSON object (`serde_json::Map`) and the raw
//! body of the fast path (an OpenAI client talking to an OpenAI-speaking
//! provider, edited in place) implement, so both paths obey one table.
//!
//! The table is small on purpose: only what OpenAI's own API refuses with a
//! 400 for a family (its reasoning models), found in its API reference and
//! the `unsupported_parameter` / `unsupported_value` errors it returns.

use serde_json::{Map, Value};

/// One change to a request's top-level fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Send field `.0` as `.1`; when `.1` is already there, `.0` is dropped.
    Rename(&'static str, &'static str),
    /// Drop field `.0` unless it holds `.1`, the only value the model takes
    /// (its default, so dropping it changes nothing the model would do).
    OnlyDefault(&'static str, f64),
    /// Drop the field.
    Drop(&'static str),
}

/// The actions requests to some models need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Model-id patterns: `name` matches exactly, `name*` any id starting
    /// with `name`. Ids are compared without case and without a vendor
    /// prefix (`openai/o3-mini` is `o3-mini`).
    pub models: &'static [&'static str],
    pub actions: &'static [Action],
    /// Why, for the reader of the table.
    pub why: &'static str,
}

/// What OpenAI's reasoning models refuse: `max_tokens` (they count
/// reasoning tokens in `max_completion_tokens`), and any sampling setting
/// other than the default.
const REASONING: &[Action] = &[
    Action::Rename("max_tokens", "max_completion_tokens"),
    Action::OnlyDefault("temperature", 1.0),
    Action::OnlyDefault("top_p", 1.0),
    Action::OnlyDefault("presence_penalty", 0.0),
    Action::OnlyDefault("frequency_penalty", 0.0),
];

/// The rules, first match wins.
pub static RULES: &[Rule] = &[
    Rule {
        models: &["gpt-5-chat*"],
        actions: &[],
        why: "the ChatGPT snapshot of GPT-5 is not a reasoning model: it takes sampling settings",
    },
    Rule {
        models: &[
            "o1",
            "o1-*",
            "o3",
            "o3-*",
            "o4-mini",
            "o4-mini-*",
            "gpt-5",
            "gpt-5-*",
            "gpt-5.*",
        ],
        actions: REASONING,
        why: "OpenAI reasoning models: `max_completion_tokens` instead of `max_tokens`, \
              and only the default temperature, top_p and penalties",
    },
];

/// The first rule whose patterns match `model`.
pub fn rule_for(model: &str) -> Option<&'static Rule> {
    let id = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    RULES
        .iter()
        .find(|rule| rule.models.iter().any(|p| matches(p, &id)))
}

/// The actions for `model` (none when no rule matches).
pub fn actions_for(model: &str) -> &'static [Action] {
    rule_for(model).map_or(&[], |rule| rule.actions)
}

fn matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => id == pattern,
    }
}

/// A request's top-level fields, as the actions see them.
pub trait Params {
    fn contains(&self, key: &str) -> bool;
    /// The field's value when it is a number.
    fn number(&self, key: &str) -> Option<f64>;
    /// The field's value is JSON `null`.
    fn is_null(&self, key: &str) -> bool;
    fn remove(&mut self, key: &str);
    /// Renames `from` to `to` (which is not there).
    fn rename(&mut self, from: &str, to: &str);
}

/// Applies `actions` in order. Returns whether anything changed.
pub fn apply(actions: &[Action], params: &mut impl Params) -> bool {
    let mut changed = false;
    for action in actions {
        match *action {
            Action::Rename(from, to) if params.contains(from) => {
                if params.contains(to) {
                    params.remove(from);
                } else {
                    params.rename(from, to);
                }
                changed = true;
            }
            Action::OnlyDefault(key, default) if params.contains(key) => {
                let keep = params.is_null(key) || params.number(key) == Some(default);
                if !keep {
                    params.remove(key);
                    changed = true;
                }
            }
            Action::Drop(key) if params.contains(key) => {
                params.remove(key);
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

impl Params for Map<String, Value> {
    fn contains(&self, key: &str) -> bool {
        self.contains_key(key)
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    fn is_null(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Value::Null))
    }

    fn remove(&mut self, key: &str) {
        Map::remove(self, key);
    }

    fn rename(&mut self, from: &str, to: &str) {
        if let Some(value) = Map::remove(self, from) {
            self.insert(to.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests;
