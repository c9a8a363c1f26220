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
pub mod compile;
pub mod diag;
pub mod grammar;
pub mod load;
pub mod parse;
pub mod source;
pub mod yaml;

pub use compile::{Compiled, Options};
pub use diag::{Diagnostic, Severity};
pub use source::{SourceFile, Sources, Span, Spanned};

/// Parses and compiles every file of `sources`: the plan when there is no
/// error, and every diagnostic of every stage, ordered by file and position.
pub fn compile_sources(sources: &Sources, options: &Options) -> Compiled {
    let mut diagnostics = Vec::new();
    let files: Vec<ast::File> = sources
        .files()
        .iter()
        .enumerate()
        .map(|(id, file)| {
            let (parsed, found) = parse_source(id as source::FileId, file);
            diagnostics.extend(found);
            parsed
        })
        .collect();
    let parse_failed = diagnostics.iter().any(Diagnostic::is_error);
    let mut compiled = compile::compile_after(sources, &files, options, parse_failed);
    if parse_failed {
        compiled.plan = None;
    }
    compiled.diagnostics.extend(diagnostics);
    diag::sort(&mut compiled.diagnostics);
    compiled
}

/// Parses one file, `.route` or YAML by its extension.
pub fn parse_source(id: source::FileId, file: &SourceFile) -> (ast::File, Vec<Diagnostic>) {
    if file.is_yaml() {
        yaml::parse_yaml(id, &file.text)
    } else {
        parse::parse_file(id, &file.text)
    }
}
