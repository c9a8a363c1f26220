//! `when` conditions: from syntax to [`Condition`], with the checks that
//! catch a condition that can never hold (a number compared with `model`,
//! an unknown endpoint, `<` on text, a broken regex).

use super::values::Sink;
use crate::plan::{CompareOp, Condition, Field, Value};
use crate::routes::ast::{Cond, FieldExpr, Literal};
use crate::routes::diag::{did_you_mean, Diagnostic};
use crate::routes::source::Spanned;

/// The endpoints a request can come in on.
pub const ENDPOINTS: [&str; 3] = ["chat", "messages", "embeddings"];

/// Request parameters whose type is known, for checking comparisons.
const PARAM_TYPES: [(&str, Kind); 14] = [
    ("stream", Kind::Bool),
    ("max_tokens", Kind::Number),
    ("max_completion_tokens", Kind::Number),
    ("temperature", Kind::Number),
    ("top_p", Kind::Number),
    ("n", Kind::Number),
    ("seed", Kind::Number),
    ("presence_penalty", Kind::Number),
    ("frequency_penalty", Kind::Number),
    ("logprobs", Kind::Bool),
    ("parallel_tool_calls", Kind::Bool),
    ("user", Kind::Text),
    ("model", Kind::Text),
    ("service_tier", Kind::Text),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    /// Anything (JSON of unknown shape).
    Any,
    /// A list of text (`key.tags`).
    TextList,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Bool => "true or false",
            Kind::Any => "any value",
            Kind::TextList => "a list of text",
        }
    }
}

/// Compiles a condition; `None` after reporting a problem in it.
pub fn condition(c: &Spanned<Cond>, sink: &mut Sink) -> Option<Condition> {
    condition_at(c, sink, 0)
}

fn condition_at(c: &Spanned<Cond>, sink: &mut Sink, depth: usize) -> Option<Condition> {
    if depth > 64 {
        sink.push(Diagnostic::error(c.span, "this condition is nested too deeply").hint("simplify it"));
        return None;
    }
    let all = |items: &[Spanned<Cond>], sink: &mut Sink| -> Option<Vec<Condition>> {
        let compiled: Vec<Option<Condition>> = items.iter().map(|i| condition_at(i, sink, depth + 1)).collect();
        compiled.into_iter().collect()
    };
    Some(match &c.node {
        Cond::Or(items) => Condition::Any(all(items, sink)?),
        Cond::And(items) => Condition::All(all(items, sink)?),
        Cond::Not(inner) => Condition::Not(Box::new(condition_at(inner, sink, depth + 1)?)),
        Cond::Compare { field, op, value } => {
            let (f, kind) = field_of(field);
            let op = match op.node.as_str() {
                "==" => CompareOp::Eq,
                "!=" => CompareOp::Ne,
                "<" => CompareOp::Lt,
                "<=" => CompareOp::Le,
                ">" => CompareOp::Gt,
                ">=" => CompareOp::Ge,
                other => {
                    sink.push(Diagnostic::error(op.span, format!("`{other}` is not a comparison")));
                    return None;
                }
            };
            let v = literal(&value.node);
            if kind == Kind::TextList {
                sink.push(
                    Diagnostic::error(field.span, "`key.tags` is a list and cannot be compared")
                        .hint("write `key.tags contains \"beta\"`"),
                );
                return None;
            }
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) && !matches!(v, Value::Number(_)) {
                sink.push(
                    Diagnostic::error(value.span, format!("`{}` compares numbers, not {}", op_text(op), value_kind(&v)))
                        .label("not a number")
                        .hint("use `==` or `!=` for text, true/false and null"),
                );
                return None;
            }
            check_type(field, kind, &v, value, sink)?;
            if f == Field::Endpoint {
                check_endpoint(&v, value, sink)?;
            }
            Condition::Compare { field: f, op, value: v }
        }
        Cond::In { field, negated, values } => {
            let (f, kind) = field_of(field);
            if kind == Kind::TextList {
                sink.push(
                    Diagnostic::error(field.span, "`key.tags` is a list; `in` needs a single value")
                        .hint("write `key.tags contains \"beta\"`"),
                );
                return None;
            }
            if values.is_empty() {
                sink.push(
                    Diagnostic::error(c.span, "`in []` with an empty list never holds")
                        .hint("list at least one value"),
                );
                return None;
            }
            let mut out = Vec::new();
            for value in values {
                let v = literal(&value.node);
                check_type(field, kind, &v, value, sink)?;
                if f == Field::Endpoint {
                    check_endpoint(&v, value, sink)?;
                }
                out.push(v);
            }
            let cond = Condition::In { field: f, values: out };
            if *negated {
                Condition::Not(Box::new(cond))
            } else {
                cond
            }
        }
        Cond::Matches { field, pattern } => {
            let (f, kind) = field_of(field);
            if !matches!(kind, Kind::Text | Kind::Any) {
                sink.push(
                    Diagnostic::error(field.span, format!("`matches` looks at text, and this is {}", kind.name())),
                );
                return None;
            }
            if let Err(e) = regex_lite::Regex::new(&pattern.node) {
                let detail = e.to_string();
                let first = detail.lines().last().unwrap_or("invalid").trim().to_string();
                sink.push(
                    Diagnostic::error(pattern.span, "this regular expression is not valid")
                        .label(first)
                        .hint("the syntax is regex-lite's (Rust regex without Unicode classes)"),
                );
                return None;
            }
            Condition::Matches { field: f, pattern: pattern.node.clone() }
        }
        Cond::Contains { field, value } => {
            let (f, kind) = field_of(field);
            if kind == Kind::Number || kind == Kind::Bool {
                sink.push(Diagnostic::error(field.span, format!("`contains` looks in text or lists, and this is {}", kind.name())));
                return None;
            }
            Condition::Contains { field: f, value: value.node.clone() }
        }
    })
}

