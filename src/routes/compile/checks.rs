//! Whole-plan checks and facts: routes that can never match because an
//! earlier one takes all their requests, and the models a plan exposes.

use super::values::Sink;
use crate::plan::{CompareOp, Condition, Field, Value};
use crate::routes::diag::Diagnostic;
use crate::routes::source::Span;
use std::collections::{BTreeSet, HashMap};

/// A route as the checks see it.
pub struct Matcher<'a> {
    pub name: &'a str,
    pub when: &'a Condition,
    pub span: Span,
}

/// Warns about every route whose requests an earlier route all takes.
///
/// Linear in the number of routes: earlier conditions are indexed by their
/// exact form and by the values they pin a field to, so a route is only
/// compared with the earlier routes that could cover it.
pub fn shadowed(routes: &[Matcher], sink: &mut Sink) {
    let mut exact: HashMap<String, usize> = HashMap::new();
    let mut by_value: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let key = |f: &Field, v: &Value| (format!("{f:?}"), format!("{v:?}"));
    for (i, later) in routes.iter().enumerate() {
        let form = format!("{:?}", later.when);
        let mut cover = exact.get(&form).copied();
        if cover.is_none() {
            // Candidates: earlier routes pinning a field to a value this
            // route (or one of its `and` parts) requires.
            'parts: for part in parts(later.when) {
                if let Some((field, values)) = values_of(part) {
                    let Some(first) = values.first() else { continue };
                    for &c in by_value.get(&key(field, first)).into_iter().flatten() {
                        if covers(routes[c].when, later.when) {
                            cover = Some(c);
                            break 'parts;
                        }
                    }
                }
            }
        }
        if let Some(c) = cover {
            let earlier = &routes[c];
            sink.push(
                Diagnostic::warning(
                    later.span,
                    format!("route `{}` can never match: route `{}` comes first and takes every request it would", later.name, earlier.name),
                )
                .related(earlier.span, format!("`{}` matches here", earlier.name))
                .hint(format!("move `{}` above `{}`, or narrow `{}`", later.name, earlier.name, earlier.name)),
            );
        }
        exact.entry(form).or_insert(i);
        // Indexed by its own values and by those of each `or` alternative.
        let alternatives = match later.when {
            Condition::Any(alts) => std::iter::once(later.when).chain(alts.iter()).collect(),
            _ => vec![later.when],
        };
        for alt in alternatives {
            if let Some((field, values)) = values_of(alt) {
                for v in values {
                    let list = by_value.entry(key(field, v)).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
}

/// The condition itself and, for an `and`, each of its parts.
fn parts(c: &Condition) -> Vec<&Condition> {
    match c {
        Condition::All(items) => std::iter::once(c).chain(items.iter()).collect(),
        _ => vec![c],
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
        Condition::All(parts) if parts.iter().any(|part| covers(a, part)) => return true,
        // Every alternative of `b` must be covered.
        Condition::Any(alts) if alts.iter().all(|alt| covers(a, alt)) => return true,
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
