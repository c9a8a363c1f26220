//! The syntax tree of route files, `.route` and YAML alike.
//!
//! Both front ends ([`super::parse`] and [`super::yaml`]) build these types;
//! the compiler reads only these. Every node owns its [`Span`], so every
//! later diagnostic can point at the exact text. Numbers are kept as written
//! (`f64`, possibly zero, negative or fractional): judging them is the
//! compiler's job, so the message can say why a value is wrong rather than
//! that it failed to parse.

use super::source::{Span, Spanned};

/// A name as written (provider, policy, route, secret, var, kind…).
pub type Ident = Spanned<String>;

/// A duration in milliseconds, as written (`250ms` → 250.0, `1.5s` → 1500.0).
pub type Millis = Spanned<f64>;

/// One parsed file: its items in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
    /// Items that did not parse, by keyword (`provider`, `policy`, …) and
    /// name: their syntax error is reported, so references to them are not
    /// reported again as unknown.
    pub broken: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Provider(Block<ProviderStmt>),
    Policy(Block<PolicyStmt>),
    Route(Block<RouteStmt>),
    Gateway(Block<GatewayStmt>),
}

/// `keyword name { statements }` (the gateway block has no name: `name.node`
/// is empty and its span is the keyword's).
#[derive(Debug, Clone, PartialEq)]
pub struct Block<S> {
    pub name: Ident,
    /// The whole item, keyword to closing brace.
    pub span: Span,
    pub stmts: Vec<Spanned<S>>,
}

/// A statement whose keyword the block does not know (kept so the compiler
/// can say "did you mean …" and carry on).
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    pub keyword: Ident,
}

// ---------------------------------------------------------------- providers

