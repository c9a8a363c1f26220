//! The compiler: syntax trees of every file in, one [`RoutingPlan`] and every
//! diagnostic out.
//!
//! Passes, in order: collect the declarations of all files (duplicates
//! caught, so names can be used before they are defined) → providers →
//! policies (`use` resolved, cycles caught) → routes (conditions, targets,
//! each step's effective policy) → whole-plan checks (one default route,
//! shadowed routes, the subrequest cap) → the plan and its content hash.
//! A plan is produced only when there is no error; warnings do not stop it.

mod checks;
mod condition;
mod limits;
mod policy;
mod provider;
mod route;
mod values;

pub use policy::{builtin_default, show_ms};

use crate::plan::{Cache, Condition, Limit, Node, Policy, Provider, Route, RoutingPlan, DEFAULT_SUBREQUEST_CAP, FORMAT};
use serde::Serialize;
use crate::routes::ast::{Block, File, GatewayStmt, Item, PolicyStmt, ProviderStmt, RouteStmt};
use crate::routes::diag::{self, Diagnostic};
use crate::routes::source::{Sources, Span};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use values::Sink;

/// Choices made outside the route files.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Overrides `gateway { subrequests N }`.
    pub subrequest_cap: Option<u32>,
}

/// What a compilation produced.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Present when there was no error.
    pub plan: Option<RoutingPlan>,
    /// Errors and warnings, ordered by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Compiles parsed files; `files[i]` is the file with id `i` in `sources`.
pub fn compile(sources: &Sources, files: &[File], options: &Options) -> Compiled {
    compile_after(sources, files, options, false)
}

/// [`compile`], told whether parsing already failed (some warnings are
/// then left out: they would mostly echo the syntax errors).
pub fn compile_after(sources: &Sources, files: &[File], options: &Options, parse_failed: bool) -> Compiled {
    let mut sink: Sink = Vec::new();
    let decls = collect(files, &mut sink);

    let providers: Vec<_> = decls.providers.iter().map(|b| provider::provider(b, &mut sink)).collect();
    let mut used = vec![false; providers.len()];

    let broken = |keyword: &str| -> HashSet<String> {
        files.iter().flat_map(|f| &f.broken).filter(|(k, _)| k == keyword).map(|(_, n)| n.clone()).collect()
    };
    let broken_providers = broken("provider");
    let mut policies = policy::Policies::new(
        decls.policies.iter().map(|b| (b.name.node.as_str(), *b)).collect(),
        broken("policy"),
    );
    policies.resolve_all(&mut sink);

    let mut cap = DEFAULT_SUBREQUEST_CAP;
    for block in &decls.gateways {
        for stmt in &block.stmts {
            match &stmt.node {
                GatewayStmt::Subrequests(n) => {
                    if let Some(n) = values::whole(n, "the subrequest cap", 1, &mut sink) {
                        cap = n as u32;
                    }
                }
                GatewayStmt::Unknown(u) => {
                    sink.push(policy::unknown_statement(&u.keyword, "the gateway block", &["subrequests"]))
                }
            }
        }
    }
    let cap = options.subrequest_cap.unwrap_or(cap);

    // Routes: the default route (no `when`) goes last.
    let mut compiled = Vec::new();
    let mut table = Vec::new();
    let mut default_route: Option<(route::Compiled, Span)> = None;
    let mut first_default: Option<Span> = None;
    for block in &decls.routes {
        let location = {
            let p = sources.position(block.name.span.file, block.span.start);
            format!("{}:{}", sources.file(block.name.span.file).name, p.line)
        };
        let has_when = block.stmts.iter().any(|s| matches!(s.node, RouteStmt::When(_)));
        if !has_when {
            if let Some(first) = first_default {
                sink.push(
                    Diagnostic::error(block.name.span, format!("route `{}` is a second default route", block.name.node))
                        .related(first, "the default route (the one without `when`)")
                        .hint("give one of them a `when` condition"),
                );
                continue;
            }
            first_default = Some(block.name.span);
        }
        let mut cx = route::Context {
            providers: &providers,
            table: &mut table,
            broken_providers: &broken_providers,
            policies: &mut policies,
            used: &mut used,
        };
        if let Some(r) = route::route(block, location, &mut cx, &mut sink) {
            let calls = route::max_calls(&r.route.targets, &providers, &table);
            if calls > cap as u64 {
                sink.push(
                    Diagnostic::error(
                        r.targets_span,
                        format!("route `{}` can make up to {calls} upstream calls, more than the subrequest cap of {cap}", block.name.node),
                    )
                    .label("every attempt of every step counts, plus one per extra key")
                    .hint("lower `attempts`, shorten the chain, or raise `gateway { subrequests … }` if your Workers plan allows it"),
                );
            }
            if has_when {
                compiled.push(r);
            } else {
                default_route = Some((r, block.name.span));
            }
        }
    }

    let matchers: Vec<checks::Matcher> = compiled
        .iter()
        .filter_map(|r| Some(checks::Matcher { name: &r.route.name, when: r.route.when.as_ref()?, span: r.when_span? }))
        .collect();
    checks::shadowed(&matchers, &mut sink);

    // Unused providers matter in a plan that compiles; next to errors they
    // are mostly echoes of a broken route.
    let clean = !parse_failed && !sink.iter().any(Diagnostic::is_error);
    for (i, block) in decls.providers.iter().enumerate() {
        if clean && !used[i] {
            sink.push(
                Diagnostic::warning(block.name.span, format!("provider `{}` is not used by any route", block.name.node))
                    .hint("route to it, or remove it"),
            );
        }
    }

    let mut models = BTreeSet::new();
    for r in &compiled {
        if let Some(when) = &r.route.when {
            checks::named_models(when, &mut models);
        }
    }
    let mut routes: Vec<_> = compiled.into_iter().map(|c| c.route).collect();
    routes.extend(default_route.map(|(d, _)| d.route));

    diag::sort(&mut sink);
    let failed = sink.iter().any(Diagnostic::is_error);
    let plan = (!failed).then(|| {
        let mut plan = RoutingPlan {
            format: FORMAT,
            hash: String::new(),
            sources: sources.files().iter().map(|f| f.name.clone()).collect(),
            subrequest_cap: cap,
            providers,
            policies: table,
            routes,
            models: models.into_iter().collect(),
        };
        plan.hash = content_hash(&plan);
        plan
    });
    Compiled { plan, diagnostics: sink }
}

