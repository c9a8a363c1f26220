//! Providers: kind, base URL, keys, headers, limits, aliases, prices and the
//! settings only some kinds take.

use super::limits::limits;
use super::policy::unknown_statement;
use super::values::{self, Sink};
use crate::plan::{Base, ExtraHeader, HeaderValue, LimitScope, Price, Provider, ProviderKind};
use crate::routes::ast::{BaseExpr, Block, HeaderValueExpr, ProviderStmt};
use crate::routes::diag::{did_you_mean, Diagnostic};
use crate::routes::source::Span;

pub const KEYWORDS: [&str; 9] = [
    "kind", "base", "keys", "header", "limit", "alias", "price", "api_version", "region",
];

/// Compiles one provider block. Problems are reported; the provider is
/// still returned (with defaults) so references to it resolve.
pub fn provider(block: &Block<ProviderStmt>, sink: &mut Sink) -> Provider {
    let mut p = Provider {
        name: block.name.node.clone(),
        kind: ProviderKind::OpenaiCompatible,
        base: Base::Url(String::new()),
        keys: Vec::new(),
        headers: Vec::new(),
        limits: Vec::new(),
        aliases: Vec::new(),
        prices: Vec::new(),
        api_version: None,
        region: None,
    };
    let mut seen: Vec<(&'static str, Span)> = Vec::new();
    let mut once = |word: &'static str, span: Span, sink: &mut Sink| {
        if let Some((_, first)) = seen.iter().find(|(w, _)| *w == word) {
            sink.push(
                Diagnostic::error(span, format!("`{word}` is given twice in provider `{}`", block.name.node))
                    .related(*first, "first given here")
                    .hint("keep one of them"),
            );
        } else {
            seen.push((word, span));
        }
    };
    let mut kind_span = None;
    let mut kind_known = true;
    let mut base_given = false;
    let mut api_version_span = None;
    let mut region_span = None;
    for stmt in &block.stmts {
        match &stmt.node {
            ProviderStmt::Kind(kind) => {
                once("kind", stmt.span, sink);
                kind_span = Some(kind.span);
                match ProviderKind::from_name(&kind.node) {
                    Some(k) => p.kind = k,
                    None => { kind_known = false; sink.push(
                        Diagnostic::error(kind.span, format!("unknown provider kind `{}`", kind.node))
                            .label("not a kind Switchyard knows")
                            .hint(did_you_mean(&kind.node, ProviderKind::ALL.iter().map(|(n, _)| *n))
                                .unwrap_or_else(|| "see docs/routes.md for the kinds (`openai`, `anthropic`, `openai-compatible`, …)".into())),
                    ) }
                }
            }
            ProviderStmt::Base(base) => {
                once("base", stmt.span, sink);
                base_given = true;
                p.base = match base {
                    BaseExpr::Url(url) => {
                        let text = url.node.trim().trim_end_matches('/');
                        if !(text.starts_with("https://") || text.starts_with("http://")) || text.len() <= "http://".len() {
                            sink.push(
                                Diagnostic::error(url.span, format!("`{}` is not an http(s) URL", url.node))
                                    .hint("write the base URL in full, e.g. `base \"https://api.openai.com/v1\"`"),
                            );
                        }
                        Base::Url(text.to_string())
                    }
                    BaseExpr::Env(var) => Base::Env(var.node.clone()),
                };
            }
            ProviderStmt::Keys(keys) => {
                once("keys", stmt.span, sink);
                for key in keys {
                    if p.keys.contains(&key.node) {
                        sink.push(
                            Diagnostic::warning(key.span, format!("secret `{}` is listed twice", key.node))
                                .hint("rotation tries each key in turn; a repeated key is tried twice"),
                        );
                    }
                    p.keys.push(key.node.clone());
                }
            }
            ProviderStmt::Header { name, value } => {
                let lower = name.node.to_ascii_lowercase();
                if !is_token(&name.node) {
                    sink.push(Diagnostic::error(name.span, format!("`{}` is not a valid header name", name.node))
                        .hint("header names are letters, digits and `-`"));
                } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                    sink.push(
                        Diagnostic::error(name.span, format!("the `{}` header is set by the gateway", name.node))
                            .hint("provider credentials go in `keys [secret NAME]`"),
                    );
                }
                p.headers.push(ExtraHeader {
                    name: name.node.clone(),
                    value: match value {
                        HeaderValueExpr::Text(t) => HeaderValue::Text(t.node.clone()),
                        HeaderValueExpr::Secret(s) => HeaderValue::Secret(s.node.clone()),
                    },
                });
            }
            ProviderStmt::Limit(limit) => {
                p.limits.extend(limits(limit, LimitScope::Provider, &[("key", LimitScope::ProviderKey), ("provider", LimitScope::Provider)], sink));
            }
            ProviderStmt::Alias { alias, model } => {
                if let Some((_, target)) = p.aliases.iter().find(|(a, _)| *a == alias.node) {
                    sink.push(Diagnostic::error(alias.span, format!("alias `{}` is already defined (as `{target}`)", alias.node)));
                } else {
                    p.aliases.push((alias.node.clone(), model.node.clone()));
                }
            }
            ProviderStmt::Price { model, input, output, cached } => {
                let input = values::price(input, sink);
                let output = values::price(output, sink);
                let cached = cached.as_ref().map(|c| values::price(c, sink));
                if p.prices.iter().any(|(m, _)| *m == model.node) {
                    sink.push(
                        Diagnostic::error(model.span, format!("the price of `{}` is given twice", model.node))
                            .hint("keep one `price` statement per model; a provider's price overrides the built-in one"),
                    );
                } else if let (Some(input), Some(output)) = (input, output) {
                    p.prices.push((model.node.clone(), Price { input, output, cached_input: cached.flatten() }));
                }
            }
            ProviderStmt::ApiVersion(v) => {
                once("api_version", stmt.span, sink);
                api_version_span = Some(stmt.span);
                p.api_version = Some(v.node.clone());
            }
            ProviderStmt::Region(r) => {
                once("region", stmt.span, sink);
                region_span = Some(stmt.span);
                p.region = Some(r.node.clone());
            }
            ProviderStmt::Unknown(u) => sink.push(unknown_statement(&u.keyword, "a provider", &KEYWORDS)),
        }
    }

    // Settings that depend on the kind.
    let Some(kind_span) = kind_span else {
        sink.push(
            Diagnostic::error(block.name.span, format!("provider `{}` has no `kind`", block.name.node))
                .hint("say which API it speaks, e.g. `kind openai` or `kind anthropic`"),
        );
        return p;
    };
    if !kind_known {
        // What the kind needs is unknowable; the kind's own error says enough.
        return p;
    }
    if let Some(span) = api_version_span.filter(|_| p.kind != ProviderKind::Azure) {
        sink.push(cannot_take(span, "api_version", p.kind, "azure"));
    }
    if let Some(span) = region_span.filter(|_| p.kind != ProviderKind::Bedrock) {
        sink.push(cannot_take(span, "region", p.kind, "bedrock"));
    }
    if p.kind == ProviderKind::Azure && p.api_version.is_none() {
        sink.push(Diagnostic::error(kind_span, format!("azure provider `{}` needs an `api_version`", block.name.node))
            .hint("add e.g. `api_version \"2024-10-21\"`"));
    }
    if p.kind == ProviderKind::Bedrock && p.region.is_none() {
        sink.push(Diagnostic::error(kind_span, format!("bedrock provider `{}` needs a `region`", block.name.node))
            .hint("add e.g. `region \"us-east-1\"`"));
    }
    if !base_given {
        match p.kind.default_base() {
            Some(url) => p.base = Base::Url(url.to_string()),
            None if p.kind == ProviderKind::Bedrock => {
                let region = p.region.clone().unwrap_or_default();
                p.base = Base::Url(format!("https://bedrock-runtime.{region}.amazonaws.com"));
            }
            None => sink.push(
                Diagnostic::error(block.name.span, format!("provider `{}` needs a `base` URL", block.name.node))
                    .hint(format!("kind `{}` has no public default; add `base \"https://…\"` or `base env VAR`", p.kind.name())),
            ),
        }
    }
    p
}

fn cannot_take(span: Span, setting: &str, kind: ProviderKind, only: &str) -> Diagnostic {
    Diagnostic::error(span, format!("a provider of kind `{}` cannot take `{setting}`", kind.name()))
        .label("not used by this kind")
        .hint(format!("`{setting}` is for kind `{only}` only; remove it"))
}

/// Headers the gateway sets itself and a route file may not override.
const RESERVED_HEADERS: [&str; 6] = [
    "authorization", "x-api-key", "api-key", "content-length", "host", "content-type",
];

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