#[derive(Debug, Clone, PartialEq)]
pub enum ProviderStmt {
    /// `kind openai`
    Kind(Ident),
    /// `base "https://…"` or `base env VAR`
    Base(BaseExpr),
    /// `keys [secret A, secret B]`: the secret names.
    Keys(Vec<Ident>),
    /// `header "name" = "value"` or `header "name" = secret NAME`
    Header {
        name: Spanned<String>,
        value: HeaderValueExpr,
    },
    /// `limit 500 rpm, 200k tpm [per key]`
    Limit(LimitExpr),
    /// `alias fast = "gpt-4o-mini"`
    Alias {
        alias: Spanned<String>,
        model: Spanned<String>,
    },
    /// `price "gpt-4o" input 2.5 output 10 [cached 1.25]` (USD per 1M tokens)
    Price {
        model: Spanned<String>,
        input: Spanned<f64>,
        output: Spanned<f64>,
        cached: Option<Spanned<f64>>,
    },
    /// `api_version "2024-10-21"`
    ApiVersion(Spanned<String>),
    /// `region "us-east-1"`
    Region(Spanned<String>),
    Unknown(Unknown),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BaseExpr {
    Url(Spanned<String>),
    Env(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValueExpr {
    Text(Spanned<String>),
    Secret(Ident),
}

/// `limit 500 rpm, 200k tpm per key`
#[derive(Debug, Clone, PartialEq)]
pub struct LimitExpr {
    /// Amount and unit (`rpm`, `rpd`, `tpm`, `tpd`), each with its span.
    pub items: Vec<(Spanned<f64>, Ident)>,
    /// `per key|route|provider` as written.
    pub scope: Option<Ident>,
}

// ---------------------------------------------------------------- policies

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyStmt {
    /// `use standard`: start from another policy.
    Use(Ident),
    /// `attempts 3`
    Attempts(Spanned<f64>),
    /// `retry on [429, 5xx, timeout]`
    RetryOn(Vec<Spanned<OutcomeExpr>>),
    /// `fallback on [context_length]`
    FallbackOn(Vec<Spanned<OutcomeExpr>>),
    /// `backoff exponential 250ms..8s jitter full`
    Backoff(BackoffExpr),
    /// `retry_after up to 30s` (`Some`) or `retry_after ignore` (`None`)
    RetryAfter(Option<Millis>),
    /// `timeout 20s per attempt, 5s first byte, 60s total`
    Timeout(Vec<Spanned<TimeoutItem>>),
    /// `breaker 5 failures in 30s, cooldown 15s, probes 1` or `breaker off`
    Breaker(Vec<Spanned<BreakerItem>>),
    Unknown(Unknown),
}

/// An outcome as written in `retry on [...]`.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeExpr {
    /// A number such as `429` (range-checked by the compiler).
    Status(f64),
    /// A word such as `5xx`, `timeout`, `context_length` (checked by the compiler).
    Class(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackoffExpr {
    /// `constant`, `linear` or `exponential`.
    pub shape: Ident,
    pub base: Millis,
    /// The cap after `..` (not allowed for `constant`).
    pub cap: Option<Millis>,
    /// `jitter` alone means `full`; `jitter none|full|equal`.
    pub jitter: Option<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeoutItem {
    PerAttempt(Millis),
    FirstByte(Millis),
    Total(Millis),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BreakerItem {
    /// `5 failures in 30s`
    Failures { count: Spanned<f64>, window: Millis },
    /// `50% failures in 60s [min 20 requests]`
    Rate {
        percent: Spanned<f64>,
        window: Millis,
        min_requests: Option<Spanned<f64>>,
    },
    /// `cooldown 15s`
    Cooldown(Millis),
    /// `probes 2`
    Probes(Spanned<f64>),
    /// `per key`
    PerKey,
    /// `off`
    Off,
}

// ---------------------------------------------------------------- routes

#[derive(Debug, Clone, PartialEq)]
pub enum RouteStmt {
    /// `when <condition>`
    When(Spanned<Cond>),
    /// `use standard`: the policy of every step without its own `with`.
    Use(Ident),
    /// `cache 1h [sampled]` or `cache off`
    Cache(CacheExpr),
    /// `limit 60 rpm per key`
    Limit(LimitExpr),
    /// `try a:x else b:y` and `split 70% a:x, 30% b:y`: the route's targets.
    Targets(Spanned<Target>),
    Unknown(Unknown),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CacheExpr {
    Off,
    Ttl { ttl: Millis, sampled: bool },
}

/// A target tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `provider:model [with policy]`
    Step(StepExpr),
    /// `a else b else c` (a chain of one is just its element).
    Chain(Vec<Spanned<Target>>),
    /// `split 70% a, 30% b`
    Split(Vec<(Spanned<f64>, Spanned<Target>)>),
    /// `split least_busy a, b` / `split lowest_latency a, b`
    Balanced(Spanned<crate::plan::BalanceMode>, Vec<Spanned<Target>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepExpr {
    pub provider: Ident,
    pub model: Spanned<ModelExpr>,
    pub with: Option<WithExpr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelExpr {
    /// A model id or alias.
    Named(String),
    /// `{model}`: the request's model.
    Request,
}

/// `with standard`, `with standard { attempts 5 }`, `with { attempts 5 }`.
#[derive(Debug, Clone, PartialEq)]
pub struct WithExpr {
    pub policy: Option<Ident>,
    pub inline: Vec<Spanned<PolicyStmt>>,
    pub span: Span,
}

/// A `when` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Or(Vec<Spanned<Cond>>),
    And(Vec<Spanned<Cond>>),
    Not(Box<Spanned<Cond>>),
    /// `field op literal`, `op` one of `== != < <= > >=`.
    Compare {
        field: Spanned<FieldExpr>,
        op: Spanned<String>,
        value: Spanned<Literal>,
    },
    /// `field [not] in [literals]`
    In {
        field: Spanned<FieldExpr>,
        negated: bool,
        values: Vec<Spanned<Literal>>,
    },
    /// `field matches /regex/` (or a string)
    Matches {
        field: Spanned<FieldExpr>,
        pattern: Spanned<String>,
    },
    /// `field contains "text"`
    Contains {
        field: Spanned<FieldExpr>,
        value: Spanned<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    Model,
    Endpoint,
    KeyName,
    KeyTags,
    Header(String),
    Metadata(String),
    Param(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

// ---------------------------------------------------------------- gateway

#[derive(Debug, Clone, PartialEq)]
pub enum GatewayStmt {
    /// `subrequests 50`
    Subrequests(Spanned<f64>),
    Unknown(Unknown),
}
