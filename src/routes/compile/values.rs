//! Checks for the numbers written in route files: durations, counts,
//! percentages. Each returns the value in plan units or pushes a diagnostic
//! saying what is wrong and returns `None`.

use crate::routes::diag::Diagnostic;
use crate::routes::source::Spanned;

/// Collects diagnostics while a pass runs.
pub type Sink = Vec<Diagnostic>;

/// A duration in whole milliseconds, > 0.
pub fn duration(d: &Spanned<f64>, what: &str, sink: &mut Sink) -> Option<u64> {
    if !d.node.is_finite() || d.node <= 0.0 {
        sink.push(
            Diagnostic::error(d.span, format!("{what} must be longer than zero"))
                .label("not a positive duration")
                .hint("write a positive duration such as `250ms`, `8s` or `1h`"),
        );
        return None;
    }
    if d.node < 1.0 {
        sink.push(
            Diagnostic::error(d.span, format!("{what} is shorter than a millisecond"))
                .hint("durations are counted in whole milliseconds; write at least `1ms`"),
        );
        return None;
    }
    Some(d.node.round() as u64)
}

/// A whole number ≥ `min`.
pub fn whole(n: &Spanned<f64>, what: &str, min: u64, sink: &mut Sink) -> Option<u64> {
    if !n.node.is_finite() || n.node.fract() != 0.0 {
        sink.push(
            Diagnostic::error(n.span, format!("{what} must be a whole number"))
                .label("not a whole number"),
        );
        return None;
    }
    if n.node < min as f64 {
        let hint = if min == 1 {
            format!("{what} must be at least 1")
        } else {
            format!("{what} must be at least {min}")
        };
        sink.push(
            Diagnostic::error(n.span, format!("{what} cannot be {}", n.node))
                .label("too small")
                .hint(hint),
        );
        return None;
    }
    if n.node > u32::MAX as f64 {
        sink.push(Diagnostic::error(n.span, format!("{what} is too large")));
        return None;
    }
    Some(n.node as u64)
}

/// A percentage in `(0, 100]`.
pub fn percent(p: &Spanned<f64>, what: &str, sink: &mut Sink) -> Option<f64> {
    if !p.node.is_finite() || p.node <= 0.0 || p.node > 100.0 {
        sink.push(
            Diagnostic::error(p.span, format!("{what} must be more than 0% and at most 100%"))
                .label("out of range"),
        );
        return None;
    }
    Some(p.node)
}

/// A price in USD per million tokens, ≥ 0.
pub fn price(p: &Spanned<f64>, sink: &mut Sink) -> Option<f64> {
    if !p.node.is_finite() || p.node < 0.0 {
        sink.push(
            Diagnostic::error(p.span, "a price cannot be negative")
                .hint("prices are USD per million tokens, e.g. `input 2.50 output 10.00`"),
        );
        return None;
    }
    Some(p.node)
}
