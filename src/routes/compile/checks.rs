//! Whole-plan checks and facts: routes that can never match because an
//! earlier one takes all their requests, and the models a plan exposes.

use super::values::Sink;
use crate::plan::{CompareOp, Condition, Field, Value};
use crate::routes::diag::Diagnostic;
use crate::routes::source::Span;
use std::collections::BTreeSet;

/// A route as the checks see it.
pub struct Matcher<'a> {
    pub name: &'a str,
    pub when: &'a Condition,
    pub span: Span,
}

/// Warns about every route whose requests an earlier route all takes.
pub fn shadowed(routes: &[Matcher], sink: &mut Sink) {
    for (i, later) in routes.iter().enumerate() {
        if let Some(earlier) = routes[..i].iter().find(|e| covers(e.when, later.when)) {
            sink.push(
                Diagnostic::warning(
                    later.span,
                    format!("route `{}` can never match: route `{}` comes first and takes every request it would", later.name, earlier.name),
                )
                .related(earlier.span, format!("`{}` matches here", earlier.name))
                .hint(format!("move `{}` above `{}`, or narrow `{}`", later.name, earlier.name, earlier.name)),
            );
        }
    }
}

/// Whether every request that satisfies `b` also satisfies `a` (a sound
/// under-approximation: `false` when unsure).
fn covers(a: &Condition, b: &Condition) -> bool {
    if a == b {
        return true;
    }
    // `a` holds whenever one of its alternatives covers `b`.
    if let Condition::Any(alts) = a {
        if alts.iter().any(|alt| covers(alt, b)) {
            return true;
        }
    }
    match b {
        // `b` holds only when all its parts do: enough that one part is covered.
        Condition::All(parts) => {
            if parts.iter().any(|part| covers(a, part)) {
                return true;
            }
        }
        // Every alternative of `b` must be covered.
        Condition::Any(alts) => {
            if alts.iter().all(|alt| covers(a, alt)) {
                return true;
            }
        }
        _ => {}
    }
    // Both constrain the same field to a set of values.
    match (values_of(a), values_of(b)) {
        (Some((fa, va)), Some((fb, vb))) => fa == fb && vb.iter().all(|v| va.contains(v)),
        _ => false,
    }
}

/// `field == v` or `field in [v…]` (or `or` of those on one field).
fn values_of(c: &Condition) -> Option<(&Field, Vec<&Value>)> {
    match c {
        Condition::Compare { field, op: CompareOp::Eq, value } => Some((field, vec![value])),
        Condition::In { field, values } => Some((field, values.iter().collect())),
        Condition::Any(alts) => {
            let mut field = None;
            let mut all = Vec::new();
            for alt in alts {
                let (f, vs) = values_of(alt)?;
                if field.is_some_and(|prev| prev != f) {
                    return None;
                }
                field = Some(f);
                all.extend(vs);
            }
            Some((field?, all))
        }
        _ => None,
    }
}

/// Models a condition names positively (`model == "x"`, `model in [...]`).
pub fn named_models(c: &Condition, out: &mut BTreeSet<String>) {
    match c {
        Condition::All(items) | Condition::Any(items) => items.iter().for_each(|i| named_models(i, out)),
        Condition::Compare { field: Field::Model, op: CompareOp::Eq, value: Value::Text(m) } => {
            out.insert(m.clone());
        }
        Condition::In { field: Field::Model, values } => {
            for v in values {
                if let Value::Text(m) = v {
                    out.insert(m.clone());
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_is(m: &str) -> Condition {
        Condition::Compare { field: Field::Model, op: CompareOp::Eq, value: Value::Text(m.into()) }
    }

    fn model_in(ms: &[&str]) -> Condition {
        Condition::In { field: Field::Model, values: ms.iter().map(|m| Value::Text(m.to_string())).collect() }
    }

    #[test]
    fn broader_sets_cover_narrower_ones() {
        assert!(covers(&model_in(&["a", "b"]), &model_is("a")));
        assert!(covers(&model_in(&["a", "b"]), &Condition::All(vec![model_is("b"), model_is("x")])));
        assert!(covers(&Condition::Any(vec![model_is("a"), model_is("b")]), &model_in(&["b", "a"])));
        assert!(!covers(&model_is("a"), &model_in(&["a", "b"])));
        let header = Condition::Compare {
            field: Field::Header("x".into()),
            op: CompareOp::Eq,
            value: Value::Text("a".into()),
        };
        assert!(!covers(&header, &model_is("a")), "different fields never cover");
        assert!(!covers(&Condition::Not(Box::new(model_is("a"))), &model_is("b")), "unsure means no");
    }
}
