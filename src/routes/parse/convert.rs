//! From pest pairs to the [`ast`]: every node gets its span through the
//! [`SourceMap`], so fragments synthesized from YAML point into the YAML file.
//!
//! The grammar fixes the shape of the pairs; each function still returns
//! `Option` rather than unwrapping, so a grammar/converter mismatch becomes a
//! diagnostic, never a panic.

use super::SourceMap;
use crate::routes::ast::*;
use crate::routes::diag::Diagnostic;
use crate::routes::grammar::Rule;
use crate::routes::source::{FileId, Span, Spanned};
use pest::iterators::{Pair, Pairs};
use pest::Token;

type P<'i> = Pair<'i, Rule>;

/// The most `not`s in a row (parentheses are capped before pest runs).
pub const MAX_DEPTH: usize = 64;

pub struct Conv<'a> {
    pub file: FileId,
    pub map: &'a SourceMap,
    pub diags: Vec<Diagnostic>,
}

/// The children of a pair (an iterator: nothing is collected).
fn kids<'i>(p: &P<'i>) -> Pairs<'i, Rule> {
    p.clone().into_inner()
}

fn find<'i>(p: &P<'i>, rule: Rule) -> Option<P<'i>> {
    p.clone().into_inner().find(|k| k.as_rule() == rule)
}

fn first<'i>(p: &P<'i>) -> Option<P<'i>> {
    p.clone().into_inner().next()
}

/// Where a pair's last token ends: the end of its deepest last descendant.
///
/// Read from the token queue backwards (the pair's end, its last child's
/// end, that child's last child's end, …, up to the first start), which
/// costs the depth of the tree rather than a walk over every child list.
fn tight_end(p: &P) -> usize {
    let mut end = p.as_span().end();
    for token in p.clone().tokens().rev().skip(1) {
        match token {
            Token::End { pos, .. } => end = pos.pos(),
            Token::Start { .. } => break,
        }
    }
    end
}

fn has(p: &P, rule: Rule) -> bool {
    find(p, rule).is_some()
}