fn field_of(field: &Spanned<FieldExpr>) -> (Field, Kind) {
    match &field.node {
        FieldExpr::Model => (Field::Model, Kind::Text),
        FieldExpr::Endpoint => (Field::Endpoint, Kind::Text),
        FieldExpr::KeyName => (Field::KeyName, Kind::Text),
        FieldExpr::KeyTags => (Field::KeyTags, Kind::TextList),
        FieldExpr::Header(h) => (Field::Header(h.to_ascii_lowercase()), Kind::Text),
        FieldExpr::Metadata(m) => (Field::Metadata(m.clone()), Kind::Any),
        FieldExpr::Param(p) => {
            let kind = PARAM_TYPES.iter().find(|(n, _)| n == p).map_or(Kind::Any, |(_, k)| *k);
            (Field::Param(p.clone()), kind)
        }
    }
}

fn literal(l: &Literal) -> Value {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Number(n) => Value::Number(*n),
        Literal::Text(t) => Value::Text(t.clone()),
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::Text(_) => "text",
    }
}

fn op_text(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "==",
        CompareOp::Ne => "!=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

/// A value of the wrong type can never be equal: that is a mistake.
fn check_type(
    field: &Spanned<FieldExpr>,
    kind: Kind,
    v: &Value,
    at: &Spanned<Literal>,
    sink: &mut Sink,
) -> Option<()> {
    let fits = matches!(
        (kind, v),
        (_, Value::Null)
            | (Kind::Any, _)
            | (Kind::Text, Value::Text(_))
            | (Kind::Number, Value::Number(_))
            | (Kind::Bool, Value::Bool(_))
    );
    if fits {
        return Some(());
    }
    let hint = match (kind, v) {
        (Kind::Text, Value::Number(n)) => format!("quote it: `\"{n}\"`"),
        (Kind::Bool, Value::Text(t)) if t == "true" || t == "false" => format!("drop the quotes: `{t}`"),
        (Kind::Number, Value::Text(t)) if t.parse::<f64>().is_ok() => format!("drop the quotes: `{t}`"),
        _ => format!("compare it with {}", kind.name()),
    };
    sink.push(
        Diagnostic::error(
            at.span,
            format!(
                "this is {}, but `{}` holds {}: the comparison can never hold",
                value_kind(v),
                field_of(field).0,
                kind.name()
            ),
        )
        .label("wrong type")
        .hint(hint),
    );
    None
}


fn check_endpoint(v: &Value, at: &Spanned<Literal>, sink: &mut Sink) -> Option<()> {
    match v {
        Value::Text(t) if !ENDPOINTS.contains(&t.as_str()) => {
            sink.push(
                Diagnostic::error(at.span, format!("there is no endpoint `{t}`"))
                    .hint(did_you_mean(t, ENDPOINTS).unwrap_or_else(|| "endpoints are `chat`, `messages` and `embeddings`".into())),
            );
            None
        }
        _ => Some(()),
    }
}
