//! The model index of a [`Router`](super::Router): which routes can hold
//! for a given model, so `select` evaluates only those.
//!
//! Most conditions pin the model (`model == "x"`, `model in [...]`, or an
//! `and` with such a part). Such a route can only hold when the request's
//! model is one of its models, so it is filed under each of them; every
//! other route (no condition, or one that does not pin the model) is
//! "open" and always a candidate. The candidates for a model are the merge
//! of its filed routes and the open routes, in plan order, so the first
//! candidate whose condition holds is exactly the route a full scan finds.

use super::{CompareOp, Condition, Field, Route, Value};
use crate::keyed::Keyed;

#[derive(Debug, Default)]
pub struct ModelIndex {
    /// Increasing route indices per model.
    by_model: Keyed<Vec<usize>>,
    /// Increasing indices of the routes that do not pin the model.
    open: Vec<usize>,
}

impl ModelIndex {
    pub fn new(routes: &[Route]) -> ModelIndex {
        let mut index = ModelIndex::default();
        for (i, route) in routes.iter().enumerate() {
            match route.when.as_ref().and_then(pinned_models) {
                Some(models) => {
                    for model in models {
                        let list = index.by_model.get_or_insert_with(model, Vec::new);
                        // `model in ["a", "a"]` files the route once.
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                None => index.open.push(i),
            }
        }
        index
    }

    /// Calls `f` with the index of every route that may hold for `model`,
    /// in plan order, until `f` returns `true`; returns that index.
    pub fn find(&self, model: &str, mut f: impl FnMut(usize) -> bool) -> Option<usize> {
        let pinned = self.by_model.get(model).map_or(&[][..], Vec::as_slice);
        let (mut a, mut b) = (pinned.iter().peekable(), self.open.iter().peekable());
        loop {
            // Merge the two increasing lists (they never share an index).
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => return None,
            };
            let i = *next?;
            if f(i) {
                return Some(i);
            }
        }
    }
}

/// The models a condition requires the request's model to be one of, or
/// `None` when it does not pin the model. Sound, never complete: when the
/// condition holds, the model is in the returned list.
fn pinned_models(condition: &Condition) -> Option<Vec<&str>> {
    match condition {
        Condition::Compare { field: Field::Model, op: CompareOp::Eq, value } => Some(texts(std::slice::from_ref(value))),
        Condition::In { field: Field::Model, values } => Some(texts(values)),
        // All parts must hold: any part that pins the model pins the whole.
        Condition::All(items) => items.iter().find_map(pinned_models),
        // One alternative holds: each must pin the model, the union is pinned.
        Condition::Any(items) => {
            let mut all = Vec::new();
            for item in items {
                all.extend(pinned_models(item)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// The text values (a model is text: it never equals a number, a boolean
/// or `null`).
fn texts(values: &[Value]) -> Vec<&str> {
    crate::seq::keep(values, |v| match v {
        Value::Text(t) => Some(t.as_str()),
        _ => None,
    })
}