/// `"a\"b"` → `a"b`.
fn unescape(quoted: &str) -> String {
    let inner = quoted.strip_prefix('"').unwrap_or(quoted);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `/a\/b/` → `a/b` (other escapes are the regex's own).
fn unslash(regex: &str) -> String {
    let inner = regex.strip_prefix('/').unwrap_or(regex);
    inner.strip_suffix('/').unwrap_or(inner).replace("\\/", "/")
}

/// Milliseconds of a duration token such as `250ms` or `1.5m`.
pub fn duration_ms(text: &str) -> Option<f64> {
    let (num, factor) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else {
        let unit = text.chars().last()?;
        let factor = match unit {
            's' => 1_000.0,
            'm' => 60_000.0,
            'h' => 3_600_000.0,
            'd' => 86_400_000.0,
            _ => return None,
        };
        (&text[..text.len() - 1], factor)
    };
    num.parse::<f64>().ok().map(|n| n * factor)
}

/// The value of a count token such as `200k` or `1.5m`.
pub fn count_value(text: &str) -> Option<f64> {
    let (num, factor) = match text.chars().last()? {
        'k' => (&text[..text.len() - 1], 1_000.0),
        'm' => (&text[..text.len() - 1], 1_000_000.0),
        _ => (text, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * factor)
}

impl Conv<'_> {
    pub fn new(file: FileId, map: &SourceMap) -> Conv<'_> {
        Conv {
            file,
            map,
            diags: Vec::new(),
        }
    }

    /// The span of a pair, without the whitespace and comments pest keeps
    /// after a trailing optional or repetition.
    pub fn span(&self, p: &P) -> Span {
        self.span_of(p.as_span().start(), tight_end(p))
    }

    fn span_of(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.map.start(start), self.map.end(start, end))
    }

    fn ident(&self, p: &P) -> Ident {
        Spanned::new(p.as_str().to_string(), self.span(p))
    }

    fn string(&self, p: &P) -> Spanned<String> {
        Spanned::new(unescape(p.as_str()), self.span(p))
    }

    /// A name or a string, as text.
    fn text(&self, p: &P) -> Spanned<String> {
        match p.as_rule() {
            Rule::string => self.string(p),
            _ => self.ident(p),
        }
    }

    fn number(&self, p: &P) -> Option<Spanned<f64>> {
        let value = match p.as_rule() {
            Rule::count => count_value(p.as_str())?,
            Rule::percent => p.as_str().trim_end_matches('%').parse().ok()?,
            Rule::duration => duration_ms(p.as_str())?,
            _ => p.as_str().parse().ok()?,
        };
        Some(Spanned::new(value, self.span(p)))
    }

    fn number_in(&self, p: &P, rule: Rule) -> Option<Spanned<f64>> {
        self.number(&find(p, rule)?)
    }

    // ------------------------------------------------------------ items

    pub fn file(&mut self, p: &P) -> Vec<Item> {
        let mut items = Vec::new();
        for k in kids(p) {
            let item = match k.as_rule() {
                Rule::provider_item => self.block(&k, Self::provider_stmt).map(Item::Provider),
                Rule::policy_item => self.block(&k, Self::policy_stmt).map(Item::Policy),
                Rule::route_item => self.block(&k, Self::route_stmt).map(Item::Route),
                Rule::gateway_item => self.block(&k, Self::gateway_stmt).map(Item::Gateway),
                _ => continue,
            };
            match item {
                Some(item) => items.push(item),
                None => self.internal(&k),
            }
        }
        items
    }

    fn internal(&mut self, p: &P) {
        let d = Diagnostic::error(
            self.span(p),
            "internal error: the parser could not read this",
        )
        .hint("please report this with the text that caused it");
        self.diags.push(d);
    }

    fn block<S>(
        &mut self,
        p: &P,
        stmt: fn(&mut Self, &P) -> Option<Spanned<S>>,
    ) -> Option<Block<S>> {
        let name = match find(p, Rule::name) {
            Some(n) => self.ident(&n),
            None => Spanned::new(String::new(), self.span(&first(p)?)),
        };
        let mut stmts = Vec::new();
        for k in kids(p) {
            if matches!(
                k.as_rule(),
                Rule::provider_stmt | Rule::policy_stmt | Rule::route_stmt | Rule::gateway_stmt
            ) {
                match stmt(self, &k) {
                    Some(s) => stmts.push(s),
                    None => self.internal(&k),
                }
            }
        }
        Some(Block {
            name,
            span: self.span(p),
            stmts,
        })
    }

    fn unknown(&self, p: &P) -> Option<(Unknown, Span)> {
        let keyword = self.ident(&find(p, Rule::name)?);
        let start = p.as_span().start();
        let end = start + p.as_str().trim_end().len();
        Some((Unknown { keyword }, self.span_of(start, end)))
    }

    // ------------------------------------------------------------ providers

    pub fn provider_stmt(&mut self, p: &P) -> Option<Spanned<ProviderStmt>> {
        let s = first(p)?;
        let span = self.span(&s);
        let stmt = match s.as_rule() {
            Rule::kind_stmt => ProviderStmt::Kind(self.ident(&find(&s, Rule::name)?)),
            Rule::base_stmt => match find(&s, Rule::env_ref) {
                Some(env) => {
                    ProviderStmt::Base(BaseExpr::Env(self.ident(&find(&env, Rule::name)?)))
                }
                None => ProviderStmt::Base(BaseExpr::Url(self.string(&find(&s, Rule::string)?))),
            },
            Rule::keys_stmt => {
                let mut keys = Vec::new();
                for k in kids(&s).filter(|k| k.as_rule() == Rule::secret_ref) {
                    keys.push(self.ident(&find(&k, Rule::name)?));
                }
                ProviderStmt::Keys(keys)
            }
            Rule::header_stmt => {
                let parts: Vec<P> = kids(&s)
                    .filter(|k| matches!(k.as_rule(), Rule::string | Rule::secret_ref))
                    .collect();
                let name = self.string(parts.first()?);
                let v = parts.get(1)?;
                let value = match v.as_rule() {
                    Rule::secret_ref => HeaderValueExpr::Secret(self.ident(&find(v, Rule::name)?)),
                    _ => HeaderValueExpr::Text(self.string(v)),
                };
                ProviderStmt::Header { name, value }
            }
            Rule::limit_stmt => ProviderStmt::Limit(self.limit(&s)?),
            Rule::alias_stmt => {
                let parts: Vec<P> = kids(&s)
                    .filter(|k| matches!(k.as_rule(), Rule::string | Rule::name))
                    .collect();
                ProviderStmt::Alias {
                    alias: self.text(parts.first()?),
                    model: self.string(parts.get(1)?),
                }
            }
            Rule::price_stmt => {
                let nums: Vec<P> = kids(&s)
                    .filter(|k| k.as_rule() == Rule::number)
                    .collect();
                ProviderStmt::Price {
                    model: self.string(&find(&s, Rule::string)?),
                    input: self.number(nums.first()?)?,
                    output: self.number(nums.get(1)?)?,
                    cached: match find(&s, Rule::price_cached) {
                        Some(c) => Some(self.number_in(&c, Rule::number)?),
                        None => None,
                    },
                }
            }
            Rule::api_version_stmt => {
                ProviderStmt::ApiVersion(self.string(&find(&s, Rule::string)?))
            }
            Rule::region_stmt => ProviderStmt::Region(self.string(&find(&s, Rule::string)?)),
            Rule::unknown_provider_stmt => {
                let (u, span) = self.unknown(&s)?;
                return Some(Spanned::new(ProviderStmt::Unknown(u), span));
            }
            _ => return None,
        };
        Some(Spanned::new(stmt, span))
    }

    fn limit(&mut self, s: &P) -> Option<LimitExpr> {
        let mut items = Vec::new();
        for item in kids(s).filter(|k| k.as_rule() == Rule::limit_item) {
            let amount = self.number_in(&item, Rule::count)?;
            items.push((amount, self.ident(&find(&item, Rule::rate_unit)?)));
        }
        let scope = match find(s, Rule::limit_scope) {
            Some(sc) => Some(self.ident(&find(&sc, Rule::name)?)),
            None => None,
        };
        Some(LimitExpr { items, scope })
    }

    // ------------------------------------------------------------ policies

    pub fn policy_stmt(&mut self, p: &P) -> Option<Spanned<PolicyStmt>> {
        let s = first(p)?;
        let span = self.span(&s);
        let stmt = match s.as_rule() {
            Rule::use_stmt => PolicyStmt::Use(self.ident(&find(&s, Rule::name)?)),
            Rule::attempts_stmt => PolicyStmt::Attempts(self.number_in(&s, Rule::number)?),
            Rule::retry_stmt => PolicyStmt::RetryOn(self.outcomes(&find(&s, Rule::outcome_list)?)?),
            Rule::fallback_stmt => {
                PolicyStmt::FallbackOn(self.outcomes(&find(&s, Rule::outcome_list)?)?)
            }
            Rule::backoff_stmt => {
                let ds: Vec<P> = kids(&s)
                    .filter(|k| k.as_rule() == Rule::duration)
                    .collect();
                let jitter = find(&s, Rule::jitter).map(|j| match find(&j, Rule::jitter_mode) {
                    Some(m) => self.ident(&m),
                    None => Spanned::new("full".to_string(), self.span(&j)),
                });
                PolicyStmt::Backoff(BackoffExpr {
                    shape: self.ident(&find(&s, Rule::backoff_shape)?),
                    base: self.number(ds.first()?)?,
                    cap: match ds.get(1) {
                        Some(d) => Some(self.number(d)?),
                        None => None,
                    },
                    jitter,
                })
            }
            Rule::retry_after_stmt => PolicyStmt::RetryAfter(match find(&s, Rule::duration) {
                Some(d) => Some(self.number(&d)?),
                None => None,
            }),
            Rule::timeout_stmt => {
                let mut items = Vec::new();
                for k in kids(&s) {
                    let d = match find(&k, Rule::duration) {
                        Some(d) => self.number(&d)?,
                        None => continue,
                    };
                    let item = match k.as_rule() {
                        Rule::per_attempt_timeout => TimeoutItem::PerAttempt(d),
                        Rule::first_byte_timeout => TimeoutItem::FirstByte(d),
                        _ => TimeoutItem::Total(d),
                    };
                    items.push(Spanned::new(item, self.span(&k)));
                }
                PolicyStmt::Timeout(items)
            }
            Rule::breaker_stmt => PolicyStmt::Breaker(self.breaker(&s)?),
            Rule::unknown_policy_stmt => {
                let (u, span) = self.unknown(&s)?;
                return Some(Spanned::new(PolicyStmt::Unknown(u), span));
            }
            _ => return None,
        };
        Some(Spanned::new(stmt, span))
    }

    fn outcomes(&self, list: &P) -> Option<Vec<Spanned<OutcomeExpr>>> {
        let mut out = Vec::new();
        for k in kids(list) {
            let o = match k.as_rule() {
                Rule::status_code => OutcomeExpr::Status(k.as_str().parse().ok()?),
                Rule::outcome_class => OutcomeExpr::Class(k.as_str().to_string()),
                _ => continue,
            };
            out.push(Spanned::new(o, self.span(&k)));
        }
        Some(out)
    }

    fn breaker(&self, s: &P) -> Option<Vec<Spanned<BreakerItem>>> {
        let mut out = Vec::new();
        for k in kids(s) {
            let item = match k.as_rule() {
                Rule::breaker_off => BreakerItem::Off,
                Rule::breaker_failures => BreakerItem::Failures {
                    count: self.number_in(&k, Rule::number)?,
                    window: self.number_in(&k, Rule::duration)?,
                },
                Rule::breaker_rate => BreakerItem::Rate {
                    percent: self.number_in(&k, Rule::percent)?,
                    window: self.number_in(&k, Rule::duration)?,
                    min_requests: match find(&k, Rule::breaker_min) {
                        Some(m) => Some(self.number_in(&m, Rule::number)?),
                        None => None,
                    },
                },
                Rule::breaker_cooldown => {
                    BreakerItem::Cooldown(self.number_in(&k, Rule::duration)?)
                }
                Rule::breaker_probes => BreakerItem::Probes(self.number_in(&k, Rule::number)?),
                Rule::breaker_per_key => BreakerItem::PerKey,
                _ => continue,
            };
            out.push(Spanned::new(item, self.span(&k)));
        }
        Some(out)
    }

    // ------------------------------------------------------------ routes

    pub fn route_stmt(&mut self, p: &P) -> Option<Spanned<RouteStmt>> {
        let s = first(p)?;
        let span = self.span(&s);
        let stmt = match s.as_rule() {
            Rule::when_stmt => RouteStmt::When(self.cond(&find(&s, Rule::cond)?)?),
            Rule::use_stmt => RouteStmt::Use(self.ident(&find(&s, Rule::name)?)),
            Rule::cache_stmt => match find(&s, Rule::duration) {
                Some(d) => RouteStmt::Cache(CacheExpr::Ttl {
                    ttl: self.number(&d)?,
                    sampled: has(&s, Rule::cache_sampled),
                }),
                None => RouteStmt::Cache(CacheExpr::Off),
            },
            Rule::limit_stmt => RouteStmt::Limit(self.limit(&s)?),
            Rule::try_stmt => RouteStmt::Targets(self.chain(&find(&s, Rule::chain)?)?),
            Rule::split_stmt => RouteStmt::Targets(match find(&s, Rule::balance_list) {
                Some(b) => self.balanced(&b)?,
                None => self.split(&find(&s, Rule::split_list)?)?,
            }),
            Rule::unknown_route_stmt => {
                let (u, span) = self.unknown(&s)?;
                return Some(Spanned::new(RouteStmt::Unknown(u), span));
            }
            _ => return None,
        };
        Some(Spanned::new(stmt, span))
    }

    // ------------------------------------------------------------ targets

    /// A chain, a split or a step, from a pair of the target entry or a chain.
    pub fn target_parts(&mut self, p: &P) -> Option<Vec<Spanned<Target>>> {
        let mut out = Vec::new();
        for k in kids(p) {
            match k.as_rule() {
                Rule::step => out.push(self.step(&k)?),
                Rule::chain => out.push(self.chain(&k)?),
                Rule::split_list => out.push(self.split(&k)?),
                Rule::balance_list => out.push(self.balanced(&k)?),
                _ => {}
            }
        }
        Some(out)
    }

    pub fn chain(&mut self, p: &P) -> Option<Spanned<Target>> {
        let mut parts = self.target_parts(p)?;
        if parts.len() == 1 {
            return parts.pop();
        }
        Some(Spanned::new(Target::Chain(parts), self.span(p)))
    }

    fn split(&mut self, p: &P) -> Option<Spanned<Target>> {
        let mut branches = Vec::new();
        for b in kids(p).filter(|k| k.as_rule() == Rule::split_branch) {
            let weight = self.number_in(&b, Rule::percent)?;
            branches.push((weight, self.chain(&find(&b, Rule::chain)?)?));
        }
        Some(Spanned::new(Target::Split(branches), self.span(p)))
    }

    fn balanced(&mut self, p: &P) -> Option<Spanned<Target>> {
        let m = find(p, Rule::balance_mode)?;
        let mode = if has(&m, Rule::kw_least_busy) {
            crate::plan::BalanceMode::LeastBusy
        } else {
            crate::plan::BalanceMode::LowestLatency
        };
        let mut branches = Vec::new();
        for c in kids(p).filter(|k| k.as_rule() == Rule::chain) {
            branches.push(self.chain(&c)?);
        }
        Some(Spanned::new(Target::Balanced(Spanned::new(mode, self.span(&m)), branches), self.span(p)))
    }

    fn step(&mut self, p: &P) -> Option<Spanned<Target>> {
        let provider = self.ident(&find(p, Rule::name)?);
        let m = kids(p).find(|k| {
            matches!(
                k.as_rule(),
                Rule::request_model | Rule::string | Rule::model_name
            )
        })?;
        let model = match m.as_rule() {
            Rule::request_model => ModelExpr::Request,
            Rule::string => ModelExpr::Named(unescape(m.as_str())),
            _ => ModelExpr::Named(m.as_str().to_string()),
        };
        let with = match find(p, Rule::with_clause) {
            Some(w) => {
                let mut inline = Vec::new();
                if let Some(block) = find(&w, Rule::inline_policy) {
                    for s in kids(&block)
                        .filter(|k| k.as_rule() == Rule::policy_stmt)
                    {
                        inline.push(self.policy_stmt(&s)?);
                    }
                }
                Some(WithExpr {
                    policy: find(&w, Rule::name).map(|n| self.ident(&n)),
                    inline,
                    span: self.span(&w),
                })
            }
            None => None,
        };
        let step = StepExpr {
            provider,
            model: Spanned::new(model, self.span(&m)),
            with,
        };
        Some(Spanned::new(Target::Step(step), self.span(p)))
    }

    // ------------------------------------------------------------ conditions

    pub fn cond(&mut self, p: &P) -> Option<Spanned<Cond>> {
        let mut parts = Vec::new();
        for k in kids(p).filter(|k| k.as_rule() == Rule::and_cond) {
            let mut ands = Vec::new();
            for n in kids(&k).filter(|n| n.as_rule() == Rule::not_cond) {
                ands.push(self.not_cond(&n)?);
            }
            parts.push(if ands.len() == 1 {
                ands.pop()?
            } else {
                Spanned::new(Cond::And(ands), self.span(&k))
            });
        }
        if parts.len() == 1 {
            return parts.pop();
        }
        Some(Spanned::new(Cond::Or(parts), self.span(p)))
    }

    fn not_cond(&mut self, p: &P) -> Option<Spanned<Cond>> {
        // One pass over the children (no allocation without a `not`).
        let mut nots: Vec<P> = Vec::new();
        let mut atom = None;
        for k in kids(p) {
            match k.as_rule() {
                Rule::kw_not => nots.push(k),
                Rule::cond | Rule::predicate if atom.is_none() => atom = Some(k),
                _ => {}
            }
        }
        let atom = atom?;
        let mut cond = match atom.as_rule() {
            Rule::cond => self.cond(&atom)?,
            _ => self.predicate(&atom)?,
        };
        if nots.len() > MAX_DEPTH {
            let d = Diagnostic::error(
                self.span(&nots[0]),
                format!("more than {MAX_DEPTH} `not`s in a row"),
            )
            .hint("two `not`s cancel out: remove them in pairs");
            self.diags.push(d);
        }
        let end = p.as_span().end();
        for n in nots.iter().rev().take(MAX_DEPTH) {
            let span = self.span_of(n.as_span().start(), end);
            cond = Spanned::new(Cond::Not(Box::new(cond)), span);
        }
        Some(cond)
    }

    fn predicate(&mut self, p: &P) -> Option<Spanned<Cond>> {
        let f = find(p, Rule::field)?;
        let field = Spanned::new(self.field(&f)?, self.span(&f));
        let test = kids(p).find(|k| k.as_rule() != Rule::field)?;
        let cond = match test.as_rule() {
            Rule::comparison => Cond::Compare {
                field,
                op: self.ident(&find(&test, Rule::compare_op)?),
                value: self.literal(&find(&test, Rule::literal)?)?,
            },
            Rule::in_test => {
                let mut values = Vec::new();
                for l in kids(&find(&test, Rule::literal_list)?)
                    .filter(|l| l.as_rule() == Rule::literal)
                {
                    values.push(self.literal(&l)?);
                }
                Cond::In {
                    field,
                    negated: has(&test, Rule::negation),
                    values,
                }
            }
            Rule::matches_test => {
                let pat = kids(&test)
                    .find(|k| matches!(k.as_rule(), Rule::regex | Rule::string))?;
                let text = match pat.as_rule() {
                    Rule::regex => unslash(pat.as_str()),
                    _ => unescape(pat.as_str()),
                };
                Cond::Matches {
                    field,
                    pattern: Spanned::new(text, self.span(&pat)),
                }
            }
            Rule::contains_test => Cond::Contains {
                field,
                value: self.string(&find(&test, Rule::string)?),
            },
            _ => return None,
        };
        Some(Spanned::new(cond, self.span(p)))
    }

    fn field(&self, f: &P) -> Option<FieldExpr> {
        let k = first(f)?;
        Some(match k.as_rule() {
            Rule::kw_model => FieldExpr::Model,
            Rule::kw_endpoint => FieldExpr::Endpoint,
            Rule::key_field if has(&k, Rule::kw_tags) => FieldExpr::KeyTags,
            Rule::key_field => FieldExpr::KeyName,
            Rule::call_field => {
                let arg = unescape(find(&k, Rule::string)?.as_str());
                match first(&k)?.as_rule() {
                    Rule::kw_header => FieldExpr::Header(arg),
                    Rule::kw_metadata => FieldExpr::Metadata(arg),
                    _ => FieldExpr::Param(arg),
                }
            }
            _ => return None,
        })
    }

    fn literal(&self, l: &P) -> Option<Spanned<Literal>> {
        let k = first(l)?;
        let value = match k.as_rule() {
            Rule::kw_null => Literal::Null,
            Rule::kw_true => Literal::Bool(true),
            Rule::kw_false => Literal::Bool(false),
            Rule::number => Literal::Number(k.as_str().parse().ok()?),
            _ => Literal::Text(unescape(k.as_str())),
        };
        Some(Spanned::new(value, self.span(l)))
    }

    // ------------------------------------------------------------ gateway

    pub fn gateway_stmt(&mut self, p: &P) -> Option<Spanned<GatewayStmt>> {
        let s = first(p)?;
        match s.as_rule() {
            Rule::subrequests_stmt => Some(Spanned::new(
                GatewayStmt::Subrequests(self.number_in(&s, Rule::number)?),
                self.span(&s),
            )),
            Rule::unknown_gateway_stmt => {
                let (u, span) = self.unknown(&s)?;
                Some(Spanned::new(GatewayStmt::Unknown(u), span))
            }
            _ => None,
        }
    }
}