/// Hex SHA-256 of what the plan does: the plan serialized without its hash
/// and without where it came from (file names, route locations), so the
/// same routes written as `.route` or YAML, or moved between files, have
/// the same hash.
///
/// The JSON is that of the plan with `hash`, `sources` and every route's
/// `source` emptied, written through borrowed mirrors of [`RoutingPlan`] and
/// [`Route`] (same fields, same order) straight into the hasher: no copy of
/// the plan, no buffer.
pub fn content_hash(plan: &RoutingPlan) -> String {
    let unhashed = Unhashed {
        format: plan.format,
        hash: "",
        sources: &[],
        subrequest_cap: plan.subrequest_cap,
        providers: &plan.providers,
        policies: &plan.policies,
        routes: plan.routes.iter().map(UnhashedRoute::new).collect(),
        models: &plan.models,
    };
    let mut hasher = HashWriter(Sha256::new());
    // Writing into a hasher cannot fail, nor can serializing plain data.
    let _ = serde_json::to_writer(&mut hasher, &unhashed);
    hasher.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// [`RoutingPlan`] as [`content_hash`] serializes it (keep the fields in step).
#[derive(Serialize)]
struct Unhashed<'a> {
    format: u32,
    hash: &'a str,
    sources: &'a [String],
    subrequest_cap: u32,
    providers: &'a [Provider],
    policies: &'a [Policy],
    routes: Vec<UnhashedRoute<'a>>,
    models: &'a [String],
}

/// [`Route`] as [`content_hash`] serializes it: `source` empty.
#[derive(Serialize)]
struct UnhashedRoute<'a> {
    name: &'a str,
    when: &'a Option<Condition>,
    cache: &'a Option<Cache>,
    limits: &'a [Limit],
    targets: &'a Node,
    source: &'a str,
}

impl<'a> UnhashedRoute<'a> {
    fn new(r: &'a Route) -> Self {
        UnhashedRoute { name: &r.name, when: &r.when, cache: &r.cache, limits: &r.limits, targets: &r.targets, source: "" }
    }
}

/// Feeds written bytes to SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every declaration of every file, in file order.
struct Decls<'a> {
    providers: Vec<&'a Block<ProviderStmt>>,
    policies: Vec<&'a Block<PolicyStmt>>,
    routes: Vec<&'a Block<RouteStmt>>,
    gateways: Vec<&'a Block<GatewayStmt>>,
}

fn collect<'a>(files: &'a [File], sink: &mut Sink) -> Decls<'a> {
    let mut d = Decls { providers: Vec::new(), policies: Vec::new(), routes: Vec::new(), gateways: Vec::new() };
    let mut seen: HashMap<(&str, &str), Span> = HashMap::new();
    let mut fresh = |what: &'static str, name: &'a crate::routes::ast::Ident, sink: &mut Sink| -> bool {
        match seen.get(&(what, name.node.as_str())) {
            Some(first) => {
                sink.push(
                    Diagnostic::error(name.span, format!("{what} `{}` is defined twice", name.node))
                        .label("second definition")
                        .related(*first, "first defined here")
                        .hint(format!("rename one of them; {what} names are shared by every route file")),
                );
                false
            }
            None => {
                seen.insert((what, name.node.as_str()), name.span);
                true
            }
        }
    };
    for file in files {
        for item in &file.items {
            match item {
                Item::Provider(b) => {
                    if fresh("provider", &b.name, sink) {
                        d.providers.push(b)
                    }
                }
                Item::Policy(b) => {
                    if fresh("policy", &b.name, sink) {
                        d.policies.push(b)
                    }
                }
                Item::Route(b) => {
                    if fresh("route", &b.name, sink) {
                        d.routes.push(b)
                    }
                }
                Item::Gateway(b) => d.gateways.push(b),
            }
        }
    }
    d
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use crate::routes::{compile_sources, SourceFile};

    /// The borrowed mirrors serialize exactly like the plan with its
    /// location fields emptied.
    #[test]
    fn content_hash_is_the_hash_of_the_emptied_plan() {
        let text = "provider p { kind openai }\nroute a { when model == \"x\"\n try p:m }\nroute b { try p:{model} }\n";
        let sources = Sources::new(vec![SourceFile::new("a.route", text)]);
        let plan = compile_sources(&sources, &Options::default()).plan.expect("compiles");
        let mut emptied = plan.clone();
        emptied.hash = String::new();
        emptied.sources.clear();
        emptied.routes.iter_mut().for_each(|r| r.source.clear());
        let json = serde_json::to_vec(&emptied).expect("serializes");
        let expected: String = Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(content_hash(&plan), expected);
    }
}
