//! Usage and cost: what an answer used and what it cost, in integer
//! micro-dollars (µUSD; 1 USD = 1,000,000 µUSD) so sums and budgets are exact.
//!
//! - Prices ([`price`]): per model, USD per million tokens for input, output
//!   and cached input. A provider's `price` statements in the route files
//!   win; otherwise a built-in table of common models applies; a model in
//!   neither has no price (its answers carry tokens, no cost).
//! - Usage of a JSON answer ([`from_json`]): OpenAI's and Anthropic's
//!   `usage` shapes, normalized as [`Usage`] (input includes cached input).
//! - Usage of a stream ([`meter`]): the provider's own usage events, or, when
//!   it sends none, a count from the text (marked [`Source::Counted`]).
//! - The estimate before the call ([`estimate`]): prompt bytes / 4 at the
//!   input price plus `max_tokens` (or `max_completion_tokens`) at the
//!   output price; it is what a budget reserves.
//! - The response headers ([`headers`]).

pub mod meter;
pub mod price;

pub use crate::canonical::Usage;
pub use price::Rates;
use serde::Deserialize;

/// Where a request's usage numbers come from (`x-switchyard-usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The provider said so.
    Reported,
    /// The provider said nothing: counted by the gateway from the text
    /// (about four bytes per token).
    Counted,
    /// Before the answer (stream headers): the pre-call estimate.
    Estimate,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Reported => "reported",
            Source::Counted => "counted",
            Source::Estimate => "estimate",
        }
    }
}

/// What one request used and cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub usage: Usage,
    pub source: Source,
    /// µUSD; `None` when the model has no price.
    pub cost_micros: Option<u64>,
}

impl Tally {
    pub fn new(usage: Usage, source: Source, rates: Option<&Rates>) -> Tally {
        Tally { usage, source, cost_micros: rates.map(|r| r.cost(&usage)) }
    }

    /// The `x-switchyard-*` headers that say it (the metrics read them).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (TOKENS_IN_HEADER, self.usage.input_tokens.to_string()),
            (TOKENS_OUT_HEADER, self.usage.output_tokens.to_string()),
            (USAGE_HEADER, self.source.as_str().to_string()),
        ];
        if let Some(cost) = self.cost_micros {
            out.push((COST_HEADER, usd(cost)));
        }
        out
    }

    /// The same as SSE comment lines, written at the end of a stream
    /// (clients' SSE readers skip comments).
    pub fn sse_comment(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.headers() {
            out.push_str(": ");
            out.push_str(name);
            out.push('=');
            out.push_str(&value);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

pub const TOKENS_IN_HEADER: &str = "x-switchyard-tokens-in";
pub const TOKENS_OUT_HEADER: &str = "x-switchyard-tokens-out";
pub const COST_HEADER: &str = "x-switchyard-cost-usd";
pub const USAGE_HEADER: &str = "x-switchyard-usage";

/// µUSD as a decimal USD amount with six places: `1234` → `0.001234`.
pub fn usd(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// Tokens from a byte count, about four bytes per token, rounded up.
pub fn tokens_of_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(4)
}

/// The usage a JSON answer states (either dialect; embeddings too), or
/// `None` when it states none.
pub fn from_json(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Answer {
        usage: Option<Wire>,
    }
    #[derive(Deserialize)]
    struct Details {
        cached_tokens: Option<u64>,
    }
    #[derive(Deserialize)]
    struct Wire {
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
        total_tokens: Option<u64>,
        prompt_tokens_details: Option<Details>,
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
        cache_read_input_tokens: Option<u64>,
        cache_creation_input_tokens: Option<u64>,
    }
    let u = serde_json::from_slice::<Answer>(body).ok()?.usage?;
    if let Some(prompt) = u.prompt_tokens {
        let output = u.completion_tokens.unwrap_or_else(|| u.total_tokens.unwrap_or(prompt).saturating_sub(prompt));
        let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens);
        return Some(Usage { input_tokens: prompt, output_tokens: output, cached_input_tokens: cached });
    }
    if u.input_tokens.is_some() || u.output_tokens.is_some() {
        // Anthropic counts cache reads and writes apart from `input_tokens`.
        let read = u.cache_read_input_tokens.unwrap_or(0);
        let input = u.input_tokens.unwrap_or(0).saturating_add(read).saturating_add(u.cache_creation_input_tokens.unwrap_or(0));
        return Some(Usage {
            input_tokens: input,
            output_tokens: u.output_tokens.unwrap_or(0),
            cached_input_tokens: u.cache_read_input_tokens,
        });
    }
    u.total_tokens.map(|t| Usage { input_tokens: t, output_tokens: 0, cached_input_tokens: None })
}

/// What a request is expected to use before it is sent: its prompt (the
/// body's bytes / 4, which errs high) and the most its answer may take
/// (`max_completion_tokens` or `max_tokens`; 0 when neither is given).
pub fn estimate(body: &[u8]) -> Usage {
    #[derive(Deserialize)]
    struct Caps {
        max_tokens: Option<u64>,
        max_completion_tokens: Option<u64>,
    }
    let caps: Option<Caps> = serde_json::from_slice(body).ok();
    let answer = caps.map_or(0, |c| c.max_completion_tokens.or(c.max_tokens).unwrap_or(0));
    Usage { input_tokens: body.len() as u64 / 4, output_tokens: answer, cached_input_tokens: None }
}

#[cfg(test)]
mod tests;
