//! The route language front end: route files in, a [`RoutingPlan`] and every
//! diagnostic out. Native only (the `yard` CLI and the build); the Worker
//! only ever sees the compiled plan.
//!
//! ```text
//! *.route ─ parse (pest, grammar/routes.pest) ─┐
//! *.yaml ── yaml (serde_yaml + the same grammar) ┴─> ast::File ─> compile ─> RoutingPlan
//! ```
//!
//! Nothing here panics on bad input and nothing stops at the first mistake:
//! each stage returns what it could build plus its [`Diagnostic`]s.
//!
//! [`RoutingPlan`]: crate::plan::RoutingPlan

pub mod ast;
pub mod diag;
pub mod grammar;
pub mod parse;
pub mod source;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use source::{SourceFile, Sources, Span, Spanned};

/// Parses one route file, `.route` or YAML by its extension.
pub fn parse_source(file: source::FileId, source: &SourceFile) -> (ast::File, Vec<Diagnostic>) {
    if source.is_yaml() {
        yaml::parse_yaml(file, &source.text)
    } else {
        parse::parse_file(file, &source.text)
    }
}
