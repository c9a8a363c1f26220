//! `limit 500 rpm, 200k tpm per key`: rate limits of providers and routes.

use super::values::{self, Sink};
use crate::plan::{Limit, LimitScope, LimitUnit};
use crate::routes::ast::LimitExpr;
use crate::routes::diag::{did_you_mean, Diagnostic};

const UNITS: [(&str, LimitUnit); 4] = [
    ("rpm", LimitUnit::RequestsPerMinute),
    ("rpd", LimitUnit::RequestsPerDay),
    ("tpm", LimitUnit::TokensPerMinute),
    ("tpd", LimitUnit::TokensPerDay),
];

/// The limits of one statement; `scopes` are the `per …` words this block
/// accepts, `default` applies without one.
pub fn limits(
    expr: &LimitExpr,
    default: LimitScope,
    scopes: &[(&str, LimitScope)],
    sink: &mut Sink,
) -> Vec<Limit> {
    let scope = match &expr.scope {
        None => Some(default),
        Some(word) => match scopes.iter().find(|(w, _)| *w == word.node) {
            Some((_, s)) => Some(*s),
            None => {
                let names: Vec<&str> = scopes.iter().map(|(w, _)| *w).collect();
                sink.push(
                    Diagnostic::error(word.span, format!("a limit here cannot be counted per `{}`", word.node))
                        .hint(did_you_mean(&word.node, names.iter().copied()).unwrap_or_else(|| {
                            format!("write {}", names.iter().map(|n| format!("`per {n}`")).collect::<Vec<_>>().join(" or "))
                        })),
                );
                None
            }
        },
    };
    let mut out = Vec::new();
    for (amount, unit_word) in &expr.items {
        let unit = unit_word;
        let unit = match UNITS.iter().find(|(w, _)| *w == unit.node) {
            Some((_, u)) => Some(*u),
            None => {
                sink.push(
                    Diagnostic::error(unit.span, format!("`{}` is not a limit unit", unit.node))
                        .hint(did_you_mean(&unit.node, UNITS.iter().map(|(w, _)| *w))
                            .unwrap_or_else(|| "units are `rpm`, `rpd` (requests) and `tpm`, `tpd` (tokens)".into())),
                );
                None
            }
        };
        let amount = values::whole(amount, "a limit", 1, sink);
        if let (Some(unit), Some(amount), Some(scope)) = (unit, amount, scope) {
            if out.iter().any(|l: &Limit| l.unit == unit) {
                sink.push(Diagnostic::error(unit_word.span, "the same limit unit is given twice in one statement"));
            }
            out.push(Limit { amount, unit, scope });
        }
    }
    out
}
