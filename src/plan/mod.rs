//! The routing plan: what the route files compile to, and all the Worker
//! knows about routing.
//!
//! A [`RoutingPlan`] is immutable plain data, serializable with serde. The
//! compiler (`crate::routes`, native only) produces it; the Worker embeds one
//! compiled at build time and may take a newer one from KV. The Worker never
//! parses route files: it deserializes a plan, checks its [`FORMAT`], and
//! uses [`select`] to pick the route for a request.
//!
//! Everything here is resolved: provider references are indices, every step
//! carries its effective policy, durations are milliseconds. A plan that
//! deserializes is a plan the compiler accepted (the `hash` says which).

pub mod live;
pub(crate) mod read;
pub mod select;
mod write;

use serde::{Deserialize, Serialize};

pub use select::{
    balanced_candidates, first_step, parse_metadata, pick_chain, pick_chain_by_load, Facts, KeyFacts, Router, TargetLoad,
};

/// The plan format this build writes and understands. A plan with a higher
/// format is refused by the Worker, which keeps serving the one it has.
pub const FORMAT: u32 = 1;

/// Default cap on upstream calls per request (Workers' subrequest limit on
/// the free plan). Route files may change it with `gateway { subrequests N }`.
pub const DEFAULT_SUBREQUEST_CAP: u32 = 50;

/// A compiled set of route files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingPlan {
    /// [`FORMAT`] at the time of compiling.
    pub format: u32,
    /// Hex SHA-256 of what the plan does (everything but this field, the
    /// file names and route locations), so two plans with the same hash
    /// route identically.
    pub hash: String,
    /// The files it was compiled from, in the order they were merged.
    pub sources: Vec<String>,
    /// Most upstream calls one request may make (the sum over its chain).
    pub subrequest_cap: u32,
    pub providers: Vec<Provider>,
    /// Every distinct effective policy; steps refer to them by index, so a
    /// policy shared by many steps is stored once.
    pub policies: Vec<Policy>,
    /// Routes in matching order; the default route (no `when`), if any, is last.
    pub routes: Vec<Route>,
    /// The models `GET /v1/models` lists: every model a route names in a
    /// `model == "…"` / `model in [...]` condition, sorted, no duplicates.
    pub models: Vec<String>,
}

/// An upstream provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL (no trailing slash) or the var that holds it.
    pub base: Base,
    /// Secret names of its keys, in rotation order. Empty: no auth header.
    pub keys: Vec<String>,
    /// Extra headers sent with every call.
    pub headers: Vec<ExtraHeader>,
    pub limits: Vec<Limit>,
    /// Model alias → provider model id.
    pub aliases: Vec<(String, String)>,
    /// Model id → price, USD per million tokens.
    pub prices: Vec<(String, Price)>,
    /// Azure OpenAI `api-version`.
    pub api_version: Option<String>,
    /// AWS region (Bedrock).
    pub region: Option<String>,
}

/// Which wire format and defaults a provider has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible server; needs a `base`.
    OpenaiCompatible,
    Openai,
    Azure,
    Openrouter,
    Groq,
    Mistral,
    Together,
    Deepseek,
    Fireworks,
    Ollama,
    Vllm,
    Lmstudio,
    Localai,
    Anthropic,
    Gemini,
    Bedrock,
    Cohere,
}

impl ProviderKind {
    /// Every kind with the name route files use for it.
    pub const ALL: [(&'static str, ProviderKind); 17] = [
        ("openai-compatible", ProviderKind::OpenaiCompatible),
        ("openai", ProviderKind::Openai),
        ("azure", ProviderKind::Azure),
        ("openrouter", ProviderKind::Openrouter),
        ("groq", ProviderKind::Groq),
        ("mistral", ProviderKind::Mistral),
        ("together", ProviderKind::Together),
        ("deepseek", ProviderKind::Deepseek),
        ("fireworks", ProviderKind::Fireworks),
        ("ollama", ProviderKind::Ollama),
        ("vllm", ProviderKind::Vllm),
        ("lmstudio", ProviderKind::Lmstudio),
        ("localai", ProviderKind::Localai),
        ("anthropic", ProviderKind::Anthropic),
        ("gemini", ProviderKind::Gemini),
        ("bedrock", ProviderKind::Bedrock),
        ("cohere", ProviderKind::Cohere),
    ];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("openai-compatible")
    }

