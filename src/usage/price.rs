//! Model prices as integers: µUSD per million tokens (a price of USD 2.50
//! per million is `2_500_000`), so a cost is exact integer arithmetic.
//!
//! [`rates`] finds a model's price: the provider's own `price` statement
//! for the model (route files), else the built-in table [`BUILT_IN`]. The
//! table is matched on the model id without a `vendor/` prefix (OpenRouter
//! style), exactly, or else by the longest entry followed by `-` (dated
//! versions: `gpt-4o-2024-08-06` is priced as `gpt-4o`).

use crate::canonical::Usage;
use crate::plan::Price;

/// A model's prices in µUSD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub input: u64,
    pub output: u64,
    /// Cached input tokens; billed as input when the price names none.
    pub cached_input: u64,
}

impl Rates {
    /// From USD per million tokens (the route files' unit), rounded to the µUSD.
    pub fn from_usd(input: f64, output: f64, cached_input: Option<f64>) -> Rates {
        let micros = |usd: f64| (usd.max(0.0) * 1_000_000.0).round() as u64;
        Rates { input: micros(input), output: micros(output), cached_input: micros(cached_input.unwrap_or(input)) }
    }

    /// The cost of `usage` in µUSD, rounded up to the next µUSD.
    pub fn cost(&self, usage: &Usage) -> u64 {
        let cached = usage.cached_input_tokens.unwrap_or(0).min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        let total = fresh as u128 * self.input as u128
            + cached as u128 * self.cached_input as u128
            + usage.output_tokens as u128 * self.output as u128;
        u64::try_from(total.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }
}

impl From<&Price> for Rates {
    fn from(p: &Price) -> Rates {
        Rates::from_usd(p.input, p.output, p.cached_input)
    }
}

/// Built-in prices (USD per million tokens: input, output, cached input),
/// the providers' published list prices for common models. A route file's
/// `price` statement overrides any of them.
pub const BUILT_IN: &[(&str, f64, f64, f64)] = &[
    // OpenAI
    ("gpt-5", 1.25, 10.00, 0.125),
    ("gpt-5-mini", 0.25, 2.00, 0.025),
    ("gpt-5-nano", 0.05, 0.40, 0.005),
    ("gpt-4.1", 2.00, 8.00, 0.50),
    ("gpt-4.1-mini", 0.40, 1.60, 0.10),
    ("gpt-4.1-nano", 0.10, 0.40, 0.025),
    ("gpt-4o", 2.50, 10.00, 1.25),
    ("gpt-4o-mini", 0.15, 0.60, 0.075),
    ("o1", 15.00, 60.00, 7.50),
    ("o3", 2.00, 8.00, 0.50),
    ("o3-mini", 1.10, 4.40, 0.55),
    ("o4-mini", 1.10, 4.40, 0.275),
    ("text-embedding-3-small", 0.02, 0.0, 0.02),
    ("text-embedding-3-large", 0.13, 0.0, 0.13),
    // Anthropic (cached: cache reads)
    ("claude-opus-4-1", 15.00, 75.00, 1.50),
    ("claude-opus-4", 15.00, 75.00, 1.50),
    ("claude-sonnet-4-5", 3.00, 15.00, 0.30),
    ("claude-sonnet-4", 3.00, 15.00, 0.30),
    ("claude-3-7-sonnet", 3.00, 15.00, 0.30),
    ("claude-haiku-4-5", 1.00, 5.00, 0.10),
    ("claude-3-5-haiku", 0.80, 4.00, 0.08),
    // Google
    ("gemini-2.5-pro", 1.25, 10.00, 0.31),
    ("gemini-2.5-flash", 0.30, 2.50, 0.075),
    ("gemini-2.0-flash", 0.10, 0.40, 0.025),
    // Others
    ("mistral-large-latest", 2.00, 6.00, 2.00),
    ("mistral-small-latest", 0.10, 0.30, 0.10),
    ("deepseek-chat", 0.27, 1.10, 0.07),
    ("deepseek-reasoner", 0.55, 2.19, 0.14),
];

/// The prices of `model` as sent to a provider whose route-file prices are
/// `declared`; `None` when neither they nor the built-in table know it.
pub fn rates(declared: &[(String, Price)], model: &str) -> Option<Rates> {
    if let Some((_, p)) = declared.iter().find(|(m, _)| m == model) {
        return Some(p.into());
    }
    built_in(model)
}

/// The built-in table's prices for `model`.
pub fn built_in(model: &str) -> Option<Rates> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    let known = |name: &str| bare == name || bare.strip_prefix(name).is_some_and(|rest| rest.starts_with('-'));
    BUILT_IN
        .iter()
        .filter(|(name, ..)| known(name))
        .max_by_key(|(name, ..)| name.len())
        .map(|&(_, input, output, cached)| Rates::from_usd(input, output, Some(cached)))
}