    /// The base URL used when the provider declares none; `None` when the
    /// kind has no public endpoint (a `base` is then required).
    pub fn default_base(self) -> Option<&'static str> {
        Some(match self {
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Openrouter => "https://openrouter.ai/api/v1",
            ProviderKind::Groq => "https://api.groq.com/openai/v1",
            ProviderKind::Mistral => "https://api.mistral.ai/v1",
            ProviderKind::Together => "https://api.together.xyz/v1",
            ProviderKind::Deepseek => "https://api.deepseek.com/v1",
            ProviderKind::Fireworks => "https://api.fireworks.ai/inference/v1",
            ProviderKind::Ollama => "http://127.0.0.1:11434/v1",
            ProviderKind::Vllm => "http://127.0.0.1:8000/v1",
            ProviderKind::Lmstudio => "http://127.0.0.1:1234/v1",
            ProviderKind::Localai => "http://127.0.0.1:8080/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com/v1",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
            ProviderKind::Cohere => "https://api.cohere.com/v2",
            ProviderKind::OpenaiCompatible | ProviderKind::Azure | ProviderKind::Bedrock => {
                return None
            }
        })
    }

    /// Whether requests to this kind speak the OpenAI chat wire format.
    pub fn speaks_openai(self) -> bool {
        !matches!(
            self,
            ProviderKind::Anthropic
                | ProviderKind::Gemini
                | ProviderKind::Bedrock
                | ProviderKind::Cohere
        )
    }
}

/// Where a provider's base URL comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// Written in the route file (or the kind's default).
    Url(String),
    /// Read at run time from the Worker var of this name.
    Env(String),
}

/// An extra header on every upstream call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHeader {
    pub name: String,
    pub value: HeaderValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderValue {
    Text(String),
    /// The value of the secret of this name.
    Secret(String),
}

/// A rate limit: at most `amount` of `unit` per window, counted per `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub amount: u64,
    pub unit: LimitUnit,
    pub scope: LimitScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitUnit {
    RequestsPerMinute,
    RequestsPerDay,
    TokensPerMinute,
    TokensPerDay,
}

/// What one limit counter is shared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Each gateway key has its own counter (routes' default).
    GatewayKey,
    /// One counter for the whole route.
    Route,
    /// One counter for the whole provider (providers' default).
    Provider,
    /// Each provider key has its own counter.
    ProviderKey,
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cached input tokens; `None` means billed as input.
    pub cached_input: Option<f64>,
}

/// A route: when it applies and where it sends the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub name: String,
    /// `None` for the default route, which matches every request.
    pub when: Option<Condition>,
    pub cache: Option<Cache>,
    pub limits: Vec<Limit>,
    pub targets: Node,
    /// `file:line` of the route's declaration, for `yard explain` and logs.
    pub source: String,
}

/// Response caching for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    pub ttl_ms: u64,
    /// Also cache requests whose sampling is not deterministic.
    pub sampled: bool,
}

/// The target tree of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// One provider and model.
    Step(Step),
    /// Tried in order: each one after the previous has failed (fallback).
    Chain(Vec<Node>),
    /// One branch picked at random by weight (weights sum to 100); the
    /// branches not picked are not tried.
    Split(Vec<Branch>),
    /// One branch picked by the targets' load (`split least_busy …`,
    /// `split lowest_latency …`): the branch whose first target has the
    /// fewest tries in flight, or the lowest latency; ties at random.
    Balanced(Balanced),
}

/// A split that picks by load instead of by weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balanced {
    pub mode: BalanceMode,
    pub branches: Vec<Node>,
}

/// What a balanced split compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceMode {
    /// Fewest tries in flight (over every isolate).
    LeastBusy,
    /// Lowest moving average of successful tries' durations; a target
    /// not measured yet counts as the fastest, so it gets measured.
    LowestLatency,
}

impl BalanceMode {
    /// The word route files use.
    pub fn name(self) -> &'static str {
        match self {
            BalanceMode::LeastBusy => "least_busy",
            BalanceMode::LowestLatency => "lowest_latency",
        }
    }
}

/// A weighted branch of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// Percent, > 0.
    pub weight: f64,
    pub node: Node,
}

/// One provider target with the policy it is tried under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Index into [`RoutingPlan::providers`].
    pub provider: usize,
    pub model: ModelRef,
    /// Index into [`RoutingPlan::policies`].
    pub policy: usize,
}

/// The model sent to the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRef {
    /// This provider model id (aliases already resolved).
    Fixed(String),
    /// Whatever model the request asked for (`provider:{model}`).
    Request,
}

/// How a step is tried: the effective policy, every field resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Tries of this step, the first included (≥ 1).
    pub attempts: u32,
    /// Outcomes that are tried again (while attempts remain).
    pub retry_on: Vec<Outcome>,
    /// Outcomes that skip the remaining attempts and go to the next target.
    pub fallback_on: Vec<Outcome>,
    pub backoff: Backoff,
    /// Honour `Retry-After` / `retry-after-ms` up to this long; `None`: ignore.
    pub retry_after_cap_ms: Option<u64>,
    /// Per attempt, headers and whole JSON body.
    pub attempt_timeout_ms: u64,
    /// Streams: time until the first byte of the body.
    pub first_byte_timeout_ms: Option<u64>,
    /// The whole chain, every attempt and backoff included.
    pub total_timeout_ms: u64,
    pub breaker: Option<Breaker>,
}

/// An outcome class a policy can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// One status code.
    Status(u16),
    /// Any 4xx.
    Class4xx,
    /// Any 5xx.
    Class5xx,
    Timeout,
    Connect,
    Reset,
    Malformed,
    Truncated,
    ContextLength,
    ContentPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    pub shape: BackoffShape,
    pub base_ms: u64,
    pub cap_ms: u64,
    pub jitter: Jitter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffShape {
    /// `base` every time.
    Constant,
    /// `base × n`, capped.
    Linear,
    /// `base × 2^(n-1)`, capped.
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[delay/2, delay]`.
    Equal,
}

/// Circuit breaker thresholds for a target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    pub trip: Trip,
    /// Open → half-open after this long.
    pub cooldown_ms: u64,
    /// Probes admitted while half-open.
    pub probes: u32,
    /// One breaker per provider key (`per key`) instead of one per target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_key: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trip {
    /// This many failures within the window.
    Failures { count: u32, window_ms: u64 },
    /// At least `percent` % of at least `min_requests` calls in the window failed.
    FailureRate {
        percent: f64,
        window_ms: u64,
        min_requests: u32,
    },
}

/// A `when` condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// `field op value`; a missing field is `null`.
    Compare {
        field: Field,
        op: CompareOp,
        value: Value,
    },
    /// `field in [values]`.
    In { field: Field, values: Vec<Value> },
    /// `field matches /regex/` (regex-lite syntax, checked at compile time).
    Matches { field: Field, pattern: String },
    /// `field contains "text"`: substring of a string, or member of a list
    /// (`key.tags`).
    Contains { field: Field, value: String },
}

/// Something a condition can look at in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The model the client asked for.
    Model,
    /// `chat`, `messages` or `embeddings`.
    Endpoint,
    /// The gateway key's name.
    KeyName,
    /// The gateway key's tags.
    KeyTags,
    /// A request header (name lower-cased).
    Header(String),
    /// A field of the `x-switchyard-metadata` JSON object header.
    Metadata(String),
    /// A top-level field of the request body (`stream`, `max_tokens`, …).
    Param(String),
}

/// The field as route files write it: `model`, `key.tags`, `header("x")`.
impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Model => f.write_str("model"),
            Field::Endpoint => f.write_str("endpoint"),
            Field::KeyName => f.write_str("key.name"),
            Field::KeyTags => f.write_str("key.tags"),
            Field::Header(name) => write!(f, "header({name:?})"),
            Field::Metadata(name) => write!(f, "metadata({name:?})"),
            Field::Param(name) => write!(f, "param({name:?})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

impl RoutingPlan {
    /// Parses a plan as stored (embedded or in KV). Refuses a plan written
    /// by a newer compiler than this build understands.
    pub fn from_json(json: &str) -> Result<RoutingPlan, String> {
        let not_a_plan = |e: String| format!("not a routing plan: {e}");
        let doc = crate::wire::parse(json.as_bytes()).map_err(not_a_plan)?;
        let format = crate::wire::fields(&doc, "RoutingPlan", &["format"])
            .and_then(|f| f.get(0, crate::wire::u32))
            .map_err(not_a_plan)?;
        if format > FORMAT {
            return Err(format!("plan format {format} is newer than this gateway understands ({FORMAT})"));
        }
        read::plan(&doc).map_err(not_a_plan)
    }

    /// The provider a step calls.
    pub fn provider(&self, step: &Step) -> &Provider {
        &self.providers[step.provider]
    }

    /// The policy a step is tried under.
    pub fn policy(&self, step: &Step) -> &Policy {
        &self.policies[step.policy]
    }
}

/// The KV namespace binding a newer plan may be published to.
pub const KV_BINDING: &str = "ROUTES";
/// The key of the published plan in that namespace.
pub const KV_KEY: &str = "plan";
